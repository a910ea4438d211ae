/**
 * Fake clients: bound `c2s` sessions without sockets. What the server sends them is kept as
 * elements; what they send goes through the router exactly as from a real client.
 *
 *   const romeo = await harness.client('romeo@localhost/phone');
 *   romeo.send(message({ to: 'juliet@localhost' }));
 *   const reply = await romeo.receives('message', { timeoutMs: 1000 });
 */
import type { Server } from '../core/server.js';
import type { BoundC2SSession, C2SSession, C2SUnauthedSession, CloseReason, Connection, Framing } from '../core/session.js';
import { newSessionId } from '../core/session.js';
import { parseJid } from '../jid/jid.js';
import { parseRawElements } from '../xml/parse-fragment.js';
import type { Element } from '../xml/element.js';
import { Wakeup } from './wakeup.js';

/** A Connection that keeps what is written to it. */
export class FakeConnection implements Connection {
  readonly transport = 'internal' as const;
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 0;
  readonly encrypted = true;
  readonly bufferedBytes = 0;
  written: string[] = [];
  ended = false;
  write(data: string): boolean {
    this.written.push(data);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.ended = true;
  }
}

export interface FakeSessionSink {
  /** Every element the server sends to the session. */
  onSend(el: Element): void;
  /** The server (or a module) closed the session. */
  onClose(reason: CloseReason | undefined): void;
}

/**
 * Build a bound c2s session for `jid` (user@host/resource; no resource: the server picks one).
 * The one place the kit constructs a session: it moves to the core's session factory
 * (`sessions.create(conn, framing)`) when that exists.
 */
export function createFakeSession(server: Server, jid: string, sink: FakeSessionSink): BoundC2SSession {
  const { local, domain, resource } = parseJid(jid);
  if (local === '') throw new Error(`a fake client needs a user JID, not ${jid}`);
  const conn = new FakeConnection();
  let ended = false;
  let closeReason: CloseReason | undefined;
  const framing: Framing = {
    send: (el) => {
      // Archived text sent as it is (RawElement) arrives parsed, as a real client reads it.
      if (typeof el !== 'string') sink.onSend(parseRawElements(el));
    },
    close: (reason) => {
      sink.onClose(reason);
      ended = true;
      closeReason = reason;
      // After a resumption this connection carries the older session (as the real transports do).
      const s = unauthed as C2SUnauthedSession | C2SSession;
      server.sessions.connectionClosed((s.type === 'c2s' && s.resumedInto) || s, conn);
    },
    restart: () => {},
    get closeReason() {
      return closeReason;
    },
    get ended() {
      return ended;
    },
  };
  const unauthed = server.sessions.create(conn, framing, { type: 'c2s_unauthed', id: newSessionId('fake'), log: server.log.child({ fake: jid }), host: domain });
  unauthed.notopen = false;
  unauthed.streamId = 'fake';
  const session = server.sessions.makeAuthenticated(unauthed, local);
  if (!session) throw new Error(`authentication of ${jid} refused`);
  const bound = server.sessions.bindResource(session, resource === '' ? undefined : resource);
  if (!bound.ok) throw new Error(`binding ${jid} failed: ${bound.text}`);
  return bound.session;
}

export type StanzaMatch = string | ((el: Element) => boolean);

export interface ReceiveOptions {
  /** Give up after this long (default 2000 ms). */
  timeoutMs?: number;
}

export class FakeClient {
  /** Everything the server sent to this client, oldest first (tests may clear it). */
  readonly sent: Element[] = [];
  /** The reasons the session was closed with (one entry per close). */
  readonly closedWith: Array<CloseReason | undefined> = [];
  readonly session: BoundC2SSession;
  /** Stanzas already handed out by receives(), so each is handed out once. */
  private readonly taken = new WeakSet<Element>();
  private readonly wakeup = new Wakeup();

  constructor(private readonly server: Server, jid: string) {
    this.session = createFakeSession(server, jid, {
      onSend: (el) => {
        this.sent.push(el);
        this.wakeup.wake();
      },
      onClose: (reason) => {
        this.closedWith.push(reason);
        this.wakeup.wake();
      },
    });
  }

  /** The full JID the session is bound to. */
  get jid(): string {
    return this.session.fullJid ?? '';
  }

  get closed(): boolean {
    return this.session.destroyed;
  }

  /** Route a stanza as if this client sent it (the router checks and stamps 'from'). */
  send(stanza: Element): void {
    this.server.router.fromClient(this.session, stanza);
  }

  /** The last element sent to this client. */
  last(): Element | undefined {
    return this.sent[this.sent.length - 1];
  }

  /**
   * The first stanza sent to this client that matches (an element name or a predicate) and that
   * receives() has not returned before; waits for one up to `timeoutMs`. The error on timeout
   * lists what the client did receive.
   */
  receives(match: StanzaMatch, opts: ReceiveOptions = {}): Promise<Element> {
    const timeoutMs = opts.timeoutMs ?? 2000;
    const test = typeof match === 'string' ? (el: Element) => el.name === match : match;
    return this.wakeup.until(
      () => {
        const found = this.sent.find((el) => !this.taken.has(el) && test(el));
        if (found) this.taken.add(found);
        return found;
      },
      timeoutMs,
      () => new Error(`${this.jid}: no stanza matching ${describe(match)} within ${timeoutMs} ms; received:\n${this.sent.map(String).join('\n') || '(nothing)'}`),
    );
  }

  /** Send an iq (it needs an id) and wait for its result or error. */
  ask(iq: Element, opts: ReceiveOptions = {}): Promise<Element> {
    const id = iq.attrs.id;
    if (!id) throw new Error('ask(): the iq needs an id');
    const answer = this.receives((el) => el.name === 'iq' && el.attrs.id === id && (el.attrs.type === 'result' || el.attrs.type === 'error'), opts);
    this.send(iq);
    return answer;
  }

  /** Wait until the session is closed (by the server or a module). */
  async waitClosed(opts: ReceiveOptions = {}): Promise<CloseReason | undefined> {
    const timeoutMs = opts.timeoutMs ?? 2000;
    await this.wakeup.until(
      () => (this.closedWith.length > 0 ? true : undefined),
      timeoutMs,
      () => new Error(`${this.jid}: still open after ${timeoutMs} ms`),
    );
    return this.closedWith[0];
  }
}

function describe(match: StanzaMatch): string {
  return typeof match === 'string' ? `<${match}/>` : match.name ? match.name : 'the predicate';
}
