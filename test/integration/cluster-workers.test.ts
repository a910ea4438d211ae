/**
 * `[cluster] workers = 2` with `[cluster] redis` end to end (docs/scaling.md, "Several nodes on
 * one machine"): the real `canto start` forks two Redis nodes (`n-1`, `n-2`) sharing the c2s
 * ports (node:cluster round-robin) and the SQLite file, against a private redis-server. What
 * the primary relay's test (the cases of the former test/integration/cluster.test.ts) checked must hold
 * on this path: messages, presence and subscriptions, roster pushes, iq, a resource conflict
 * across nodes, unavailable on disconnect, offline storage, direct TLS; `canto cluster status`
 * lists the two nodes; a node killed with `kill -9` is restarted and takes logins again (its
 * resources go unavailable for the others); SIGTERM to the parent stops both and exits 0; the
 * parent refuses the memory storage driver before forking (exit 1).
 */
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CANTO_BIN, runCanto } from '../helpers/cli.js';
import { collectLogLines } from '../helpers/cluster-nodes.js';
import { freeLoopbackPort, redisTest, startRedis, type RedisInstance } from '../helpers/redis-server.js';
import { tempDir, type TestServer } from '../helpers/server.js';
import { loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { openSqliteStorage } from '../../src/storage/sqlite.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { waitFor } from '../../src/testing/index.js';

const PASSWORD = 'pw';
const USERS = ['ann', 'ben', 'cat', 'dan', 'eve', 'fay'];
/** The TOML that turns off every listener but c2s (both configs here). */
const NO_OTHER_LISTENERS = `[s2s]
ports = []
[component_listener]
ports = []
[http]
ports = []
tls_ports = []
`;
/** The reaping of a killed node: its lease (6 s) runs out, then a survivor's heartbeat (1.5 s) reaps it. */
const REAP_MS = 15_000;

interface LogLine {
  msg?: string;
  node?: string;
  node_id?: string;
  pid?: number;
  [key: string]: unknown;
}

interface Cluster {
  child: ChildProcess;
  lines: LogLine[];
  dir: string;
  configFile: string;
  port: number;
  tlsPort: number;
  exited: Promise<number | null>;
}

let redis: RedisInstance | undefined;
let cluster: Cluster | undefined;
const clients: LoggedInClient[] = [];
/** Two available resources of one account, on different nodes (set by the first test). */
let pair: { stays: LoggedInClient; dies: LoggedInClient } | undefined;

function waitForLine(c: Cluster, match: (l: LogLine) => boolean, ms: number): Promise<LogLine> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ms;
    const poll = () => {
      const hit = c.lines.find(match);
      if (hit) return resolve(hit);
      if (Date.now() > deadline) return reject(new Error(`log line not seen; log:\n${c.lines.map((l) => JSON.stringify(l)).join('\n')}`));
      setTimeout(poll, 25);
    };
    poll();
  });
}

async function startCluster(redisUrl: string): Promise<Cluster> {
  const dir = tempDir('canto-workers-');
  const port = await freeLoopbackPort();
  const tlsPort = await freeLoopbackPort();
  const storage = openSqliteStorage({ dataDir: join(dir, 'data') });
  for (const u of USERS) await storage.accounts.create('localhost', u, makeCredentials(PASSWORD, { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }));
  await storage.close();
  const configFile = join(dir, 'canto.toml');
  writeFileSync(configFile, `data_dir = "./data"
log_level = "info"
log_format = "json"
[c2s]
interfaces = ["127.0.0.1"]
ports = [${port}]
direct_tls_ports = [${tlsPort}]
${NO_OTHER_LISTENERS}[auth]
scram_iterations = 4096
[cluster]
workers = 2
redis = "${redisUrl}"
node_id = "n"
`);
  const child = spawn(process.execPath, [CANTO_BIN, 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: LogLine[] = [];
  collectLogLines(child, lines);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const c = { child, lines, dir, configFile, port, tlsPort, exited };
  await waitForLine(c, (l) => l.msg === 'cluster started: every local node accepts connections', 20_000);
  return c;
}

function running(): Cluster {
  assert.ok(cluster, 'the cluster was started in before()');
  return cluster;
}

/**
 * xmpp.js keeps no stream header it received, so its connection class is wrapped to remember
 * the last one (the stream id is all the tests need). The helper's client uses this same class.
 */
interface HeaderKeeper {
  _status(status: string, ...args: unknown[]): void;
  lastServerHeader?: { attrs: Record<string, string | undefined> };
}
async function rememberServerHeaders(): Promise<void> {
  const CONNECTION_PACKAGE = '@xmpp/connection'; // non-literal: the package ships no types
  const { default: Connection } = (await import(CONNECTION_PACKAGE)) as { default: { prototype: HeaderKeeper } };
  const original = Connection.prototype._status;
  Connection.prototype._status = function (this: HeaderKeeper, status: string, ...args: unknown[]) {
    if (status === 'open') this.lastServerHeader = args[0] as HeaderKeeper['lastServerHeader'];
    original.call(this, status, ...args);
  };
}

/** The local node holding a client's stream (1 or 2), from its stream id (`wn-{k}-…`: node_id n-k). */
function nodeOf(c: LoggedInClient): number {
  const id = (c.xmpp as unknown as HeaderKeeper).lastServerHeader?.attrs.id ?? '';
  const m = /^wn-(\d+)-/.exec(id);
  assert.ok(m, `stream id "${id}" names no local node`);
  return Number(m[1]);
}

async function login(user: string, resource: string, opts: { tls?: boolean } = {}): Promise<LoggedInClient> {
  const c = running();
  const service = opts.tls ? `xmpps://127.0.0.1:${c.tlsPort}` : `xmpp://127.0.0.1:${c.port}`;
  const client = await loginClient({} as TestServer, user, PASSWORD, resource, { service });
  clients.push(client);
  return client;
}

const bare = (c: LoggedInClient) => c.jid.split('/')[0] ?? '';
const isPresenceFrom = (from: string, type?: string) => (s: XElement) => s.is('presence') && s.attrs.from === from && s.attrs.type === type;

/**
 * Wait until `a`'s node routes to `jid` (an iq ping answered): a binding on the other node
 * reaches this node's replica over Redis pub/sub a moment after the bind.
 */
async function routes(a: LoggedInClient, jid: string): Promise<void> {
  await waitFor(async () => a.iq(xml('iq', { type: 'get', to: jid }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 2000).then((r) => r.attrs.type === 'result', () => false), { timeoutMs: 10_000, intervalMs: 100, message: `${a.jid}'s node routes to ${jid}` });
}

/** Log in the users in order until one lands on a node other than `not`. */
async function loginElsewhere(users: string[], not: number): Promise<LoggedInClient> {
  for (const u of users) {
    const c = await login(u, 'r');
    if (nodeOf(c) !== not) return c;
  }
  throw new Error('round-robin never reached the other node');
}


before(async () => {
  redis = await startRedis();
  if (!redis) return;
  await rememberServerHeaders();
  cluster = await startCluster(redis.url);
});

after(async () => {
  for (const c of clients) await c.stop();
  if (cluster) {
    if (cluster.child.exitCode === null) cluster.child.kill('SIGKILL');
    rmSync(cluster.dir, { recursive: true, force: true });
  }
  await redis?.stop();
});

const current = () => redis;

redisTest('clients on two local nodes: messages, presence, subscriptions, roster pushes, iq, conflicts', current, async () => {
  const ann = await login('ann', 'r');
  const ben = await loginElsewhere(['ben', 'cat', 'dan'], nodeOf(ann));
  const na = nodeOf(ann);
  const nb = nodeOf(ben);
  assert.notEqual(na, nb, 'the two clients are on different nodes');
  assert.deepEqual(new Set([na, nb]), new Set([1, 2]));

  // Both request the roster (they become interested: roster pushes) and go available.
  await ann.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  await ben.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  await ann.send(xml('presence'));
  await ben.send(xml('presence'));
  // iq ping to a full JID on the other node (xmpp.js answers pings), both ways.
  await routes(ann, ben.jid);
  await routes(ben, ann.jid);

  // Chat both ways between full JIDs.
  await ann.send(xml('message', { to: ben.jid, type: 'chat', id: 'm1' }, xml('body', {}, 'hello ben')));
  const m1 = await ben.waitFor((s) => s.is('message') && s.attrs.id === 'm1');
  assert.equal(m1.attrs.from, ann.jid);
  assert.equal(m1.getChildText('body'), 'hello ben');
  await ben.send(xml('message', { to: ann.jid, type: 'chat', id: 'm2' }, xml('body', {}, 'hello ann')));
  assert.equal((await ann.waitFor((s) => s.is('message') && s.attrs.id === 'm2')).attrs.from, ben.jid);

  // A message to the bare JID reaches the available resource on the other node.
  await ann.send(xml('message', { to: bare(ben), type: 'chat', id: 'm3' }, xml('body', {}, 'to your bare jid')));
  assert.equal((await ben.waitFor((s) => s.is('message') && s.attrs.id === 'm3')).getChildText('body'), 'to your bare jid');

  // Subscription across nodes: ann asks, ben approves; then the other way round.
  await ann.send(xml('presence', { type: 'subscribe', to: bare(ben) }));
  const askPush = await ann.waitFor((s) => s.is('iq') && s.attrs.type === 'set' && s.getChild('query', 'jabber:iq:roster')?.getChild('item')?.attrs.jid === bare(ben));
  assert.equal(askPush.getChild('query')?.getChild('item')?.attrs.ask, 'subscribe');
  await ben.waitFor((s) => s.is('presence') && s.attrs.type === 'subscribe' && s.attrs.from === bare(ann));
  await ben.send(xml('presence', { type: 'subscribed', to: bare(ann) }));
  // ann's roster is changed by ben's node (the inbound 'subscribed'); the push crosses back.
  const subPush = await ann.waitFor((s) => s.is('iq') && s.attrs.type === 'set' && s.getChild('query', 'jabber:iq:roster')?.getChild('item')?.attrs.subscription === 'to');
  assert.equal(subPush.getChild('query')?.getChild('item')?.attrs.jid, bare(ben));
  // ben's current presence follows the approval.
  await ann.waitFor(isPresenceFrom(ben.jid));
  await ben.send(xml('presence', { type: 'subscribe', to: bare(ann) }));
  await ann.waitFor((s) => s.is('presence') && s.attrs.type === 'subscribe' && s.attrs.from === bare(ben));
  await ann.send(xml('presence', { type: 'subscribed', to: bare(ben) }));
  const benPush = await ben.waitFor((s) => s.is('iq') && s.attrs.type === 'set' && s.getChild('query', 'jabber:iq:roster')?.getChild('item')?.attrs.subscription === 'both');
  assert.equal(benPush.getChild('query')?.getChild('item')?.attrs.jid, bare(ann));
  await ben.waitFor(isPresenceFrom(ann.jid));

  // Availability: a presence change is seen on the other node.
  await ben.send(xml('presence', {}, xml('show', {}, 'away')));
  const away = await ann.waitFor(isPresenceFrom(ben.jid));
  assert.equal(away.getChildText('show'), 'away');

  // A new client of ann's on ben's node learns ann's other resource's presence (its real presence, not a placeholder).
  await ann.send(xml('presence', {}, xml('status', {}, 'at my desk')));
  await ben.waitFor((s) => isPresenceFrom(ann.jid)(s) && s.getChildText('status') === 'at my desk');
  let ann2: LoggedInClient | undefined;
  for (let i = 0; i < 4 && !ann2; i++) {
    const c = await login('ann', `second${i}`);
    if (nodeOf(c) !== na) ann2 = c;
    else await c.stop();
  }
  assert.ok(ann2, 'a second client of ann landed on the other node');
  await ann2.send(xml('presence'));
  const seen = await ann2.waitFor(isPresenceFrom(ann.jid));
  assert.equal(seen.getChildText('status'), 'at my desk');
  pair = { stays: ann, dies: ann2 };

  // Resource conflict across nodes (kick_old): ben's resource taken by a client on the other
  // node. Round-robin decides where a connection lands, so a client landing on the holder's
  // node kicks it locally and becomes the holder; the first one elsewhere is the real test.
  const errors = new Map<LoggedInClient, string>();
  const watch = (c: LoggedInClient) => c.xmpp.on('error', (err: Error & { condition?: string }) => {
    if (!errors.has(c)) errors.set(c, err.condition ?? err.message);
  });
  watch(ben);
  let holder = ben;
  let ben2: LoggedInClient | undefined;
  for (let i = 0; i < 6 && !ben2; i++) {
    // The new client's node must know the current holder (replica) for kick_old to reach it.
    await routes(ann, `${bare(ben)}/r`);
    const c = await login('ben', 'r');
    watch(c);
    if (nodeOf(c) !== nodeOf(holder)) ben2 = c;
    else holder = c;
  }
  assert.ok(ben2, 'a conflicting client of ben landed on the other node');
  await waitFor(() => errors.has(holder), { timeoutMs: 5000, intervalMs: 25, message: 'the holder got a stream error' });
  assert.equal(errors.get(holder), 'conflict', 'the holder on the other node was closed with <conflict/>');
  assert.equal(errors.has(ben2), false);
  // The available resource that was replaced went unavailable for its contact.
  await ann.waitFor(isPresenceFrom(`${bare(ben)}/r`, 'unavailable'));
  // The new binding is the one that gets stanzas now.
  await routes(ann, ben2.jid);
  await ann.send(xml('message', { to: `${bare(ben)}/r`, type: 'chat', id: 'm4' }, xml('body', {}, 'new ben?')));
  assert.equal((await ben2.waitFor((s) => s.is('message') && s.attrs.id === 'm4')).getChildText('body'), 'new ben?');

  // A client disconnecting: its contact on the other node sees it go unavailable.
  await ben2.send(xml('presence'));
  await ann.waitFor(isPresenceFrom(`${bare(ben)}/r`));
  await ben2.stop();
  await ann.waitFor(isPresenceFrom(`${bare(ben)}/r`, 'unavailable'));

  // After the disconnect, a message to ben's bare JID goes to offline storage, not to a ghost proxy.
  await ann.send(xml('message', { to: bare(ben), type: 'chat', id: 'm5' }, xml('body', {}, 'for later')));
  const benLater = await login('ben', 'later');
  await benLater.send(xml('presence'));
  assert.equal((await benLater.waitFor((s) => s.is('message') && s.attrs.id === 'm5')).getChildText('body'), 'for later');
});

redisTest('direct TLS is served by the local nodes too', current, async () => {
  const c = await login('fay', 'tls', { tls: true });
  assert.ok([1, 2].includes(nodeOf(c)));
  await c.stop();
});

redisTest('canto cluster status lists the local nodes as members', current, async () => {
  const c = running();
  const { code, stdout, stderr } = await runCanto(['cluster', 'status', '--json', '--config', c.configFile], { timeoutMs: 20_000 });
  assert.equal(code, 0, stderr);
  const members = JSON.parse(stdout) as Array<{ nodeId: string; alive: boolean; sessions: number }>;
  const alive = members.filter((m) => m.alive).map((m) => m.nodeId).sort();
  assert.deepEqual(alive, ['n-1', 'n-2']);
  const text = await runCanto(['cluster', 'status', '--config', c.configFile], { timeoutMs: 20_000 });
  assert.equal(text.code, 0, text.stderr);
  for (const id of ['n-1', 'n-2']) assert.match(text.stdout, new RegExp(`^${id}\\s+\\S+\\s+alive`, 'm'));
});

redisTest('a local node killed with kill -9 is restarted, takes logins again, and its resources go unavailable for the others', current, async () => {
  const c = running();
  assert.ok(pair, 'the first test left two resources on different nodes');
  const { stays, dies } = pair;
  const victim = nodeOf(dies);
  const nodeId = `n-${victim}`;
  const started = (l: LogLine) => l.msg === 'local node started' && l.node_id === nodeId;
  const pid = c.lines.filter(started).at(-1)?.pid;
  assert.ok(typeof pid === 'number');
  process.kill(pid, 'SIGKILL');
  await waitForLine(c, (l) => l.msg === 'local node exited unexpectedly' && l.node_id === nodeId && l.signal === 'SIGKILL', 5000);
  const restarted = await waitForLine(c, (l) => started(l) && l.pid !== pid, 5000);
  // The survivor reaps the dead member once its lease runs out: contacts are told.
  await stays.waitFor(isPresenceFrom(dies.jid, 'unavailable'), REAP_MS);
  // The new process waits out its predecessor's lease, then joins as a new member.
  await waitForLine(c, (l) => l.node === nodeId && l.msg === 'cluster node started: accepting connections' && c.lines.indexOf(l) > c.lines.indexOf(restarted), REAP_MS);
  // It waited for the lease (restarted after 1 s, the lease lasts 6 s) rather than failing and being restarted again.
  const life = c.lines.slice(c.lines.indexOf(restarted));
  assert.ok(life.some((l) => l.node === nodeId && l.msg === 'waiting for the lease of this node\'s previous process to run out'));
  assert.equal(life.filter((l) => l.node === nodeId && l.msg === 'could not start').length, 0);
  assert.equal(c.lines.filter((l) => started(l)).length, 2, 'started once at first and once after the kill');
  // The new node takes connections again (round-robin: within a few logins), and routes across.
  let landed: LoggedInClient | undefined;
  for (let i = 0; i < 4 && !landed; i++) {
    const client = await login('eve', `after-restart-${i}`);
    if (nodeOf(client) === victim) landed = client;
    else await client.stop();
  }
  assert.ok(landed, 'a client reached the restarted node');
  await routes(landed, stays.jid);
  await landed.stop();
});

redisTest('SIGTERM to the parent stops every local node and exits 0', current, async () => {
  const c = running();
  const pids = c.lines.filter((l) => l.msg === 'local node started' && typeof l.pid === 'number').map((l) => l.pid as number);
  assert.ok(pids.length >= 2);
  for (const client of clients.splice(0)) await client.stop();
  c.child.kill('SIGTERM');
  const code = await c.exited;
  assert.equal(code, 0);
  for (const pid of pids) {
    assert.throws(() => process.kill(pid, 0), /ESRCH/, `local node ${pid} is gone`);
  }
  assert.equal(c.lines.filter((l) => l.msg === 'local node stopped').length, 2);
  for (const id of ['n-1', 'n-2']) assert.ok(c.lines.some((l) => l.node === id && l.msg === 'server stopped'), `${id} stopped its server`);
  // Both gave their leases back: no member is left alive in Redis.
  const status = await runCanto(['cluster', 'status', '--json', '--config', c.configFile], { timeoutMs: 20_000 });
  const members = JSON.parse(status.stdout) as Array<{ nodeId: string; alive: boolean }>;
  assert.deepEqual(members.filter((m) => m.alive), []);
});

redisTest('the parent refuses storage the local nodes cannot share, before forking: exit 1', current, async () => {
  const dir = tempDir('canto-workers-memory-');
  try {
    const configFile = join(dir, 'canto.toml');
    writeFileSync(configFile, `data_dir = "./data"
log_format = "json"
[storage]
driver = "memory"
[c2s]
interfaces = ["127.0.0.1"]
ports = [${await freeLoopbackPort()}]
direct_tls_ports = []
${NO_OTHER_LISTENERS}[cluster]
workers = 2
redis = "${redis?.url ?? ''}"
node_id = "m"
`);
    const { code, stdout } = await runCanto(['start', '--config', configFile], { timeoutMs: 20_000 });
    assert.equal(code, 1);
    assert.match(stdout, /keeps data inside one process; local nodes cannot share it/);
    assert.doesNotMatch(stdout, /local node started/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
