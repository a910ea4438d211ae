/**
 * cluster (issue 18): the `messages` pump (./messages.ts) on Canto as K nodes of a Redis cluster
 * (ServerSetup.redisNodes: a private redis-server, K `canto start` processes on 127.0.0.2 …, one
 * SQLite file). P pairs; two measurements on the same cluster, one after the other:
 *
 * - local: sender i and its receiver on the same node (node i mod K);
 * - cross: sender i on node i mod K, its receiver on the next node ((i + 1) mod K) — every
 *   message goes through Redis (EVALSHA DELIVER → XADD to the owner's stream → XREADGROUP).
 *
 * - mixed (the capacity model's check, docs/scaling.md "Capacity model"): receiver i on node
 *   (i + ⌊i / K⌋) mod K, so a fraction f ≈ (K − 1) / K of the pairs is cross-node, as when users
 *   are spread at random; its node CPU per message is compared with the model's prediction
 *   c_local + f_msgs · (c_cross − c_local) from the two measurements before it, where f_msgs is
 *   the fraction of the mix's messages that crossed (Redis XADDs / messages; local pairs are
 *   faster, so it is below f).
 *
 * Each has a warm-up tenth first, not counted. Reported per mode: delivered messages/s, p99
 * send-to-receive latency, node CPU per 1,000 messages (utime + stime summed over the K node
 * processes), Redis CPU per 1,000 messages (the redis-server process) and Redis commands per
 * message (INFO commandstats, reset before the timed phase; heartbeats included, ~2 a second per
 * node). K = 1 has no cross measurement. Canto-only: no other server here clusters.
 */
import type { BenchClient } from '../load/client.js';
import { nowMs, round, settleGenerator, sleep } from '../load/stats.js';
import { nodeCpuSeconds } from '../servers/canto-cluster.js';
import { cpuSeconds } from '../servers/proc.js';
import { commandCalls } from '../servers/redis.js';
import type { RedisCluster, RunningServer } from '../servers/types.js';
import { closeAll, loginMany } from './connect.js';
import { pump } from './messages.js';
import { GeneratorClock, type Metric, type Scenario, type ScenarioResult } from './types.js';

export interface ClusterParams extends Record<string, number> {
  /** K: Canto nodes. */
  nodes: number;
  pairs: number;
  window: number;
  /** Messages per measured mode (local, then cross). */
  messages: number;
  maxSeconds: number;
  cantoOnly: number;
}

type Mode = 'local' | 'cross' | 'mixed';

/** What one mode measured. */
export interface ModeOutcome {
  delivered: number;
  seconds: number;
  p50: number;
  p99: number;
  nodeCpu: number;
  redisCpu: number;
  redisCommands: number;
  /** Calls per command name, for the notes. */
  calls: Map<string, number>;
}

/**
 * Log `users` in, each on the node `nodeOf(user)` says (0-based), with initial presence; clients
 * in the order of `users`.
 */
async function loginOnNodes(server: RunningServer, cluster: RedisCluster, users: number[], nodeOf: (user: number) => number): Promise<BenchClient[]> {
  const out = new Array<BenchClient>(users.length);
  const all: BenchClient[] = [];
  try {
    for (const [k, node] of cluster.nodes.entries()) {
      const mine = users.map((u, i) => ({ u, i })).filter(({ u }) => nodeOf(u) === k);
      if (mine.length === 0) continue;
      // loginMany takes a contiguous range: log each in alone through a 1-user target.
      const target = { ...server, host: node.host, port: node.port, username: (j: number) => server.username(mine[j]!.u) };
      const clients = await loginMany(target, 0, mine.length, { presence: true, deadlineMs: 120_000 });
      all.push(...clients);
      mine.forEach(({ i }, j) => (out[i] = clients[j]!));
    }
  } catch (err) {
    closeAll(all);
    throw err;
  }
  return out;
}

/**
 * Until each receiver got a message from its sender: a receiver that logged in on another node a
 * moment ago may not be in the sender's node's registry replica yet (pub/sub), and a message sent
 * then is stored offline instead of delivered, so the timed pump would wait for it in vain. A
 * probe is sent again every PROBE_EVERY_MS until one arrives.
 */
const PROBE_EVERY_MS = 500;
async function probePairs(senders: BenchClient[], receivers: BenchClient[], jids: string[], deadlineMs: number): Promise<void> {
  const arrived = senders.map(() => false);
  let left = senders.length;
  receivers.forEach((r, i) => {
    r.onStanza = (stanza) => {
      if (!arrived[i] && stanza.startsWith('<message') && stanza.includes(`probe-${i}-`)) {
        arrived[i] = true;
        left--;
      }
    };
  });
  try {
    const end = nowMs() + deadlineMs;
    for (let round = 0; left > 0; round++) {
      if (nowMs() > end) throw new Error(`${left} of ${senders.length} receivers never got a probe message`);
      senders.forEach((s, i) => {
        if (!arrived[i]) s.send(`<message to='${jids[i]}' type='chat' id='probe-${i}-${round}'><body>probe</body></message>`);
      });
      const until = nowMs() + PROBE_EVERY_MS;
      while (left > 0 && nowMs() < until) await sleep(10);
    }
  } finally {
    for (const r of receivers) r.onStanza = undefined;
  }
}

async function measure(cluster: RedisCluster, senders: BenchClient[], receivers: BenchClient[], jids: string[], p: ClusterParams): Promise<ModeOutcome> {
  await probePairs(senders, receivers, jids, (p.maxSeconds * 1000) / 4);
  const warmup = Math.max(1, Math.floor(p.messages / 10));
  const warm = await pump(senders, receivers, jids, p.window, warmup, (p.maxSeconds * 1000) / 4);
  if (warm.delivered < warmup) throw new Error(`warm-up: ${warm.delivered} of ${warmup} messages delivered in time`);
  settleGenerator();
  await cluster.redis.cli('CONFIG', 'RESETSTAT');
  const node0 = nodeCpuSeconds(cluster);
  const redis0 = cpuSeconds(cluster.redis.pid);
  const run = await pump(senders, receivers, jids, p.window, p.messages, p.maxSeconds * 1000);
  const nodeCpu = nodeCpuSeconds(cluster) - node0;
  const redisCpu = cpuSeconds(cluster.redis.pid) - redis0;
  const calls = commandCalls(await cluster.redis.cli('INFO', 'commandstats'));
  // The bench's own CONFIG RESETSTAT and INFO (Redis 7 names subcommands "config|resetstat").
  for (const name of [...calls.keys()]) if (/^(config|info)(\||$)/.test(name)) calls.delete(name);
  const redisCommands = [...calls.values()].reduce((a, b) => a + b, 0);
  return { delivered: run.delivered, seconds: run.seconds, p50: run.latencies.quantile(0.5), p99: run.latencies.quantile(0.99), nodeCpu, redisCpu, redisCommands, calls };
}

function metricsOf(mode: Mode, o: ModeOutcome): Metric[] {
  const per1k = (x: number) => round((x / Math.max(1, o.delivered)) * 1000, 3);
  return [
    { name: `${mode}: messages/s`, value: round(o.delivered / o.seconds), unit: '1/s', better: 'higher' },
    { name: `${mode}: latency p99`, value: round(o.p99, 2), unit: 'ms', better: 'lower' },
    { name: `${mode}: node CPU per 1k msgs`, value: per1k(o.nodeCpu), unit: 's', better: 'lower' },
    { name: `${mode}: Redis CPU per 1k msgs`, value: per1k(o.redisCpu), unit: 's', better: 'lower' },
    { name: `${mode}: Redis commands per msg`, value: round(o.redisCommands / Math.max(1, o.delivered), 2), unit: 'count', better: 'lower' },
  ];
}

function callsNote(mode: Mode, o: ModeOutcome): string {
  const top = [...o.calls].sort((a, b) => b[1] - a[1]).slice(0, 5);
  return `${mode}: Redis ${top.map(([k, v]) => `${k} ${(v / Math.max(1, o.delivered)).toFixed(2)}`).join(', ')} per msg`;
}

export const clusterScenario: Scenario<ClusterParams> = {
  name: 'cluster',
  description: 'messages pump on K Redis-cluster nodes, pairs on one node (local) and across nodes (cross)',
  sizes: {
    tiny: [{ nodes: 2, pairs: 4, window: 2, messages: 400, maxSeconds: 20, cantoOnly: 1 }],
    small: [1, 2, 3].map((nodes) => ({ nodes, pairs: 60, window: 10, messages: 30_000, maxSeconds: 120, cantoOnly: 1 })),
    full: [1, 2, 3].map((nodes) => ({ nodes, pairs: 300, window: 10, messages: 100_000, maxSeconds: 300, cantoOnly: 1 })),
  },
  // Senders u0 … u(P-1), local receivers uP …, cross receivers u2P …, mixed receivers u3P ….
  setup: (p) => ({ accounts: 4 * p.pairs, redisNodes: p.nodes }),
  async run(server: RunningServer, p: ClusterParams): Promise<ScenarioResult> {
    const cluster = server.cluster;
    if (!cluster) throw new Error('cluster: the server under test is not a Redis cluster (ServerSetup.redisNodes)');
    const K = cluster.nodes.length;
    const P = p.pairs;
    const idx = (n: number) => Array.from({ length: n }, (_, i) => i);
    // Node of each user: sender i and local receiver P+i on i mod K, cross receiver 2P+i on
    // (i+1) mod K, mixed receiver 3P+i on (i + ⌊i/K⌋) mod K.
    const mixedNode = (i: number) => (i + Math.floor(i / K)) % K;
    const nodeOf = (u: number) => (u < 2 * P ? (u % P) % K : u < 3 * P ? (u - 2 * P + 1) % K : mixedNode(u - 3 * P));
    const users = idx(4 * P);
    const clients = await loginOnNodes(server, cluster, users, nodeOf);
    try {
      const senders = clients.slice(0, P);
      const jid = (u: number) => `${server.username(u)}@${server.domain}`;
      const clock = new GeneratorClock();
      const metrics: Metric[] = [];
      const notes: string[] = [];
      const local = await measure(cluster, senders, clients.slice(P, 2 * P), idx(P).map((i) => jid(P + i)), p);
      metrics.push(...metricsOf('local', local));
      notes.push(callsNote('local', local));
      if (local.delivered < p.messages) notes.push(`local: time limit: ${local.delivered} of ${p.messages} delivered`);
      if (K > 1) {
        const cross = await measure(cluster, senders, clients.slice(2 * P), idx(P).map((i) => jid(2 * P + i)), p);
        metrics.push(...metricsOf('cross', cross));
        // (A tiny run's local phase can take less than one CPU tick: no ratio then.)
        if (local.nodeCpu > 0) metrics.push({ name: 'node CPU cross / local', value: round(cross.nodeCpu / Math.max(1, cross.delivered) / (local.nodeCpu / Math.max(1, local.delivered)), 2), unit: '×', better: 'lower' });
        notes.push(callsNote('cross', cross));
        if (cross.delivered < p.messages) notes.push(`cross: time limit: ${cross.delivered} of ${p.messages} delivered`);
        // The model's check: a mix with a fraction f of cross-node pairs.
        const f = idx(P).filter((i) => mixedNode(i) !== i % K).length / P;
        const mixed = await measure(cluster, senders, clients.slice(3 * P), idx(P).map((i) => jid(3 * P + i)), p);
        const perMsg = (o: ModeOutcome) => o.nodeCpu / Math.max(1, o.delivered);
        // The pump is closed-loop per pair, so the faster local pairs send more than their share:
        // the fraction of *messages* that crossed is what Redis appended (one XADD per cross-node
        // message, none for anything else), and that is what the prediction uses.
        const fMsgs = (mixed.calls.get('xadd') ?? 0) / Math.max(1, mixed.delivered);
        const predicted = perMsg(local) + fMsgs * (perMsg(cross) - perMsg(local));
        // All five: its Redis commands per message (≈ 3 f) show that the mix went through Redis as planned.
        metrics.push(...metricsOf('mixed', mixed));
        metrics.push({ name: 'mixed: cross-node pairs f', value: round(f, 3), unit: 'count', better: 'lower' });
        metrics.push({ name: 'mixed: cross-node messages', value: round(fMsgs, 3), unit: 'count', better: 'lower' });
        metrics.push({ name: 'mixed: predicted node CPU per 1k msgs', value: round(predicted * 1000, 3), unit: 's', better: 'lower' });
        metrics.push({ name: 'mixed: measured / predicted', value: round(perMsg(mixed) / predicted, 2), unit: '×', better: 'lower' });
        if (mixed.delivered < p.messages) notes.push(`mixed: time limit: ${mixed.delivered} of ${p.messages} delivered`);
      }
      return { scenario: 'cluster', server: server.name, params: p, metrics, generator: clock.read(), notes };
    } finally {
      closeAll(clients);
    }
  },
};
