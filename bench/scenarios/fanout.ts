/**
 * fanout: user u0 has R contacts (u1 … uR) with mutual ('both') subscriptions, all online with
 * presence. u0 then changes its status K times, keeping at most W changes whose broadcast has
 * not reached every contact yet. Reports presence deliveries/s (R per change), p50/p99 time
 * for a change to reach all contacts, and server CPU ms per 1,000 deliveries.
 */
import { BenchClient } from '../load/client.js';
import { Latencies, nowMs, round, sleep } from '../load/stats.js';
import { cpuSeconds } from '../servers/proc.js';
import type { RunningServer } from '../servers/types.js';
import { closeAll, loginMany } from './connect.js';
import { GeneratorClock, type Scenario, type ScenarioResult } from './types.js';

export interface FanoutParams extends Record<string, number> {
  contacts: number;
  changes: number;
  window: number;
  maxSeconds: number;
}

const SHOWS = ['away', 'chat', 'dnd', 'xa'];
const STATUS = /<status>c([0-9]+)<\/status>/;

/** Wait until `cond()` or the deadline; false on timeout. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

export const fanoutScenario: Scenario<FanoutParams> = {
  name: 'fanout',
  description: 'one user with R online mutual contacts changes status repeatedly',
  sizes: {
    tiny: [{ contacts: 3, changes: 5, window: 2, maxSeconds: 20 }],
    small: [{ contacts: 500, changes: 200, window: 4, maxSeconds: 120 }],
    full: [{ contacts: 2000, changes: 500, window: 4, maxSeconds: 300 }],
  },
  setup: (p) => ({ accounts: p.contacts + 1, fanoutContacts: p.contacts }),
  async run(server: RunningServer, p: FanoutParams): Promise<ScenarioResult> {
    const contacts = await loginMany(server, 1, p.contacts, { presence: true, deadlineMs: 120_000 });
    let owner: BenchClient | undefined;
    try {
      // Per change: how many contacts have it; plus the initial presence (change -1).
      const received = new Map<number, number>();
      let initialSeen = 0;
      const sentAt = new Map<number, number>();
      const latencies = new Latencies();
      let completed = 0;
      let onComplete: (() => void) | undefined;
      const fromOwner = new RegExp(`\\sfrom=["']${server.username(0)}@`);
      for (const c of contacts) {
        c.onStanza = (stanza) => {
          // Only u0's presence counts (not, e.g., a contact's own presence echoed back to it).
          if (!stanza.startsWith('<presence') || !fromOwner.test(stanza)) return;
          const m = STATUS.exec(stanza);
          if (!m) {
            initialSeen++;
            return;
          }
          const change = Number(m[1]);
          const n = (received.get(change) ?? 0) + 1;
          received.set(change, n);
          if (n === p.contacts) {
            received.delete(change);
            const t = sentAt.get(change);
            if (t !== undefined) latencies.add(nowMs() - t);
            completed++;
            onComplete?.();
          }
        };
      }
      owner = await BenchClient.login({ port: server.port, domain: server.domain, username: server.username(0), password: server.password, presence: true, resource: 'owner' });
      owner.onStanza = () => {}; // the contacts' presence (probe answers) is not measured
      const everyoneSawOwner = await until(() => initialSeen >= p.contacts, 30_000);
      if (!everyoneSawOwner) {
        throw new Error(`not available: only ${initialSeen} of ${p.contacts} contacts received the user's initial presence (roster/presence broadcast missing?)`);
      }

      const cpu0 = cpuSeconds(server.pid);
      const clock = new GeneratorClock();
      const start = nowMs();
      let sent = 0;
      const sendChange = () => {
        const i = sent++;
        sentAt.set(i, nowMs());
        owner?.send(`<presence><show>${SHOWS[i % SHOWS.length]}</show><status>c${i}</status></presence>`);
      };
      const allDone = new Promise<void>((resolve) => {
        onComplete = () => {
          if (completed >= p.changes) resolve();
          else if (sent < p.changes) sendChange();
        };
      });
      for (let w = 0; w < Math.min(p.window, p.changes); w++) sendChange();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([allDone, new Promise<void>((resolve) => (timer = setTimeout(resolve, p.maxSeconds * 1000)))]);
      clearTimeout(timer);
      const seconds = (nowMs() - start) / 1000;
      const serverCpu = cpuSeconds(server.pid) - cpu0;
      let partial = 0;
      for (const n of received.values()) partial += n;
      const deliveries = completed * p.contacts + partial;
      const notes = completed < p.changes ? [`time limit: ${completed} of ${p.changes} status changes reached every contact`] : [];
      return {
        scenario: 'fanout',
        server: server.name,
        params: p,
        metrics: [
          { name: 'presence deliveries/s', value: round(deliveries / seconds), unit: '1/s', better: 'higher' },
          { name: 'change to all p50', value: round(latencies.quantile(0.5), 2), unit: 'ms', better: 'lower' },
          { name: 'change to all p99', value: round(latencies.quantile(0.99), 2), unit: 'ms', better: 'lower' },
          { name: 'server CPU per 1k deliveries', value: round((serverCpu / Math.max(1, deliveries)) * 1000, 4), unit: 's', better: 'lower' },
        ],
        generator: clock.read(),
        notes,
      };
    } finally {
      owner?.close();
      closeAll(contacts);
    }
  },
};
