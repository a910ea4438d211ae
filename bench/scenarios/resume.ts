/**
 * resume (issue 13): C clients with resumable stream management (and carbons) receive B
 * messages each; then all drop their TCP connections at once (sockets destroyed, no stream
 * close) while D more messages per client are sent to their bare JIDs; then all reconnect and
 * `<resume previd h/>` at once (STARTTLS + SCRAM + resume, timed). Reports resumes/s, resume
 * p50/p99, how many resumed, and whether every client got each of its B + D messages exactly
 * once across its two connections (lost and duplicated counts).
 *
 * Senders are S plain clients (u(C) … u(C+S-1)); receiver i gets its messages from sender
 * i mod S. A sender's ping answered by the server marks that all of its messages were routed.
 */
import { BenchClient, type SmResumeState } from '../load/client.js';
import { Latencies, nowMs, round, sleep } from '../load/stats.js';
import { cpuSeconds } from '../servers/proc.js';
import type { RunningServer } from '../servers/types.js';
import { closeAll, loginMany } from './connect.js';
import { GeneratorClock, type Scenario, type ScenarioResult } from './types.js';

export interface ResumeParams extends Record<string, number> {
  clients: number;
  senders: number;
  /** Messages per client before the drop, and while it is away. */
  before: number;
  during: number;
  maxSeconds: number;
}

/** Per receiver: how many times each message (by sequence number) arrived. */
class Tally {
  readonly counts: Uint8Array[];
  constructor(clients: number, perClient: number) {
    this.counts = Array.from({ length: clients }, () => new Uint8Array(perClient));
  }
  handler(i: number): (stanza: string) => void {
    return (stanza) => {
      if (!stanza.startsWith('<message')) return;
      const m = /\sid=["']([0-9]+)\.([0-9]+)["']/.exec(stanza);
      const seq = Number(m?.[2]);
      const counts = this.counts[i]!;
      if (Number(m?.[1]) === i && seq < counts.length) counts[seq]!++;
    };
  }
  /** Clients (among `which`) that have all of their first `n` messages. */
  complete(which: number[], n: number): number {
    return which.filter((i) => this.counts[i]!.subarray(0, n).every((c) => c > 0)).length;
  }
  missing(which: number[]): number {
    return which.reduce((sum, i) => sum + this.counts[i]!.filter((c) => c === 0).length, 0);
  }
  duplicates(): number {
    return this.counts.reduce((sum, counts) => sum + counts.reduce((s, c) => s + Math.max(0, c - 1), 0), 0);
  }
}

/** Polls `done` every 20 ms until it holds or `ms` passed; returns whether it held. */
async function until(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = nowMs() + ms;
  while (!done()) {
    if (nowMs() >= deadline) return false;
    await sleep(20);
  }
  return true;
}

/** Each sender sends messages seq [from, to) to each of its receivers, then pings; resolves when every ping is answered. */
async function sendAndSettle(senders: BenchClient[], receiverJids: string[], from: number, to: number, ms: number, label: string): Promise<void> {
  let answered = 0;
  senders.forEach((s, k) => {
    s.onStanza = (stanza) => {
      // Servers quote attribute values either way.
      if (stanza.startsWith('<iq') && (stanza.includes(`'ping-${label}-${k}'`) || stanza.includes(`"ping-${label}-${k}"`))) answered++;
    };
  });
  receiverJids.forEach((jid, i) => {
    const s = senders[i % senders.length]!;
    for (let seq = from; seq < to; seq++) s.send(`<message to='${jid}' type='chat' id='${i}.${seq}'><body>Message ${seq} for a client that may be away.</body></message>`);
  });
  senders.forEach((s, k) => s.send(`<iq type='get' id='ping-${label}-${k}'><ping xmlns='urn:xmpp:ping'/></iq>`));
  if (!(await until(() => answered === senders.length, ms))) throw new Error(`${label}: ${answered} of ${senders.length} senders' messages routed in time`);
}

export const resumeScenario: Scenario<ResumeParams> = {
  name: 'resume',
  description: 'C clients drop their connections at once and resume their XEP-0198 sessions at once',
  sizes: {
    tiny: [{ clients: 4, senders: 2, before: 3, during: 5, maxSeconds: 30 }],
    small: [{ clients: 200, senders: 20, before: 5, during: 10, maxSeconds: 120 }],
    full: [{ clients: 1000, senders: 50, before: 5, during: 10, maxSeconds: 300 }],
  },
  setup: (p) => ({ accounts: p.clients + p.senders, mobile: true }),
  async run(server: RunningServer, p: ResumeParams): Promise<ScenarioResult> {
    const phaseMs = (p.maxSeconds * 1000) / 4;
    const receivers = await loginMany(server, 0, p.clients, { presence: true, deadlineMs: phaseMs, carbons: true, sm: 'resume' });
    const resumed: BenchClient[] = [];
    let senders: BenchClient[] = [];
    try {
      senders = await loginMany(server, p.clients, p.senders, { presence: true, deadlineMs: phaseMs });
      const jids = receivers.map((_, i) => `${server.username(i)}@${server.domain}`);
      const tally = new Tally(p.clients, p.before + p.during);
      const all = receivers.map((_, i) => i);
      receivers.forEach((r, i) => r.listen(tally.handler(i)));
      await sendAndSettle(senders, jids, 0, p.before, phaseMs, 'before');
      if (!(await until(() => tally.complete(all, p.before) === p.clients, phaseMs))) throw new Error(`before the drop: ${tally.complete(all, p.before)} of ${p.clients} clients got their messages`);

      // The drop: no </stream:stream>, the sockets just go. What a client received is what it counted.
      const states: SmResumeState[] = receivers.map((r) => {
        r.onStanza = undefined;
        r.destroy();
        return r.resumeState();
      });
      await sendAndSettle(senders, jids, p.before, p.before + p.during, phaseMs, 'during');

      const latencies = new Latencies();
      let failed = 0;
      let firstFailure = '';
      const ok: number[] = [];
      const cpu0 = cpuSeconds(server.pid);
      const clock = new GeneratorClock();
      const start = nowMs();
      await Promise.all(
        states.map(async (state, i) => {
          const t0 = nowMs();
          try {
            const login = { port: server.port, domain: server.domain, username: server.username(i), password: server.password, timeoutMs: phaseMs };
            resumed.push(await BenchClient.resume(login, state, tally.handler(i)));
            latencies.add(nowMs() - t0);
            ok.push(i);
          } catch (err) {
            failed++;
            firstFailure ||= (err as Error).message;
          }
        }),
      );
      const seconds = (nowMs() - start) / 1000;
      const serverCpu = cpuSeconds(server.pid) - cpu0;
      const generator = clock.read();
      const total = p.before + p.during;
      await until(() => tally.complete(ok, total) === ok.length, Math.min(phaseMs, 15_000));
      const lost = tally.missing(ok);
      const duplicates = tally.duplicates();
      const notes: string[] = [];
      if (failed > 0) notes.push(`${failed} of ${p.clients} resumptions failed, e.g.: ${firstFailure.slice(0, 200)}`);
      if (lost > 0) notes.push(`${lost} messages never arrived at resumed clients`);
      if (duplicates > 0) notes.push(`${duplicates} messages arrived twice`);
      return {
        scenario: 'resume',
        server: server.name,
        params: p,
        metrics: [
          { name: 'resumes/s', value: round(ok.length / seconds), unit: '1/s', better: 'higher' },
          { name: 'resume p50', value: round(latencies.quantile(0.5), 2), unit: 'ms', better: 'lower' },
          { name: 'resume p99', value: round(latencies.quantile(0.99), 2), unit: 'ms', better: 'lower' },
          { name: 'server CPU per resume', value: round((serverCpu / Math.max(1, ok.length)) * 1000, 3), unit: 'ms', better: 'lower' },
          { name: 'resumed', value: ok.length, unit: 'count', better: 'higher' },
          { name: 'messages lost', value: lost, unit: 'count', better: 'lower' },
          { name: 'messages duplicated', value: duplicates, unit: 'count', better: 'lower' },
        ],
        generator,
        notes,
      };
    } finally {
      closeAll(resumed);
      closeAll(senders);
      closeAll(receivers);
    }
  },
};
