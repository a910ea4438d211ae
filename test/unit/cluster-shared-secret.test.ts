/**
 * The cluster's shared secret (src/cluster/redis/shared-secret.ts) against a private redis-server:
 * made once (SET NX) and read the same by every caller, put back after Redis lost it, a
 * different value in Redis reported; purposes derive different values.
 */
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { redisTest, startRedis, type RedisInstance } from '../helpers/redis-server.js';
import { keys } from '../../src/cluster/redis/keys.js';
import { clusterSecret, deriveSecret, keepClusterSecret } from '../../src/cluster/redis/shared-secret.js';

let redis: RedisInstance | undefined;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

redisTest('one secret for every caller, kept through a Redis that lost it', () => redis, async () => {
  assert.ok(redis);
  const first = await clusterSecret(redis.url);
  assert.match(first, /^[0-9a-f]{64}$/);
  assert.equal((await redis.cli('GET', keys.secret)).trim(), first);
  // Another node (as this process's cache would hide it, ask Redis as a newcomer does).
  assert.equal(await keepClusterSecret(redis.url, 'f'.repeat(64)), false, 'SET NX never replaces the secret');
  assert.equal((await redis.cli('GET', keys.secret)).trim(), first);

  await redis.cli('FLUSHALL');
  assert.equal(await keepClusterSecret(redis.url, first), true, 'put back after Redis lost it');
  assert.equal((await redis.cli('GET', keys.secret)).trim(), first);
  assert.equal(await clusterSecret(redis.url), first);

  assert.notEqual(deriveSecret(first, 's2s dialback'), deriveSecret(first, 'bosh forward'));
  assert.equal(deriveSecret(first, 's2s dialback'), deriveSecret(first, 's2s dialback'));
  assert.notEqual(deriveSecret(first, 's2s dialback'), first);
});
