/**
 * mam (issue 13): u0 has an archive of N messages with `correspondents` contacts spread over
 * `spanDays` days, written into the server's storage before it starts (ServerSetup.archiveFill,
 * identical items on both servers). Timed, one query in flight at a time, 50-item pages
 * (XEP-0313 with XEP-0059 RSM), the three kinds interleaved:
 *
 * - `with`: the first page of the conversation with a random correspondent;
 * - `range`: the first page of a random `start`/`end` window holding about four pages;
 * - `last`: the newest page of the whole archive (empty RSM `<before/>`).
 *
 * Untimed queries of each kind run first (30 passes, on both servers): V8 optimises the server's
 * and the load generator's hot code over the first dozen or so passes (each took 5–40 ms, the
 * steady state 1–2 ms), and the first reads warm SQLite's page cache; a server that has been up
 * for a minute is past both, and the p99 should say what its users see then.
 *
 * The server's CPU over the timed queries, per page, is reported with the latencies, and so is
 * the machine's floor for the same round trip (load/floor.ts: a trivial server in its own process
 * answering a page of the same size after 50 µs of work): no server's p99 can be below it here.
 *
 * Then the write cost: u1 sends K live messages to u0 (W in flight), each archived twice (u1's
 * and u0's archive) before delivery; reported as server CPU per message and delivered messages/s.
 */
import type { BenchClient } from '../load/client.js';
import { Latencies, nowMs, round, seededRandom, settleGenerator } from '../load/stats.js';
import { fillStartMs, ARCHIVE_FILL_END_MS } from '../servers/archive-fill.js';
import { cpuSeconds } from '../servers/proc.js';
import type { ArchiveFill, RunningServer } from '../servers/types.js';
import { roundTripFloor } from '../load/floor.js';
import { closeAll, loginMany } from './connect.js';
import { GeneratorClock, type Scenario, type ScenarioResult } from './types.js';

export interface MamParams extends Record<string, number> {
  items: number;
  correspondents: number;
  spanDays: number;
  /** Timed queries of each kind. */
  queries: number;
  /** Live messages for the write cost, and how many in flight. */
  live: number;
  window: number;
  maxSeconds: number;
}

const PAGE = 50;
const KINDS = ['with', 'range', 'last'] as const;
type Kind = (typeof KINDS)[number];

const fillOf = (p: MamParams): ArchiveFill => ({ owner: 0, items: p.items, correspondents: p.correspondents, spanDays: p.spanDays });

/** XEP-0082 date-time, whole seconds (Prosody stores seconds). */
const stamp = (ms: number) => new Date(ms).toISOString().replace(/\.[0-9]{3}Z$/, 'Z');

function field(name: string, value: string): string {
  return `<field var='${name}'><value>${value}</value></field>`;
}

/** The query of one kind, its form fields and RSM set drawn from `random`. */
function queryXml(id: string, kind: Kind, p: MamParams, random: () => number, domain: string, username: (i: number) => string): string {
  let fields = '';
  let rsm = `<max>${PAGE}</max>`;
  if (kind === 'with') {
    fields = field('with', `${username(1 + Math.floor(random() * p.correspondents))}@${domain}`);
  } else if (kind === 'range') {
    const start = fillStartMs(fillOf(p));
    const window = Math.ceil((4 * PAGE * (ARCHIVE_FILL_END_MS - start)) / p.items);
    const from = start + Math.floor(random() * (ARCHIVE_FILL_END_MS - start - window));
    fields = field('start', stamp(from)) + field('end', stamp(from + window));
  } else {
    rsm += '<before/>';
  }
  return `<iq type='set' id='${id}'><query xmlns='urn:xmpp:mam:2' queryid='${id}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>${fields}</x><set xmlns='http://jabber.org/protocol/rsm'>${rsm}</set></query></iq>`;
}

/** The floor server's work per page: next to nothing (a page on Canto costs it 0.6–0.9 ms of CPU). */
const FLOOR_WORK_MS = 0.05;

/** Sends one query; resolves with its time, how many results came before the iq result and their characters. */
function ask(client: BenchClient, id: string, xml: string, timeoutMs: number): Promise<{ ms: number; results: number; chars: number }> {
  return new Promise((resolve, reject) => {
    let results = 0;
    let chars = 0;
    const t0 = nowMs();
    const timer = setTimeout(() => reject(new Error(`MAM query ${id} timed out`)), timeoutMs);
    const [single, double] = [`'${id}'`, `"${id}"`];
    client.onStanza = (s) => {
      if (!s.includes(single) && !s.includes(double)) return;
      chars += s.length;
      if (s.startsWith('<message')) results++;
      else if (s.startsWith('<iq')) {
        clearTimeout(timer);
        if (/type=["']result["']/.test(s)) resolve({ ms: nowMs() - t0, results, chars });
        else reject(new Error(`MAM query failed: ${s.slice(0, 300)}`));
      }
    };
    client.send(xml);
  });
}

/** u1 sends `total` messages to u0, `window` in flight; resolves with how many arrived. */
function sendLive(sender: BenchClient, receiver: BenchClient, to: string, total: number, window: number, deadlineMs: number): Promise<number> {
  return new Promise((resolve) => {
    let sent = 0;
    let delivered = 0;
    const timer = setTimeout(() => resolve(delivered), deadlineMs);
    const sendOne = () => {
      if (sent < total) sender.send(`<message to='${to}' type='chat' id='live.${sent++}'><body>A live message, archived on both sides.</body></message>`);
    };
    receiver.onStanza = (s) => {
      if (!s.startsWith('<message') || !s.includes('live.')) return;
      if (++delivered >= total) {
        clearTimeout(timer);
        resolve(delivered);
      } else sendOne();
    };
    for (let w = 0; w < window; w++) sendOne();
  });
}

export const mamScenario: Scenario<MamParams> = {
  name: 'mam',
  description: 'pages of 50 from a pre-filled archive (by with, by time, the last page), and the archive write cost',
  sizes: {
    tiny: [{ items: 600, correspondents: 4, spanDays: 10, queries: 5, live: 20, window: 5, maxSeconds: 30 }],
    small: [{ items: 100_000, correspondents: 20, spanDays: 90, queries: 200, live: 2000, window: 10, maxSeconds: 120 }],
    full: [{ items: 1_000_000, correspondents: 50, spanDays: 365, queries: 500, live: 10_000, window: 10, maxSeconds: 300 }],
  },
  setup: (p) => ({ accounts: 1 + p.correspondents, mobile: true, archiveFill: fillOf(p) }),
  async run(server: RunningServer, p: MamParams): Promise<ScenarioResult> {
    const [owner, sender] = await loginMany(server, 0, 2, { presence: true, deadlineMs: 60_000 });
    try {
      const random = seededRandom(7);
      const deadline = nowMs() + p.maxSeconds * 1000;
      const latencies = new Map<Kind, Latencies>(KINDS.map((k) => [k, new Latencies()]));
      const short = new Map<Kind, number>(KINDS.map((k) => [k, 0]));
      const clock = new GeneratorClock();
      let n = 0;
      const warmup = 30;
      let queryCpu0 = 0;
      let pageChars = 0;
      for (let pass = 0; pass < warmup + p.queries && nowMs() < deadline; pass++) {
        if (pass === warmup) {
          settleGenerator();
          queryCpu0 = cpuSeconds(server.pid);
        }
        for (const kind of KINDS) {
          const id = `mq${n++}`;
          const xml = queryXml(id, kind, p, random, server.domain, (i) => server.username(i));
          const { ms, results, chars } = await ask(owner!, id, xml, 30_000);
          if (pass < warmup) continue;
          latencies.get(kind)!.add(ms);
          pageChars += chars;
          if (results !== PAGE) short.set(kind, short.get(kind)! + 1);
        }
      }

      const queryCpu = cpuSeconds(server.pid) - queryCpu0;
      const timedPages = 3 * latencies.get('last')!.count;
      const floor = await roundTripFloor({ pageBytes: Math.round(pageChars / Math.max(1, timedPages)), workMs: FLOOR_WORK_MS, queries: Math.max(1, timedPages) });
      const cpu0 = cpuSeconds(server.pid);
      const t0 = nowMs();
      const delivered = await sendLive(sender!, owner!, `${server.username(0)}@${server.domain}`, p.live, p.window, Math.max(1000, deadline - nowMs()));
      const liveSeconds = (nowMs() - t0) / 1000;
      const liveCpu = cpuSeconds(server.pid) - cpu0;

      const notes: string[] = [];
      const timed = latencies.get('last')!.count;
      if (timed < p.queries) notes.push(`time limit: ${timed} of ${p.queries} queries of each kind`);
      for (const [kind, count] of short) if (count > 0) notes.push(`${count} '${kind}' pages had fewer than ${PAGE} items`);
      if (delivered < p.live) notes.push(`time limit: ${delivered} of ${p.live} live messages delivered`);
      const q = (kind: Kind, at: number) => round(latencies.get(kind)!.quantile(at), 2);
      return {
        scenario: 'mam',
        server: server.name,
        params: p,
        metrics: [
          ...KINDS.flatMap((kind) => [
            { name: `${kind} page p50`, value: q(kind, 0.5), unit: 'ms', better: 'lower' as const },
            { name: `${kind} page p99`, value: q(kind, 0.99), unit: 'ms', better: 'lower' as const },
          ]),
          { name: 'server CPU per page', value: round((queryCpu / Math.max(1, 3 * timed)) * 1000, 3), unit: 'ms', better: 'lower' },
          { name: 'floor page p50 (trivial server)', value: round(floor.p50, 2), unit: 'ms', better: 'lower' },
          { name: 'floor page p99 (trivial server)', value: round(floor.p99, 2), unit: 'ms', better: 'lower' },
          { name: 'live msgs/s archived', value: round(delivered / liveSeconds), unit: '1/s', better: 'higher' },
          { name: 'server CPU per live msg', value: round((liveCpu / Math.max(1, delivered)) * 1000, 3), unit: 'ms', better: 'lower' },
        ],
        generator: clock.read(),
        notes,
      };
    } finally {
      closeAll([owner, sender]);
    }
  },
};
