/**
 * The Redis-backed cluster end to end (docs/scaling.md): a private redis-server, three real
 * `canto start` nodes on 127.0.0.2, .3 and .4 sharing one PostgreSQL database, real @xmpp/client clients on
 * different nodes. Messages, presence, subscriptions, roster pushes and iq across nodes; a
 * resource conflict across nodes; a duplicate node_id refused; `canto cluster status`; `kill -9`
 * of a node while messages flow to its user (every message the sending node accepted is
 * delivered or stored offline, none twice to one resource, contacts see the user go
 * unavailable, and so does a user on another node it had sent directed presence to, outside its
 * roster); Redis stopped (nodes fence: sessions closed, binds refused) and restarted (nodes
 * rejoin by themselves).
 */
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runCanto } from '../helpers/cli.js';
import { tempDir, type TestServer } from '../helpers/server.js';
import { loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { redisTest, startRedis, type RedisInstance } from '../helpers/redis-server.js';
import { bare, befriend, isPresenceFrom } from '../helpers/cluster-clients.js';
import { startNode, stopNode, type CantoNode } from '../helpers/cluster-nodes.js';
import { openPostgresStorage } from '../../src/storage/postgres.js';
import { silentLogger } from '../../src/core/logging.js';
import { startPostgres, type PostgresInstance } from '../helpers/postgres.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { waitFor } from '../../src/testing/index.js';
import { createClient } from 'redis';

const PASSWORD = 'pw';
const USERS = ['ann', 'ben', 'cat', 'dan', 'eve', 'fay', 'gus'];
/** Messages sent to the user of the node that is killed. */
const FLOW = 600;

let redis: RedisInstance | undefined;
let postgres: PostgresInstance | undefined;
/** The nodes' shared storage: one PostgreSQL database (the engine path of docs/scaling.md). */
let storageTable = '';
let dir = '';
const nodes: CantoNode[] = [];
const clients: LoggedInClient[] = [];

/** A test that needs the cluster's Redis (skipped outside CI when redis-server is missing). */
const clusterTest = (name: string, fn: () => Promise<void>): void => redisTest(name, () => redis, fn);

async function login(node: CantoNode, user: string, resource: string): Promise<LoggedInClient> {
  const c = await loginClient({} as TestServer, user, PASSWORD, resource, { service: node.service });
  clients.push(c);
  return c;
}

const rosterGet = () => xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' }));

before(async () => {
  redis = await startRedis();
  if (!redis) return;
  dir = tempDir('canto-redis-cluster-');
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  postgres = await startPostgres();
  const url = await postgres.createDatabase('cluster');
  storageTable = `[storage]\ndriver = "postgres"\nurl = "${url}"\n`;
  const storage = await openPostgresStorage({ url }, silentLogger());
  for (const u of USERS) await storage.accounts.create('localhost', u, makeCredentials(PASSWORD, { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }));
  await storage.close();
  // One after the other: the first makes the certificate.
  for (const [i, address] of ['127.0.0.2', '127.0.0.3', '127.0.0.4'].entries()) {
    nodes.push(await startNode({ nodeId: `n${i + 1}`, address, dir, dataDir, redisUrl: redis.url, extra: storageTable }));
  }
});

after(async () => {
  for (const c of clients) await c.stop();
  for (const n of nodes) if (n.child.exitCode === null) n.kill('SIGKILL');
  await redis?.stop();
  await postgres?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

clusterTest('clients on three nodes: messages, presence, subscriptions, roster pushes, iq', async () => {
  const [n1, n2, n3] = nodes as [CantoNode, CantoNode, CantoNode];
  const ann = await login(n1, 'ann', 'r');
  const ben = await login(n2, 'ben', 'r');
  const cat = await login(n3, 'cat', 'r');
  for (const c of [ann, ben, cat]) {
    await c.iq(rosterGet());
    await c.send(xml('presence'));
  }

  // Chat between full JIDs, both ways, and to a bare JID.
  await ann.send(xml('message', { to: ben.jid, type: 'chat', id: 'm1' }, xml('body', {}, 'hello ben')));
  const m1 = await ben.waitFor((s) => s.is('message') && s.attrs.id === 'm1');
  assert.equal(m1.attrs.from, ann.jid);
  assert.equal(m1.getChildText('body'), 'hello ben');
  await cat.send(xml('message', { to: bare(ann), type: 'chat', id: 'm2' }, xml('body', {}, 'hi ann')));
  assert.equal((await ann.waitFor((s) => s.is('message') && s.attrs.id === 'm2')).attrs.from, cat.jid);

  // iq to a full JID on another node (xmpp.js answers pings) and its result back.
  const pong = await ann.iq(xml('iq', { type: 'get', to: cat.jid }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
  assert.equal(pong.attrs.from, cat.jid);

  // Subscription across nodes: the roster push for ann is made on ben's node and crosses back.
  await ann.send(xml('presence', { type: 'subscribe', to: bare(ben) }));
  const ask = await ann.waitFor((s) => s.is('iq') && s.attrs.type === 'set' && s.getChild('query', 'jabber:iq:roster')?.getChild('item')?.attrs.jid === bare(ben));
  assert.equal(ask.getChild('query')?.getChild('item')?.attrs.ask, 'subscribe');
  await ben.waitFor((s) => s.is('presence') && s.attrs.type === 'subscribe' && s.attrs.from === bare(ann));
  await ben.send(xml('presence', { type: 'subscribed', to: bare(ann) }));
  const push = await ann.waitFor((s) => s.is('iq') && s.attrs.type === 'set' && s.getChild('query', 'jabber:iq:roster')?.getChild('item')?.attrs.subscription === 'to');
  assert.equal(push.getChild('query')?.getChild('item')?.attrs.jid, bare(ben));
  await ann.waitFor(isPresenceFrom(ben.jid));

  // A presence change is seen on the other node.
  await ben.send(xml('presence', {}, xml('show', {}, 'away')));
  assert.equal((await ann.waitFor(isPresenceFrom(ben.jid))).getChildText('show'), 'away');

  // A second resource of ann's on node 3 learns ann's first resource's real presence.
  await ann.send(xml('presence', {}, xml('status', {}, 'on n1')));
  const ann3 = await login(n3, 'ann', 'other');
  await ann3.send(xml('presence'));
  assert.equal((await ann3.waitFor(isPresenceFrom(ann.jid))).getChildText('status'), 'on n1');

  // A client leaving: its contact on another node sees it go unavailable; then a bare-JID
  // message is stored offline (no ghost proxy left) and delivered at the next login.
  await ben.stop();
  await ann.waitFor(isPresenceFrom(ben.jid, 'unavailable'));
  await ann.send(xml('message', { to: bare(ben), type: 'chat', id: 'm3' }, xml('body', {}, 'for later')));
  const benLater = await login(n3, 'ben', 'later');
  await benLater.send(xml('presence'));
  assert.equal((await benLater.waitFor((s) => s.is('message') && s.attrs.id === 'm3')).getChildText('body'), 'for later');
  await ann3.stop();
  await benLater.stop();
});

clusterTest('a resource conflict across nodes: the new binding wins (kick_old), the old one gets <conflict/>', async () => {
  const [n1, n2, n3] = nodes as [CantoNode, CantoNode, CantoNode];
  const eve = await login(n1, 'eve', 'r');
  await eve.iq(rosterGet());
  await eve.send(xml('presence'));
  const gus = await login(n1, 'gus', 'watch');
  await gus.iq(rosterGet());
  await gus.send(xml('presence'));
  await befriend(gus, eve);
  let condition: string | undefined;
  eve.xmpp.on('error', (err: Error & { condition?: string }) => (condition ??= err.condition ?? err.message));
  const eve2 = await login(n2, 'eve', 'r');
  await waitFor(() => condition !== undefined, { timeoutMs: 5000, intervalMs: 25, message: 'the old session got a stream error' });
  assert.equal(condition, 'conflict');
  await gus.waitFor(isPresenceFrom(eve.jid, 'unavailable'));
  // Stanzas to eve/r now reach the new session on node 2, from node 3 too.
  const fay = await login(n3, 'fay', 'r');
  await fay.send(xml('message', { to: eve2.jid, type: 'chat', id: 'c1' }, xml('body', {}, 'which eve?')));
  assert.equal((await eve2.waitFor((s) => s.is('message') && s.attrs.id === 'c1')).getChildText('body'), 'which eve?');
  await eve2.stop();
  await gus.stop();
  await fay.stop();
});

clusterTest('a second node with the same node_id is refused while the first holds the lease', async () => {
  const n1 = nodes[0] as CantoNode;
  mkdirSync(join(dir, 'dup'), { recursive: true });
  const dup = await startNode({ nodeId: 'n1', address: '127.0.0.5', dir: join(dir, 'dup'), dataDir: join(dir, 'data'), redisUrl: (redis as RedisInstance).url, extra: storageTable, readyLine: 'could not start' })
    .catch((err: unknown) => err as Error);
  // startNode resolves once "could not start" is logged; the process then exits 1.
  assert.ok(!(dup instanceof Error), dup instanceof Error ? dup.message : '');
  const line = dup.lines.find((l) => l.msg === 'could not start');
  assert.match(String(line?.err), /node_id "n1" is held by a live node/);
  assert.equal(await dup.exited, 1);
  assert.equal(n1.child.exitCode, null, 'the first n1 still runs');
});

clusterTest('canto cluster status lists the nodes, their leases and sessions', async () => {
  const [n1, n2] = nodes as [CantoNode, CantoNode, CantoNode];
  const a = await login(n1, 'cat', 'status1');
  const b = await login(n2, 'dan', 'status2');
  const { code, stdout, stderr } = await runCanto(['cluster', 'status', '--config', n1.configFile], { timeoutMs: 20_000 });
  assert.equal(code, 0, stderr);
  for (const id of ['n1', 'n2', 'n3']) assert.match(stdout, new RegExp(`^${id}\\s+\\S+\\s+alive\\s+\\d+\\.\\d s\\s+\\d+`, 'm'));
  const json = await runCanto(['cluster', 'status', '--json', '--config', n1.configFile], { timeoutMs: 20_000 });
  const members = JSON.parse(json.stdout) as Array<{ nodeId: string; alive: boolean; sessions: number; leaseExpiresInMs: number }>;
  const byId = new Map(members.filter((m) => m.alive).map((m) => [m.nodeId, m]));
  assert.equal(byId.size, 3);
  assert.ok((byId.get('n1')?.sessions ?? 0) >= 2, 'n1 holds ann/r and cat/status1');
  assert.ok((byId.get('n2')?.sessions ?? 0) >= 1);
  for (const m of byId.values()) assert.ok(m.leaseExpiresInMs > 0 && m.leaseExpiresInMs <= 6000);
  await a.stop();
  await b.stop();
});

clusterTest('[cluster] lease sets a node\'s lease: a node with lease = "30s" holds one longer than the default 6 s', async () => {
  const n4 = await startNode({ nodeId: 'n4', address: '127.0.0.5', dir, dataDir: join(dir, 'data'), redisUrl: (redis as RedisInstance).url, extra: `lease = "30s"\n${storageTable}` });
  try {
    const { stdout } = await runCanto(['cluster', 'status', '--json', '--config', n4.configFile], { timeoutMs: 20_000 });
    const n4s = (JSON.parse(stdout) as Array<{ nodeId: string; alive: boolean; leaseExpiresInMs: number }>).find((m) => m.nodeId === 'n4' && m.alive);
    assert.ok(n4s, stdout);
    assert.ok(n4s.leaseExpiresInMs > 6000 && n4s.leaseExpiresInMs <= 30_000, `n4's lease expires in ${n4s.leaseExpiresInMs} ms`);
  } finally {
    assert.equal(await stopNode(n4), 0);
  }
});

clusterTest('kill -9 of a node while messages flow to its user: nothing acked is lost, nothing twice, contacts see it go', async () => {
  const [n1, n2, n3] = nodes as [CantoNode, CantoNode, CantoNode];
  const dan = await login(n3, 'dan', 'r');
  await dan.iq(rosterGet());
  await dan.send(xml('presence'));
  const gus = await login(n1, 'gus', 'r');
  await gus.iq(rosterGet());
  await gus.send(xml('presence'));
  await befriend(gus, dan);
  const fay = await login(n2, 'fay', 'sender');
  // Directed presence (RFC 6121 §4.6) from dan on n3 to fay on n2, who is not in dan's roster;
  // one to an offline JID taken back at once (its record goes).
  await dan.send(xml('presence', { to: fay.jid }, xml('status', {}, 'directed')));
  await fay.waitFor((s) => isPresenceFrom(dan.jid)(s) && s.getChildText('status') === 'directed');
  await dan.send(xml('presence', { to: 'eve@localhost/elsewhere' }));
  await dan.send(xml('presence', { to: 'eve@localhost/elsewhere', type: 'unavailable' }));
  const n3Member = String(n3.lines.find((l) => l.msg === 'joined the cluster')?.member);
  const r = createClient({ url: (redis as RedisInstance).url });
  await r.connect();
  const directedKey = `canto:dpres:${n3Member}`;
  await dan.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
  let records: Record<string, string> = {};
  await waitFor(async () => {
    records = await r.hGetAll(directedKey);
    return Object.keys(records).length === 1 && Object.values(records)[0] === dan.jid;
  }, { timeoutMs: 5000, intervalMs: 50, message: () => `${directedKey}: ${JSON.stringify(records)}` });
  assert.ok(Object.keys(await r.hGetAll(directedKey))[0]?.endsWith(`\u0000${fay.jid}`), 'the record names fay');
  // When fay hears dan go unavailable (the flow and the kill come first).
  const fayTold = fay.waitFor(isPresenceFrom(dan.jid, 'unavailable'), 60_000).then(() => Date.now(), (err: unknown) => err as Error);

  const seenBeforeKill = new Map<string, number>();
  dan.xmpp.on('stanza', (s: XElement) => {
    if (s.is('message') && s.attrs.id?.startsWith('flow-')) seenBeforeKill.set(s.attrs.id, (seenBeforeKill.get(s.attrs.id) ?? 0) + 1);
  });
  const errors: XElement[] = [];
  fay.xmpp.on('stanza', (s: XElement) => {
    if (s.attrs.type === 'error') errors.push(s);
  });
  // The node is killed half-way through, once dan has received a quarter: some entries are then
  // delivered, some read but not acked, some not read yet, and the rest arrive after the kill.
  let killed = false;
  let killedAt = 0;
  for (let i = 0; i < FLOW; i++) {
    await fay.send(xml('message', { to: dan.jid, type: 'chat', id: `flow-${i}` }, xml('body', {}, `n${i}`)));
    if (!killed && i === Math.floor(FLOW / 2)) {
      await waitFor(() => seenBeforeKill.size >= FLOW / 4, { timeoutMs: 10_000, intervalMs: 2, message: 'dan received a quarter of the flow before the kill' });
      n3.kill('SIGKILL');
      killedAt = Date.now();
      killed = true;
    }
    if (i % 50 === 49) await new Promise((r) => setImmediate(r));
  }
  await n3.exited;
  // Contacts see the dead node's user go unavailable within the lease (6 s) plus a heartbeat.
  await gus.waitFor(isPresenceFrom(dan.jid, 'unavailable'), 12_000);
  // (n3's reaping: the node the lease test stopped gracefully is reaped by a survivor too.)
  const reapedN3 = (l: { msg?: unknown; dead_member?: unknown }) => l.msg === 'reaped a cluster node whose lease expired' && String(l.dead_member).startsWith('n3#');
  const reaped = await Promise.race([n1.waitForLine(reapedN3, 15_000), n2.waitForLine(reapedN3, 15_000)]);
  assert.match(String(reaped.dead_member), /^n3#/);
  // The recipient of dan's directed presence is told too, within the lease plus a heartbeat.
  const toldAt = await fayTold;
  if (toldAt instanceof Error) throw toldAt;
  const tookMs = toldAt - killedAt;
  console.log(`# kill -9: directed presence recipient told after ${tookMs} ms`);
  assert.ok(tookMs <= 6000 + 1500 + 2000, `fay was told after ${tookMs} ms`);
  assert.equal(reaped.directed_presence, 1);
  assert.equal(await r.exists(directedKey), 0, 'the reaper deleted the dead member\'s directed presence hash');
  await r.quit();

  // dan comes back on another node with a new resource: the rest is in offline storage.
  const offline = new Map<string, number>();
  const danBack = await login(n1, 'dan', 'back');
  danBack.xmpp.on('stanza', (s: XElement) => {
    if (s.is('message') && s.attrs.id?.startsWith('flow-')) offline.set(s.attrs.id, (offline.get(s.attrs.id) ?? 0) + 1);
  });
  await danBack.send(xml('presence'));
  await waitFor(() => seenBeforeKill.size + offline.size >= FLOW, {
    timeoutMs: 20_000, intervalMs: 50,
    message: () => `delivered before the kill ${seenBeforeKill.size} + offline ${offline.size} < ${FLOW}; missing e.g. ${[...Array(FLOW).keys()].map((i) => `flow-${i}`).filter((id) => !seenBeforeKill.has(id) && !offline.has(id)).slice(0, 10).join(', ')}`,
  });
  const missing = [...Array(FLOW).keys()].map((i) => `flow-${i}`).filter((id) => !seenBeforeKill.has(id) && !offline.has(id));
  assert.deepEqual(missing, [], 'every message the sending node accepted was delivered or stored offline');
  for (const [id, n] of [...seenBeforeKill, ...offline]) assert.equal(n, 1, `${id} reached one resource ${n} times`);
  // Entries the dead node wrote to its socket but had not acknowledged are stored too (at least
  // once across resources): that window is at most one read batch.
  const both = [...offline.keys()].filter((id) => seenBeforeKill.has(id));
  console.log(`# kill -9 flow: ${seenBeforeKill.size} delivered before the kill, ${offline.size} from offline storage, ${both.length} both`);
  assert.ok(both.length <= 256, `${both.length} messages reached both dan's old and new resource`);
  assert.equal(errors.length, 0, `the sender got no errors: ${errors.map(String).join('\n')}`);
  await danBack.stop();
  await gus.stop();
  await fay.stop();
  nodes.splice(2, 1);
});

clusterTest('Redis stopped: nodes fence (sessions closed, binds refused); Redis back: they rejoin by themselves', async () => {
  const r = redis as RedisInstance;
  const [n1, n2] = nodes as [CantoNode, CantoNode];
  const ann = await login(n1, 'ann', 'fence');
  let closed: string | undefined;
  ann.xmpp.on('error', (err: Error & { condition?: string }) => (closed ??= err.condition ?? err.message));
  await r.stop();
  await n1.waitForLine((l) => l.msg === 'this node stops serving: it closes its client sessions and refuses new ones until it can rejoin the cluster', 15_000);
  await n2.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('this node stops serving'), 15_000);
  await waitFor(() => closed !== undefined, { timeoutMs: 5000, intervalMs: 25, message: 'the client was closed when its node lost the lease' });
  assert.equal(closed, 'system-shutdown');
  // A fenced node refuses new work.
  await assert.rejects(login(n1, 'ann', 'refused'));

  await r.start();
  await n1.waitForLine((l) => l.msg === 'serving again after rejoining the cluster', 15_000);
  await n2.waitForLine((l) => l.msg === 'serving again after rejoining the cluster', 15_000);
  const ann2 = await login(n1, 'ann', 'again');
  const ben2 = await login(n2, 'ben', 'again');
  // n1 learns of ben's new binding through the registry channel: until then an iq to it is
  // answered service-unavailable, as for any resource not (yet) bound.
  await waitFor(async () => ann2.iq(xml('iq', { type: 'get', to: ben2.jid }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 2000).then(() => true, () => false), { timeoutMs: 10_000, intervalMs: 100, message: 'n1 routes to ben on n2 again' });
  await ann2.send(xml('message', { to: ben2.jid, type: 'chat', id: 'after' }, xml('body', {}, 'redis is back')));
  const after = await ben2.waitFor((s) => s.is('message') && s.attrs.id === 'after');
  assert.equal(after.getChildText('body'), 'redis is back');
  const { stdout } = await runCanto(['cluster', 'status', '--json', '--config', n1.configFile], { timeoutMs: 20_000 });
  const alive = (JSON.parse(stdout) as Array<{ nodeId: string; alive: boolean }>).filter((m) => m.alive).map((m) => m.nodeId).sort();
  assert.deepEqual(alive, nodes.map((n) => n.nodeId).sort());
});

clusterTest('SIGTERM stops a node gracefully: exit 0, lease given back', async () => {
  const [n1, n2] = nodes as [CantoNode, CantoNode];
  assert.equal(await stopNode(n2), 0);
  const { stdout } = await runCanto(['cluster', 'status', '--json', '--config', n1.configFile], { timeoutMs: 20_000 });
  const n2s = (JSON.parse(stdout) as Array<{ nodeId: string; alive: boolean }>).filter((m) => m.nodeId === 'n2');
  assert.ok(n2s.every((m) => !m.alive), 'n2 holds no lease after a graceful stop');
  assert.equal(await stopNode(n1), 0);
});
