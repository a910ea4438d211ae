/** XEP-0202 time module: tzo and utc. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import time, { NS_TIME, tzo, utc } from '../../src/modules/time/index.js';
import { iq } from '../../src/xml/stanza.js';
import { startHarness } from '../../src/testing/index.js';

const HOST = 'localhost';

test('tzo and utc follow XEP-0082', () => {
  const d = new Date(Date.UTC(2006, 11, 19, 17, 58, 35, 123));
  assert.equal(utc(d), '2006-12-19T17:58:35Z');
  const fake = (offsetMinutes: number) => ({ getTimezoneOffset: () => offsetMinutes }) as Date;
  assert.equal(tzo(fake(0)), '+00:00');
  assert.equal(tzo(fake(-120)), '+02:00');
  assert.equal(tzo(fake(300)), '-05:00');
  assert.equal(tzo(fake(-345)), '+05:45');
  assert.equal(tzo(fake(210)), '-03:30');
});

test('the server answers with its time', async () => {
  const h = await startHarness({ modules: [time] });
  try {
    const c = await h.client('romeo@localhost');
    const before = Date.now();
    const r = await c.ask(iq({ type: 'get', id: 't1', to: HOST }).c('time', { xmlns: NS_TIME }).up());
    const t = r.getChild('time', NS_TIME);
    assert.match(t?.getChildText('tzo') ?? '', /^[+-]\d\d:\d\d$/);
    const when = Date.parse(t?.getChildText('utc') ?? '');
    assert.match(t?.getChildText('utc') ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(when >= Math.floor(before / 1000) * 1000 && when <= Date.now(), String(when));
    assert.ok(h.context.features.includes(NS_TIME));
  } finally {
    await h.stop();
  }
});
