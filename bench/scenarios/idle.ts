/**
 * idle: N authenticated TLS connections with initial presence, then nothing. Reports the
 * server's RSS growth per connection (VmRSS from /proc/<pid>/status before the first login and
 * after the last one has settled). Whatever garbage a server has not collected yet is part of
 * what it costs, so no GC is forced.
 */
import { round, sleep } from '../load/stats.js';
import { rssBytes } from '../servers/proc.js';
import type { RunningServer } from '../servers/types.js';
import { closeAll, loginMany } from './connect.js';
import { GeneratorClock, type Scenario, type ScenarioResult } from './types.js';

export interface IdleParams extends Record<string, number> {
  connections: number;
  settleSeconds: number;
}

export const idleScenario: Scenario<IdleParams> = {
  name: 'idle',
  description: 'N idle authenticated TLS connections with presence: server RSS per connection',
  sizes: {
    tiny: [{ connections: 5, settleSeconds: 0.5 }],
    small: [{ connections: 500, settleSeconds: 3 }, { connections: 2000, settleSeconds: 3 }],
    full: [{ connections: 1000, settleSeconds: 5 }, { connections: 5000, settleSeconds: 5 }, { connections: 10_000, settleSeconds: 5 }],
  },
  setup: (p) => ({ accounts: p.connections }),
  async run(server: RunningServer, p: IdleParams): Promise<ScenarioResult> {
    await sleep(p.settleSeconds * 1000); // let the freshly started server reach its resting size
    const before = rssBytes(server.pid);
    const clock = new GeneratorClock();
    const clients = await loginMany(server, 0, p.connections, { presence: true, deadlineMs: Math.max(60_000, p.connections * 20) });
    try {
      await sleep(p.settleSeconds * 1000);
      const after = rssBytes(server.pid);
      const open = clients.filter((c) => !c.closed).length;
      if (open < p.connections) throw new Error(`${p.connections - open} connections closed while idle`);
      return {
        scenario: 'idle',
        server: server.name,
        params: p,
        metrics: [
          { name: 'RSS per connection', value: round((after - before) / p.connections / 1024, 1), unit: 'KiB', better: 'lower' },
          { name: 'RSS before', value: round(before / 1048576, 1), unit: 'MiB', better: 'lower' },
          { name: 'RSS after', value: round(after / 1048576, 1), unit: 'MiB', better: 'lower' },
        ],
        generator: clock.read(),
        notes: [],
      };
    } finally {
      closeAll(clients);
    }
  },
};
