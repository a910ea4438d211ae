/**
 * messages: P pairs online; each sender keeps up to W chat messages to its receiver's bare JID
 * unacknowledged, where a message counts as acknowledged when the receiver gets it. A warm-up
 * tenth of the messages runs first and is not counted. Reports delivered messages/s, p50/p99
 * send-to-receive latency, and server CPU seconds per 1,000 messages (/proc/<pid>/stat).
 *
 * `mobile = 1` (issue 13): both servers run stream management, carbons, the message archive
 * and CSI (ServerSetup.mobile), and every client enables carbons and resumable stream
 * management before the timed phase and answers the server's `<r/>` (bench/load/client.ts).
 * Each message is then archived twice (sender's and recipient's archive) and acknowledged.
 */
import type { BenchClient } from '../load/client.js';
import { Latencies, nowMs, round } from '../load/stats.js';
import { cpuSeconds } from '../servers/proc.js';
import type { RunningServer } from '../servers/types.js';
import { closeAll, loginMany } from './connect.js';
import { GeneratorClock, type Scenario, type ScenarioResult } from './types.js';

export interface MessagesParams extends Record<string, number> {
  pairs: number;
  window: number;
  messages: number;
  maxSeconds: number;
  /** 1: the mobile feature set on the servers and in the clients; 0: off. */
  mobile: number;
}

export const BODY = 'The quick brown fox jumps over the lazy dog; a benchmark message of ordinary length.';

export interface PhaseOutcome {
  delivered: number;
  seconds: number;
  latencies: Latencies;
}

/**
 * Receiver i's handler for the pumps' messages (ids "<sender index>.<sequence>", written at the
 * times in `sentAt`): `arrived` gets the latency of each one still waited for.
 */
export function arrivalHandler(i: number, sentAt: Map<number, number>, arrived: (ms: number) => void): (stanza: string) => void {
  return (stanza) => {
    if (!stanza.startsWith('<message')) return;
    const id = /\sid=["']([0-9]+)\.([0-9]+)["']/.exec(stanza);
    if (!id || Number(id[1]) !== i) return;
    const seq = Number(id[2]);
    const t = sentAt.get(seq);
    if (t === undefined) return;
    sentAt.delete(seq);
    arrived(nowMs() - t);
  };
}

/**
 * Send `total` messages over the pairs with window W each; resolves when all are delivered or
 * at the deadline. Message ids are "<sender index>.<sequence>".
 */
export function pump(senders: BenchClient[], receivers: BenchClient[], receiverJids: string[], window: number, total: number, deadlineMs: number): Promise<PhaseOutcome> {
  return new Promise((resolve) => {
    const latencies = new Latencies();
    const sentAt = senders.map(() => new Map<number, number>());
    const nextSeq = senders.map(() => 0);
    let toSend = total;
    let delivered = 0;
    const start = nowMs();
    let finished = false;

    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      for (const r of receivers) r.onStanza = undefined;
      resolve({ delivered, seconds: (nowMs() - start) / 1000, latencies });
    };
    const timer = setTimeout(finish, deadlineMs);

    const sendOne = (i: number): void => {
      if (toSend <= 0) return;
      toSend--;
      const seq = nextSeq[i]!++;
      sentAt[i]!.set(seq, nowMs());
      senders[i]!.send(`<message to='${receiverJids[i]}' type='chat' id='${i}.${seq}'><body>${BODY}</body></message>`);
    };

    receivers.forEach((r, i) => {
      r.onStanza = arrivalHandler(i, sentAt[i]!, (ms) => {
        latencies.add(ms);
        delivered++;
        if (delivered >= total) finish();
        else sendOne(i);
      });
    });
    // Fill every window.
    for (let w = 0; w < window; w++) for (let i = 0; i < senders.length; i++) sendOne(i);
    if (total === 0) finish();
  });
}

export const messagesScenario: Scenario<MessagesParams> = {
  name: 'messages',
  description: 'P online pairs, window W of unacknowledged messages per sender',
  sizes: {
    tiny: [
      { pairs: 2, window: 2, messages: 40, maxSeconds: 20, mobile: 0 },
      { pairs: 2, window: 2, messages: 40, maxSeconds: 20, mobile: 1 },
    ],
    small: [
      { pairs: 100, window: 10, messages: 100_000, maxSeconds: 120, mobile: 0 },
      { pairs: 100, window: 10, messages: 50_000, maxSeconds: 120, mobile: 1 },
    ],
    full: [
      { pairs: 1000, window: 10, messages: 500_000, maxSeconds: 300, mobile: 0 },
      { pairs: 1000, window: 10, messages: 100_000, maxSeconds: 300, mobile: 1 },
    ],
  },
  setup: (p) => ({ accounts: 2 * p.pairs, mobile: p.mobile === 1 }),
  async run(server: RunningServer, p: MessagesParams): Promise<ScenarioResult> {
    const mobile = p.mobile === 1 ? ({ carbons: true, sm: 'resume' } as const) : {};
    const clients = await loginMany(server, 0, 2 * p.pairs, { presence: true, deadlineMs: 120_000, ...mobile });
    try {
      const senders = clients.slice(0, p.pairs);
      const receivers = clients.slice(p.pairs);
      const receiverJids = receivers.map((_, i) => `${server.username(p.pairs + i)}@${server.domain}`);
      const warmup = Math.floor(p.messages / 10);
      const deadline = p.maxSeconds * 1000;
      const warm = await pump(senders, receivers, receiverJids, p.window, warmup, deadline / 4);
      if (warm.delivered < warmup) throw new Error(`warm-up: ${warm.delivered} of ${warmup} messages delivered in time`);

      const cpu0 = cpuSeconds(server.pid);
      const clock = new GeneratorClock();
      const run = await pump(senders, receivers, receiverJids, p.window, p.messages, deadline);
      const serverCpu = cpuSeconds(server.pid) - cpu0;
      const notes = run.delivered < p.messages ? [`time limit: ${run.delivered} of ${p.messages} messages delivered`] : [];
      return {
        scenario: 'messages',
        server: server.name,
        params: p,
        metrics: [
          { name: 'messages/s', value: round(run.delivered / run.seconds), unit: '1/s', better: 'higher' },
          { name: 'latency p50', value: round(run.latencies.quantile(0.5), 2), unit: 'ms', better: 'lower' },
          { name: 'latency p99', value: round(run.latencies.quantile(0.99), 2), unit: 'ms', better: 'lower' },
          { name: 'server CPU per 1k msgs', value: round((serverCpu / Math.max(1, run.delivered)) * 1000, 3), unit: 's', better: 'lower' },
        ],
        generator: clock.read(),
        notes,
      };
    } finally {
      closeAll(clients);
    }
  },
};
