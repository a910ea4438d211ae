/**
 * soak: a bounded mixed load for `durationSeconds` that watches the server's memory (issue 6:
 * "memory after a 10-minute mixed run returns within 10 % of where it started").
 *
 * Load, all at once, on `connections` accounts in roster groups of four (mutual 'both'
 * subscriptions inside each group; pairs u(2k) ↔ u(2k+1) chat with each other):
 * - chat messages to the partner's bare JID, paced at `messagesPerSecond` over the users in
 *   round-robin order, each sender with at most `window` messages not yet received (a full
 *   window or a logged-out sender skips its turn); a message counts when its receiver gets it,
 *   live or, when the receiver was logged out, from offline storage at its next login;
 * - churn: `churners` users (spread over the population) stay online for ~`onlineSeconds`, log
 *   out (unavailable presence, then </stream:stream>), stay away ~`offlineSeconds` (their
 *   partner's messages go to offline storage meanwhile), and log in again (new TCP + STARTTLS +
 *   SCRAM + bind + presence);
 * - presence changes (<show>/<status>) at `presencePerSecond`, fanned out to the group;
 * - roster gets and pings to the server, alternating, at `iqPerSecond`.
 * Every loop stops by itself at the end of the duration (and has a count bound); logged-out
 * churners then log in once more, in-flight messages get DRAIN_MS to arrive, and every client
 * closes. Messages never received (lost, bounced, still stored) are counted and noted.
 *
 * Fairness: both servers get the same schedule. Rates are paced by the clock rather than by
 * the server's answers (a closed loop would give the faster server more work, hence more
 * memory churn), the round-robin order is fixed, and churn timings come from a PRNG seeded per
 * churner. The window only bounds work in flight when a server falls behind.
 *
 * Memory (RSS of the server's process tree, bench/servers/proc.ts; no GC is forced, since
 * uncollected garbage is part of what a server costs) is sampled throughout:
 * - `RSS start`: median of the samples in a window of `w` seconds right after a warm-up of
 *   min(10 % of the duration, 60 s) with the load running. A fresh process grows while its JIT
 *   compiles, its heaps and allocator arenas reach working size and caches fill; that happens
 *   to every server and is not a leak, so the baseline is taken once it has happened.
 * - `RSS end`: median of the samples in the last `w` seconds of the duration, load still
 *   running, so start and end are taken in the same state (same users online, same work in
 *   flight). w = min(10 s, 5 % of the duration); the median damps the GC sawtooth.
 * - `RSS growth` = (end − start) / start; `RSS peak` is the largest sample; `RSS after all
 *   logged out` is read `settleSeconds` after every client has closed (allocators keep freed
 *   memory, so it is not expected to fall back to the size before the first login).
 */
import { setMaxListeners } from 'node:events';
import { BenchClient } from '../load/client.js';
import { Latencies, nowMs, round, seededRandom, sleep } from '../load/stats.js';
import { rssBytes } from '../servers/proc.js';
import type { RunningServer } from '../servers/types.js';
import { closeAll, loginMany } from './connect.js';
import { GeneratorClock, type Scenario, type ScenarioResult } from './types.js';

export interface SoakParams extends Record<string, number> {
  /** Accounts, each online with one connection (apart from churners while logged out). */
  connections: number;
  churners: number;
  durationSeconds: number;
  messagesPerSecond: number;
  window: number;
  presencePerSecond: number;
  iqPerSecond: number;
  /** Mean time a churner stays online, and away, per cycle (each drawn from 0.5× to 1.5×). */
  onlineSeconds: number;
  offlineSeconds: number;
  settleSeconds: number;
}

const GROUP_SIZE = 4;
const BODY = 'A soak test message of ordinary length, sent to the partner in the roster group.';
const SHOWS = ['away', 'chat', 'dnd', 'xa'];
/** A message not received this long after sending counts as undelivered (frees its slot). */
const STALE_MS = 30_000;
/** Between a churner's unavailable presence and its </stream:stream>. */
const LOGOUT_PAUSE_MS = 100;
/** How long, after the load stops, in-flight messages may take to arrive. */
const DRAIN_MS = 10_000;


/** Resolves after `ms` or as soon as `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The opening tag of a stanza, where its type, id and from attributes are. */
function openTag(stanza: string): string {
  const gt = stanza.indexOf('>');
  return gt === -1 ? stanza : stanza.slice(0, gt);
}

const MESSAGE_ID = /\sid=["']s([0-9]+)\.([0-9]+)["']/;
const ATTR_ID = /\sid=["']([^"']*)["']/;
const ATTR_FROM = /\sfrom=["']([^"']*)["']/;
const TYPE_ERROR = /\stype=["']error["']/;
const TYPE_REQUEST = /\stype=["'](get|set)["']/;

/** Counters of one run; "during load" ones stop counting when the duration ends. */
class Tally {
  delivered = 0;
  offlineDelivered = 0;
  bounced = 0;
  stale = 0;
  skippedFullWindow = 0;
  presenceReceived = 0;
  iqAnswered = 0;
  iqErrors = 0;
  logins = 0;
  loginFailures = 0;
  readonly loginTimes = new Latencies();
}

export const soakScenario: Scenario<SoakParams> = {
  name: 'soak',
  description: 'bounded mixed load (messages, offline, churn, presence, iq) for a duration: RSS growth',
  sizes: {
    tiny: [{ connections: 10, churners: 2, durationSeconds: 3, messagesPerSecond: 60, window: 3, presencePerSecond: 5, iqPerSecond: 10, onlineSeconds: 0.6, offlineSeconds: 0.3, settleSeconds: 0.5 }],
    small: [{ connections: 300, churners: 30, durationSeconds: 120, messagesPerSecond: 300, window: 5, presencePerSecond: 15, iqPerSecond: 30, onlineSeconds: 3, offlineSeconds: 1, settleSeconds: 5 }],
    full: [{ connections: 1000, churners: 100, durationSeconds: 600, messagesPerSecond: 1000, window: 5, presencePerSecond: 50, iqPerSecond: 100, onlineSeconds: 3, offlineSeconds: 1, settleSeconds: 10 }],
  },
  setup: (p) => ({ accounts: p.connections, rosterGroupSize: GROUP_SIZE }),
  async run(server: RunningServer, p: SoakParams): Promise<ScenarioResult> {
    const n = p.connections;
    const clients: Array<BenchClient | undefined> = await loginMany(server, 0, n, { presence: true, deadlineMs: Math.max(60_000, n * 50) });
    const online = new Array<boolean>(n).fill(true);
    const tally = new Tally();
    // Per sender: sequence number → send time of each message its partner has not received yet.
    const inFlight = Array.from({ length: n }, () => new Map<number, number>());
    const nextSeq = new Array<number>(n).fill(0);
    const pendingIq = new Set<string>(); // ids of roster gets and pings not answered yet
    let counting = true; // operation counters for the rates stop at the end of the duration
    const partner = (u: number) => (u ^ 1) < n ? u ^ 1 : u; // an odd last user talks to itself

    const handlerFor = (u: number, client: BenchClient) => (stanza: string) => {
      if (stanza.startsWith('<message')) {
        const tag = openTag(stanza);
        const id = MESSAGE_ID.exec(tag);
        if (!id) return;
        const sender = Number(id[1]);
        const seq = Number(id[2]);
        const bounce = TYPE_ERROR.test(tag);
        if (bounce ? sender !== u : partner(sender) !== u) return;
        if (!inFlight[sender]?.delete(seq)) return; // a late copy of one already counted stale
        if (bounce) tally.bounced++;
        else if (counting) {
          tally.delivered++;
          if (stanza.includes('urn:xmpp:delay')) tally.offlineDelivered++;
        }
      } else if (stanza.startsWith('<presence')) {
        if (counting) tally.presenceReceived++;
      } else if (stanza.startsWith('<iq')) {
        const tag = openTag(stanza);
        const id = ATTR_ID.exec(tag)?.[1] ?? '';
        if (TYPE_REQUEST.test(tag)) {
          // A server's ping or roster push: a client must answer it.
          const from = ATTR_FROM.exec(tag)?.[1];
          client.send(`<iq type='result' id='${id}'${from === undefined ? '' : ` to='${from}'`}/>`);
        } else if (pendingIq.delete(id) && counting) {
          if (TYPE_ERROR.test(tag)) tally.iqErrors++;
          else tally.iqAnswered++;
        }
      }
    };
    clients.forEach((c, u) => c?.listen(handlerFor(u, c)));

    const stop = new AbortController();
    setMaxListeners(p.churners + 10, stop.signal); // each churner waits on it (listeners are removed)
    const samples: Array<{ t: number; rss: number }> = [];
    const rssBeforeLoad = rssBytes(server.pid);
    const durationMs = p.durationSeconds * 1000;
    const warmupMs = Math.min(0.1 * durationMs, 60_000);
    const windowMs = Math.min(10_000, 0.05 * durationMs);
    const sampleMs = Math.max(50, Math.min(1000, windowMs / 5));
    const clock = new GeneratorClock();
    const t0 = nowMs();

    // Paced sends: every tick sends what the rates say is due by now, in round-robin order.
    let messageTurns = 0;
    let presenceTurns = 0;
    let iqTurns = 0;
    let messageCursor = 0;
    let presenceCursor = 0;
    let iqCursor = 0;
    const nextOnline = (from: number): number => {
      for (let k = 0; k < n; k++) {
        const u = (from + k) % n;
        if (online[u]) return u;
      }
      return -1;
    };
    const tick = () => {
      const elapsed = nowMs() - t0;
      for (const due = Math.floor((p.messagesPerSecond * elapsed) / 1000); messageTurns < due; messageTurns++) {
        const u = messageCursor;
        messageCursor = (messageCursor + 1) % n;
        if (!online[u]) continue; // a logged-out sender skips its turn (the same for every server)
        const sent = inFlight[u]!;
        if (sent.size >= p.window) {
          tally.skippedFullWindow++;
          continue;
        }
        const seq = nextSeq[u]!++;
        sent.set(seq, nowMs());
        clients[u]?.send(`<message to='${server.username(partner(u))}@${server.domain}' type='chat' id='s${u}.${seq}'><body>${BODY}</body></message>`);
      }
      for (const due = Math.floor((p.presencePerSecond * elapsed) / 1000); presenceTurns < due; presenceTurns++) {
        const u = nextOnline(presenceCursor);
        if (u === -1) break;
        presenceCursor = (u + 1) % n;
        clients[u]?.send(`<presence><show>${SHOWS[presenceTurns % SHOWS.length]}</show><status>soak ${presenceTurns}</status></presence>`);
      }
      for (const due = Math.floor((p.iqPerSecond * elapsed) / 1000); iqTurns < due; iqTurns++) {
        const u = nextOnline(iqCursor);
        if (u === -1) break;
        iqCursor = (u + 1) % n;
        const id = `q${iqTurns}`;
        pendingIq.add(id);
        clients[u]?.send(iqTurns % 2 === 0 ? `<iq type='get' id='${id}'><query xmlns='jabber:iq:roster'/></iq>` : `<iq type='get' id='${id}' to='${server.domain}'><ping xmlns='urn:xmpp:ping'/></iq>`);
      }
    };
    /** Messages never received (lost, or stuck in storage) would hold their slot forever. */
    const sweepStale = (olderThan: number) => {
      for (const sent of inFlight) {
        for (const [seq, at] of sent) {
          if (at < olderThan) {
            sent.delete(seq);
            tally.stale++;
          }
        }
      }
    };

    const login = async (u: number): Promise<boolean> => {
      // Bounded retries: a failed login is counted and tried again after a short pause.
      for (let attempt = 0; attempt < 3; attempt++) {
        const started = nowMs();
        try {
          const c = await BenchClient.login({ port: server.port, domain: server.domain, username: server.username(u), password: server.password, presence: true, resource: 'bench' });
          if (counting) {
            tally.logins++;
            tally.loginTimes.add(nowMs() - started);
          }
          clients[u] = c;
          c.listen(handlerFor(u, c));
          online[u] = true;
          return true;
        } catch {
          tally.loginFailures++;
          await sleep(500);
        }
      }
      return false;
    };

    const churn = async (index: number): Promise<void> => {
      const u = Math.floor((index * n) / Math.max(1, p.churners));
      const random = seededRandom(0x50a4 + index);
      const jitter = (mean: number) => mean * 1000 * (0.5 + random());
      const maxCycles = Math.ceil(p.durationSeconds / (0.5 * (p.onlineSeconds + p.offlineSeconds))) + 1;
      for (let cycle = 0; cycle < maxCycles && !stop.signal.aborted; cycle++) {
        await pause(jitter(p.onlineSeconds), stop.signal);
        if (stop.signal.aborted) break;
        online[u] = false;
        const old = clients[u];
        // Log out the way clients do: unavailable presence first, so messages routed from then
        // on go to offline storage, then close the stream. (Closing at once races with messages
        // already routed to the session; both servers then sometimes lose one.) The old
        // client's handler stays: what the server sends before its own </stream:stream> counts.
        old?.send("<presence type='unavailable'/>");
        await sleep(LOGOUT_PAUSE_MS);
        old?.close();
        await old?.closedWithin(5000);
        await pause(jitter(p.offlineSeconds), stop.signal);
        // Log in again even when stopping, so the offline messages drain.
        if (!(await login(u))) return;
      }
    };

    const sampler = setInterval(() => {
      try {
        samples.push({ t: nowMs() - t0, rss: rssBytes(server.pid) });
      } catch {
        // the server is gone; the run fails on its next reading
      }
    }, sampleMs);
    const ticker = setInterval(() => {
      tick();
      sweepStale(nowMs() - STALE_MS);
    }, 20);
    const churning = Array.from({ length: Math.min(p.churners, n) }, (_, k) => churn(k));
    const notes: string[] = [];
    try {
      await sleep(durationMs);
      const seconds = (nowMs() - t0) / 1000;
      counting = false;
      clearInterval(ticker);
      clearInterval(sampler);
      const generator = clock.read();
      stop.abort();
      await Promise.all(churning);

      // Drain: every user is online again; what is in flight now should arrive.
      const drainDeadline = nowMs() + DRAIN_MS;
      const inFlightCount = () => inFlight.reduce((sum, m) => sum + m.size, 0);
      while (inFlightCount() > 0 && nowMs() < drainDeadline) await sleep(50);
      const undelivered = inFlightCount() + tally.stale + tally.bounced;
      if (online.some((o) => !o)) notes.push(`${online.filter((o) => !o).length} churners could not log in again (${tally.loginFailures} failed logins)`);
      if (inFlightCount() > 0) notes.push(`time limit: ${inFlightCount()} messages still not received ${DRAIN_MS / 1000} s after the load stopped`);
      if (tally.iqErrors > 0) notes.push(`${tally.iqErrors} roster gets or pings answered with an error`);
      if (tally.stale + tally.bounced > 0) notes.push(`${tally.stale} messages not received within ${STALE_MS / 1000} s, ${tally.bounced} bounced`);

      const during = (from: number, to: number) => samples.filter((s) => s.t > from && s.t <= to).map((s) => s.rss);
      const start = median(during(warmupMs, warmupMs + windowMs));
      const end = median(during(durationMs - windowMs, Number.POSITIVE_INFINITY));
      const peak = Math.max(...samples.map((s) => s.rss));

      closeAll(clients);
      await Promise.all(clients.map((c) => c?.closedWithin(5000)));
      await sleep(p.settleSeconds * 1000);
      const afterLogout = rssBytes(server.pid);
      const mib = (bytes: number) => round(bytes / 1048576, 1);
      return {
        scenario: 'soak',
        server: server.name,
        params: p,
        metrics: [
          { name: 'RSS growth', value: round(((end - start) / start) * 100, 1), unit: '%', better: 'lower' },
          { name: 'RSS before load', value: mib(rssBeforeLoad), unit: 'MiB', better: 'lower' },
          { name: 'RSS start', value: mib(start), unit: 'MiB', better: 'lower' },
          { name: 'RSS end', value: mib(end), unit: 'MiB', better: 'lower' },
          { name: 'RSS peak', value: mib(peak), unit: 'MiB', better: 'lower' },
          { name: 'RSS after all logged out', value: mib(afterLogout), unit: 'MiB', better: 'lower' },
          { name: 'messages delivered/s', value: round(tally.delivered / seconds), unit: '1/s', better: 'higher' },
          { name: 'offline messages delivered', value: tally.offlineDelivered, unit: 'count', better: 'higher' },
          { name: 'messages undelivered', value: undelivered, unit: 'count', better: 'lower' },
          { name: 'sends skipped (window full)', value: tally.skippedFullWindow, unit: 'count', better: 'lower' },
          { name: 'logins/s', value: round(tally.logins / seconds, 2), unit: '1/s', better: 'higher' },
          { name: 'login p99', value: round(tally.loginTimes.quantile(0.99), 1), unit: 'ms', better: 'lower' },
          { name: 'presence received/s', value: round(tally.presenceReceived / seconds), unit: '1/s', better: 'higher' },
          { name: 'iq answered/s', value: round(tally.iqAnswered / seconds), unit: '1/s', better: 'higher' },
        ],
        generator,
        notes,
      };
    } finally {
      counting = false;
      clearInterval(ticker);
      clearInterval(sampler);
      stop.abort();
      await Promise.all(churning); // a churner may still be logging in: close its new client too
      closeAll(clients);
    }
  },
};
