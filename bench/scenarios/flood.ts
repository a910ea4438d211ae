/**
 * flood (issue 20): P online pairs of contacts exchange M chat messages (window W per sender) twice: first
 * alone (the baseline), then while one more session writes F stanzas (iq pings) as fast as its
 * socket takes them. The server runs its rate limits (`ServerSetup.limits`: Canto's `limits`
 * module with the client byte rate of the Prosody config's mod_limits, 64 KiB/s with a 1 MiB burst,
 * bench/servers/canto.ts limitsToml), so the flooder's reads are paused instead of its stanzas queued.
 * Reports the normal clients' p50/p99 in both phases and their ratio, the server's RSS before,
 * at its peak during the flood (sampled every 200 ms) and after, and how many flood stanzas the
 * server answered (a throttled flooder is answered at its stanza rate; the rest waits in the
 * socket buffers and is dropped with the connection at the end).
 */
import type { BenchClient } from '../load/client.js';
import { nowMs, round, sleep } from '../load/stats.js';
import { rssBytes } from '../servers/proc.js';
import type { RunningServer } from '../servers/types.js';
import { closeAll, loginMany } from './connect.js';
import { pump } from './messages.js';
import { GeneratorClock, type Scenario, type ScenarioResult } from './types.js';

export interface FloodParams extends Record<string, number> {
  pairs: number;
  window: number;
  /** Messages per phase (baseline, then during the flood). */
  messages: number;
  /** Stanzas the flooder writes. */
  flood: number;
  maxSeconds: number;
}

const MiB = 1024 * 1024;
/** Stanzas per write of the flooder (it waits for its socket to drain between writes). */
const FLOOD_BATCH = 500;

/** Write `total` pings as fast as the socket takes them; stops early when `stop()` says so. */
async function flood(c: BenchClient, domain: string, total: number, stop: () => boolean): Promise<number> {
  let written = 0;
  while (written < total && !stop() && !c.closed) {
    const n = Math.min(FLOOD_BATCH, total - written);
    let batch = '';
    for (let i = 0; i < n; i++) batch += `<iq type='get' to='${domain}' id='f${written + i}'><ping xmlns='urn:xmpp:ping'/></iq>`;
    written += n;
    if (!c.send(batch)) await c.drained();
  }
  return written;
}

export const floodScenario: Scenario<FloodParams> = {
  name: 'flood',
  description: 'P pairs exchanging messages, alone and while one session floods F stanzas; rate limits on',
  sizes: {
    tiny: [{ pairs: 2, window: 2, messages: 200, flood: 2000, maxSeconds: 30 }],
    small: [{ pairs: 20, window: 5, messages: 5000, flood: 100_000, maxSeconds: 120 }],
    full: [{ pairs: 100, window: 10, messages: 20_000, flood: 100_000, maxSeconds: 300 }],
  },
  // Each pair (u2i, u2i+1) are contacts: the per-account limit on messages to strangers stays out of the way.
  setup: (p) => ({ accounts: 2 * p.pairs + 1, rosterGroupSize: 2, limits: true }),
  async run(server: RunningServer, p: FloodParams): Promise<ScenarioResult> {
    const clients = await loginMany(server, 0, 2 * p.pairs, { presence: true, deadlineMs: 120_000 });
    const [flooder] = await loginMany(server, 2 * p.pairs, 1, { presence: false, deadlineMs: 30_000, resource: 'flood' });
    try {
      if (!flooder) throw new Error('the flooder did not log in');
      const senders = clients.filter((_, k) => k % 2 === 0);
      const receivers = clients.filter((_, k) => k % 2 === 1);
      const receiverJids = receivers.map((_, i) => `${server.username(2 * i + 1)}@${server.domain}`);
      const deadline = p.maxSeconds * 1000;
      // Warm-up (not counted), then the baseline without the flood.
      await pump(senders, receivers, receiverJids, p.window, Math.floor(p.messages / 10), deadline / 4);
      const baseline = await pump(senders, receivers, receiverJids, p.window, p.messages, deadline);
      const rssBefore = rssBytes(server.pid);

      let answered = 0;
      flooder.listen((s) => {
        if (s.startsWith('<iq')) answered++;
      });
      let stopFlood = false;
      let peakRss = rssBefore;
      const sampler = (async () => {
        while (!stopFlood) {
          peakRss = Math.max(peakRss, rssBytes(server.pid));
          await sleep(200); // the sampling period
        }
      })();
      const clock = new GeneratorClock();
      const floodStart = nowMs();
      const writing = flood(flooder, server.domain, p.flood, () => stopFlood);
      const during = await pump(senders, receivers, receiverJids, p.window, p.messages, deadline);
      const floodSeconds = (nowMs() - floodStart) / 1000;
      const answeredDuring = answered;
      stopFlood = true;
      const written = await writing;
      await sampler;
      flooder.destroy();
      // Let the server notice the closed flooder and let go of what it held for it.
      await sleep(1000);
      const rssAfter = rssBytes(server.pid);

      const notes = [
        `flooder wrote ${written} of ${p.flood} stanzas into its socket (the rest waited for the socket to drain); the server answered ${answeredDuring} of them during the ${round(floodSeconds)} s phase`,
      ];
      if (baseline.delivered < p.messages || during.delivered < p.messages) notes.push(`time limit: ${baseline.delivered} and ${during.delivered} of ${p.messages} messages delivered`);
      const p99Base = baseline.latencies.quantile(0.99);
      const p99Flood = during.latencies.quantile(0.99);
      return {
        scenario: 'flood',
        server: server.name,
        params: p,
        metrics: [
          { name: 'latency p50 (no flood)', value: round(baseline.latencies.quantile(0.5), 2), unit: 'ms', better: 'lower' },
          { name: 'latency p99 (no flood)', value: round(p99Base, 2), unit: 'ms', better: 'lower' },
          { name: 'latency p50 (flood)', value: round(during.latencies.quantile(0.5), 2), unit: 'ms', better: 'lower' },
          { name: 'latency p99 (flood)', value: round(p99Flood, 2), unit: 'ms', better: 'lower' },
          { name: 'p99 flood / no flood', value: round(p99Flood / Math.max(0.001, p99Base), 2), unit: '×', better: 'lower' },
          { name: 'server RSS before', value: round(rssBefore / MiB), unit: 'MiB', better: 'lower' },
          { name: 'server RSS peak (flood)', value: round(peakRss / MiB), unit: 'MiB', better: 'lower' },
          { name: 'server RSS after', value: round(rssAfter / MiB), unit: 'MiB', better: 'lower' },
          { name: 'flood stanzas answered/s', value: round(answeredDuring / floodSeconds), unit: '1/s', better: 'lower' },
        ],
        generator: clock.read(),
        notes,
      };
    } finally {
      closeAll([...clients, flooder]);
    }
  },
};
