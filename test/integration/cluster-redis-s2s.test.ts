/**
 * Dialback (XEP-0220) on any node of a Redis cluster, with no `dialback_secret` configured: two
 * real `canto start` nodes serving `a.test` (n1 on 127.0.0.2, n2 on 127.0.0.3) and a remote Canto
 * serving `b.test` in this process, whose `[s2s.hosts]` sends every connection for `a.test` to
 * n2. A user on n1 writes to b.test: n1 opens the stream and sends db:result, b.test connects
 * back to a.test — that is n2 — with db:verify, and n2 must find n1's key valid (both derive the
 * secret from the one kept in Redis). The other way (b.test → a user on n1, bidi off so b.test
 * opens its own stream, to n2) needs n2 to verify b.test's key with b.test, nothing shared. Raw
 * db:verify requests on both nodes: a key made from the cluster's secret is valid on each, a wrong
 * one invalid.
 */
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from 'redis';
import { tempDir, startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient } from '../helpers/xmpp-client.js';
import { freeLoopbackPort, redisTest, startRedis, type RedisInstance } from '../helpers/redis-server.js';
import { startNode, stopNode, type CantoNode } from '../helpers/cluster-nodes.js';
import { openSqliteStorage } from '../../src/storage/sqlite.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { makeTestCa, federating, type TestCa } from './s2s-harness.js';
import { s2sStats } from '../../src/modules/s2s/index.js';
import { dialbackKey } from '../../src/modules/s2s/dialback.js';
import { deriveSecret } from '../../src/cluster/redis/shared-secret.js';
import { keys } from '../../src/cluster/redis/keys.js';

const PASSWORD = 'pw';
const ADDRESSES = ['127.0.0.2', '127.0.0.3'] as const;

let redis: RedisInstance | undefined;
let ca: TestCa | undefined;
let remote: TestServer | undefined;
let dir = '';
const nodes: CantoNode[] = [];
const s2sPorts: number[] = [];
const clients: LoggedInClient[] = [];

const clusterTest = (name: string, fn: () => Promise<void>): void => redisTest(name, () => redis, fn);

before(async () => {
  redis = await startRedis();
  if (!redis) return;
  dir = tempDir('canto-redis-s2s-');
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  ca = await makeTestCa(['a.test', 'b.test']);
  // The nodes share the SQLite file in data_dir (one machine).
  const storage = openSqliteStorage({ dataDir });
  await storage.accounts.create('a.test', 'romeo', makeCredentials(PASSWORD, { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }));
  await storage.close();

  // The remote server first (its s2s port goes into the nodes' [s2s.hosts]); bidi off, so that
  // its stanzas to a.test travel on a stream it opens itself (to n2), verified by dialback too.
  const caNow = ca;
  for (const address of ADDRESSES) s2sPorts.push(await freeLoopbackPort(address));
  remote = await startTestServer((c) => {
    federating(caNow, 'b.test', false)(c);
    c.s2s.bidi = false;
    c.s2s.hosts['a.test'] = `${ADDRESSES[1]}:${s2sPorts[1]}`;
  });
  await createAccount(remote, 'juliet', PASSWORD, 'b.test');
  const bPort = remote.server.port('s2s');
  const cert = ca.certs.get('a.test');
  assert.ok(cert);
  for (const [i, address] of ADDRESSES.entries()) {
    nodes.push(await startNode({
      nodeId: `n${i + 1}`, address, dir, dataDir, redisUrl: redis.url,
      extra: `[[virtualhost]]
domain = "a.test"
certificate = "${cert.certificate}"
key = "${cert.key}"
[modules.stranger]
policy = "allow"
`,
      s2s: `interfaces = ["${address}"]
ports = [${s2sPorts[i]}]
direct_tls_ports = []
[s2s.hosts]
"b.test" = "127.0.0.1:${bPort}"
`,
    }));
  }
});

after(async () => {
  for (const c of clients) await c.stop();
  for (const n of nodes) await stopNode(n);
  await remote?.stop();
  await redis?.stop();
  if (ca) rmSync(ca.dir, { recursive: true, force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

clusterTest('a key made on one node is verified on the other: messages both ways with dialback', async () => {
  const [n1] = nodes as [CantoNode, CantoNode];
  assert.ok(remote);
  const romeo = await loginClient({} as TestServer, 'romeo', PASSWORD, 'phone', { service: n1.service, domain: 'a.test' });
  clients.push(romeo);
  const juliet = await loginClient(remote, 'juliet', PASSWORD, 'balcony', { domain: 'b.test' });
  clients.push(juliet);

  await romeo.send(xml('message', { to: 'juliet@b.test/balcony', type: 'chat', id: 'ab1' }, xml('body', {}, 'from n1')));
  const got = await juliet.waitFor((s) => s.is('message') && s.attrs.id === 'ab1');
  assert.equal(got.attrs.from, romeo.jid);
  assert.equal(got.getChildText('body'), 'from n1');

  // b.test → romeo on n1: b.test's own stream goes to n2, which routes through the cluster.
  await juliet.send(xml('message', { to: romeo.jid, type: 'chat', id: 'ba1' }, xml('body', {}, 'to n1 through n2')));
  const back = await romeo.waitFor((s) => s.is('message') && s.attrs.id === 'ba1');
  assert.equal(back.attrs.from, juliet.jid);

  // Both of b.test's authentications were dialback (no CA trusted), and none failed: n1's key
  // was found valid by n2, and b.test's key was checked by n2 with b.test.
  const stats = s2sStats(remote.server);
  assert.ok(stats);
  assert.equal(stats.authFailures, 0);
  assert.ok(stats.authDialback >= 2, `dialback authentications on b.test: ${stats.authDialback}`);
  assert.equal(stats.authExternal, 0);
});

clusterTest('raw db:verify on each node: the cluster secret\'s key is valid, a wrong key invalid', async () => {
  assert.ok(redis);
  const r = createClient({ url: redis.url });
  await r.connect();
  const shared = await r.get(keys.secret);
  await r.quit();
  assert.ok(shared !== null && shared.length >= 32, 'the cluster secret is in Redis');
  const secret = deriveSecret(shared, 's2s dialback');
  for (const [i, address] of ADDRESSES.entries()) {
    const port = s2sPorts[i] ?? 0;
    const good = dialbackKey(secret, 'b.test', 'a.test', `stream-${i}`);
    assert.equal(await rawVerify(address, port, `stream-${i}`, good), 'valid', `n${i + 1}, the right key`);
    assert.equal(await rawVerify(address, port, `stream-${i}`, 'ab'.repeat(32)), 'invalid', `n${i + 1}, a wrong key`);
    // A key for another stream id is not valid for this one.
    assert.equal(await rawVerify(address, port, 'another', good), 'invalid', `n${i + 1}, a key for another stream`);
  }
});

/** Open a server stream from b.test to a.test, send one db:verify, and return the answer's type. */
function rawVerify(host: string, port: number, id: string, key: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no db:verify answer from ${host}:${port} within 10 s; got: ${buffer}`));
    }, 10_000);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('connect', () => {
      socket.write(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='b.test' to='a.test' version='1.0'>`);
      socket.write(`<db:verify from='b.test' to='a.test' id='${id}'>${key}</db:verify>`);
    });
    socket.on('data', (d: Buffer) => {
      buffer += d.toString();
      const m = /<db:verify\b[^>]*\btype=["'](\w+)["']/.exec(buffer);
      if (!m) return;
      clearTimeout(timer);
      socket.end('</stream:stream>');
      socket.destroy();
      resolve(m[1] ?? '');
    });
  });
}
