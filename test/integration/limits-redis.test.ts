/**
 * The Redis bucket store of the limits module (the account limits of a Redis cluster): two
 * stores (two nodes) share one bucket; with Redis away, takes are let through at once.
 */
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/core/logging.js';
import { RedisBucketStore } from '../../src/modules/limits/redis-bucket-store.js';
import { redisTest, startRedis, type RedisInstance } from '../helpers/redis-server.js';
import { waitFor } from '../../src/testing/index.js';

let redis: RedisInstance | undefined;
before(async () => {
  redis = await startRedis(); // started
});
after(async () => {
  await redis?.stop();
});

redisTest('two nodes take from one bucket; it refills at its rate', () => redis, async () => {
  const url = (redis as RedisInstance).url;
  const nodeA = new RedisBucketStore(url, silentLogger());
  const nodeB = new RedisBucketStore(url, silentLogger());
  try {
    // 2 a second: the five takes below fit in the 500 ms before a token comes back even on a busy
    // machine (at 20 a second, a loaded machine's round trips let one back in the middle).
    const limit = { rate: 2, burst: 3 };
    const key = `test:${Math.random().toString(36).slice(2)}`;
    assert.equal(await nodeA.take(key, limit), true);
    assert.equal(await nodeB.take(key, limit), true);
    assert.equal(await nodeA.take(key, limit), true);
    assert.equal(await nodeB.take(key, limit), false, 'the burst is spent across both nodes');
    assert.equal(await nodeA.take(key, limit), false);
    assert.equal(await nodeA.take(`${key}:other`, limit), true, 'another key is another bucket');
    // A token is back within 500 ms (polled every 10 ms).
    const start = Date.now();
    while (!(await nodeB.take(key, limit))) {
      assert.ok(Date.now() - start < 5000, 'no token came back');
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    await nodeA.close();
    await nodeB.close();
  }
});

redisTest('with Redis away, takes are let through (failing open) without holding stanzas for long', () => redis, async () => {
  const r = redis as RedisInstance;
  const store = new RedisBucketStore(r.url, silentLogger());
  try {
    const limit = { rate: 1, burst: 1 };
    assert.equal(await store.take('test:away', limit), true);
    assert.equal(await store.take('test:away', limit), false);
    await r.stop();
    const t = Date.now();
    assert.equal(await store.take('test:away', limit), true, 'let through');
    assert.ok(Date.now() - t < 3000, `the take waited ${Date.now() - t} ms`);
    const t2 = Date.now();
    assert.equal(await store.take('test:away', limit), true);
    assert.ok(Date.now() - t2 < 100, 'after a failure, Redis is not asked for a while');
  } finally {
    await store.close();
    await r.start();
  }
});

redisTest('spend goes into debt and returns the shared balance; slot keeps a sliding window across stores', () => redis, async () => {
  const url = (redis as RedisInstance).url;
  const nodeA = new RedisBucketStore(url, silentLogger());
  const nodeB = new RedisBucketStore(url, silentLogger());
  try {
    const key = `test:${Math.random().toString(36).slice(2)}`;
    const limit = { rate: 0.001, burst: 10 };
    const a = await nodeA.spend(key, limit, 4);
    assert.ok(a !== undefined && a > 5.9 && a <= 6, `balance ${a}`);
    const b = await nodeB.spend(key, limit, 10);
    assert.ok(b !== undefined && b > -4.1 && b < -3.9, `in debt: ${b}`);
    const seen = await nodeA.spend(key, limit, 0);
    assert.ok(seen !== undefined && seen < 0, 'the other store sees the debt');

    const window = `test:w:${Math.random().toString(36).slice(2)}`;
    const first = await nodeA.slot(window, 2, 60_000);
    const second = await nodeB.slot(window, 2, 60_000);
    assert.equal(typeof first, 'function');
    assert.equal(typeof second, 'function');
    assert.equal(await nodeA.slot(window, 2, 60_000), false, 'full across both stores');
    await (second as () => Promise<void>)();
    assert.equal(typeof (await nodeA.slot(window, 2, 60_000)), 'function', 'a slot given back is free again');
    await nodeB.close();
    assert.equal(await nodeB.spend(key, limit, 1), undefined, 'a closed store does not connect again');
  } finally {
    await nodeA.close();
    await nodeB.close();
  }
});

redisTest('login failure windows: fail counts in every key at once, failures reads them across stores, capped and sliding', () => redis, async () => {
  const url = (redis as RedisInstance).url;
  const nodeA = new RedisBucketStore(url, silentLogger());
  const nodeB = new RedisBucketStore(url, silentLogger());
  try {
    const p = `test:auth:${Math.random().toString(36).slice(2)}:`;
    const [ip, pair, account] = [`${p}ip`, `${p}pair`, `${p}account`];
    assert.deepEqual(await nodeB.failures([ip, pair, account], 60_000, 1000), [0, 0, 0], 'nothing yet');
    await nodeA.fail([ip, pair, account], 60_000, 3);
    await nodeB.fail([ip, pair], 60_000, 3);
    assert.deepEqual(await nodeB.failures([ip, pair, account], 60_000, 1000), [2, 2, 1]);
    for (let i = 0; i < 5; i++) await nodeA.fail([ip], 60_000, 3);
    assert.deepEqual(await nodeB.failures([ip], 60_000, 1000), [3], 'a window keeps its newest `cap`');
    const ttl = Number(await (redis as RedisInstance).cli('PTTL', `canto:limit:${ip}`));
    assert.ok(ttl > 0 && ttl <= 60_000, `the window expires with the last failure: ${ttl}`);
    // A short window slides: polled, not slept.
    const short = `${p}short`;
    await nodeA.fail([short], 200, 10);
    assert.deepEqual(await nodeA.failures([short], 200, 1000), [1]);
    const start = Date.now();
    while ((await nodeA.failures([short], 200, 1000))?.[0] !== 0) assert.ok(Date.now() - start < 5000, 'the failure never left the window');
  } finally {
    await nodeA.close();
    await nodeB.close();
  }
});

redisTest('with Redis slow or away, failures answers undefined within its time limit', () => redis, async () => {
  const r = redis as RedisInstance;
  const store = new RedisBucketStore(r.url, silentLogger());
  try {
    assert.deepEqual(await store.failures(['test:auth:away'], 60_000, 200), [0]);
    await r.cli('CLIENT', 'PAUSE', '2000', 'ALL'); // slow: no command is answered for 2 s
    const slow = Date.now();
    assert.equal(await store.failures(['test:auth:away'], 60_000, 200), undefined);
    assert.ok(Date.now() - slow < 1000, `waited ${Date.now() - slow} ms`);
    await r.cli('CLIENT', 'UNPAUSE');
    await r.stop();
    const t = Date.now();
    assert.equal(await store.failures(['test:auth:away'], 60_000, 200), undefined);
    assert.ok(Date.now() - t < 1000, `waited ${Date.now() - t} ms`);
    await store.fail(['test:auth:away'], 60_000, 3); // nothing, no throw
  } finally {
    await store.close();
    await r.start();
  }
});

redisTest('count: per-store counts summed across stores; a store\'s count expires after its last increase; Redis away: undefined', () => redis, async () => {
  const r = redis as RedisInstance;
  const nodeA = new RedisBucketStore(r.url, silentLogger());
  const nodeB = new RedisBucketStore(r.url, silentLogger());
  const key = `unauthed:test-${Math.random().toString(36).slice(2)}`;
  let stopped = false;
  try {
    assert.equal(await nodeA.count(key, 'a', 1, 60_000), 1);
    assert.equal(await nodeB.count(key, 'b', 1, 60_000), 2);
    assert.equal(await nodeA.count(key, 'a', 1, 60_000), 3, 'every store\'s count in the total');
    assert.equal(await nodeA.count(key, 'a', -1, 60_000), 2);
    assert.equal(await nodeB.count(key, 'b', -1, 60_000), 1);
    assert.equal(await nodeB.count(key, 'b', -1, 60_000), 1, 'a count never goes below zero');
    // A store that stops counting down (its node died): its count expires after its TTL.
    assert.equal(await nodeA.count(key, 'a', 1, 300), 2);
    assert.equal(await nodeB.count(key, 'b', 1, 60_000), 3);
    await waitFor(async () => (await nodeB.count(key, 'b', 0, 60_000)) === 1, { timeoutMs: 5000, intervalMs: 50, message: 'the dead store\'s count did not expire' });
    await nodeB.count(key, 'b', -1, 60_000);
    stopped = true;
    await r.stop();
    const t = Date.now();
    assert.equal(await nodeA.count(key, 'a', 1, 60_000), undefined, 'Redis away: the caller counts locally');
    assert.ok(Date.now() - t < 3000, `count waited ${Date.now() - t} ms`);
  } finally {
    await nodeA.close();
    await nodeB.close();
    if (stopped) await r.start();
  }
});
