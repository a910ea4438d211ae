/** MAM retention: archive_expires_after on the server clock, pruned in batches; "never" keeps all. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, settle, waitFor } from '../../src/testing/index.js';
import { startMam } from './mam-harness.js';

const DAY = 86_400_000;

test('items older than archive_expires_after are pruned on the clock, in batches, for every account', async () => {
  const clock = new FakeClock(Date.parse('2024-06-01T00:00:00Z'));
  const h = await startMam({ clock, mam: { archive_expires_after: '30 days', prune_interval: '1h', prune_batch_size: 7 } });
  try {
    await h.createAccount('juliet');
    await h.createAccount('romeo');
    const store = h.server.storage.archive<string>('localhost', 'mam');
    const now = clock.now();
    for (let i = 0; i < 40; i++) await store.append('juliet', { when: now - 31 * DAY + i, value: '<message/>' });
    for (let i = 0; i < 3; i++) await store.append('romeo', { when: now - 40 * DAY, value: '<message/>' });
    const fresh = await store.append('juliet', { when: now - 29 * DAY, value: '<message/>' });

    clock.advance(3_599_999);
    assert.equal(await store.count('juliet'), 41, 'nothing before the interval');
    clock.advance(1);
    await waitFor(async () => (await store.count('juliet')) === 1 && (await store.count('romeo')) === 0, { message: 'pruned' });
    assert.deepEqual((await store.find('juliet')).map((i) => i.id), [fresh]);
    assert.match(await h.server.metrics.render(), /canto_mam_messages_pruned_total\{[^}]*\} 43/);

    // Two days later the fresh one is past 30 days as well. (Ticks that come while a run is
    // going are merged into it; the one after the jump prunes with the new time.)
    clock.advance(2 * DAY);
    await settle();
    clock.advance(3_600_000);
    await waitFor(async () => (await store.count('juliet')) === 0, { message: 'pruned again' });
  } finally {
    await h.stop();
  }
});

test('"never" keeps the archive', async () => {
  const clock = new FakeClock(Date.parse('2024-06-01T00:00:00Z'));
  const h = await startMam({ clock, mam: { archive_expires_after: 'never', prune_interval: '1h' } });
  try {
    await h.createAccount('juliet');
    const store = h.server.storage.archive<string>('localhost', 'mam');
    await store.append('juliet', { when: 0, value: '<message/>' });
    assert.equal(clock.pending, 0, 'no pruning timer');
    clock.advance(10 * DAY);
    assert.equal(await store.count('juliet'), 1);
  } finally {
    await h.stop();
  }
});

test('a bad archive_expires_after is a config error naming the key', async () => {
  await assert.rejects(startMam({ mam: { archive_expires_after: 'sometime' } }), /archive_expires_after.*"never" or a duration/);
});
