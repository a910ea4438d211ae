/**
 * login: N accounts log in once each (TCP, STARTTLS, SCRAM-SHA-1, bind), at most C at a time.
 * A login is timed from connect to the bind result; the connection is then closed. Reports
 * logins/s over the whole run, p50/p99 login latency, and server CPU ms per login.
 */
import { BenchClient } from '../load/client.js';
import { Latencies, nowMs, pool, round } from '../load/stats.js';
import { cpuSeconds } from '../servers/proc.js';
import type { RunningServer } from '../servers/types.js';
import { GeneratorClock, type Scenario, type ScenarioResult } from './types.js';

export interface LoginParams extends Record<string, number> {
  accounts: number;
  concurrency: number;
  maxSeconds: number;
}

export const loginScenario: Scenario<LoginParams> = {
  name: 'login',
  description: 'N accounts log in (STARTTLS + SCRAM-SHA-1 + bind), C at a time',
  sizes: {
    tiny: [{ accounts: 6, concurrency: 2, maxSeconds: 20 }],
    small: [{ accounts: 2000, concurrency: 50, maxSeconds: 120 }],
    full: [{ accounts: 10_000, concurrency: 200, maxSeconds: 300 }],
  },
  setup: (p) => ({ accounts: p.accounts }),
  async run(server: RunningServer, p: LoginParams): Promise<ScenarioResult> {
    const latencies = new Latencies();
    const cpu0 = cpuSeconds(server.pid);
    const clock = new GeneratorClock();
    const start = nowMs();
    const done = await pool(p.accounts, p.concurrency, start + p.maxSeconds * 1000, async (i) => {
      const t0 = nowMs();
      const c = await BenchClient.login({ port: server.port, domain: server.domain, username: server.username(i), password: server.password });
      latencies.add(nowMs() - t0);
      c.close();
    });
    const seconds = (nowMs() - start) / 1000;
    const serverCpu = cpuSeconds(server.pid) - cpu0;
    const notes = done < p.accounts ? [`time limit: ${done} of ${p.accounts} logins`] : [];
    return {
      scenario: 'login',
      server: server.name,
      params: p,
      metrics: [
        { name: 'logins/s', value: round(done / seconds), unit: '1/s', better: 'higher' },
        { name: 'login p50', value: round(latencies.quantile(0.5), 2), unit: 'ms', better: 'lower' },
        { name: 'login p99', value: round(latencies.quantile(0.99), 2), unit: 'ms', better: 'lower' },
        { name: 'server CPU per login', value: round((serverCpu / done) * 1000, 3), unit: 'ms', better: 'lower' },
      ],
      generator: clock.read(),
      notes,
    };
  },
};
