/** The token buckets behind the pubsub/PEP publish rate (src/util/rate-limiter.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter } from '../../src/util/rate-limiter.js';

test('a bucket allows its burst at once, then the rate; keys are independent', () => {
  let now = 0;
  const r = new RateLimiter({ rate: 2, burst: 3 }, () => now);
  assert.deepEqual([r.take('a'), r.take('a'), r.take('a'), r.take('a')], [true, true, true, false]);
  assert.equal(r.take('b'), true, 'another key has its own bucket');
  now += 499;
  assert.equal(r.take('a'), false, 'not a whole token yet');
  now += 1;
  assert.equal(r.take('a'), true, 'one token after 1/rate seconds');
  now += 60_000;
  assert.deepEqual([r.take('a'), r.take('a'), r.take('a'), r.take('a')], [true, true, true, false], 'refills up to the burst, not beyond');
});

test('memory is bounded: full buckets are swept, then the least recently used go', () => {
  let now = 0;
  const r = new RateLimiter({ rate: 1, burst: 1 }, () => now, 100);
  for (let i = 0; i < 100; i++) r.take(`k${i}`);
  now += 1000; // all full again
  r.take('fresh');
  assert.ok(r.size <= 100, `${r.size} keys`);
  for (let i = 0; i < 1000; i++) r.take(`busy${i}`);
  assert.ok(r.size <= 100, `${r.size} keys after many busy keys`);
  assert.equal(r.take('busy999'), false, 'the most recently used key is still remembered');
});

test('a nonsense limit is refused', () => {
  assert.throws(() => new RateLimiter({ rate: 0, burst: 1 }, () => 0), RangeError);
  assert.throws(() => new RateLimiter({ rate: 1, burst: 0 }, () => 0), RangeError);
});
