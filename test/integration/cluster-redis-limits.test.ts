/**
 * The per-address cap on unauthenticated connections (`[c2s] max_unauthed_per_ip`) across the
 * nodes of a Redis cluster (docs/abuse.md, "In a cluster"): a private redis-server, two real
 * `canto start` nodes (127.0.0.2 and .3, sharing the SQLite file), raw TCP connections from one
 * address (127.0.0.9) split across them. Each node alone holds fewer than the cap; together they
 * reach it, and the connection over it is refused with `policy-violation`, whichever node it
 * reaches. Closing one frees a slot on the other node too. With the cluster's Redis unreachable,
 * the node's own count decides and connections are not held. (The counts' expiry:
 * test/integration/limits-redis.test.ts.)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from 'redis';
import { startTestServer, tempDir } from '../helpers/server.js';
import { freeLoopbackPort } from '../helpers/redis-server.js';
import { redisTest, startRedis, type RedisInstance } from '../helpers/redis-server.js';
import { startNode, type CantoNode, type LogLine } from '../helpers/cluster-nodes.js';
import { RawClient, clientHeader } from '../helpers/raw-client.js';
import { waitFor } from '../../src/testing/index.js';

const CAP = 3;
const FROM = '127.0.0.9';
const POLICY_VIOLATION = /<stream:error><policy-violation xmlns=["']urn:ietf:params:xml:ns:xmpp-streams["']/;

let redis: RedisInstance | undefined;
let dir = '';
const nodes: CantoNode[] = [];
const raws: RawClient[] = [];

const clusterTest = (name: string, fn: () => Promise<void>): void => redisTest(name, () => redis, fn);

before(async () => {
  redis = await startRedis();
  if (!redis) return;
  dir = tempDir('canto-redis-limits-');
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  for (const [i, address] of ['127.0.0.2', '127.0.0.3'].entries()) {
    nodes.push(await startNode({
      nodeId: `l${i + 1}`, address, dir, dataDir, redisUrl: redis.url, c2s: `max_unauthed_per_ip = ${CAP}`,
    }));
  }
});

after(async () => {
  for (const c of raws) c.close();
  for (const n of nodes) if (n.child.exitCode === null) n.kill('SIGKILL');
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A connection from FROM to `node` with its stream open (features answered: it was let in). */
async function open(node: CantoNode): Promise<RawClient> {
  const c = await RawClient.connect(node.port, node.address, FROM);
  raws.push(c);
  c.send(clientHeader());
  return c;
}

const refusals = (n: CantoNode): LogLine[] => n.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('too many unauthenticated connections from this address'));

clusterTest('connections from one address split across two nodes hit one cap', async () => {
  const [a, b] = nodes as [CantoNode, CantoNode];
  const r = createClient({ url: (redis as RedisInstance).url });
  await r.connect();
  /** The shared count of FROM's unauthenticated connections (every live node's). */
  const shared = async (): Promise<number> => {
    const h = await r.hGetAll(`canto:limit:unauthed:${FROM}`);
    return Object.values(h).reduce((sum, v) => sum + Number(v.split(':')[0]), 0);
  };
  let last = 0;
  const until = (n: number) => waitFor(async () => (last = await shared()) === n, { timeoutMs: 5000, intervalMs: 25, message: () => `shared count ${last}, expected ${n}` });
  try {
    // Three connections, two on one node and one on the other: under the cap on each node and together.
    const kept = [await open(a), await open(b), await open(a)];
    for (const c of kept) await c.waitFor(/<stream:features/);
    await until(CAP);
    // The fourth, on the node holding one: over the cap across the cluster.
    const fourth = await open(b);
    await fourth.waitFor(POLICY_VIOLATION);
    await fourth.waitClosed();
    assert.equal(refusals(b).length, 1);
    assert.equal(refusals(b)[0]?.msg, 'too many unauthenticated connections from this address across the cluster');
    assert.equal(refusals(b)[0]?.local, 2, 'b alone held fewer than the cap');
    // Its count is given back when it closes.
    await until(CAP);

    // One of a's closes: a slot is free for b.
    kept[0]?.close();
    await until(CAP - 1);
    const again = await open(b);
    await again.waitFor(/<stream:features/);
    await until(CAP);
    // The next one (on a this time) is refused: the answer for `again` came before it.
    const over = await open(a);
    await over.waitFor(POLICY_VIOLATION);
    await over.waitClosed();
    assert.equal(refusals(a).length, 1);
    assert.equal(refusals(b).length, 1, 'the connection after a freed slot was let in');
    assert.ok(!POLICY_VIOLATION.test(again.received) && !again.closed);
    for (const c of [kept[1], kept[2]]) assert.ok(c !== undefined && !c.closed && !POLICY_VIOLATION.test(c.received));
  } finally {
    await r.quit();
  }
});

test('with the cluster\'s Redis unreachable, the node\'s own count decides and connections are not held', async () => {
  // A server whose [cluster] redis answers nothing (a closed port): what the c2s module sees
  // on a node while Redis is away.
  const closed = await freeLoopbackPort();
  const t = await startTestServer((c) => {
    c.cluster.redis = `redis://127.0.0.1:${closed}`;
    c.c2s.max_unauthed_per_ip = 2;
    // BOSH and s2s read the cluster's shared secret at start and refuse to start without Redis
    // (as a node does): this server is only the c2s module's view of a node whose Redis went away.
    c.modules_enabled = c.modules_enabled.filter((m) => m !== 'bosh' && m !== 's2s');
  });
  // Every shared count the connections ask for, to wait until Redis's failure is known.
  const sessions = t.server.services.get('c2s');
  const store = sessions?.shared;
  assert.ok(store, 'the c2s module shares its counts on a cluster node');
  const asked: Promise<number | undefined>[] = [];
  const count = store.count.bind(store);
  store.count = (...args) => {
    const p = count(...args);
    asked.push(p);
    return p;
  };
  const mine: RawClient[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const c = await RawClient.connect(t.c2sPort, '127.0.0.1', FROM);
      mine.push(c);
      c.send(clientHeader());
      await c.waitFor(/<stream:features/, 3000);
    }
    const third = await RawClient.connect(t.c2sPort, '127.0.0.1', FROM);
    mine.push(third);
    await third.waitFor(POLICY_VIOLATION);
    await third.waitClosed();
    const answers = await Promise.all(asked);
    assert.ok(answers.length >= 2 && answers.every((a) => a === undefined), `shared counts: ${String(answers)}`);
    // The two let in stay (a failed shared count closes nothing): each is answered still.
    for (const c of mine.slice(0, 2)) {
      c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`);
      await c.waitFor(/<proceed xmlns=["']urn:ietf:params:xml:ns:xmpp-tls["']\/>/, 5000);
      assert.ok(!POLICY_VIOLATION.test(c.received));
    }
  } finally {
    for (const c of mine) c.close();
    await t.stop();
  }
});
