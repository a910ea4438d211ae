/**
 * Abuse limits shared by the nodes of a Redis cluster (docs/abuse.md, "In a cluster"): a private
 * redis-server and two real `canto start` nodes (127.0.0.2 and .3, one SQLite file). In-band
 * registrations from one address split across the nodes hit one per-address limit; a flood from
 * one address on one node spends the per-address stanza budget that a connection from the same
 * address on the other node then finds spent (its reading is paused there).
 */
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, type TestServer } from '../helpers/server.js';
import { loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { RawTlsClient } from '../helpers/scram-client.js';
import { redisTest, startRedis, type RedisInstance } from '../helpers/redis-server.js';
import { waitFor } from '../../src/testing/index.js';
import { startNode, stopNode, type CantoNode, type LogLine } from '../helpers/cluster-nodes.js';

const PASSWORD = 'pw-for-the-cluster';
/** Registrations allowed per address per hour (registration_throttle_max). */
const REG_MAX = 3;
/** The per-address client budget: stanzas a second and burst. */
const RATE = 10;
const BURST = 50;

let redis: RedisInstance | undefined;
let dir = '';
const nodes: CantoNode[] = [];
const clients: LoggedInClient[] = [];

const extra = `[modules.limits]
per_ip_exempt = []
[modules.limits.per_ip.c2s]
stanzas_per_second = ${RATE}
stanza_burst = ${BURST}
bytes_per_second = 1000000000
byte_burst = 1000000000
[modules.register]
registration_throttle_max = ${REG_MAX}
[[virtualhost]]
domain = "localhost"
allow_registration = true
`;

before(async () => {
  redis = await startRedis();
  if (!redis) return;
  dir = tempDir('canto-limits-cluster-');
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  // One after the other: the first makes the certificate.
  for (const [i, address] of ['127.0.0.2', '127.0.0.3'].entries()) {
    nodes.push(await startNode({ nodeId: `n${i + 1}`, address, dir, dataDir, redisUrl: redis.url, extra }));
  }
});

after(async () => {
  for (const c of clients) await c.stop().catch(() => {});
  for (const n of nodes) await stopNode(n);
  await redis?.stop();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

const node = (i: number): CantoNode => nodes[i] as CantoNode;

/** Register in-band over STARTTLS on a node; the reply to the iq set. */
async function register(n: CantoNode, username: string): Promise<string> {
  const c = await RawTlsClient.connect(n.port, undefined, n.address);
  try {
    await c.open();
    const features = await c.startTls();
    assert.match(features, /iq-register/, 'registration is offered');
    c.send(`<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>${username}</username><password>${PASSWORD}</password></query></iq>`);
    return (await c.next(/<iq\b[^>]*\bid=["']reg["'][^>]*?(?:\/>|>[\s\S]*?<\/iq>)/, 20_000))[0];
  } finally {
    c.close();
  }
}

const isResult = (reply: string): boolean => /type=["']result["']/.test(reply);

redisTest('registrations from one address split across two nodes hit one per-address limit', () => redis, async () => {
  const outcomes: boolean[] = [];
  // Alternating nodes: n1, n2, n1 use up the address's allowance; the next, on n2, is refused.
  for (let i = 0; i < REG_MAX; i++) outcomes.push(isResult(await register(node(i % 2), `reg${i}`)));
  assert.deepEqual(outcomes, [true, true, true]);
  const refused = await register(node(1), 'reg-over');
  assert.match(refused, /<not-acceptable xmlns=["']urn:ietf:params:xml:ns:xmpp-stanzas["']/, refused);
  assert.match(refused, /type=["']wait["']/);
  await node(1).waitForLine((l: LogLine) => l.msg === 'registration refused: too many from this address', 5000);
  const again = await register(node(0), 'reg-over-too');
  assert.ok(!isResult(again), 'refused on the other node too');
});

const ping = (id: string): XElement => xml('iq', { type: 'get', to: 'localhost', id }, xml('ping', { xmlns: 'urn:xmpp:ping' }));
const pausedLine = (l: LogLine): boolean => l.msg === 'connection over its rate limit: reading paused';

redisTest('a flood on one node spends the per-address stanza budget a connection on the other node shares', () => redis, async () => {
  // Accounts made by the registration test (this address's allowance is spent).
  const quiet = await loginClient({} as TestServer, 'reg1', PASSWORD, 'q', { service: node(1).service });
  clients.push(quiet);
  const flooder = await loginClient({} as TestServer, 'reg0', PASSWORD, 'f', { service: node(0).service });
  clients.push(flooder);
  assert.equal(node(1).lines.filter(pausedLine).length, 0, 'the quiet connection alone is within the budget');

  // Four times the burst: the address's shared budget stays spent while n1 reads the flood at RATE.
  const FLOOD = BURST * 4;
  let answered = 0;
  flooder.xmpp.on('stanza', (el: XElement) => {
    if (el.is('iq') && el.attrs.id?.startsWith('f') === true) answered++;
  });
  for (let i = 0; i < FLOOD; i++) void flooder.send(ping(`f${i}`));
  await node(0).waitForLine(pausedLine, 20_000);

  // The quiet client sends a few pings, one at a time, far fewer than the burst: on its own it
  // would never be paused; the budget is the address's, spent on the other node.
  let sent = 0;
  while (node(1).lines.find(pausedLine) === undefined) {
    assert.ok(sent < 20, `n2 never paused the quiet connection; the flooder's pings answered: ${answered}`);
    const id = `q${sent++}`;
    await quiet.send(ping(id));
    await quiet.waitFor((s: XElement) => s.is('iq') && s.attrs.id === id, 30_000);
  }
  console.log(`n2 paused the quiet connection after ${sent} pings; ${answered} of ${FLOOD} flood pings answered by then`);
  assert.ok(answered < FLOOD, 'the flood was still being read at its rate');
  // Every ping is read in the end (nothing is dropped); the client is stopped only then.
  await waitFor(() => answered >= FLOOD, { timeoutMs: 60_000, intervalMs: 100, message: `only ${answered} of ${FLOOD} flood pings answered` });
});
