import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegistrationThrottle } from '../../src/modules/register/throttle.js';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

test('allows max registrations per address per window, then refuses', () => {
  const c = clock();
  const th = new RegistrationThrottle({ max: 2, periodMs: 60_000, now: c.now });
  assert.ok(th.take('10.0.0.1'));
  c.advance(1000);
  assert.ok(th.take('10.0.0.1'));
  assert.equal(th.take('10.0.0.1'), undefined);
  // Other addresses are counted apart.
  assert.ok(th.take('10.0.0.2'));
  assert.equal(th.count('10.0.0.1'), 2);
});

test('the window slides: a slot frees when its registration is older than the period', () => {
  const c = clock();
  const th = new RegistrationThrottle({ max: 2, periodMs: 60_000, now: c.now });
  th.take('a');
  c.advance(30_000);
  th.take('a');
  assert.equal(th.take('a'), undefined);
  c.advance(30_000); // the first is now exactly one period old
  assert.ok(th.take('a'));
  assert.equal(th.take('a'), undefined);
});

test('a slot given back (failed registration) can be used again, once', () => {
  const th = new RegistrationThrottle({ max: 1, periodMs: 60_000, now: clock().now });
  const giveBack = th.take('a');
  assert.ok(giveBack);
  assert.equal(th.take('a'), undefined);
  giveBack();
  giveBack(); // idempotent: must not free a slot someone else took
  const again = th.take('a');
  assert.ok(again);
  assert.equal(th.take('a'), undefined);
});

test('max 0 disables the limit; exempt addresses are never limited', () => {
  const none = new RegistrationThrottle({ max: 0, periodMs: 60_000 });
  for (let i = 0; i < 50; i++) assert.ok(none.take('a'));
  const th = new RegistrationThrottle({ max: 1, periodMs: 60_000, exempt: ['127.0.0.1'] });
  for (let i = 0; i < 5; i++) assert.ok(th.take('127.0.0.1'));
  assert.ok(th.take('b'));
  assert.equal(th.take('b'), undefined);
});

test('addresses whose registrations all expired are forgotten', () => {
  const c = clock();
  const th = new RegistrationThrottle({ max: 3, periodMs: 1000, now: c.now });
  for (let i = 0; i < 100; i++) th.take(`10.0.${i}.1`);
  assert.equal(th.trackedAddresses, 100);
  c.advance(1500);
  th.take('other');
  assert.equal(th.trackedAddresses, 1);
});
