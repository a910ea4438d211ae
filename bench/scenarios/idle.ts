/**
 * idle: N authenticated TLS connections with initial presence, then nothing. Reports the
 * server's RSS growth per connection (VmRSS from /proc/<pid>/status, summed over the server's
 * process tree, before the first login and after the last one has settled). Whatever garbage
 * a server has not collected yet is part of what it costs, so no GC is forced.
 *
 * Up to MAX_PER_CHILD connections are held in this process; beyond that (or when the
 * `generators` parameter asks for it) they are held by generator child processes, because
 * one process may hold at most the open-files hard limit of sockets (bench/load/child-generators.ts).
 */
import { round, sleep } from '../load/stats.js';
import { ChildGenerators, generatorSlices } from '../load/child-generators.js';
import { rssBytes } from '../servers/proc.js';
import type { RunningServer, ServerSetup } from '../servers/types.js';
import { closeAll, loginMany } from './connect.js';
import { GeneratorClock, type Scenario, type ScenarioResult } from './types.js';

/**
 * Parameters; besides the two required ones a set may have (absent means the default):
 * - `workers`: Canto worker processes (`[cluster] workers`); absent or 1: one process.
 * - `generators`: generator child processes; absent or 0: only as many as the connections need.
 * - `cantoOnly`: 1 = only Canto runs this set (bench/run.ts records the other servers as skipped).
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
  setup: (p): ServerSetup => ({ accounts: p.connections, ...(p.workers !== undefined && p.workers > 1 ? { workers: p.workers } : {}) }),
  async run(server: RunningServer, p: IdleParams): Promise<ScenarioResult> {
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
