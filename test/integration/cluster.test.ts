/**
 * Cluster mode end to end: the real `canto start` with `[cluster] workers = 2` (a primary and
 * two worker processes sharing the c2s ports), real clients spread over both workers by the
 * primary's round-robin, and what must work between them: messages, presence and
 * subscriptions, roster pushes, iq, resource conflicts, unavailable on disconnect, and a
 * graceful stop that leaves no worker behind.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CANTO_BIN } from '../helpers/cli.js';
import { tempDir, type TestServer } from '../helpers/server.js';
import { loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { openSqliteStorage } from '../../src/storage/sqlite.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { waitFor } from '../../src/testing/index.js';

const PASSWORD = 'pw';
const USERS = ['ann', 'ben', 'cat', 'dan', 'eve', 'fay'];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

interface LogLine {
  msg?: string;
  worker?: number;
  pid?: number;
  cluster?: string;
  [key: string]: unknown;
}

interface Cluster {
  child: ChildProcess;
  lines: LogLine[];
  dir: string;
  port: number;
  tlsPort: number;
  exited: Promise<number | null>;
}

let cluster: Cluster;
const clients: LoggedInClient[] = [];
/** Two available resources of one account, on different workers (set by the first test). */
let pair: { stays: LoggedInClient; dies: LoggedInClient } | undefined;

function waitForLine(c: Cluster, test: (l: LogLine) => boolean, ms: number): Promise<LogLine> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ms;
    const poll = () => {
      const hit = c.lines.find(test);
      if (hit) return resolve(hit);
      if (Date.now() > deadline) return reject(new Error(`log line not seen; log:\n${c.lines.map((l) => JSON.stringify(l)).join('\n')}`));
      setTimeout(poll, 25);
    };
    poll();
  });
}

async function startCluster(): Promise<Cluster> {
  const dir = tempDir('canto-cluster-');
  const port = await freePort();
  const tlsPort = await freePort();
  const storage = openSqliteStorage({ dataDir: join(dir, 'data') });
  for (const u of USERS) await storage.accounts.create('localhost', u, makeCredentials(PASSWORD, { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }));
  await storage.close();
  const config = join(dir, 'canto.toml');
  writeFileSync(config, `data_dir = "./data"
log_level = "info"
log_format = "json"
[c2s]
interfaces = ["127.0.0.1"]
ports = [${port}]
direct_tls_ports = [${tlsPort}]
[s2s]
ports = []
[component_listener]
ports = []
[http]
ports = []
tls_ports = []
[auth]
scram_iterations = 4096
[cluster]
workers = 2
`);
  const child = spawn(process.execPath, [CANTO_BIN, 'start', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: LogLine[] = [];
  let buffer = '';
  child.stdout?.on('data', (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        lines.push({ msg: line });
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const c = { child, lines, dir, port, tlsPort, exited };
  await waitForLine(c, (l) => l.msg === 'cluster started: every worker accepts connections', 15_000);
  return c;
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

/** The worker holding a client's stream, from its stream id (`w{k}-…`). */
function workerOf(c: LoggedInClient): number {
  const id = (c.xmpp as unknown as HeaderKeeper).lastServerHeader?.attrs.id ?? '';
  const m = /^w(\d+)-/.exec(id);
  assert.ok(m, `stream id "${id}" names no worker`);
  return Number(m[1]);
}

async function login(user: string, resource: string, opts: { tls?: boolean } = {}): Promise<LoggedInClient> {
  const service = opts.tls ? `xmpps://127.0.0.1:${cluster.tlsPort}` : `xmpp://127.0.0.1:${cluster.port}`;
  const c = await loginClient({} as TestServer, user, PASSWORD, resource, { service });
  clients.push(c);
  return c;
}

const bare = (c: LoggedInClient) => c.jid.split('/')[0] ?? '';
const isPresenceFrom = (from: string, type?: string) => (s: XElement) => s.is('presence') && s.attrs.from === from && s.attrs.type === type;

/** Log in the users in order until one lands on a worker other than `not`. */
async function loginElsewhere(users: string[], not: number): Promise<LoggedInClient> {
  for (const u of users) {
    const c = await login(u, 'r');
    if (workerOf(c) !== not) return c;
  }
  throw new Error('round-robin never reached the other worker');
}

before(async () => {
  await rememberServerHeaders();
  cluster = await startCluster();
});

after(async () => {
  for (const c of clients) await c.stop();
  if (cluster.child.exitCode === null) cluster.child.kill('SIGKILL');
  rmSync(cluster.dir, { recursive: true, force: true });
});

test('clients on two workers: messages, presence, subscriptions, roster pushes, iq, conflicts', async () => {
  const ann = await login('ann', 'r');
  const ben = await loginElsewhere(['ben', 'cat', 'dan'], workerOf(ann));
  const wa = workerOf(ann);
  const wb = workerOf(ben);
  assert.notEqual(wa, wb, 'the two clients are on different workers');
  assert.deepEqual(new Set([wa, wb]), new Set([1, 2]));

  // Both request the roster (they become interested: roster pushes) and go available.
  await ann.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  await ben.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  await ann.send(xml('presence'));
  await ben.send(xml('presence'));

  // Chat both ways between full JIDs.
  await ann.send(xml('message', { to: ben.jid, type: 'chat', id: 'm1' }, xml('body', {}, 'hello ben')));
  const m1 = await ben.waitFor((s) => s.is('message') && s.attrs.id === 'm1');
  assert.equal(m1.attrs.from, ann.jid);
  assert.equal(m1.getChildText('body'), 'hello ben');
  await ben.send(xml('message', { to: ann.jid, type: 'chat', id: 'm2' }, xml('body', {}, 'hello ann')));
  assert.equal((await ann.waitFor((s) => s.is('message') && s.attrs.id === 'm2')).attrs.from, ben.jid);

  // A message to the bare JID reaches the available resource on the other worker.
  await ann.send(xml('message', { to: bare(ben), type: 'chat', id: 'm3' }, xml('body', {}, 'to your bare jid')));
  assert.equal((await ben.waitFor((s) => s.is('message') && s.attrs.id === 'm3')).getChildText('body'), 'to your bare jid');

  // iq ping to a full JID on the other worker (xmpp.js answers pings).
  const pong = await ann.iq(xml('iq', { type: 'get', to: ben.jid }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
  assert.equal(pong.attrs.from, ben.jid);

  // Subscription across workers: ann asks, ben approves; then the other way round.
  await ann.send(xml('presence', { type: 'subscribe', to: bare(ben) }));
  const askPush = await ann.waitFor((s) => s.is('iq') && s.attrs.type === 'set' && s.getChild('query', 'jabber:iq:roster')?.getChild('item')?.attrs.jid === bare(ben));
  assert.equal(askPush.getChild('query')?.getChild('item')?.attrs.ask, 'subscribe');
  await ben.waitFor((s) => s.is('presence') && s.attrs.type === 'subscribe' && s.attrs.from === bare(ann));
  await ben.send(xml('presence', { type: 'subscribed', to: bare(ann) }));
  // ann's roster is changed by ben's worker (the inbound 'subscribed'); the push crosses back.
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

  // Availability: a presence change is seen on the other worker.
  await ben.send(xml('presence', {}, xml('show', {}, 'away')));
  const away = await ann.waitFor(isPresenceFrom(ben.jid));
  assert.equal(away.getChildText('show'), 'away');

  // A new client of ann's on ben's worker learns ann's other resource's presence (its real presence, not a placeholder).
  await ann.send(xml('presence', {}, xml('status', {}, 'at my desk')));
  await ben.waitFor((s) => isPresenceFrom(ann.jid)(s) && s.getChildText('status') === 'at my desk');
  let ann2: LoggedInClient | undefined;
  for (let i = 0; i < 4 && !ann2; i++) {
    const c = await login('ann', `second${i}`);
    if (workerOf(c) !== wa) ann2 = c;
    else await c.stop();
  }
  assert.ok(ann2, 'a second client of ann landed on the other worker');
  await ann2.send(xml('presence'));
  const seen = await ann2.waitFor(isPresenceFrom(ann.jid));
  assert.equal(seen.getChildText('status'), 'at my desk');
  pair = { stays: ann, dies: ann2 };

  // Resource conflict across workers (kick_old): ben's resource taken by a client on the other
  // worker. Round-robin decides where a connection lands, so a client landing on the holder's
  // worker kicks it locally and becomes the holder; the first one elsewhere is the real test.
  const errors = new Map<LoggedInClient, string>();
  const watch = (c: LoggedInClient) => c.xmpp.on('error', (err: Error & { condition?: string }) => {
    if (!errors.has(c)) errors.set(c, err.condition ?? err.message);
  });
  watch(ben);
  let holder = ben;
  let ben2: LoggedInClient | undefined;
  for (let i = 0; i < 6 && !ben2; i++) {
    const c = await login('ben', 'r');
    watch(c);
    if (workerOf(c) !== workerOf(holder)) ben2 = c;
    else holder = c;
  }
  assert.ok(ben2, 'a conflicting client of ben landed on the other worker');
  await waitFor(() => errors.has(holder), { timeoutMs: 5000, intervalMs: 25, message: 'the holder got a stream error' });
  assert.equal(errors.get(holder), 'conflict', 'the holder on the other worker was closed with <conflict/>');
  assert.equal(errors.has(ben2), false);
  // The available resource that was replaced went unavailable for its contact.
  await ann.waitFor(isPresenceFrom(`${bare(ben)}/r`, 'unavailable'));
  // The new binding is the one that gets stanzas now.
  await ann.send(xml('message', { to: `${bare(ben)}/r`, type: 'chat', id: 'm4' }, xml('body', {}, 'new ben?')));
  assert.equal((await ben2.waitFor((s) => s.is('message') && s.attrs.id === 'm4')).getChildText('body'), 'new ben?');

  // A client disconnecting: its contact on the other worker sees it go unavailable.
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

test('direct TLS is served by the workers too', async () => {
  const c = await login('fay', 'tls', { tls: true });
  assert.ok([1, 2].includes(workerOf(c)));
  await c.stop();
});

test('a worker that dies is restarted, and its resources go unavailable for the others', async () => {
  assert.ok(pair, 'the first test left two resources on different workers');
  const { stays, dies } = pair;
  const victim = workerOf(dies);
  const started = (l: LogLine) => l.msg === 'worker started' && l.worker === victim;
  const pid = cluster.lines.filter(started).at(-1)?.pid;
  assert.ok(typeof pid === 'number');
  process.kill(pid, 'SIGKILL');
  // The surviving worker announces the lost resource on its behalf (presence module, via the primary's reap).
  await stays.waitFor(isPresenceFrom(dies.jid, 'unavailable'));
  await waitForLine(cluster, (l) => l.msg === 'worker exited unexpectedly' && l.worker === victim && l.signal === 'SIGKILL', 2000);
  const restarted = await waitForLine(cluster, (l) => started(l) && l.pid !== pid, 5000);
  await waitForLine(cluster, (l) => l.worker === victim && l.msg === 'server started' && cluster.lines.indexOf(l) > cluster.lines.indexOf(restarted), 10_000);
  // The new worker takes connections again (round-robin: within a few logins).
  let landed = false;
  for (let i = 0; i < 4 && !landed; i++) {
    const c = await login('eve', `after-restart-${i}`);
    landed = workerOf(c) === victim;
    await c.stop();
  }
  assert.ok(landed, 'a client reached the restarted worker');
});

test('SIGTERM to the primary stops every worker and exits 0', async () => {
  const pids = cluster.lines.filter((l) => l.msg === 'worker started' && typeof l.pid === 'number').map((l) => l.pid as number);
  assert.ok(pids.length >= 2);
  for (const c of clients.splice(0)) await c.stop();
  cluster.child.kill('SIGTERM');
  const code = await cluster.exited;
  assert.equal(code, 0);
  for (const pid of pids) {
    assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} is gone`);
  }
  const stopped = cluster.lines.filter((l) => l.msg === 'worker stopped');
  assert.equal(stopped.length, 2);
  assert.ok(cluster.lines.some((l) => l.worker === 1 && l.msg === 'server stopped'));
  assert.ok(cluster.lines.some((l) => l.worker === 2 && l.msg === 'server stopped'));
});
