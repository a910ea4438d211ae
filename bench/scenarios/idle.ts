/**
 * idle: N authenticated TLS connections with initial presence, then nothing. Reports the
 * server's RSS growth per connection (VmRSS from /proc/<pid>/status, summed over the server's
 * process tree, before the first login and after the last one has settled). Whatever garbage
 * a server has not collected yet is part of what it costs, so no GC is forced.
 *
 * Up to MAX_PER_CHILD connections are held in this process; beyond that (or when the
 * `generators` parameter asks for it) they are held by generator child processes, because
 * one process may hold at most the open-files hard limit of sockets (bench/load/child-generators.ts).
 *
 * With `redisNodes` (issue 18) Canto runs as that many nodes of a Redis cluster
 * (bench/servers/canto-cluster.ts): the connections are split evenly over the nodes, each node's
 * share over generator children of at most MAX_PER_CHILD, and child c binds its own source
 * address 127.0.1.(c+1) (one source address has ~28k ephemeral ports). RSS is summed over the
 * nodes (Redis reported apart), and the worst node's per-connection RSS is reported too.
 */
import { round, sleep } from '../load/stats.js';
import { ChildGenerators, generatorSlices, MAX_PER_CHILD, type ChildPlan } from '../load/child-generators.js';
import { nodeRssBytes } from '../servers/canto-cluster.js';
import { rssBytes } from '../servers/proc.js';
import type { RedisCluster, RunningServer, ServerSetup } from '../servers/types.js';
import { closeAll, loginMany } from './connect.js';
import { GeneratorClock, type Scenario, type ScenarioResult } from './types.js';

/**
 * Parameters; besides the two required ones a set may have (absent means the default):
 * - `workers`: Canto worker processes (`[cluster] workers`); absent or 1: one process.
 * - `generators`: generator child processes; absent or 0: only as many as the connections need.
 * - `cantoOnly`: 1 = only Canto runs this set (bench/run.ts records the other servers as skipped).
 * - `redisNodes`: Canto as this many Redis cluster nodes (Canto-only); absent or 0: one server.
 * - `maxSeconds`: time limit for all logins (default max(60 s, 20 ms per connection)).
 * - `concurrency`: logins in flight over all generator children of a cluster run (default 100 each).
 * - `perChild`: connections per generator child at most in a cluster run (default MAX_PER_CHILD).
 * They are optional index-signature keys rather than optional properties because the runner
 * treats every parameter set as a plain `Record<string, number>`.
 */
export type IdleParams = Record<string, number> & { connections: number; settleSeconds: number };

/** Connections held while the server's RSS is read, and what the generator used to log them in. */
interface Held {
  /** Connections still open, and the CPU seconds generator children have used (0 without). */
  count(): Promise<{ open: number; childCpuSeconds: number }>;
  close(): Promise<void>;
}

async function holdInProcess(server: RunningServer, p: IdleParams, deadlineMs: number): Promise<Held> {
  const clients = await loginMany(server, 0, p.connections, { presence: true, deadlineMs });
  return {
    count: () => Promise.resolve({ open: clients.filter((c) => !c.closed).length, childCpuSeconds: 0 }),
    close: () => Promise.resolve(closeAll(clients)),
  };
}

async function holdInChildren(server: RunningServer, slices: number[], deadlineMs: number): Promise<Held> {
  const children = await ChildGenerators.start(server, 0, slices, { presence: true, deadlineMs });
  return {
    count: async () => {
      const { open, cpuSeconds } = await children.count();
      return { open, childCpuSeconds: cpuSeconds };
    },
    close: () => children.close(),
  };
}

/**
 * The generator children for a cluster: node k's share (an even split) over children of at most
 * `perChild` (default MAX_PER_CHILD), users numbered on from node to node; child c binds
 * 127.0.1.(c+1).
 */
export function clusterPlans(server: RunningServer, cluster: RedisCluster, connections: number, perChild = MAX_PER_CHILD): ChildPlan[] {
  const plans: ChildPlan[] = [];
  const K = cluster.nodes.length;
  let first = 0;
  for (const [k, node] of cluster.nodes.entries()) {
    const share = Math.floor(connections / K) + (k < connections % K ? 1 : 0);
    const n = Math.max(1, Math.ceil(share / perChild));
    const slices = Array.from({ length: n }, (_, i) => Math.floor(share / n) + (i < share % n ? 1 : 0));
    for (const count of slices) {
      if (plans.length >= 250) throw new Error('idle: more than 250 generator children');
      plans.push({ target: { ...server, host: node.host, port: node.port }, first, count, localAddress: `127.0.1.${plans.length + 1}` });
      first += count;
    }
  }
  return plans;
}

async function holdOnCluster(server: RunningServer, cluster: RedisCluster, p: IdleParams, deadlineMs: number): Promise<Held & { plans: ChildPlan[] }> {
  const plans = clusterPlans(server, cluster, p.connections, p.perChild);
  // Logins in flight over all children: with 100 per child (loginMany's default), 18 children
  // put 1,800 TLS handshakes in flight at once, and on a busy machine some waited past the
  // client's 15 s step timeout. `concurrency` is the total, shared evenly.
  const concurrency = p.concurrency !== undefined ? Math.max(1, Math.ceil(p.concurrency / plans.length)) : undefined;
  const children = await ChildGenerators.startPlans(plans, { presence: true, deadlineMs, concurrency });
  return {
    plans,
    count: async () => {
      const { open, cpuSeconds } = await children.count();
      return { open, childCpuSeconds: cpuSeconds };
    },
    close: () => children.close(),
  };
}

/** The idle run on a Redis cluster: RSS per node and in all, Redis apart. */
async function runOnCluster(server: RunningServer, cluster: RedisCluster, p: IdleParams): Promise<ScenarioResult> {
  await sleep(p.settleSeconds * 1000);
  const before = nodeRssBytes(cluster);
  const redisBefore = rssBytes(cluster.redis.pid);
  const clock = new GeneratorClock();
  const deadlineMs = p.maxSeconds !== undefined ? p.maxSeconds * 1000 : Math.max(60_000, p.connections * 20);
  const t0 = performance.now();
  const held = await holdOnCluster(server, cluster, p, deadlineMs);
  const loginSeconds = (performance.now() - t0) / 1000;
  try {
    await sleep(p.settleSeconds * 1000);
    const after = nodeRssBytes(cluster);
    const redisAfter = rssBytes(cluster.redis.pid);
    const { open, childCpuSeconds } = await held.count();
    if (open < p.connections) throw new Error(`${p.connections - open} of ${p.connections} connections closed while idle`);
    const K = cluster.nodes.length;
    const perNode = after.map((a, k) => {
      const conns = held.plans.filter((pl) => pl.target.host === cluster.nodes[k]!.host).reduce((s, pl) => s + pl.count, 0);
      return { conns, perConn: (a - before[k]!) / conns / 1024, after: a / 1048576 };
    });
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const generator = clock.read();
    return {
      scenario: 'idle-cluster',
      server: server.name,
      params: p,
      metrics: [
        { name: 'RSS per connection', value: round((sum(after) - sum(before)) / p.connections / 1024, 1), unit: 'KiB', better: 'lower' },
        { name: 'RSS per connection, worst node', value: round(Math.max(...perNode.map((n) => n.perConn)), 1), unit: 'KiB', better: 'lower' },
        { name: 'RSS before (all nodes)', value: round(sum(before) / 1048576, 1), unit: 'MiB', better: 'lower' },
        { name: 'RSS after (all nodes)', value: round(sum(after) / 1048576, 1), unit: 'MiB', better: 'lower' },
        { name: 'Redis RSS growth', value: round((redisAfter - redisBefore) / 1048576, 1), unit: 'MiB', better: 'lower' },
        { name: 'connections held', value: open, unit: 'count', better: 'higher' },
        { name: 'logins/s (setup)', value: round(p.connections / loginSeconds), unit: '1/s', better: 'higher' },
      ],
      generator: { cpuSeconds: generator.cpuSeconds + childCpuSeconds, wallSeconds: generator.wallSeconds },
      notes: [
        `${K} Redis cluster nodes: ${perNode.map((n, k) => `n${k + 1} ${n.conns} conns, ${n.perConn.toFixed(1)} KiB/conn, ${n.after.toFixed(0)} MiB`).join('; ')}`,
        `load generator: ${held.plans.length} child processes (${held.plans.map((pl) => pl.count).join(' + ')} connections, each from its own source address); all logged in after ${loginSeconds.toFixed(0)} s`,
      ],
    };
  } finally {
    await held.close();
  }
}

export const idleScenario: Scenario<IdleParams> = {
  name: 'idle',
  description: 'N idle authenticated TLS connections with presence: server RSS per connection',
  sizes: {
    tiny: [{ connections: 5, settleSeconds: 0.5 }],
    small: [{ connections: 500, settleSeconds: 3 }, { connections: 2000, settleSeconds: 3 }],
    full: [
      { connections: 1000, settleSeconds: 5 },
      { connections: 5000, settleSeconds: 5 },
      { connections: 10_000, settleSeconds: 5 },
      // Issue 6: 20,000 idle connections. No single process may hold that many sockets (the
      // open-files hard limit is 20,000), so Canto runs clustered and Prosody, one process, not.
      { connections: 20_000, settleSeconds: 5, workers: 2, cantoOnly: 1 },
    ],
  },
  setup: (p): ServerSetup => ({
    accounts: p.connections,
    ...(p.workers !== undefined && p.workers > 1 ? { workers: p.workers } : {}),
    ...(p.redisNodes !== undefined && p.redisNodes > 0 ? { redisNodes: p.redisNodes } : {}),
  }),
  async run(server: RunningServer, p: IdleParams): Promise<ScenarioResult> {
    if (server.cluster) return runOnCluster(server, server.cluster, p);
    await sleep(p.settleSeconds * 1000); // let the freshly started server reach its resting size
    const before = rssBytes(server.pid);
    const clock = new GeneratorClock();
    const slices = generatorSlices(p.connections, p.generators ?? 0);
    const deadlineMs = Math.max(60_000, p.connections * 20);
    const held = slices.length > 0 ? await holdInChildren(server, slices, deadlineMs) : await holdInProcess(server, p, deadlineMs);
    try {
      await sleep(p.settleSeconds * 1000);
      const after = rssBytes(server.pid);
      const { open, childCpuSeconds } = await held.count();
      if (open < p.connections) throw new Error(`${p.connections - open} of ${p.connections} connections closed while idle`);
      const generator = clock.read();
      const notes = slices.length > 0 ? [`load generator: ${slices.length} child processes (${slices.join(' + ')} connections); its CPU is theirs plus this process's`] : [];
      return {
        scenario: 'idle',
        server: server.name,
        params: p,
        metrics: [
          { name: 'RSS per connection', value: round((after - before) / p.connections / 1024, 1), unit: 'KiB', better: 'lower' },
          { name: 'RSS before', value: round(before / 1048576, 1), unit: 'MiB', better: 'lower' },
          { name: 'RSS after', value: round(after / 1048576, 1), unit: 'MiB', better: 'lower' },
        ],
        // This process plus the children (together they may use more than one core).
        generator: { cpuSeconds: generator.cpuSeconds + childCpuSeconds, wallSeconds: generator.wallSeconds },
        notes,
      };
    } finally {
      await held.close();
    }
  },
};

/**
 * idle-cluster (issue 18): the idle scenario on Canto as `redisNodes` Redis cluster nodes, with
 * its own section in RESULTS.md. Full size: 100,000 idle connections over 6 nodes (~16,700 each,
 * under the 20,000 open-files limit), held by 6 generator children (one per node, each from its
 * own source address); all logins within 40 minutes (about 4 minutes of TLS handshakes on a quiet
 * 2-core machine, far more on a busy one), 30 in flight at a time.
 */
export const idleClusterScenario: Scenario<IdleParams> = {
  name: 'idle-cluster',
  description: 'N idle authenticated TLS connections over K Redis cluster nodes: RSS per connection per node',
  sizes: {
    tiny: [{ connections: 12, settleSeconds: 0.5, redisNodes: 2, maxSeconds: 60, cantoOnly: 1 }],
    small: [{ connections: 6000, settleSeconds: 3, redisNodes: 3, maxSeconds: 300, concurrency: 120, cantoOnly: 1 }],
    // One child per node (16,667 connections each, under the 20,000 open-files limit): fewer
    // processes fighting for the 2 cores. 30 logins in flight: with 180 and with 60, a node missed
    // its lease renewal on the busy machine and fenced itself (see bench/README.md).
    full: [{ connections: 100_000, settleSeconds: 10, redisNodes: 6, maxSeconds: 2400, concurrency: 30, perChild: 17_000, cantoOnly: 1 }],
  },
  setup: (p): ServerSetup => ({ accounts: p.connections, redisNodes: p.redisNodes ?? 2 }),
  async run(server: RunningServer, p: IdleParams): Promise<ScenarioResult> {
    if (!server.cluster) throw new Error('idle-cluster: the server under test is not a Redis cluster (ServerSetup.redisNodes)');
    return runOnCluster(server, server.cluster, p);
  },
};
