/**
 * SASL failure throttles shared by the nodes of a Redis cluster (issue 18; saslauth/throttle.ts,
 * docs/abuse.md "In a cluster"): a private redis-server and two real `canto start` nodes (127.0.0.2
 * and .3, one SQLite file). Wrong passwords for one account from one address, split across the
 * nodes, reach the address's limit together: the answer on the node that saw fewer failures than
 * the limit is held back. The owner, from another address, gets in at once on either node; and
 * the account's limit, reached by failures on both nodes, holds back a wrong guess from a fresh
 * address on a node that alone is under it.
 *
 * Delays are asserted by bounds: a held answer comes after the configured delay (a timer never
 * fires early), and an answer that is not held comes well before it (the delay is long).
 */
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/server.js';
import { RawTlsClient, ScramClient, scramLogin, type SaslOutcome } from '../helpers/scram-client.js';
import { redisTest, startRedis, type RedisInstance } from '../helpers/redis-server.js';
import { runCanto } from '../helpers/cli.js';
import { startNode, stopNode, type CantoNode } from '../helpers/cluster-nodes.js';

const PASSWORD = 'the-owners-password';
/** The configured delay (failure_delay = max_failure_delay). */
const DELAY_MS = 3000;
/** Failures per address before its answers wait; per account before wrong guesses wait. */
const MAX_FAILURES = 2;
const ACCOUNT_MAX_FAILURES = 3;

const GUESSER = '127.0.0.1';
const OWNER = '127.0.0.5';
const FRESH_GUESSER = '127.0.0.6';

let redis: RedisInstance | undefined;
let dir = '';
const nodes: CantoNode[] = [];

const extra = `[modules.saslauth]
max_failures = ${MAX_FAILURES}
account_max_failures = ${ACCOUNT_MAX_FAILURES}
failure_delay = "${DELAY_MS}ms"
max_failure_delay = "${DELAY_MS}ms"
[[virtualhost]]
domain = "localhost"
`;

before(async () => {
  redis = await startRedis();
  if (!redis) return;
  dir = tempDir('canto-saslauth-cluster-');
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  // One after the other: the first makes the certificate.
  for (const [i, address] of ['127.0.0.2', '127.0.0.3'].entries()) {
    nodes.push(await startNode({ nodeId: `n${i + 1}`, address, dir, dataDir, redisUrl: redis.url, extra }));
  }
  const added = await runCanto(['adduser', 'alice@localhost', '--password', PASSWORD, '--config', (nodes[0] as CantoNode).configFile]);
  assert.equal(added.code, 0, added.stderr);
});

after(async () => {
  for (const n of nodes) await stopNode(n);
  await redis?.stop();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

const node = (i: number): CantoNode => nodes[i] as CantoNode;

/** One SCRAM-SHA-256 login on a fresh STARTTLS stream from `from`; the outcome and how long it took. */
async function login(n: CantoNode, from: string, password: string): Promise<{ r: SaslOutcome; ms: number }> {
  const c = await RawTlsClient.connect(n.port, from, n.address);
  try {
    await c.open();
    await c.startTls();
    const start = Date.now();
    const r = await scramLogin(c, 'SCRAM-SHA-256', new ScramClient({ hash: 'SHA-256', username: 'alice', password }));
    return { r, ms: Date.now() - start };
  } finally {
    c.close();
  }
}

redisTest('wrong passwords split across two nodes reach one limit; the owner from another address is not delayed', () => redis, async () => {
  // Two failures on n1 from the guessing address: its limit, no more.
  for (let i = 0; i < MAX_FAILURES; i++) {
    const { r } = await login(node(0), GUESSER, `guess-${i}`);
    assert.equal(r.ok, false);
  }
  // n2 has seen no failure itself; the counts in Redis hold this answer back.
  const onB = await login(node(1), GUESSER, 'guess-on-b');
  assert.deepEqual(onB.r, { ok: false, condition: 'not-authorized', text: undefined });
  assert.ok(onB.ms >= DELAY_MS - 5, `the answer on n2 came after ${onB.ms} ms, not held back by the failures on n1`);

  // The account has had 3 failures (2 on n1, 1 on n2): its limit. The owner, from an address
  // that has not failed, gets in at once on either node.
  for (const n of [node(0), node(1)]) {
    const owner = await login(n, OWNER, PASSWORD);
    assert.equal(owner.r.ok, true, `owner on ${n.nodeId}: ${JSON.stringify(owner.r)}`);
    assert.ok(owner.ms < DELAY_MS, `the owner waited ${owner.ms} ms on ${n.nodeId}`);
  }

  // n1 alone has counted 2 failures for the account, under its limit; all nodes together 3.
  const fresh = await login(node(0), FRESH_GUESSER, 'guess-from-a-fresh-address');
  assert.equal(fresh.r.ok, false);
  assert.ok(fresh.ms >= DELAY_MS - 5, `a wrong guess from a fresh address on n1 came after ${fresh.ms} ms, not held back by the account's failures on both nodes`);
});
