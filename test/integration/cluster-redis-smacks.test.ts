/**
 * XEP-0198 resumption on another node of a Redis cluster (docs/scaling.md, "Stream management
 * resumption on another node"): a private redis-server, three real `canto start` nodes sharing
 * one PostgreSQL database, @xmpp/client with stream management (it resumes inline in SASL2).
 *
 * - The client's connection to n1 is cut with messages in flight; more come while it hibernates;
 *   it resumes against n2: every message arrives exactly once (those in flight, those sent while
 *   it hibernated, during the takeover and after it), from a sender on n1.
 * - Once the move is done its takeover key is gone: the client is cut again at once and resumes
 *   on n1 (n2 → n1, found through smloc), again every message exactly once. While another
 *   takeover of the id holds the key, a resume elsewhere is refused (`taken`); a replayed older
 *   resumption (an 'h' behind the client's last acknowledgement) is refused by the holder and
 *   leaves the session where it is.
 * - A raw client resumes on the stream (RFC 6120 SASL, `<resume/>` element) on n3 a session
 *   n1 holds: the unacknowledged message comes once, the acknowledged one not again.
 * - A session hibernating on n3, then n3 killed: a resume on n1 gets item-not-found (once n3's
 *   lease is gone) and the messages sent meanwhile come through offline storage.
 */
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, type TestServer } from '../helpers/server.js';
import { loginClient, workAroundOpenRace, xml, type LoggedInClient, type XElement, cutConnection } from '../helpers/xmpp-client.js';
import { redisTest, startRedis, type RedisInstance } from '../helpers/redis-server.js';
import { bare } from '../helpers/cluster-clients.js';
import { startNode, type CantoNode, type LogLine } from '../helpers/cluster-nodes.js';
import { openPostgresStorage } from '../../src/storage/postgres.js';
import { silentLogger } from '../../src/core/logging.js';
import { startPostgres, type PostgresInstance } from '../helpers/postgres.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { waitFor } from '../../src/testing/index.js';
import { createClient } from 'redis';
import { RawTlsClient } from '../helpers/scram-client.js';

const PASSWORD = 'pw';
const USERS = ['romeo', 'juliet', 'dan', 'eve', 'rosa'];

let redis: RedisInstance | undefined;
let postgres: PostgresInstance | undefined;
let dir = '';
const nodes: CantoNode[] = [];
const clients: LoggedInClient[] = [];

const clusterTest = (name: string, fn: () => Promise<void>): void => redisTest(name, () => redis, fn);

/** xmpp.js's stream management state (not in the helper's client type). */
interface SmState {
  id: string;
  inbound: number;
  enabled: boolean;
  on(event: 'resumed', listener: () => void): void;
}
const smOf = (c: LoggedInClient): SmState => (c.xmpp as unknown as { streamManagement: SmState }).streamManagement;
const optionsOf = (c: LoggedInClient): { service: string } => (c.xmpp as unknown as { options: { service: string } }).options;

async function login(node: CantoNode, user: string, resource: string, reconnect = false): Promise<LoggedInClient> {
  const c = await loginClient({} as TestServer, user, PASSWORD, resource, { service: node.service, reconnect });
  clients.push(c);
  return c;
}

const cut = cutConnection;

const chat = (to: string, id: string) => xml('message', { to, type: 'chat', id }, xml('body', {}, `body ${id}`));
/** The member (`node_id#incarnation`) a node joined as, from its log. */
const memberOf = (n: CantoNode): unknown => n.lines.find((l) => l.msg === 'joined the cluster')?.member;
const line = (msg: string) => (l: LogLine): boolean => l.msg === msg;

/**
 * A new @xmpp/client connection to `node` asking to resume `previd` (inline in SASL2): whether
 * it was resumed. When not, xmpp.js binds a fresh resource; the client is stopped either way.
 */
async function resumeAttempt(node: CantoNode, user: string, previd: string, h: number): Promise<boolean> {
  const pkg = '@xmpp/client';
  const { client } = (await import(pkg)) as {
    client(o: Record<string, unknown>): LoggedInClient['xmpp'] & { streamManagement: SmState };
  };
  const x = client({
    service: node.service, domain: 'localhost', resource: 'again', timeout: 10_000,
    credentials: async (auth: (c: { username: string; password: string }, m: string) => Promise<void>) => auth({ username: user, password: PASSWORD }, 'SCRAM-SHA-1'),
  });
  x.reconnect.stop();
  x.on('error', () => {});
  workAroundOpenRace(x);
  let resumed = false;
  x.streamManagement.on('resumed', () => (resumed = true));
  x.streamManagement.id = previd;
  x.streamManagement.inbound = h;
  try {
    await x.start();
  } finally {
    await x.stop().catch(() => undefined);
  }
  return resumed;
}

before(async () => {
  redis = await startRedis();
  if (!redis) return;
  dir = tempDir('canto-redis-smacks-');
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  postgres = await startPostgres();
  const url = await postgres.createDatabase('smacks');
  const storageTable = `[storage]\ndriver = "postgres"\nurl = "${url}"\n`;
  const storage = await openPostgresStorage({ url }, silentLogger());
  for (const u of USERS) await storage.accounts.create('localhost', u, makeCredentials(PASSWORD, { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }));
  await storage.close();
  // The server never asks for acks: what it sent stays unacknowledged until a resume.
  const smacks = '[modules.smacks]\nrequest_after = 1000\nrequest_delay = "10 minutes"\n';
  for (const [i, address] of ['127.0.0.2', '127.0.0.3', '127.0.0.4'].entries()) {
    nodes.push(await startNode({ nodeId: `n${i + 1}`, address, dir, dataDir, redisUrl: redis.url, extra: storageTable + smacks }));
  }
});

after(async () => {
  for (const c of clients) await c.stop().catch(() => undefined);
  for (const n of nodes) if (n.child.exitCode === null) n.kill('SIGKILL');
  await redis?.stop();
  await postgres?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

clusterTest('cut on n1, resumed on n2, at once cut again and resumed on n1: every message exactly once; one takeover at a time; an older resumption refused', async () => {
  const [n1, n2, n3] = nodes as [CantoNode, CantoNode, CantoNode];
  const juliet = await login(n1, 'juliet', 'phone', true);
  const romeo = await login(n1, 'romeo', 'desk');
  const seen: string[] = [];
  juliet.xmpp.on('stanza', (el: XElement) => {
    if (el.is('message') && el.attrs.id !== undefined) seen.push(el.attrs.id);
  });
  await waitFor(() => smOf(juliet).id !== '', { timeoutMs: 5000, message: 'xmpp.js did not enable resumable SM' });
  // Available, so bare-JID messages go to the session (not offline storage); the ping orders it.
  await juliet.send(xml('presence'));
  await juliet.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
  const id = smOf(juliet).id;
  assert.match(id, /^n1#[^.]+\.[A-Za-z0-9_-]+$/, 'the resumption id names its member');
  let resumed = false;
  smOf(juliet).on('resumed', () => (resumed = true));

  await romeo.send(chat(juliet.jid, 'm1'));
  await romeo.send(chat(bare(juliet), 'm2'));
  await waitFor(() => seen.includes('m2'), { timeoutMs: 5000 });
  await romeo.send(chat(juliet.jid, 'm3'));
  // The reconnection (xmpp.js resumes by itself) goes to n2.
  optionsOf(juliet).service = n2.service;
  cut(juliet); // m3 may or may not have arrived
  await n1.waitForLine(line('connection lost: session hibernating'), 10_000);
  await romeo.send(chat(juliet.jid, 'm4'));
  await romeo.send(chat(bare(juliet), 'm5'));
  // Sent while the takeover may be under way, then after it.
  await n2.waitForLine(line('resumption: the session is not here, asking the cluster node holding it'), 15_000);
  await romeo.send(chat(bare(juliet), 'm6'));
  await waitFor(() => resumed, { timeoutMs: 15_000, message: 'xmpp.js did not resume on n2' });
  await romeo.send(chat(juliet.jid, 'm7'));
  await romeo.send(chat(bare(juliet), 'm8'));
  const all = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8'];
  await waitFor(() => all.every((m) => seen.includes(m)), { timeoutMs: 15_000, message: () => `received ${seen.join(', ')}` });
  // Room for duplicates to show up: a ping round trip through both nodes after the last one.
  await romeo.iq(xml('iq', { type: 'get', to: juliet.jid }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
  assert.deepEqual([...seen].sort(), all, 'each message exactly once');
  await n1.waitForLine(line('stream management session handed over to another node'), 5000);
  await n2.waitForLine(line('stream management session resumed from another cluster node'), 5000);
  assert.ok(!n2.lines.some(line('session ended with unacknowledged stanzas')));
  // The same resource, now bound on n2: an iq from n1 reaches it and comes back.
  assert.equal(juliet.jid.split('/')[1], 'phone');

  const r = createClient({ url: redis?.url ?? '' });
  await r.connect();
  try {
    assert.equal(await r.get(`canto:smloc:${id}`), memberOf(n2), 'where the id leads now');
    // The move is complete: its takeover key is released (not left to expire in 30 s).
    await waitFor(async () => (await r.exists(`canto:smtake:${id}`)) === 0, { timeoutMs: 2000, intervalMs: 50, message: 'the takeover key was not released after the move' });

    // At once, the session moves on: back to n1, which learns from smloc that n2 holds it now.
    resumed = false;
    optionsOf(juliet).service = n1.service;
    cut(juliet);
    await n2.waitForLine(line('connection lost: session hibernating'), 10_000);
    await romeo.send(chat(juliet.jid, 'm9'));
    await waitFor(() => resumed, { timeoutMs: 15_000, message: 'xmpp.js did not resume on n1 again' });
    await romeo.send(chat(bare(juliet), 'm10'));
    const both = [...all, 'm9', 'm10'];
    await waitFor(() => both.every((m) => seen.includes(m)), { timeoutMs: 15_000, message: () => `received ${seen.join(', ')}` });
    await romeo.iq(xml('iq', { type: 'get', to: juliet.jid }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    assert.deepEqual([...seen].sort(), [...both].sort(), 'each message exactly once across both moves');
    await n2.waitForLine(line('stream management session handed over to another node'), 5000);
    assert.equal(n1.lines.filter(line('stream management session resumed from another cluster node')).length, 1);
    assert.equal(await r.get(`canto:smloc:${id}`), memberOf(n1));
    await waitFor(async () => (await r.exists(`canto:smtake:${id}`)) === 0, { timeoutMs: 2000, intervalMs: 50, message: 'the takeover key was not released after the second move' });

    // Exactly one takeover at a time: while another holds the id's key, a resume on n3 is refused.
    await r.set(`canto:smtake:${id}`, 'another takeover', { PX: 30_000 });
    assert.equal(await resumeAttempt(n3, 'juliet', id, smOf(juliet).inbound), false, 'resumed while another takeover held the key');
    await n3.waitForLine((l) => l.msg === 'resumption on another node failed' && l.reason === 'taken', 5000);
    assert.equal(await r.get(`canto:smtake:${id}`), 'another takeover', 'a refused takeover removed the key another one holds');
    await r.del(`canto:smtake:${id}`);
  } finally {
    await r.quit();
  }
  // A replayed older resumption ('h' behind what the client acknowledged at its last resume):
  // the holder (n1) refuses it; the session stays with juliet's connection.
  assert.ok(smOf(juliet).inbound > 0);
  await resumeAttempt(n3, 'juliet', id, 0).catch(() => false);
  await n3.waitForLine((l) => l.msg === 'resumption on another node failed' && l.reason === 'too-high', 5000);
  await romeo.send(chat(juliet.jid, 'm11'));
  await waitFor(() => seen.includes('m11'), { timeoutMs: 10_000, message: 'the session left juliet\'s connection' });
  assert.ok(!n1.lines.some(line('session ended with unacknowledged stanzas')), 'n1 gave the moved queue the fates of an ended session');
  await juliet.xmpp.stop();
  await romeo.stop();
});

clusterTest('a <resume/> on the stream (RFC 6120 SASL, no SASL2) on a third node: resumed, the unacked re-sent once', async () => {
  const [n1, n2, n3] = nodes as [CantoNode, CantoNode, CantoNode];
  const rosa = await login(n1, 'rosa', 'pad');
  const romeo = await login(n2, 'romeo', 'lap');
  await waitFor(() => smOf(rosa).id !== '', { timeoutMs: 5000, message: 'xmpp.js did not enable resumable SM' });
  const id = smOf(rosa).id;
  await waitFor(async () => romeo.iq(xml('iq', { type: 'get', to: rosa.jid }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 2000).then(() => true, () => false), { timeoutMs: 10_000, intervalMs: 100, message: 'n2 routes to rosa' });
  await romeo.send(chat(rosa.jid, 'r1'));
  await rosa.waitFor((s) => s.is('message') && s.attrs.id === 'r1');
  cut(rosa);
  await n1.waitForLine(line('connection lost: session hibernating'), 10_000);
  await romeo.send(chat(rosa.jid, 'r2'));
  const h = smOf(rosa).inbound;

  const c = await RawTlsClient.connect(n3.port, undefined, n3.address);
  await c.open();
  await c.startTls();
  c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from('\0rosa\0' + PASSWORD).toString('base64')}</auth>`);
  await c.next(/<success/);
  await c.open();
  c.send(`<resume xmlns='urn:xmpp:sm:3' previd='${id}' h='${h}'/>`);
  const resumed = await c.next(/<resumed [^>]*previd=["']([^"']+)["'][^>]*\/>/, 15_000);
  assert.equal(resumed[1], id);
  await c.next(/id=["']r2["']/, 10_000);
  await romeo.send(chat(rosa.jid, 'r3'));
  await c.next(/id=["']r3["']/, 10_000);
  assert.equal(c.received.match(/id=["']r1["']/g), null, 'r1 was acknowledged: not re-sent');
  assert.equal(c.received.match(/id=["']r2["']/g)?.length, 1);
  await n3.waitForLine(line('stream management session resumed from another cluster node'), 5000);
  c.close();
  await rosa.xmpp.stop().catch(() => undefined);
  await romeo.stop();
});

clusterTest('the holder is killed: a resume on another node gets item-not-found; the messages come through offline storage', async () => {
  const [n1, , n3] = nodes as [CantoNode, CantoNode, CantoNode];
  const dan = await login(n3, 'dan', 'tab');
  const eve = await login(n1, 'eve', 'desk');
  await waitFor(() => smOf(dan).id !== '', { timeoutMs: 5000, message: 'xmpp.js did not enable resumable SM' });
  const id = smOf(dan).id;
  assert.match(id, /^n3#/);
  cut(dan);
  await n3.waitForLine(line('connection lost: session hibernating'), 10_000);
  n3.kill('SIGKILL');
  await n3.exited;
  for (const m of ['k1', 'k2', 'k3']) await eve.send(chat(bare(dan), m));
  assert.equal(await resumeAttempt(n1, 'dan', id, 0), false, 'resumed a session of a killed node');
  await n1.waitForLine((l) => l.msg === 'resumption on another node failed' && l.reason === 'dead', 5000);
  const danAgain = await login(n1, 'dan', 'again');
  await danAgain.send(xml('presence'));
  for (const m of ['k1', 'k2', 'k3']) await danAgain.waitFor((s) => s.is('message') && s.attrs.id === m, 15_000);
});
