/**
 * login-fast: the reconnect of a mobile client with a FAST token (XEP-0484): STARTTLS, one
 * SASL2 <authenticate/> with HT-SHA-256-NONE and Bind2 inline, <success/>. Each of N accounts
 * first gets a token with a SASL2 SCRAM login (untimed), then logs in with it `rounds` times
 * (each login rotates the token), C at a time. Compare with `login` (SCRAM + bind) in the same
 * run. Servers without SASL2/FAST (Prosody 0.12) are skipped: compare with their `login`.
 * With `tlsResume` 1 each device also offers the TLS session (ticket) of its last connection
 * at STARTTLS, as a mobile client does (node's `session` option); the note counts resumptions.
 * After the logins, the machine's floor (load/floor.ts): bare TLS handshakes per second to a
 * trivial server, as many in flight and resumed alike. No login rate can be above it here.
 */
import { BenchClient, type FastCredential } from '../load/client.js';
import { tlsHandshakeFloor } from '../load/floor.js';
import { Latencies, nowMs, pool, round } from '../load/stats.js';
import { cpuSeconds } from '../servers/proc.js';
import type { RunningServer } from '../servers/types.js';
import { GeneratorClock, type Scenario, type ScenarioResult } from './types.js';

export interface LoginFastParams extends Record<string, number> {
  /** 1: only servers with FAST run it (bench/run.ts skipReason). */
  needsFast: number;
  accounts: number;
  rounds: number;
  concurrency: number;
  /** 1: each device offers its last TLS session at STARTTLS (resumption). */
  tlsResume: number;
  maxSeconds: number;
}

export const loginFastScenario: Scenario<LoginFastParams> = {
  name: 'login-fast',
  description: 'N accounts reconnect with FAST tokens (STARTTLS + SASL2 HT-SHA-256-NONE + Bind2), C at a time',
  sizes: {
    tiny: [{ needsFast: 1, accounts: 6, rounds: 2, concurrency: 2, tlsResume: 1, maxSeconds: 20 }],
    small: [
      { needsFast: 1, accounts: 1000, rounds: 2, concurrency: 50, tlsResume: 0, maxSeconds: 120 },
      { needsFast: 1, accounts: 1000, rounds: 2, concurrency: 50, tlsResume: 1, maxSeconds: 120 },
    ],
    full: [
      { needsFast: 1, accounts: 5000, rounds: 2, concurrency: 200, tlsResume: 0, maxSeconds: 300 },
      { needsFast: 1, accounts: 5000, rounds: 2, concurrency: 200, tlsResume: 1, maxSeconds: 300 },
    ],
  },
  setup: (p) => ({ accounts: p.accounts, fast: true }),
  async run(server: RunningServer, p: LoginFastParams): Promise<ScenarioResult> {
    const login = (i: number) => ({ port: server.port, domain: server.domain, username: server.username(i), password: server.password });
    const tokens: FastCredential[] = [];
    const tickets: (Buffer | undefined)[] = [];
    // Untimed: a password login per account that asks for a token (and gets a TLS ticket).
    await pool(p.accounts, p.concurrency, nowMs() + p.maxSeconds * 1000, async (i) => {
      const r = await BenchClient.sasl2Login(login(i), `bench-device-${i}`);
      tokens[i] = r.fast;
      tickets[i] = r.client.tlsSession;
      r.client.close();
    });
    if (tokens.filter(Boolean).length < p.accounts) throw new Error(`${server.name}: only ${tokens.filter(Boolean).length} of ${p.accounts} accounts got a FAST token (no SASL2/FAST?)`);

    const latencies = new Latencies();
    const cpu0 = cpuSeconds(server.pid);
    const clock = new GeneratorClock();
    const start = nowMs();
    const total = p.accounts * p.rounds;
    let resumed = 0;
    const done = await pool(total, p.concurrency, start + p.maxSeconds * 1000, async (n) => {
      const i = n % p.accounts;
      const t0 = nowMs();
      const r = await BenchClient.sasl2Login({ ...login(i), tlsSession: p.tlsResume ? tickets[i] : undefined }, `bench-device-${i}`, tokens[i]);
      latencies.add(nowMs() - t0);
      tokens[i] = r.fast; // rotated
      if (r.client.tlsResumed) resumed++;
      tickets[i] = r.client.tlsSession ?? tickets[i];
      r.client.close();
    });
    const seconds = (nowMs() - start) / 1000;
    const serverCpu = cpuSeconds(server.pid) - cpu0;
    const floor = await tlsHandshakeFloor({ seconds: Math.min(5, Math.max(1, seconds)), concurrency: p.concurrency, resume: p.tlsResume === 1 });
    return {
      scenario: 'login-fast',
      server: server.name,
      params: p,
      metrics: [
        { name: 'FAST logins/s', value: round(done / seconds), unit: '1/s', better: 'higher' },
        { name: 'FAST login p50', value: round(latencies.quantile(0.5), 2), unit: 'ms', better: 'lower' },
        { name: 'FAST login p99', value: round(latencies.quantile(0.99), 2), unit: 'ms', better: 'lower' },
        { name: 'server CPU per FAST login', value: round((serverCpu / done) * 1000, 3), unit: 'ms', better: 'lower' },
        { name: 'floor: TLS handshakes/s (trivial server)', value: round(floor.perSecond), unit: '1/s', better: 'higher' },
        { name: 'floor: server CPU per TLS handshake', value: round(floor.serverCpuMs, 3), unit: 'ms', better: 'lower' },
      ],
      generator: clock.read(),
      notes: [...(done < total ? [`time limit: ${done} of ${total} logins`] : []), ...(p.tlsResume ? [`${resumed} of ${done} TLS sessions resumed`] : [])],
    };
  },
};
