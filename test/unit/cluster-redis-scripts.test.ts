/**
 * The Redis engine's atomic steps against a real private redis-server: the lease (unique node
 * ids, renewal only by the holder), fencing of registry writes and deliveries, the later binding
 * winning a conflict, stale unbinds and updates ignored, dead-member detection and reaping; and
 * the de-duplication of re-read stream entries; a takeover key released only by the takeover
 * holding it; directed-presence records written only under a current lease.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'redis';
import { redisTest, startRedis, type RedisInstance } from '../helpers/redis-server.js';
import { keys, memberOf, parseMember, registryField } from '../../src/cluster/redis/keys.js';
import {
  BIND, CLAIM_SERVICE, DEAD_MEMBERS, DELETE_IF, DELIVER, DIRECTED_ADD, JOIN, REAP_ENTRIES, RELEASE_SERVICE, RENEW, ROUTE_SERVICE, UNBIND, UPDATE,
  type Script,
} from '../../src/cluster/redis/scripts.js';
import { RecentIds } from '../../src/cluster/redis/recent-ids.js';

let redis: RedisInstance | undefined;
let client: ReturnType<typeof createClient>;

function run(script: Script, k: string[], args: string[]): Promise<unknown> {
  return client.sendCommand(['EVAL', script.lua, String(k.length), ...k, ...args]);
}

const join = (node: string, inc: string) => run(JOIN, [keys.lease(node), keys.members, keys.stream(memberOf(node, inc))], [inc, '5000', memberOf(node, inc), String(Date.now() + 5000), 'canto']);

function entry(member: string, sid: string, resource = 'r') {
  return { host: 'localhost', username: 'ann', resource, worker: member, sid, interested: false };
}

function bind(member: string, sid: string, resource = 'r', onlyIfFree = false): Promise<unknown> {
  const { nodeId, incarnation } = parseMember(member);
  const e = entry(member, sid, resource);
  return run(BIND, [keys.registry, keys.memberSessions(member), keys.lease(nodeId)], [registryField(e), JSON.stringify(e), incarnation, 'canto:test', '{}', member, onlyIfFree ? '1' : '0']);
}

/** A test that needs the cluster's Redis (skipped outside CI when redis-server is missing). */
const clusterTest = (name: string, fn: () => Promise<void>): void => redisTest(name, () => redis, fn);

before(async () => {
  redis = await startRedis();
  if (!redis) return;
  client = createClient({ url: redis.url });
  await client.connect();
});

after(async () => {
  client?.destroy();
  await redis?.stop();
});

test('member names keep node ids with dots and dashes apart from the incarnation', () => {
  assert.deepEqual(parseMember(memberOf('node-a.example', 'x_Y-1')), { nodeId: 'node-a.example', incarnation: 'x_Y-1' });
});

test('RecentIds remembers the most recent ids only', () => {
  const ids = new RecentIds(3);
  for (const id of ['a', 'b', 'c', 'a', 'd']) ids.add(id);
  assert.equal(ids.size, 3);
  assert.equal(ids.has('a'), false, 'the oldest went first (adding it again did not refresh it)');
  assert.ok(ids.has('b') && ids.has('c') && ids.has('d'));
});

clusterTest('a node id is leased to one incarnation; only it renews', async () => {
  assert.deepEqual(await join('n', 'i1'), [1]);
  const again = await join('n', 'i2') as [number, number];
  assert.equal(again[0], 0);
  assert.ok(again[1] > 0 && again[1] <= 5000, 'the holder\'s remaining lease is reported');
  assert.equal(await run(RENEW, [keys.lease('n'), keys.members], ['i2', '5000', memberOf('n', 'i2'), '0']), 0);
  assert.equal(await run(RENEW, [keys.lease('n'), keys.members], ['i1', '5000', memberOf('n', 'i1'), '0']), 1);
});

clusterTest('bindings: fenced without the lease, later binding wins, stale updates and unbinds are ignored', async () => {
  await join('a', 'A');
  await join('b', 'B');
  const a = memberOf('a', 'A');
  const b = memberOf('b', 'B');
  assert.deepEqual(await bind(memberOf('a', 'old'), 's0'), [0], 'an incarnation without the lease cannot bind');
  assert.deepEqual(await bind(a, 's1'), [1, '']);
  const replaced = await bind(b, 's2') as [number, string];
  assert.equal(replaced[0], 1);
  assert.equal((JSON.parse(replaced[1]) as { worker: string }).worker, a, 'the binding replaced is returned: its node closes it');
  // a rewriting its bindings after an outage does not displace b's newer one.
  const held = await bind(a, 's1', 'r', true) as [number, string];
  assert.equal(held[0], 2);
  assert.equal((JSON.parse(held[1]) as { worker: string }).worker, b);
  const ea = entry(a, 's1');
  const field = registryField(ea);
  assert.equal(await run(UPDATE, [keys.registry, keys.lease('a')], [field, JSON.stringify(ea), 'A', 'canto:test', '{}', a, 's1']), -1);
  assert.equal(await run(UNBIND, [keys.registry, keys.memberSessions(a)], [field, a, 's1', 'canto:test', '{}']), 0);
  assert.equal((JSON.parse(String(await client.sendCommand(['HGET', keys.registry, field]))) as { worker: string }).worker, b, 'the newer binding survived');
  assert.equal(await run(UNBIND, [keys.registry, keys.memberSessions(b)], [field, b, 's2', 'canto:test', '{}']), 1);
  assert.equal(await client.sendCommand(['HGET', keys.registry, field]), null);
});

clusterTest('deliveries go only to a live member; dead members are found and reaped once', async () => {
  await join('c', 'C1');
  const c1 = memberOf('c', 'C1');
  const id = await run(DELIVER, [keys.lease('c'), keys.stream(c1)], ['C1', '{"t":"deliver"}']);
  assert.match(String(id), /^\d+-\d+$/);
  await bind(c1, 'x', 'one');
  await bind(c1, 'y', 'two');
  // c's lease ends (crash): a delivery is refused, the member is dead.
  await client.sendCommand(['DEL', keys.lease('c')]);
  assert.equal(await run(DELIVER, [keys.lease('c'), keys.stream(c1)], ['C1', '{}']), null);
  assert.ok((await run(DEAD_MEMBERS, [keys.members], []) as string[]).includes(c1));
  // c comes back as a new incarnation: the old one is still dead, the new one is not.
  await join('c', 'C2');
  const dead = await run(DEAD_MEMBERS, [keys.members], []) as string[];
  assert.ok(dead.includes(c1) && !dead.includes(memberOf('c', 'C2')));
  const reaped = await run(REAP_ENTRIES, [keys.registry, keys.memberSessions(c1)], [c1, 'canto:test', '{}']) as string[];
  assert.deepEqual(reaped.map((r) => (JSON.parse(r) as { resource: string }).resource).sort(), ['one', 'two']);
  assert.deepEqual(await run(REAP_ENTRIES, [keys.registry, keys.memberSessions(c1)], [c1, 'canto:test', '{}']), [], 'a second reap finds nothing');
  // The entry queued before the crash is still in the stream for the reaper to claim.
  assert.equal(await client.sendCommand(['XLEN', keys.stream(c1)]), 1);
});

clusterTest('singleton services: one owner at a time, stanzas queued on the live owner, taken when the owner is dead, released by the owner only', async () => {
  const service = 'conference.svc.test';
  const a = memberOf('sa', 'i1');
  const b = memberOf('sb', 'i2');
  assert.deepEqual(await join('sa', 'i1'), [1]);
  assert.deepEqual(await join('sb', 'i2'), [1]);
  const claim = (m: string) => run(CLAIM_SERVICE, [keys.owner(service), keys.lease(parseMember(m).nodeId)], [m, parseMember(m).incarnation, '5000']);
  const route = (m: string, msg: string) => run(ROUTE_SERVICE, [keys.owner(service), keys.lease(parseMember(m).nodeId)], [m, parseMember(m).incarnation, '5000', msg]);
  assert.equal(await claim(a), 1, 'no owner: a takes it');
  assert.equal(await claim(b), 0, 'a is alive: b does not');
  assert.equal(await claim(a), 1, 'a renews');
  assert.deepEqual(await route(a, 'x'), [1], 'the owner handles it itself');
  assert.deepEqual(await route(b, '{"m":1}'), [2, a], 'queued on the owner');
  const entries = await client.sendCommand(['XRANGE', keys.stream(a), '-', '+']) as Array<[string, string[]]>;
  assert.deepEqual(entries.map(([, f]) => f), [['m', '{"m":1}']]);
  // A fenced caller (its lease gone) neither routes nor claims.
  assert.deepEqual(await route(memberOf('sb', 'old'), 'x'), [0]);
  assert.equal(await run(CLAIM_SERVICE, [keys.owner(service), keys.lease('sb')], [memberOf('sb', 'old'), 'old', '5000']), 0);
  // a dies (its lease goes; the owner key would outlive it by up to one TTL): b takes it at once.
  await client.sendCommand(['DEL', keys.lease('sa')]);
  assert.deepEqual(await route(b, 'y'), [3], 'taken by the caller');
  assert.equal(await client.sendCommand(['GET', keys.owner(service)]), b);
  assert.equal(await run(RELEASE_SERVICE, [keys.owner(service)], [a]), 0, 'a stale owner cannot release it');
  assert.equal(await run(RELEASE_SERVICE, [keys.owner(service)], [b]), 1);
  assert.equal(await client.sendCommand(['GET', keys.owner(service)]), null);
});

clusterTest('held services (external components): never taken for a stanza; refused to a second holder while the first lives; replaced on request', async () => {
  const service = 'comp.svc.test';
  const a = memberOf('ha', 'i1');
  const b = memberOf('hb', 'i2');
  assert.deepEqual(await join('ha', 'i1'), [1]);
  assert.deepEqual(await join('hb', 'i2'), [1]);
  const claim = (m: string, replace: '0' | '1') => run(CLAIM_SERVICE, [keys.owner(service), keys.lease(parseMember(m).nodeId)], [m, parseMember(m).incarnation, '5000', replace]);
  const route = (m: string, msg: string) => run(ROUTE_SERVICE, [keys.owner(service), keys.lease(parseMember(m).nodeId)], [m, parseMember(m).incarnation, '5000', msg, '0']);
  assert.deepEqual(await route(b, 'x'), [4], 'nobody holds it: not taken by the caller');
  assert.equal(await client.sendCommand(['GET', keys.owner(service)]), null);
  assert.equal(await claim(a, '0'), 1, 'the connection on a holds it');
  assert.equal(await claim(b, '0'), 0, 'refuse_new: b may not while a lives');
  assert.deepEqual(await route(b, '{"h":1}'), [2, a], 'queued on the holder');
  assert.equal(await claim(b, '1'), 1, 'kick_old: b replaces a');
  assert.equal(await client.sendCommand(['GET', keys.owner(service)]), b);
  assert.equal(await claim(a, '0'), 0, 'a\'s next renewal fails: it closes its connection');
  assert.deepEqual(await route(a, 'y'), [2, b]);
  // The holder dies: nobody holds it, and a stanza does not take it.
  await client.sendCommand(['DEL', keys.lease('hb')]);
  assert.deepEqual(await route(a, 'z'), [4]);
  assert.equal(await claim(a, '0'), 1, 'a new connection on a takes it from the dead holder');
});

clusterTest('a takeover key is deleted only by the takeover that holds it', async () => {
  const key = keys.smTakeover('n1#abc.tok');
  assert.equal(await client.set(key, 'rid-1', { NX: true, PX: 30_000 }), 'OK');
  assert.equal(await client.set(key, 'rid-2', { NX: true, PX: 30_000 }), null, 'one takeover at a time');
  assert.equal(Number(await run(DELETE_IF, [key], ['rid-2'])), 0, 'another takeover cannot release it');
  assert.equal(await client.get(key), 'rid-1');
  assert.equal(Number(await run(DELETE_IF, [key], ['rid-1'])), 1);
  assert.equal(await client.exists(key), 0);
  assert.equal(await client.set(key, 'rid-2', { NX: true, PX: 30_000 }), 'OK', 'the next takeover may start at once');
  assert.equal(Number(await run(DELETE_IF, [key], ['rid-1'])), 0, 'an older takeover never deletes a newer one\'s key');
  assert.equal(await client.get(key), 'rid-2');
});

clusterTest('directed presence is recorded only while the member holds its lease', async () => {
  await join('dp', 'i1');
  const member = memberOf('dp', 'i1');
  const field = 'sid1\u0000bob@example.org/x';
  assert.equal(Number(await run(DIRECTED_ADD, [keys.lease('dp'), keys.directed(member)], ['i1', field, 'ann@localhost/r'])), 1);
  assert.deepEqual({ ...(await client.hGetAll(keys.directed(member))) }, { [field]: 'ann@localhost/r' });
  // An older incarnation (reaped, or fenced) writes nothing: a reaped hash is never made again.
  assert.equal(Number(await run(DIRECTED_ADD, [keys.lease('dp'), keys.directed(memberOf('dp', 'old'))], ['old', field, 'ann@localhost/r'])), 0);
  assert.equal(await client.exists(keys.directed(memberOf('dp', 'old'))), 0);
});
