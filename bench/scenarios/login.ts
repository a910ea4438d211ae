/**
 * login: N accounts log in once each (TCP, STARTTLS, SCRAM-SHA-1, bind), at most C at a time.
 * A login is timed from connect to the bind result; the connection is then closed. Reports
 * logins/s over the whole run, p50/p99 login latency, and server CPU ms per login.
 * With `tlsResume` 1 each STARTTLS offers the TLS session (ticket) the previous login got, so
 * the server may resume it instead of a full handshake (the server-side cost is the same as a
 * device resuming its own session; the note says how many were resumed).
 */
import { BenchClient } from '../load/client.js';
import { Latencies, nowMs, pool, round } from '../load/stats.js';
import { cpuSeconds } from '../servers/proc.js';
import type { RunningServer } from '../servers/types.js';
import { GeneratorClock, type Scenario, type ScenarioResult } from './types.js';

export interface LoginParams extends Record<string, number> {
  accounts: number;
  concurrency: number;
  /** 1: offer the last TLS session at STARTTLS (resumption). */
  tlsResume: number;
  maxSeconds: number;
}

export const loginScenario: Scenario<LoginParams> = {
  name: 'login',
  description: 'N accounts log in (STARTTLS + SCRAM-SHA-1 + bind), C at a time; with tlsResume=1 resuming TLS sessions',
  sizes: {
    tiny: [{ accounts: 6, concurrency: 2, tlsResume: 1, maxSeconds: 20 }],
    small: [
      { accounts: 2000, concurrency: 50, tlsResume: 0, maxSeconds: 120 },
      { accounts: 2000, concurrency: 50, tlsResume: 1, maxSeconds: 120 },
    ],
    full: [
      { accounts: 10_000, concurrency: 200, tlsResume: 0, maxSeconds: 300 },
      { accounts: 10_000, concurrency: 200, tlsResume: 1, maxSeconds: 300 },
    ],
  },
  setup: (p) => ({ accounts: p.accounts }),
  async run(server: RunningServer, p: LoginParams): Promise<ScenarioResult> {
    const latencies = new Latencies();
    const cpu0 = cpuSeconds(server.pid);
    const clock = new GeneratorClock();
    const start = nowMs();
    let ticket: Buffer | undefined;
    let resumed = 0;
    const done = await pool(p.accounts, p.concurrency, start + p.maxSeconds * 1000, async (i) => {
      const t0 = nowMs();
      const tlsSession = p.tlsResume ? ticket : undefined;
      const c = await BenchClient.login({ port: server.port, domain: server.domain, username: server.username(i), password: server.password, tlsSession });
      latencies.add(nowMs() - t0);
      if (c.tlsResumed) resumed++;
      ticket = c.tlsSession ?? ticket;
      c.close();
    });
    const seconds = (nowMs() - start) / 1000;
    const serverCpu = cpuSeconds(server.pid) - cpu0;
    const notes = done < p.accounts ? [`time limit: ${done} of ${p.accounts} logins`] : [];
    if (p.tlsResume) notes.push(`${resumed} of ${done} TLS sessions resumed`);
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
