/**
 * BOSH without sticky sessions in a Redis cluster (docs/scaling.md): two real `canto start` nodes
 * (n1 on 127.0.0.2, n2 on 127.0.0.3) with HTTP on their own addresses, one Redis, the shared
 * SQLite file. A raw BOSH client creates its session on n1, then sends every other request —
 * SASL, restart, bind, its long polls, its messages, the terminate — to n2, which forwards them to
 * n1. It talks with an @xmpp/client user on n2. Also: the forwarding headers are not trusted from
 * outside, a sid of a node that does not exist and a sid of a killed node are item-not-found.
 */
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from 'redis';
import { tempDir, type TestServer } from '../helpers/server.js';
import { loginClient, xml, type LoggedInClient } from '../helpers/xmpp-client.js';
import { freeLoopbackPort, redisTest, startRedis, type RedisInstance } from '../helpers/redis-server.js';
import { startNode, stopNode, type CantoNode } from '../helpers/cluster-nodes.js';
import { BoshClient, boshPost, creationAttrs, type BoshAnswer } from '../helpers/bosh-client.js';
import { openSqliteStorage } from '../../src/storage/sqlite.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { keys } from '../../src/cluster/redis/keys.js';
import { waitFor } from '../../src/testing/index.js';

const PASSWORD = 'pw';
const ADDRESSES = ['127.0.0.2', '127.0.0.3'] as const;
/** Requests from loopback count as HTTPS through a trusted proxy (as in bosh-protocol.test.ts). */
const VIA_PROXY = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '203.0.113.7' };

let redis: RedisInstance | undefined;
let dir = '';
const nodes: CantoNode[] = [];
const urls: string[] = [];
const clients: LoggedInClient[] = [];
const bosh: BoshClient[] = [];

const clusterTest = (name: string, fn: () => Promise<void>): void => redisTest(name, () => redis, fn);

function assertTerminate(a: BoshAnswer, condition: string): void {
  assert.equal(a.status, 200, a.text);
  assert.equal(a.body?.attrs.type, 'terminate', a.text);
  assert.equal(a.body?.attrs.condition, condition, a.text);
}

before(async () => {
  redis = await startRedis();
  if (!redis) return;
  dir = tempDir('canto-redis-bosh-');
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const storage = openSqliteStorage({ dataDir });
  for (const u of ['ann', 'ben', 'cat']) await storage.accounts.create('localhost', u, makeCredentials(PASSWORD, { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }));
  await storage.close();
  for (const [i, address] of ADDRESSES.entries()) {
    const port = await freeLoopbackPort(address);
    urls.push(`http://${address}:${port}/http-bind`);
    nodes.push(await startNode({
      nodeId: `n${i + 1}`, address, dir, dataDir, redisUrl: redis.url,
      extra: `[modules.bosh]
max_wait = "20s"
inactivity = "20s"
`,
      http: `interfaces = ["${address}"]
ports = [${port}]
tls_ports = []
trusted_proxies = ["127.0.0.0/8"]`,
    }));
  }
  // Each node publishes its own HTTP address (the listener's, no advertise_http set).
  const r = createClient({ url: redis.url });
  await r.connect();
  for (const [i, address] of ADDRESSES.entries()) {
    const published = await waitFor(() => r.get(keys.http(`n${i + 1}`)).then((v) => v ?? undefined), { timeoutMs: 10_000, message: `n${i + 1} publishes its HTTP address` });
    assert.equal(published, `http://${address}:${new URL(urls[i] ?? '').port}`);
  }
  await r.quit();
});

after(async () => {
  for (const b of bosh) b.abandon();
  for (const c of clients) await c.stop();
  for (const n of nodes) await stopNode(n);
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

clusterTest('a BOSH session made on n1 used through n1 and n2 in turn: login, messages with a user on n2, terminate', async () => {
  const [n1Url, n2Url] = urls as [string, string];
  const ann = new BoshClient(n1Url, VIA_PROXY, [n2Url]);
  bosh.push(ann);
  await ann.login('ann', PASSWORD, 'web');
  assert.match(ann.sessionId, /~n1$/, 'the sid names the node holding the session');
  assert.equal(ann.jid, 'ann@localhost/web');

  const ben = await loginClient({} as TestServer, 'ben', PASSWORD, 'phone', { service: nodes[1]?.service });
  clients.push(ben);

  // Several messages each way: ann's requests and long polls go to both nodes in turn.
  for (let i = 0; i < 4; i++) {
    await ann.send(`<message xmlns='jabber:client' to='${ben.jid}' type='chat' id='a${i}'><body>from bosh ${i}</body></message>`);
    const got = await ben.waitFor((s) => s.is('message') && s.attrs.id === `a${i}`);
    assert.equal(got.attrs.from, ann.jid);
    await ben.send(xml('message', { to: ann.jid, type: 'chat', id: `b${i}` }, xml('body', {}, `to bosh ${i}`)));
    const back = await ann.waitFor((el) => el.name === 'message' && el.attrs.id === `b${i}`, 10_000);
    assert.equal(back.attrs.from, ben.jid);
    assert.equal(back.getChildText('body'), `to bosh ${i}`);
  }

  // The forwarding headers from outside the cluster are not trusted: a request to n2 without the
  // proxy headers (plain HTTP) claiming to be forwarded and secure is forwarded as insecure, and
  // n1 refuses the HTTPS-made session over it, leaving the session alone.
  const forged = await boshPost(n2Url, { rid: ann.nextRid + 5, sid: ann.sessionId }, '', { 'X-Canto-Forwarded': 'guess', 'X-Canto-Forwarded-Secure': '1' });
  assertTerminate(forged, 'item-not-found');
  await ben.send(xml('message', { to: ann.jid, type: 'chat', id: 'after-forged' }, xml('body', {}, 'still there')));
  await ann.waitFor((el) => el.name === 'message' && el.attrs.id === 'after-forged', 10_000);

  // Terminate (sent to whichever node is next), then the sid is unknown through either node.
  const sid = ann.sessionId;
  const end = await ann.stop();
  assert.equal(end.body?.attrs.type, 'terminate', end.text);
  for (const url of urls) assertTerminate(await boshPost(url, { rid: 1, sid }, '', VIA_PROXY), 'item-not-found');
});

clusterTest('a sid of a node that does not exist, and of a killed node, is item-not-found', async () => {
  const [n1Url, n2Url] = urls as [string, string];
  assertTerminate(await boshPost(n2Url, { rid: 5, sid: 'AAAAAAAAAAAAAAAAAAAAAAAA~n9' }, '', VIA_PROXY), 'item-not-found');

  // A session on n1, reached once through n2; then n1 dies without a word.
  const created = await boshPost(n1Url, creationAttrs(100, { wait: 5 }), '', VIA_PROXY);
  const sid = created.body?.attrs.sid ?? '';
  assert.ok(sid.endsWith('~n1'), created.text);
  const poll = await boshPost(n2Url, { rid: 101, sid }, '', VIA_PROXY);
  assert.equal(poll.status, 200);
  assert.notEqual(poll.body?.attrs.type, 'terminate', poll.text);
  const n1 = nodes[0];
  assert.ok(n1);
  n1.kill('SIGKILL');
  await n1.exited;
  const started = Date.now();
  assertTerminate(await boshPost(n2Url, { rid: 102, sid }, '', VIA_PROXY), 'item-not-found');
  assert.ok(Date.now() - started < 5000, 'answered without waiting for the forwarding time limit');
});
