/**
 * The Redis engine keeps the order of a binding's writes (src/cluster/redis/engine.ts `run`):
 * a resource's presence update sent right after its bind reaches Redis after it, at start, after
 * Redis lost its scripts, and — should an update ever find no binding — the binding is written
 * again with its state at the next heartbeat. Against a private redis-server.
 */
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'redis';
import { redisTest, startRedis, type RedisInstance } from '../helpers/redis-server.js';
import { RedisEngine } from '../../src/cluster/redis/engine.js';
import { keys, registryField } from '../../src/cluster/redis/keys.js';
import { ALL_SCRIPTS, UPDATE, scriptSha } from '../../src/cluster/redis/scripts.js';
import type { RegistryEntry } from '../../src/cluster/protocol.js';
import { silentLogger } from '../../src/core/logging.js';
import { waitFor } from '../../src/testing/index.js';

let redis: RedisInstance | undefined;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

async function withEngine(nodeId: string, fn: (engine: RedisEngine, db: ReturnType<typeof createClient>) => Promise<void>): Promise<void> {
  assert.ok(redis);
  const db = createClient({ url: redis.url });
  await db.connect();
  const engine = new RedisEngine({ url: redis.url, nodeId, log: silentLogger(), heartbeatMs: 100 });
  try {
    await engine.start();
    await fn(engine, db);
  } finally {
    await engine.stop();
    db.destroy();
  }
}

function entry(engine: RedisEngine, i: number, presence?: string): RegistryEntry {
  const e: RegistryEntry = { host: 'order.test', username: `u${i}`, resource: 'r', worker: engine.self, sid: `s${i}`, interested: presence !== undefined };
  if (presence !== undefined) {
    e.priority = 0;
    e.presence = presence;
  }
  return e;
}

/** Until every one of `count` bindings is in the registry with its presence (or `ms` passed). */
async function presencesIn(db: ReturnType<typeof createClient>, count: number, ms = 5000): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const all = await db.hGetAll(keys.registry);
    const withPresence = Object.values(all).filter((v) => (JSON.parse(v) as RegistryEntry).presence !== undefined).length;
    if (withPresence === count || Date.now() > deadline) return withPresence;
    await new Promise((r) => setTimeout(r, 20));
  }
}

redisTest('the engine names each script as Redis does (SCRIPT LOAD gives the same SHA-1)', () => redis, async () => {
  assert.ok(redis);
  for (const script of ALL_SCRIPTS) assert.equal((await redis.cli('SCRIPT', 'LOAD', script.lua)).trim(), scriptSha(script), script.name);
});

redisTest('a burst of binds, each followed at once by its presence: every presence is in the registry (fresh node, then after SCRIPT FLUSH)', () => redis, async () => {
  await withEngine('order-a', async (engine, db) => {
    // The UPDATE script used once before any BIND (an update of a binding never made): an
    // engine that waited for SCRIPT LOAD on the first BIND sent the UPDATE that followed it
    // straight away, ahead of the BIND, and every presence of the burst was lost.
    engine.send({ t: 'updated', e: entry(engine, -1, "<presence from='nobody@order.test/r'/>") });
    await waitFor(async () => (await db.sendCommand(['SCRIPT', 'EXISTS', scriptSha(UPDATE)]) as number[])[0] === 1, { timeoutMs: 5000, intervalMs: 20, message: 'the update script was used' });
    await new Promise((r) => setTimeout(r, 100)); // its reply reached the engine
    for (let i = 0; i < 300; i++) {
      engine.send({ t: 'bound', e: entry(engine, i) });
      engine.send({ t: 'updated', e: entry(engine, i, `<presence from='u${i}@order.test/r'/>`) });
    }
    assert.equal(await presencesIn(db, 300), 300);
    // Redis forgot the scripts (as after a restart): NOSCRIPT, then EVAL, still in order.
    await db.sendCommand(['SCRIPT', 'FLUSH']);
    for (let i = 300; i < 600; i++) {
      engine.send({ t: 'bound', e: entry(engine, i) });
      engine.send({ t: 'updated', e: entry(engine, i, `<presence from='u${i}@order.test/r'/>`) });
    }
    assert.equal(await presencesIn(db, 600), 600);
    await db.del(keys.registry);
  });
});

redisTest('an update that finds its binding missing from Redis writes the binding again, with that state, at the next heartbeat', () => redis, async () => {
  await withEngine('order-b', async (engine, db) => {
    engine.send({ t: 'bound', e: entry(engine, 1) });
    const field = registryField(entry(engine, 1));
    await waitFor(() => db.hGet(keys.registry, field), { timeoutMs: 5000, intervalMs: 20, message: 'the binding was written' });
    await db.hDel(keys.registry, field); // lost behind the engine's back
    engine.send({ t: 'updated', e: entry(engine, 1, "<presence from='u1@order.test/r'/>") });
    assert.equal(await presencesIn(db, 1), 1, 'the binding is back with its presence');
    const back = JSON.parse((await db.hGet(keys.registry, field)) ?? '{}') as RegistryEntry;
    assert.equal(back.sid, 's1');
    assert.equal(back.worker, engine.self);
    await db.del(keys.registry);
  });
});
