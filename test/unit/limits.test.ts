/** The limits module's pieces without sockets: debt buckets, pausing and resuming reads, the bucket store, the option checks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, startHarness } from '../../src/testing/index.js';
import { DebtBucket } from '../../src/modules/limits/debt-bucket.js';
import { ReadThrottle } from '../../src/modules/limits/read-throttle.js';
import { MemoryBucketStore } from '../../src/modules/limits/bucket-store.js';
import limits from '../../src/modules/limits/index.js';

test('a debt bucket spends below zero and says how long until it is out of debt', () => {
  const b = new DebtBucket({ rate: 10, burst: 20 }, 0);
  b.spend(20, 0);
  assert.equal(b.waitMs(0), 0, 'exactly empty is not in debt');
  b.spend(5, 0);
  assert.equal(b.waitMs(0), 500, '5 tokens at 10/s');
  assert.equal(b.waitMs(300), 200);
  assert.equal(b.waitMs(500), 0);
  assert.equal(b.isFull(500), false);
  assert.equal(b.isFull(2500), true, 'refills to the burst and no further');
  b.spend(1, 100_000);
  assert.equal(b.waitMs(100_000), 0, 'a long quiet spell refills only up to the burst');
});

test('a debt bucket refuses a limit without a rate or a burst', () => {
  assert.throws(() => new DebtBucket({ rate: 0, burst: 1 }, 0), RangeError);
  assert.throws(() => new DebtBucket({ rate: 1, burst: 0 }, 0), RangeError);
});

function throttleWith(clock: FakeClock, stanzaRate: number, stanzaBurst: number, byteRate = 1e9, byteBurst = 1e9) {
  const holds: { released: boolean }[] = [];
  const stanzas = new DebtBucket({ rate: stanzaRate, burst: stanzaBurst }, clock.now());
  const bytes = new DebtBucket({ rate: byteRate, burst: byteBurst }, clock.now());
  const throttle = new ReadThrottle({
    stanzaBuckets: [stanzas],
    byteBuckets: [bytes],
    hold: () => {
      const h = { released: false };
      holds.push(h);
      return () => void (h.released = true);
    },
    now: () => clock.now(),
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
  });
  const holding = (): number => holds.filter((h) => !h.released).length;
  return { throttle, holds, holding };
}

test('reading pauses once the stanza bucket is in debt and resumes when it is paid back', () => {
  const clock = new FakeClock(0);
  const { throttle, holding } = throttleWith(clock, 10, 5);
  for (let i = 0; i < 5; i++) throttle.stanza();
  assert.equal(holding(), 0, 'the burst passes');
  throttle.stanza();
  assert.equal(holding(), 1, 'one over the burst pauses reading');
  assert.equal(throttle.isPaused, true);
  throttle.stanza(); // still in the chunk already read: counted, no second hold
  assert.equal(holding(), 1);
  clock.advance(199);
  assert.equal(holding(), 1, 'two stanzas of debt at 10/s: 200 ms');
  clock.advance(1);
  assert.equal(holding(), 0, 'reading resumes');
  assert.equal(throttle.pauses, 1);
});

test('bytes read are spent in full: a big chunk pauses reading for as long as it costs', () => {
  const clock = new FakeClock(0);
  const { throttle, holding } = throttleWith(clock, 1e6, 1e6, 1000, 1000);
  throttle.bytes(1000);
  assert.equal(holding(), 0);
  throttle.bytes(3000);
  assert.equal(holding(), 1);
  clock.advance(2999);
  assert.equal(holding(), 1);
  clock.advance(1);
  assert.equal(holding(), 0);
});

test('a shared bucket spent by another reader while paused keeps the pause going', () => {
  const clock = new FakeClock(0);
  const shared = new DebtBucket({ rate: 10, burst: 1 }, 0);
  let held = 0;
  const make = () => new ReadThrottle({
    stanzaBuckets: [shared],
    byteBuckets: [],
    hold: () => {
      held++;
      return () => void held--;
    },
    now: () => clock.now(),
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
  });
  const a = make();
  const b = make();
  a.stanza();
  a.stanza(); // 1 in debt: 100 ms
  assert.equal(held, 1);
  clock.advance(50);
  b.stanza(); // the address's bucket is now 1.5 in debt
  assert.equal(held, 2);
  clock.advance(50);
  assert.equal(held, 2, 'a waits again: the shared bucket is still in debt');
  clock.advance(100);
  assert.equal(held, 0);
});

test('dispose releases the hold and cancels the timer', () => {
  const clock = new FakeClock(0);
  const { throttle, holding } = throttleWith(clock, 1, 1);
  throttle.stanza();
  throttle.stanza();
  assert.equal(holding(), 1);
  throttle.dispose();
  assert.equal(holding(), 0);
  assert.equal(clock.pending, 0);
  throttle.stanza();
  assert.equal(holding(), 0, 'a disposed throttle never holds again');
});

test('the memory bucket store keeps one bucket per key and limit', async () => {
  let now = 0;
  const store = new MemoryBucketStore(() => now);
  const limit = { rate: 1, burst: 2 };
  assert.equal(await store.take('a', limit), true);
  assert.equal(await store.take('a', limit), true);
  assert.equal(await store.take('a', limit), false);
  assert.equal(await store.take('b', limit), true, 'keys are apart');
  assert.equal(await store.take('a', { rate: 1, burst: 5 }), true, 'another limit is another bucket');
  now += 1000;
  assert.equal(await store.take('a', limit), true, 'one token back after a second');
  assert.equal(await store.take('a', limit), false);
  await store.close();
});

test('bad [modules.limits] values stop the module with the key in the message', async () => {
  await assert.rejects(
    startHarness({ modules: [limits], config: (c) => void (c.modules.limits = { c2s: { stanzas_per_second: -1 } }) }),
    /modules\.limits\.c2s\.stanzas_per_second/,
  );
  await assert.rejects(
    startHarness({ modules: [limits], config: (c) => void (c.modules.limits = { c2s: { byte_burst: 'lots' } }) }),
    /modules\.limits\.c2s\.byte_burst/,
  );
});
