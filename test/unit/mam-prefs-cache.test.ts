/** The in-memory front of the MAM preferences store: hits, misses, writes through, forget, bound. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CachedKeyval } from '../../src/modules/mam/prefs-cache.js';
import { openMemoryStorage } from '../../src/storage/memory.js';

test('reads are served from memory after the first; writes go through; forget reads again; the map is bounded', async () => {
  const storage = openMemoryStorage();
  const inner = storage.keyval<{ v: number }>('localhost', 'p');
  let reads = 0;
  const counting = { ...inner, get: (u: string) => (reads++, inner.get(u)), set: inner.set.bind(inner), update: inner.update.bind(inner) };
  const cache = new CachedKeyval(counting, 2);
  assert.equal(await cache.get('a'), undefined);
  assert.equal(await cache.get('a'), undefined);
  assert.equal(reads, 1, 'a miss is remembered too');
  await cache.set('a', { v: 1 });
  assert.deepEqual(await cache.get('a'), { v: 1 });
  assert.deepEqual(await inner.get('a'), { v: 1 }, 'written to the store');
  assert.equal(reads, 1);
  await inner.set('a', { v: 2 }); // another process wrote it
  assert.deepEqual(await cache.get('a'), { v: 1 }, 'stale until told');
  cache.forget('a');
  assert.deepEqual(await cache.get('a'), { v: 2 });
  assert.equal(reads, 2);
  assert.deepEqual(await cache.update('a', (c) => ({ v: (c?.v ?? 0) + 1 })), { v: 3 });
  await cache.get('b');
  await cache.get('c'); // the bound (2) pushes out the oldest, 'a'
  const before = reads;
  await cache.get('a');
  assert.equal(reads, before + 1, 'the oldest entry was dropped');
  await storage.close();
});
