/**
 * Group chat (XEP-0045, issue 15): two scenarios against one room `bench@conference.<domain>`.
 *
 * - `muc-join`: N users log in (untimed); u0 creates the room as an instant room (join, then the
 *   owner's empty configuration form, the same on both servers; default configuration otherwise:
 *   semi-anonymous, temporary, history 20 on both). Timed: u1 … u(N-1) join with at most W joins
 *   in flight. Each join sends the joiner the presence of everyone present and its own
 *   self-presence (110), and everyone present the joiner's presence. The run ends when every
 *   join has its self-presence and every occupant has seen the presence of all N-1 others.
 * - `muc-messages`: N occupants in the room (joined untimed); S of them send K groupchat
 *   messages in all, each sender keeping at most W messages that have not reached every
 *   occupant. A message is complete when all N occupants (the sender's own echo included) got
 *   it; deliveries are counted per occupant.
 *
 * Both count only what the room sends: presences from `room/nick` and groupchat bodies `m<i>`.
 */
import type { BenchClient } from '../load/client.js';
import { Latencies, nowMs, round, sleep } from '../load/stats.js';
import { cpuSeconds } from '../servers/proc.js';
import type { RunningServer } from '../servers/types.js';
import { closeAll, loginMany } from './connect.js';
import { GeneratorClock, type Scenario, type ScenarioResult } from './types.js';

export interface MucJoinParams extends Record<string, number> {
  users: number;
  window: number;
  maxSeconds: number;
}

export interface MucMessagesParams extends Record<string, number> {
  occupants: number;
  senders: number;
  messages: number;
  window: number;
  maxSeconds: number;
}

const NS_MUC = 'http://jabber.org/protocol/muc';
const ROOM = 'bench';

/** The room's JID on a server: the MUC component is `conference.<domain>` on both servers. */
export function benchRoom(domain: string): string {
  return `${ROOM}@conference.${domain}`;
}

/** The opening tag's `from` (raw), or undefined. */
function fromOf(stanza: string): string | undefined {
  const end = stanza.indexOf('>');
  const m = /\sfrom=(["'])(.*?)\1/.exec(end === -1 ? stanza : stanza.slice(0, end));
  return m?.[2];
}

/** Self-presence (XEP-0045 §7.2.3): the muc#user status 110. */
const SELF = /<status\s+code=["']110["']/;
const CREATED = /<status\s+code=["']201["']/;
const BODY = /<body>m([0-9]+)<\/body>/;

/** Wait until `cond()` or the deadline; false on timeout. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

/**
 * What one bench occupant has seen of the room: its self-presence, the available presences of
 * the others (by nickname, so a repeated presence is not counted twice), an error if refused.
 */
class Seat {
  selfAt = 0;
  created = false;
  readonly others = new Set<string>();
  error: string | undefined;
  onSelf: (() => void) | undefined;
  onGroupchat: ((n: number) => void) | undefined;
  configured = false;

  constructor(
    readonly client: BenchClient,
    readonly nick: string,
    private readonly room: string,
  ) {
    const prefix = `${room}/`;
    client.listen((stanza) => {
      const c1 = stanza.charCodeAt(1);
      if (c1 === 112 /* p */) {
        const from = fromOf(stanza);
        if (from === undefined || !from.startsWith(prefix)) return;
        if (/\stype=["']error["']/.test(stanza.slice(0, stanza.indexOf('>')))) {
          this.error ??= stanza.slice(0, 400);
          return;
        }
        const nick = from.slice(prefix.length);
        if (nick === this.nick) {
          if (this.selfAt === 0 && SELF.test(stanza)) {
            this.selfAt = nowMs();
            this.created = CREATED.test(stanza);
            this.onSelf?.();
          }
        } else if (!/\stype=/.test(stanza.slice(0, stanza.indexOf('>')))) this.others.add(nick);
      } else if (c1 === 109 /* m */) {
        if (this.onGroupchat === undefined) return;
        const m = BODY.exec(stanza);
        if (m) this.onGroupchat(Number(m[1]));
      } else if (c1 === 105 /* i */) {
        if (/\sid=["']bench-config["']/.test(stanza)) {
          if (/\stype=["']result["']/.test(stanza)) this.configured = true;
          else this.error ??= `configuring the room failed: ${stanza.slice(0, 400)}`;
        }
      }
    });
  }

  join(): void {
    this.client.send(`<presence to='${this.room}/${this.nick}'><x xmlns='${NS_MUC}'/></presence>`);
  }
}

/** u0 creates the room: joins, and submits the empty form that makes it an instant room (§10.1.2). */
async function createRoom(owner: Seat, room: string): Promise<void> {
  owner.join();
  if (!(await until(() => owner.selfAt > 0 || owner.error !== undefined, 10_000)) || owner.error !== undefined) {
    throw new Error(`creating the room failed (is the MUC component on?): ${owner.error ?? 'no self-presence within 10 s'}`);
  }
  if (!owner.created) throw new Error('the room already existed (no status 201)');
  owner.client.send(`<iq type='set' id='bench-config' to='${room}'><query xmlns='${NS_MUC}#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`);
  if (!(await until(() => owner.configured || owner.error !== undefined, 10_000)) || owner.error !== undefined) {
    throw new Error(owner.error ?? 'the room configuration got no answer within 10 s');
  }
}

/**
 * Join seats[first …] with at most `window` joins in flight; resolves when all have their
 * self-presence, rejects on a refused join, false at the deadline. `latencies` gets send → self.
 */
async function joinAll(seats: Seat[], first: number, window: number, deadlineMs: number, latencies?: Latencies): Promise<boolean> {
  let next = first;
  let done = first;
  let failure: string | undefined;
  let finish: ((ok: boolean) => void) | undefined;
  const result = new Promise<boolean>((resolve) => (finish = resolve));
  const start = (i: number) => {
    const seat = seats[i]!;
    const sentAt = nowMs();
    seat.onSelf = () => {
      latencies?.add(seat.selfAt - sentAt);
      done++;
      if (done === seats.length) finish?.(true);
      else if (next < seats.length) start(next++);
    };
    seat.join();
  };
  if (first >= seats.length) return true;
  while (next < seats.length && next - first < window) start(next++);
  const poll = setInterval(() => {
    failure ??= seats.find((s) => s.error !== undefined)?.error;
    if (failure !== undefined) finish?.(false);
  }, 50);
  const timer = setTimeout(() => finish?.(false), deadlineMs);
  try {
    const ok = await result;
    if (failure !== undefined) throw new Error(`a join was refused: ${failure}`);
    return ok;
  } finally {
    clearInterval(poll);
    clearTimeout(timer);
  }
}

/** Log users in and give each a seat (its nickname is its user name). */
async function seatsFor(server: RunningServer, count: number): Promise<Seat[]> {
  const room = benchRoom(server.domain);
  const clients = await loginMany(server, 0, count, { presence: true, deadlineMs: 180_000 });
  return clients.map((c, i) => new Seat(c, server.username(i), room));
}

export const mucJoinScenario: Scenario<MucJoinParams> = {
  name: 'muc-join',
  description: 'N users join one room, W joins in flight; every join fans out presence to everyone present',
  sizes: {
    tiny: [{ users: 4, window: 2, maxSeconds: 20 }],
    small: [{ users: 200, window: 4, maxSeconds: 120 }],
    full: [{ users: 1000, window: 4, maxSeconds: 600 }],
  },
  setup: (p) => ({ accounts: p.users, muc: true }),
  async run(server: RunningServer, p: MucJoinParams): Promise<ScenarioResult> {
    const seats = await seatsFor(server, p.users);
    try {
      const room = benchRoom(server.domain);
      await createRoom(seats[0]!, room);
      const latencies = new Latencies();
      const cpu0 = cpuSeconds(server.pid);
      const clock = new GeneratorClock();
      const start = nowMs();
      const joined = await joinAll(seats, 1, p.window, p.maxSeconds * 1000, latencies);
      const lastSelf = (Math.max(...seats.map((s) => s.selfAt)) - start) / 1000;
      // Then every occupant must have seen all the others (the joiners' broadcasts still on their way).
      const left = Math.max(0, p.maxSeconds * 1000 - (nowMs() - start));
      const everyone = joined && (await until(() => seats.every((s) => s.others.size >= p.users - 1), left));
      const seconds = (nowMs() - start) / 1000;
      const serverCpu = cpuSeconds(server.pid) - cpu0;
      const joins = seats.filter((s, i) => i > 0 && s.selfAt > 0).length;
      let seen = 0;
      for (const s of seats) seen += s.others.size;
      const notes: string[] = [];
      if (!joined) notes.push(`time limit: ${joins} of ${p.users - 1} joins completed`);
      else if (!everyone) notes.push(`time limit: occupants saw ${seen} of ${p.users * (p.users - 1)} presences of the others`);
      return {
        scenario: 'muc-join',
        server: server.name,
        params: p,
        metrics: [
          { name: 'joins/s', value: round(joins / seconds), unit: '1/s', better: 'higher' },
          { name: 'all joined and seen', value: round(seconds, 2), unit: 's', better: 'lower' },
          { name: 'last self-presence', value: round(lastSelf, 2), unit: 's', better: 'lower' },
          { name: 'join p50', value: round(latencies.quantile(0.5), 2), unit: 'ms', better: 'lower' },
          { name: 'join p99', value: round(latencies.quantile(0.99), 2), unit: 'ms', better: 'lower' },
          { name: 'server CPU per join', value: round((serverCpu / Math.max(1, joins)) * 1000, 3), unit: 'ms', better: 'lower' },
          { name: 'server CPU per 1k presences', value: round((serverCpu / Math.max(1, seen)) * 1000, 4), unit: 's', better: 'lower' },
        ],
        generator: clock.read(),
        notes,
      };
    } finally {
      closeAll(seats.map((s) => s.client));
    }
  },
};

/** One timed message on its way: when it was sent, by which sender, how many occupants have it. */
interface InFlight {
  sentAt: number;
  sender: number;
  count: number;
}

export const mucMessagesScenario: Scenario<MucMessagesParams> = {
  name: 'muc-messages',
  description: 'a room with N occupants, S senders, W groupchat messages in flight per sender',
  sizes: {
    tiny: [{ occupants: 4, senders: 2, messages: 10, window: 2, maxSeconds: 20 }],
    small: [{ occupants: 100, senders: 10, messages: 2000, window: 2, maxSeconds: 120 }],
    full: [{ occupants: 500, senders: 10, messages: 2000, window: 2, maxSeconds: 300 }],
  },
  setup: (p) => ({ accounts: p.occupants, muc: true }),
  async run(server: RunningServer, p: MucMessagesParams): Promise<ScenarioResult> {
    const seats = await seatsFor(server, p.occupants);
    try {
      const room = benchRoom(server.domain);
      const N = p.occupants;
      const S = Math.min(p.senders, N);
      await createRoom(seats[0]!, room);
      if (!(await joinAll(seats, 1, 20, 120_000))) throw new Error('not every occupant could join within 120 s');
      if (!(await until(() => seats.every((s) => s.others.size >= N - 1), 60_000))) throw new Error('the occupants did not see each other within 60 s');

      const inFlight = new Map<number, InFlight>();
      const latencies = new Latencies();
      let deliveries = 0;
      let duplicates = 0;
      let sent = 0;
      let completed = 0;
      let timed = false;
      let onComplete: ((sender: number) => void) | undefined;
      const got = seats.map(() => new Set<number>());
      seats.forEach((seat, k) => {
        seat.onGroupchat = (i) => {
          const f = inFlight.get(i);
          if (f === undefined || got[k]!.has(i)) {
            duplicates++;
            return;
          }
          got[k]!.add(i);
          f.count++;
          if (timed) deliveries++;
          if (f.count === N) {
            inFlight.delete(i);
            for (const g of got) g.delete(i);
            if (timed) latencies.add(nowMs() - f.sentAt);
            completed++;
            onComplete?.(f.sender);
          }
        };
      });
      const send = (sender: number) => {
        const i = sent++;
        inFlight.set(i, { sentAt: nowMs(), sender, count: 0 });
        seats[sender]!.client.send(`<message to='${room}' type='groupchat' id='m${i}'><body>m${i}</body></message>`);
      };

      // Warm-up (untimed): every sender's first message reaches everyone.
      for (let s = 0; s < S; s++) send(s);
      if (!(await until(() => completed >= S, 30_000))) throw new Error(`warm-up: only ${completed} of ${S} messages reached every occupant within 30 s`);
      const warm = sent;

      timed = true;
      const total = warm + p.messages;
      const cpu0 = cpuSeconds(server.pid);
      const clock = new GeneratorClock();
      const start = nowMs();
      const allDone = new Promise<void>((resolve) => {
        onComplete = (sender) => {
          if (completed - warm >= p.messages) resolve();
          else if (sent < total) send(sender);
        };
      });
      for (let w = 0; w < p.window; w++) for (let s = 0; s < S && sent < total; s++) send(s);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([allDone, new Promise<void>((resolve) => (timer = setTimeout(resolve, p.maxSeconds * 1000)))]);
      clearTimeout(timer);
      const seconds = (nowMs() - start) / 1000;
      const serverCpu = cpuSeconds(server.pid) - cpu0;
      const done = completed - warm;
      const notes: string[] = [];
      if (done < p.messages) notes.push(`time limit: ${done} of ${p.messages} messages reached every occupant`);
      if (duplicates > 0) notes.push(`${duplicates} messages arrived twice at the same occupant (not counted)`);
      return {
        scenario: 'muc-messages',
        server: server.name,
        params: p,
        metrics: [
          { name: 'delivered msgs/s', value: round(deliveries / seconds), unit: '1/s', better: 'higher' },
          { name: 'message to all p50', value: round(latencies.quantile(0.5), 2), unit: 'ms', better: 'lower' },
          { name: 'message to all p99', value: round(latencies.quantile(0.99), 2), unit: 'ms', better: 'lower' },
          { name: 'server CPU per 1k deliveries', value: round((serverCpu / Math.max(1, deliveries)) * 1000, 4), unit: 's', better: 'lower' },
        ],
        generator: clock.read(),
        notes,
      };
    } finally {
      closeAll(seats.map((s) => s.client));
    }
  },
};
