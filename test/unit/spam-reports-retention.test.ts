/** spam_reporting retention: resolved reports past report_retention are deleted by the hourly sweep; open ones stay. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, settle, startHarness, waitFor } from '../../src/testing/index.js';
import { getReport, newReportId, reportsStore, saveReport, type SpamReport } from '../../src/modules/spam_reporting/store.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;

function report(created: number, resolvedAt?: number): SpamReport {
  return {
    id: newReportId(created),
    created,
    host: 'localhost',
    reporter: 'juliet@localhost',
    jid: 'spammer@example.net',
    reason: 'spam',
    refs: [],
    via: 'block',
    status: resolvedAt === undefined ? 'open' : 'resolved',
    ...(resolvedAt === undefined ? {} : { resolved: { at: resolvedAt, confirmed: true, by: 'cli' } }),
  };
}

test('resolved reports older than report_retention are deleted by the periodic sweep; unresolved ones are kept', async () => {
  const clock = new FakeClock(Date.parse('2026-06-01T00:00:00Z'));
  const h = await startHarness({ clock, listen: true, config: (c) => void (c.modules.spam_reporting = { report_retention: '30 days' }) });
  try {
    const store = reportsStore(h.server.storage, 'localhost');
    const now = clock.now();
    const old = report(now - 100 * DAY, now - 31 * DAY);
    const recent = report(now - 100 * DAY, now - 29 * DAY); // made long ago, resolved recently
    const open = report(now - 200 * DAY);
    for (const r of [old, recent, open]) await saveReport(store, r);

    clock.advance(HOUR - 1);
    await settle();
    assert.ok(await getReport(store, old.id), 'nothing before the first sweep');
    clock.advance(1);
    await waitFor(async () => (await getReport(store, old.id)) === undefined, { message: 'the old resolved report was not deleted' });
    assert.ok(await getReport(store, recent.id), 'resolved within the retention: kept');
    assert.ok(await getReport(store, open.id), 'unresolved: kept, however old');
    assert.match(await h.server.metrics.render(), /canto_spam_reporting_reports_expired_total\{[^}]*\} 1\n/);

    // Two days on, the other resolved one is past 30 days too.
    // (Ticks that come while a sweep runs are merged into it; the one after the jump sweeps with the new time.)
    clock.advance(2 * DAY);
    await settle();
    clock.advance(HOUR);
    await waitFor(async () => (await getReport(store, recent.id)) === undefined, { message: 'the second resolved report was not deleted' });
    assert.ok(await getReport(store, open.id));
  } finally {
    await h.stop();
  }
});

test('report_retention = 0 keeps resolved reports', async () => {
  const clock = new FakeClock(Date.parse('2026-06-01T00:00:00Z'));
  const h = await startHarness({ clock, listen: true, config: (c) => void (c.modules.spam_reporting = { report_retention: 0 }) });
  try {
    const store = reportsStore(h.server.storage, 'localhost');
    const r = report(clock.now() - 400 * DAY, clock.now() - 399 * DAY);
    await saveReport(store, r);
    clock.advance(2 * HOUR);
    await settle();
    assert.ok(await getReport(store, r.id));
  } finally {
    await h.stop();
  }
});
