/**
 * Canto as K nodes of a Redis cluster (issue 18, docs/scaling.md), for `ServerSetup.redisNodes`:
 * one private redis-server (./redis.ts) and K `canto start` processes, started as canto.ts starts
 * one (bin/canto, the bench's config and environment), node k listening on 127.0.0.(k+1) with
 * `[cluster] redis` and `node_id = "n<k>"`, all on one seeded SQLite file in one temporary
 * directory (one machine). Every process is stopped by its PID at stop(), nodes first.
 *
 * The RunningServer it returns points at node 1 (`host`, `port`, `pid`); `cluster` lists every
 * node and the Redis, and nodeCpuSeconds / nodeRssBytes sum over the nodes (Redis apart).
 */
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { LAUNCHER, cantoEnv, configToml, seed } from './canto.js';
import { cpuSeconds, freePort, rssBytes, spawnServer, stopChild, waitForPort } from './proc.js';
import { startBenchRedis, type BenchRedis } from './redis.js';
import { BENCH_DOMAIN, BENCH_PASSWORD, benchUsername, type ClusterNode, type RedisCluster, type RunningServer, type ServerSetup } from './types.js';

/** Node k's (1-based) c2s address. */
export function nodeAddress(k: number): string {
  return `127.0.0.${k + 1}`;
}

/** The `[cluster]` table of node k. */
function clusterTable(redisUrl: string, k: number): string {
  return `\n[cluster]\nredis = "${redisUrl}"\nnode_id = "n${k}"\n`;
}

/** User + system CPU seconds of every node so far (Redis not included). */
export function nodeCpuSeconds(cluster: RedisCluster): number {
  return cluster.nodes.reduce((sum, n) => sum + cpuSeconds(n.pid), 0);
}

/** VmRSS of every node, in bytes (Redis not included). */
export function nodeRssBytes(cluster: RedisCluster): number[] {
  return cluster.nodes.map((n) => rssBytes(n.pid));
}

export async function startCantoCluster(setup: ServerSetup): Promise<RunningServer> {
  const count = setup.redisNodes ?? 0;
  if (count < 1 || count > 200) throw new Error(`redisNodes: 1 … 200, not ${count}`);
  if (setup.upload || (setup.workers ?? 1) > 1) throw new Error('a Redis cluster under test runs neither upload nor [cluster] workers');
  const dir = mkdtempSync(join(tmpdir(), 'canto-bench-cluster-'));
  const dataDir = join(dir, 'data');
  const children: ChildProcess[] = [];
  let redis: BenchRedis | undefined;
  const stop = async () => {
    await Promise.all(children.map((c) => stopChild(c, 10_000)));
    await redis?.stop();
    const keep = process.env.CANTO_BENCH_KEEP_LOGS;
    if (keep) {
      for (const file of readdirSync(dir).filter((f) => f.endsWith('.log'))) copyFileSync(join(dir, file), join(keep, `canto-cluster-${Date.now()}-${file}`));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await seed(dataDir, setup);
    redis = await startBenchRedis(dir);
    const nodes: ClusterNode[] = [];
    // One after the other: each joins Redis before it listens, and no two open the fresh
    // SQLite file at the same moment.
    for (let k = 1; k <= count; k++) {
      const host = nodeAddress(k);
      const port = await freePort(host);
      const configFile = join(dir, `n${k}.toml`);
      writeFileSync(configFile, configToml(dataDir, port, setup, 0, host) + clusterTable(redis.url, k));
      const logFile = join(dir, `n${k}.log`);
      const child = spawnServer('/bin/sh', [LAUNCHER, 'start', '--config', configFile], { cwd: dir, logFile, env: cantoEnv() });
      children.push(child);
      try {
        await waitForPort(port, 120_000, child, host); // a node may take long to start on a busy machine
      } catch (err) {
        throw new Error(`Canto node n${k} did not start: ${(err as Error).message}\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
      }
      if (child.pid === undefined) throw new Error(`no PID for Canto node n${k}`);
      nodes.push({ nodeId: `n${k}`, host, port, pid: child.pid });
    }
    const r = redis;
    const cluster: RedisCluster = { nodes, redis: { pid: r.pid, cli: (...args: string[]) => r.cli(...args) } };
    return { name: 'canto', domain: BENCH_DOMAIN, host: nodes[0]!.host, port: nodes[0]!.port, pid: nodes[0]!.pid, password: BENCH_PASSWORD, username: benchUsername, cluster, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
