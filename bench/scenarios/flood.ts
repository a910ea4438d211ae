/**
 * flood (issue 20): P online pairs of contacts exchange chat messages at a steady R messages/s
 * per sender (well below the per-session limits, so the pairs themselves are never throttled),
 * for S seconds alone (the baseline) and S seconds while one more session writes F stanzas (iq
 * pings) as fast as its socket takes them. The server runs its rate limits
 * (`ServerSetup.limits`): with `stanzaLimit = 1` Canto's defaults (50 stanzas/s with a burst of
 * 500, 64 KiB/s with a 1 MiB burst); with `stanzaLimit = 0` bytes only, as the Prosody config's
 * mod_limits (64 KiB/s, 1 MiB burst: the flooder's first MiB is read at full speed). Prosody has
 * no stanza rate: it runs the same bytes-only config for both. A throttled flooder's reads are
 * paused instead of its stanzas queued. Reports the pairs' p50/p99 in both phases and their
 * ratio, the server's RSS at its peak in the baseline and during the flood (sampled every 200 ms:
 * the allocator and the GC move RSS by ±10 % with no flood at all) and after,
 * and how many flood stanzas the server answered (the rest waits in the socket buffers and is
 * dropped with the connection at the end).
 *
 * Paced, not closed-loop: with every sender keeping a window full (the `messages` pump) the
 * server is saturated, so any work the flooder is allowed (its burst) shows up one for one in the
 * others' queueing, and a phase short enough to be the burst alone made the p99 noise (±25 %).
 */
import type { BenchClient } from '../load/client.js';
import { Latencies, nowMs, round, sleep } from '../load/stats.js';
import { rssBytes } from '../servers/proc.js';
import type { RunningServer } from '../servers/types.js';
import { closeAll, loginMany } from './connect.js';
import { arrivalHandler, BODY } from './messages.js';
import { GeneratorClock, type Scenario, type ScenarioResult } from './types.js';

export interface FloodParams extends Record<string, number> {
  pairs: number;
  /** Messages per second per sender. */
  rate: number;
  /** Seconds per phase (baseline, then during the flood). */
  seconds: number;
  /** Stanzas the flooder writes. */
  flood: number;
  /** 1: Canto's default limits, stanza rate included; 0: bytes only (as Prosody's mod_limits). */
  stanzaLimit: number;
}

const MiB = 1024 * 1024;
/** How often the pacer sends what is due. */
const PACE_TICK_MS = 5;
/** How long a phase waits for its last messages after it stopped sending. */
const DRAIN_MS = 5000;

/** Sample a process's RSS every 200 ms until stopped; resolves with the highest seen. */
function sampleRss(pid: number): { stop(): Promise<number> } {
  let stopped = false;
  let peak = rssBytes(pid);
  const loop = (async () => {
    while (!stopped) {
      await sleep(200); // the sampling period
      peak = Math.max(peak, rssBytes(pid));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return peak;
    },
  };
}

interface PacedOutcome {
  sent: number;
  delivered: number;
  latencies: Latencies;
}

/**
 * Each sender sends `rate` messages/s to its receiver for `seconds` (senders staggered evenly over
 * the period), then the phase waits up to DRAIN_MS for what is still in flight. Latency is from
 * the write to the arrival (the pacer's tick would add up to PACE_TICK_MS of its own).
 */
function paced(senders: BenchClient[], receivers: BenchClient[], receiverJids: string[], rate: number, seconds: number): Promise<PacedOutcome> {
  return new Promise((resolve) => {
    const latencies = new Latencies();
    const sentAt = senders.map(() => new Map<number, number>());
    const nextSeq = senders.map(() => 0);
    const period = 1000 / rate;
    const start = nowMs();
    let sent = 0;
    let delivered = 0;
    receivers.forEach((r, i) => {
      r.onStanza = arrivalHandler(i, sentAt[i]!, (ms) => {
        latencies.add(ms);
        delivered++;
        if (stopped && delivered === sent) finish();
      });
    });
    let stopped = false;
    let drainTimer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      clearTimeout(drainTimer);
      for (const r of receivers) r.onStanza = undefined;
      resolve({ sent, delivered, latencies });
    };
    const tick = setInterval(() => {
      const elapsed = Math.min(nowMs() - start, seconds * 1000);
      senders.forEach((s, i) => {
        const offset = (i / senders.length) * period;
        const due = elapsed < offset ? 0 : Math.floor((elapsed - offset) / period) + 1;
        while (nextSeq[i]! < due) {
          const seq = nextSeq[i]!++;
          sentAt[i]!.set(seq, nowMs());
          s.send(`<message to='${receiverJids[i]}' type='chat' id='${i}.${seq}'><body>${BODY}</body></message>`);
          sent++;
        }
      });
      if (elapsed >= seconds * 1000) {
        clearInterval(tick);
        stopped = true;
        if (delivered === sent) finish();
        else drainTimer = setTimeout(finish, DRAIN_MS);
      }
    }, PACE_TICK_MS);
  });
}
/** Stanzas per write of the flooder (it waits for its socket to drain between writes). */
const FLOOD_BATCH = 500;

/**
 * Write `total` pings as fast as the socket takes them, counting them in `progress.written`;
 * stops early when `stop()` says so. (Not awaited at the end: a throttled flooder's socket may
 * take minutes to drain, so the scenario reads the count and destroys the connection.)
 */
async function flood(c: BenchClient, domain: string, total: number, stop: () => boolean, progress: { written: number }): Promise<void> {
  while (progress.written < total && !stop() && !c.closed) {
    const n = Math.min(FLOOD_BATCH, total - progress.written);
    let batch = '';
    for (let i = 0; i < n; i++) batch += `<iq type='get' to='${domain}' id='f${progress.written + i}'><ping xmlns='urn:xmpp:ping'/></iq>`;
    progress.written += n;
    if (!c.send(batch)) await c.drained();
  }
}

export const floodScenario: Scenario<FloodParams> = {
  name: 'flood',
  description: 'P pairs exchanging messages, alone and while one session floods F stanzas; rate limits on',
  sizes: {
    tiny: [{ pairs: 2, rate: 20, seconds: 1, flood: 2000, stanzaLimit: 1 }],
    small: [
      { pairs: 20, rate: 20, seconds: 5, flood: 100_000, stanzaLimit: 1 },
      { pairs: 20, rate: 20, seconds: 5, flood: 100_000, stanzaLimit: 0 },
    ],
    // 2,000 messages/s in all: a third of Prosody's closed-loop rate, 3 % of Canto's.
    full: [
      { pairs: 100, rate: 20, seconds: 15, flood: 100_000, stanzaLimit: 1 },
      { pairs: 100, rate: 20, seconds: 15, flood: 100_000, stanzaLimit: 0 },
    ],
  },
  // Each pair (u2i, u2i+1) are contacts: the per-account limit on messages to strangers stays out of the way.
  setup: (p) => ({ accounts: 2 * p.pairs + 1, rosterGroupSize: 2, limits: p.stanzaLimit === 1 ? 'defaults' : 'bytes' }),
  async run(server: RunningServer, p: FloodParams): Promise<ScenarioResult> {
    const clients = await loginMany(server, 0, 2 * p.pairs, { presence: true, deadlineMs: 120_000 });
    const [flooder] = await loginMany(server, 2 * p.pairs, 1, { presence: false, deadlineMs: 30_000, resource: 'flood' });
    try {
      if (!flooder) throw new Error('the flooder did not log in');
      const senders = clients.filter((_, k) => k % 2 === 0);
      const receivers = clients.filter((_, k) => k % 2 === 1);
      const receiverJids = receivers.map((_, i) => `${server.username(2 * i + 1)}@${server.domain}`);
      // Warm-up (not counted), then the baseline without the flood.
      await paced(senders, receivers, receiverJids, p.rate, Math.max(1, p.seconds / 5));
      const baselineRss = sampleRss(server.pid);
      const baseline = await paced(senders, receivers, receiverJids, p.rate, p.seconds);
      const rssBefore = await baselineRss.stop();

      let answered = 0;
      flooder.listen((s) => {
        if (s.startsWith('<iq')) answered++;
      });
      let stopFlood = false;
      const floodRss = sampleRss(server.pid);
      const clock = new GeneratorClock();
      const floodStart = nowMs();
      const progress = { written: 0 };
      void flood(flooder, server.domain, p.flood, () => stopFlood, progress);
      const during = await paced(senders, receivers, receiverJids, p.rate, p.seconds);
      const floodSeconds = (nowMs() - floodStart) / 1000;
      const answeredDuring = answered;
      stopFlood = true;
      const written = progress.written;
      const peakRss = await floodRss.stop();
      flooder.destroy();
      // Let the server notice the closed flooder and let go of what it held for it.
      await sleep(1000);
      const rssAfter = rssBytes(server.pid);

      const notes = [
        `flooder wrote ${written} of ${p.flood} stanzas into its socket (the rest waited for the socket to drain); the server answered ${answeredDuring} of them during the ${round(floodSeconds)} s phase`,
      ];
      for (const [phase, o] of [['baseline', baseline], ['flood', during]] as const) {
        if (o.delivered < o.sent) notes.push(`${phase}: ${o.sent - o.delivered} of ${o.sent} messages not delivered within ${DRAIN_MS / 1000} s of the phase's end`);
      }
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
          { name: 'server RSS peak (no flood)', value: round(rssBefore / MiB), unit: 'MiB', better: 'lower' },
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
