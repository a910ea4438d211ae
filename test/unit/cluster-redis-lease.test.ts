/**
 * The Redis engine's lease (src/cluster/redis/engine.ts) against a private redis-server: a renewal
 * never waits behind the node's other commands. Here the command connection is held by a
 * blocking BLPOP (standing for thousands of binds queued when clients come back at once) for
 * twice the lease; the node keeps its lease and is never fenced.
 */
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { redisTest, startRedis, type RedisInstance } from '../helpers/redis-server.js';
import { RedisEngine } from '../../src/cluster/redis/engine.js';
import { silentLogger } from '../../src/core/logging.js';

let redis: RedisInstance | undefined;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

const LEASE_MS = 1500;

redisTest('a renewal does not wait behind the command connection: a node whose commands are held keeps its lease', () => redis, async () => {
  assert.ok(redis);
  const engine = new RedisEngine({ url: redis.url, nodeId: 'lease-test', log: silentLogger(), leaseMs: LEASE_MS, heartbeatMs: 250 });
  await engine.start();
  try {
    assert.equal(engine.fenced, false);
    // The private command connection, to hold it (the test reaches inside on purpose).
    const cmd = (engine as unknown as { cmd: { sendCommand(args: string[]): Promise<unknown> } }).cmd;
    let fencedWhileHeld = false;
    const watch = setInterval(() => {
      if (engine.fenced) fencedWhileHeld = true;
    }, 50);
    try {
      await cmd.sendCommand(['BLPOP', 'canto:test:never', String((2 * LEASE_MS) / 1000)]);
    } finally {
      clearInterval(watch);
    }
    assert.equal(fencedWhileHeld, false, 'the node kept its lease while its command connection was held');
    assert.equal(engine.fenced, false);
  } finally {
    await engine.stop();
  }
});
