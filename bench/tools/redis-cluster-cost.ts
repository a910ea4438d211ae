/**
 * What a cross-node stanza costs on the Redis engine (bench/README.md, "Redis cluster: cost per
 * message"): a private redis-server, two real Canto nodes (127.0.0.2 and .3) on one shared SQLite
 * file, PAIRS client pairs sending MESSAGES chat messages each, alternately with both ends on one
 * node (local) and on different nodes (cross-node). Reports the nodes' CPU (utime+stime from
 * /proc, both processes) per 1,000 messages and Redis commands per message (INFO commandstats,
 * reset before each cross-node round; heartbeats included).
 *
 *   npm run build && node dist/bench/tools/redis-cluster-cost.js [rounds=2] [pairs=10] [messages=300]
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startRedis, commandCalls } from '../../test/helpers/redis-server.js';
import { startNode, stopNode, type CantoNode } from '../../test/helpers/cluster-nodes.js';
import { tempDir, type TestServer } from '../../test/helpers/server.js';
import { loginClient, xml, type LoggedInClient, type XElement } from '../../test/helpers/xmpp-client.js';
import { openSqliteStorage } from '../../src/storage/sqlite.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { waitFor } from '../../src/testing/index.js';

const [ROUNDS, PAIRS, MESSAGES] = process.argv.slice(2).map(Number).concat([NaN, NaN, NaN]);
const rounds = Number.isFinite(ROUNDS) ? ROUNDS as number : 2;
const pairs = Number.isFinite(PAIRS) ? PAIRS as number : 10;
const messages = Number.isFinite(MESSAGES) ? MESSAGES as number : 300;

/** CPU seconds (user + system) of a process, from /proc/PID/stat (ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function main(): Promise<void> {
  const redis = await startRedis();
  if (!redis) throw new Error('redis-server is not installed');
  const dir = tempDir('canto-redis-bench-');
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const storage = openSqliteStorage({ dataDir });
  const users = Array.from({ length: pairs * 3 }, (_, i) => `u${i}`);
  for (const u of users) await storage.accounts.create('localhost', u, makeCredentials('pw', { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }));
  await storage.close();
  const n1 = await startNode({ nodeId: 'b1', address: '127.0.0.2', dir, dataDir, redisUrl: redis.url, extra: '' });
  const n2 = await startNode({ nodeId: 'b2', address: '127.0.0.3', dir, dataDir, redisUrl: redis.url, extra: '' });
  const nodes: CantoNode[] = [n1, n2];
  const login = (node: CantoNode, user: string) => loginClient({} as TestServer, user, 'pw', 'b', { service: node.service });
  // senders on n1; receivers for local on n1, for cross-node on n2
  const senders: LoggedInClient[] = [];
  const localRx: LoggedInClient[] = [];
  const crossRx: LoggedInClient[] = [];
  for (let i = 0; i < pairs; i++) {
    senders.push(await login(n1, `u${i}`));
    localRx.push(await login(n1, `u${pairs + i}`));
    crossRx.push(await login(n2, `u${2 * pairs + i}`));
  }
  let received = 0;
  for (const c of [...localRx, ...crossRx]) {
    c.xmpp.on('stanza', (s: XElement) => {
      if (s.is('message')) received++;
    });
  }
  const results: string[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const mode of ['local', 'cross-node'] as const) {
      const rx = mode === 'local' ? localRx : crossRx;
      await redis.cli('CONFIG', 'RESETSTAT');
      received = 0;
      const total = pairs * messages;
      const cpu0 = nodes.reduce((s, n) => s + cpuSeconds(n.child.pid as number), 0);
      const t0 = Date.now();
      for (let m = 0; m < messages; m++) {
        for (let i = 0; i < pairs; i++) {
          void (senders[i] as LoggedInClient).send(xml('message', { to: (rx[i] as LoggedInClient).jid, type: 'chat' }, xml('body', {}, `m${m}`)));
        }
        if (m % 20 === 19) await waitFor(() => received >= (m + 1 - 10) * pairs, { timeoutMs: 60_000, intervalMs: 2 });
      }
      await waitFor(() => received >= total, { timeoutMs: 120_000, intervalMs: 5 });
      const secs = (Date.now() - t0) / 1000;
      const cpu = nodes.reduce((s, n) => s + cpuSeconds(n.child.pid as number), 0) - cpu0;
      const calls = commandCalls(await redis.cli('INFO', 'commandstats'));
      calls.delete('config');
      calls.delete('info');
      const all = [...calls.values()].reduce((a, b) => a + b, 0);
      const top = [...calls].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, v]) => `${k} ${(v / total).toFixed(2)}`).join(', ');
      results.push(`round ${r + 1} ${mode}: ${total} msgs in ${secs.toFixed(1)} s, node CPU ${(cpu / (total / 1000)).toFixed(3)} s per 1,000, Redis commands per message ${(all / total).toFixed(2)} (${top})`);
      console.log(results.at(-1));
    }
  }
  for (const c of [...senders, ...localRx, ...crossRx]) await c.stop();
  for (const n of nodes) await stopNode(n);
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
