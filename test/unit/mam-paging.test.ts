/** MAM paging over 10,000 items (RSM forwards and backwards) and every filter of the query form. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/testing/index.js';
import { message } from '../../src/xml/stanza.js';
import { ask, mamIq, online, startMam } from './mam-harness.js';

const T0 = Date.parse('2024-01-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

test('10,000 items paged forwards and backwards with RSM: no gap, no duplicate', async () => {
  const h = await startMam({ mam: { max_page_size: 250 } });
  try {
    const store = h.server.storage.archive<string>('localhost', 'mam');
    const expected: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const value = message({ to: 'juliet@localhost', from: 'romeo@localhost/p', type: 'chat' }).c('body').t(`n${i}`).root().toString();
      // Several items share a millisecond: the order must still be insertion order.
      expected.push(await store.append('juliet', { when: T0 + Math.floor(i / 3), with: 'romeo@localhost/p', value }));
    }
    const juliet = online(await h.client('juliet@localhost/balcony'));

    const forward: string[] = [];
    let after: string | undefined;
    for (let pages = 0; ; pages++) {
      assert.ok(pages < 41, 'too many pages');
      const page = await ask(juliet, mamIq({}, { max: 250, after }));
      assert.equal(page.count, 10_000);
      forward.push(...page.ids);
      assert.equal(page.first, page.ids[0]);
      assert.equal(page.last, page.ids[page.ids.length - 1]);
      if (page.complete) break;
      after = page.last;
    }
    assert.equal(forward.length, 10_000);
    assert.deepEqual(forward, expected, 'forwards: every item once, in order');

    const backward: string[][] = [];
    let before = '';
    for (let pages = 0; ; pages++) {
      assert.ok(pages < 41, 'too many pages');
      const page = await ask(juliet, mamIq({}, { max: 250, before }));
      backward.unshift(page.ids);
      if (page.complete) break;
      before = page.first ?? '';
    }
    assert.deepEqual(backward.flat(), expected, 'backwards (from the empty <before/>): every item once, each page in order');

    // flip-page: the last page, newest first.
    const flipped = await ask(juliet, mamIq({}, { max: 5, before: '' }, { flip: true }));
    assert.deepEqual(flipped.ids, expected.slice(-5).reverse());
    // A page that ends exactly at the end is complete.
    const tail = await ask(juliet, mamIq({}, { max: 10, after: expected[9_989] }));
    assert.deepEqual(tail.ids, expected.slice(9_990));
    assert.equal(tail.complete, true);
    // max 0: only the count.
    const counted = await ask(juliet, mamIq({}, { max: 0 }));
    assert.deepEqual(counted.ids, []);
    assert.equal(counted.count, 10_000);
  } finally {
    await h.stop();
  }
});

test('filters: with, start, end, ids, after-id, before-id, and RSM inside them', async () => {
  const h = await startMam({ clock: new FakeClock(T0) });
  try {
    const store = h.server.storage.archive<string>('localhost', 'mam');
    const peers = ['romeo@localhost/a', 'nurse@localhost/b', 'romeo@localhost/c', 'tybalt@example.net/d'];
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const from = peers[i % peers.length] as string;
      const value = message({ to: 'juliet@localhost', from, type: 'chat' }).c('body').t(`n${i}`).root().toString();
      ids.push(await store.append('juliet', { when: T0 + i * 60_000, with: from, value }));
    }
    const juliet = online(await h.client('juliet@localhost/balcony'));
    const q = async (...args: Parameters<typeof mamIq>) => (await ask(juliet, mamIq(...args))).ids;
    const pick = (...idx: number[]) => idx.map((i) => ids[i]);

    assert.deepEqual(await q({ with: 'romeo@localhost' }), pick(0, 2, 4, 6, 8, 10), 'a bare with matches every resource');
    assert.deepEqual(await q({ with: 'romeo@localhost/c' }), pick(2, 6, 10), 'a full with matches exactly');
    assert.deepEqual(await q({ with: 'tybalt@example.net' }), pick(3, 7, 11));
    assert.deepEqual(await q({ start: iso(T0 + 9 * 60_000) }), pick(9, 10, 11), 'start is inclusive');
    assert.deepEqual(await q({ end: iso(T0 + 2 * 60_000) }), pick(0, 1, 2), 'end is inclusive');
    assert.deepEqual(await q({ start: iso(T0 + 60_000), end: iso(T0 + 3 * 60_000), with: 'nurse@localhost' }), pick(1));
    assert.deepEqual(await q({ start: '2024-01-01T01:00:00+01:00', end: '2024-01-01T00:00:00.000Z' }), pick(0), 'time zones');
    assert.deepEqual(await q({ ids: [ids[5] as string, ids[1] as string, 'unknown'] }), pick(1, 5), 'ids: the known ones, in archive order');
    assert.deepEqual(await q({ 'after-id': ids[8] }), pick(9, 10, 11));
    assert.deepEqual(await q({ 'before-id': ids[2] }), pick(0, 1));
    assert.deepEqual(await q({ 'after-id': ids[2], 'before-id': ids[6] }), pick(3, 4, 5));
    // RSM inside the form's bounds: the stricter bound wins.
    assert.deepEqual(await q({ 'after-id': ids[2] }, { max: 2, after: ids[4] }), pick(5, 6), 'RSM after past after-id');
    assert.deepEqual(await q({ 'after-id': ids[4] }, { max: 2, after: ids[1] }), pick(5, 6), 'after-id past RSM after');
    assert.deepEqual(await q({ 'before-id': ids[9] }, { max: 2, before: ids[6] }), pick(4, 5));
    assert.deepEqual(await q({ 'before-id': ids[5] }, { max: 2, before: '' }), pick(3, 4), 'the last page before before-id');
    const bounded = await ask(juliet, mamIq({ with: 'romeo@localhost' }, { max: 2, after: ids[4] }));
    assert.deepEqual(bounded.ids, pick(6, 8));
    assert.equal(bounded.complete, false);
    assert.equal(bounded.count, 6, 'count is the whole filtered set');
  } finally {
    await h.stop();
  }
});
