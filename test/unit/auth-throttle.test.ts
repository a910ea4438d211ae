/** Who waits after failed logins (src/modules/saslauth/throttle.ts, issue 17 item 9). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthThrottle, type SharedFailures } from '../../src/modules/saslauth/throttle.js';

function throttle(now: { t: number }) {
  return new AuthThrottle({ maxFailures: 3, accountMaxFailures: 10, windowMs: 60_000, baseDelayMs: 100, maxDelayMs: 1000, now: () => now.t });
}

test('an address past its limit waits for every answer, success included; the delay doubles up to the cap', () => {
  const now = { t: 0 };
  const th = throttle(now);
  for (let i = 0; i < 3; i++) th.failed('10.0.0.1', 'alice');
  assert.deepEqual(th.delay('10.0.0.1', 'alice', false), { ms: 100, key: 'ip' });
  assert.equal(th.delay('10.0.0.1', 'alice', true).ms, 100, 'a success from the guessing address waits too');
  assert.equal(th.delay('10.0.0.1', 'bob', true).ms, 100, 'the address waits for any account');
  for (let i = 0; i < 10; i++) th.failed('10.0.0.1', 'alice');
  assert.equal(th.delay('10.0.0.1', 'alice', false).ms, 1000, 'capped');
  now.t += 60_001;
  assert.equal(th.delay('10.0.0.1', 'alice', false).ms, 0, 'the window slides');
});

test('the owner from an address that has not failed is never delayed, however much the account is attacked', () => {
  const now = { t: 0 };
  const th = throttle(now);
  for (let i = 0; i < 50; i++) th.failed(`10.0.1.${i}`, 'alice'); // distributed: one guess per address
  assert.deepEqual(th.delay('192.168.0.7', 'alice', true), { ms: 0, key: undefined });
  const wrong = th.delay('192.168.0.8', 'alice', false);
  assert.equal(wrong.key, 'account', 'a wrong guess from a fresh address waits for the account');
  assert.equal(wrong.ms, 1000);
  assert.equal(th.delay('192.168.0.7', 'bob', false).ms, 0, 'other accounts are untouched');
});

test('failures for unknown users count for the address only; warnings come once per window per key', () => {
  const now = { t: 0 };
  const th = throttle(now);
  const warned = [1, 2, 3, 4].map(() => th.failed('10.0.0.2', undefined));
  assert.deepEqual(warned.map((w) => w.map((x) => x.key)), [[], [], ['ip'], []]);
  assert.equal(th.delay('10.0.0.2', undefined, false).key, 'ip');
});

/** A shared store in memory, as Redis would hold it for two nodes (no clock: nothing leaves the window). */
class FakeShared implements SharedFailures {
  readonly windows = new Map<string, number>();
  away = false;
  calls = 0;
  fail(keys: string[]): Promise<void> {
    for (const k of keys) this.windows.set(k, (this.windows.get(k) ?? 0) + 1);
    return Promise.resolve();
  }
  failures(keys: string[]): Promise<number[] | undefined> {
    this.calls++;
    return Promise.resolve(this.away ? undefined : keys.map((k) => this.windows.get(k) ?? 0));
  }
}

test('shared: failures on one node delay answers on another; the owner from a clean address still gets in', async () => {
  const now = { t: 0 };
  const store = new FakeShared();
  const opts = { maxFailures: 3, accountMaxFailures: 10, windowMs: 60_000, baseDelayMs: 100, maxDelayMs: 1000, now: () => now.t };
  const a = new AuthThrottle({ ...opts, shared: { store, prefix: 'auth:h:' } });
  const b = new AuthThrottle({ ...opts, shared: { store, prefix: 'auth:h:' } });
  assert.equal(a.isShared, true);
  for (let i = 0; i < 2; i++) a.failed('10.0.0.1', 'alice');
  b.failed('10.0.0.1', 'alice');
  assert.equal(b.delay('10.0.0.1', 'alice', false).ms, 0, "node B's own counts are under the limit");
  assert.deepEqual(await b.delayShared('10.0.0.1', 'alice', false), { ms: 100, key: 'ip', shared: true }, 'together they reach it');
  assert.deepEqual(await a.delayShared('10.0.0.1', 'alice', true), { ms: 100, key: 'ip', shared: true }, 'a success from the guessing address waits on either node');
  assert.deepEqual([...store.windows.keys()].sort(), ['auth:h:account:alice', 'auth:h:ip:10.0.0.1', 'auth:h:pair:alice@10.0.0.1']);
  for (let i = 0; i < 10; i++) a.failed(`10.0.2.${i}`, 'alice');
  assert.deepEqual(await b.delayShared('192.168.0.7', 'alice', true), { ms: 0, key: undefined, shared: true }, 'the owner from a clean address');
  assert.equal((await b.delayShared('192.168.0.8', 'alice', false)).key, 'account', 'the account limit counts every node');
  store.away = true;
  assert.deepEqual(await b.delayShared('10.0.0.1', 'alice', false), { ...b.delay('10.0.0.1', 'alice', false), shared: false }, 'Redis away: local counts');
  assert.equal(store.calls, 5, 'one shared read per answer');
});

test('shared: a failure counted here while Redis was away still counts here', async () => {
  const store = new FakeShared();
  const th = new AuthThrottle({ maxFailures: 2, accountMaxFailures: 10, windowMs: 60_000, baseDelayMs: 100, maxDelayMs: 1000, now: () => 0, shared: { store, prefix: '' } });
  th.failed('10.0.0.1', undefined);
  th.failed('10.0.0.1', undefined);
  store.windows.clear(); // lost in Redis
  assert.deepEqual(await th.delayShared('10.0.0.1', undefined, false), { ms: 100, key: 'ip', shared: true });
});
