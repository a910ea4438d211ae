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

test('takeShared counts in the shared store, gives back through it, and falls back to this process when it is away', async () => {
  let now = 1_000_000;
  const events: string[] = [];
  let answer: 'ok' | 'full' | 'away' = 'ok';
  const store = {
    slot: (key: string, max: number, windowMs: number) => {
      events.push(`slot ${key} ${max} ${windowMs}`);
      if (answer === 'away') return Promise.resolve(undefined);
      if (answer === 'full') return Promise.resolve(false as const);
      return Promise.resolve(async () => {
        events.push(`undo ${key}`);
      });
    },
  };
  const t = new RegistrationThrottle({ max: 1, periodMs: 60_000, exempt: ['192.0.2.9'], now: () => now, shared: { store, prefix: 'register:localhost:ip:' } });
  const give = await t.takeShared('192.0.2.1');
  assert.ok(give);
  assert.deepEqual(events, ['slot register:localhost:ip:192.0.2.1 1 60000']);
  give();
  await Promise.resolve();
  assert.equal(events[1], 'undo register:localhost:ip:192.0.2.1');
  answer = 'full';
  assert.equal(await t.takeShared('192.0.2.1'), undefined, 'full in the shared store: refused');
  assert.ok(await t.takeShared('192.0.2.9'), 'exempt: the store is not asked');
  assert.equal(events.length, 3);
  answer = 'away';
  assert.ok(await t.takeShared('192.0.2.2'), 'store away: the local window');
  assert.equal(await t.takeShared('192.0.2.2'), undefined, 'and it counts');
  now += 60_000;
  assert.ok(await t.takeShared('192.0.2.2'));
});
