/**
 * The session model (docs/sessions.md): every connection and every served domain is a session.
 * A discriminated union on `type`, so the compiler knows which fields exist in which state.
 * A session object keeps its identity as it authenticates: the transitions in sessionmanager.ts
 * change `type` in place and add the fields of the new state. Stream sessions are made by one
 * factory, `SessionManager.create(conn, framing, init)`.
 */
import type { Element } from '../xml/element.js';
import type { Logger } from './logging.js';
import type { CloseReason } from './stream-errors.js';
import type { Connection } from './connection.js';
import type { HostContext } from './host.js';
import type { SessionFilters } from './filters.js';

export type { CloseReason } from './stream-errors.js';
export type { Connection, StartTlsOptions } from './connection.js';

export type SessionType = 'c2s_unauthed' | 'c2s' | 's2s_unauthed' | 's2s' | 'local' | 'component';

/**
 * What a transport gives the session factory: how elements, restarts and closes look on its wire
 * (an XML stream over TCP, RFC 7395 WebSocket messages, BOSH bodies).
 */
export interface Framing {
  /** Serialize and write an element (or raw stream framing text). */
  send(data: Element | string): void;
  /** The documented close(reason): optional error, the framing's end of stream, then the connection. */
  close(reason?: CloseReason): void;
  /** Expect a fresh stream header from the peer (after STARTTLS or SASL success). */
  restart(): void;
  /** Why we closed, if we did. */
  readonly closeReason: CloseReason | undefined;
  /** True once the stream was ended by either side with its closing element (not a dropped connection). */
  readonly ended: boolean;
}

interface StreamSessionBase {
  /** Unique, log-friendly id ("c2s1f"). */
  readonly id: string;
  conn: Connection;
  /** How this session's transport frames its stream; swapped when a session resumes on a new connection. */
  framing: Framing;
  /** true until the peer's stream header arrives, and again whenever a restart is required. */
  notopen: boolean;
  /** Whether the connection is currently encrypted (or reached over HTTPS via a trusted proxy). */
  secure: boolean;
  /** The peer's IP address (the real client's behind a trusted proxy). */
  ip: string;
  /** The stream id we sent in our header. */
  streamId: string;
  log: Logger;
  /** Set once the session is destroyed; a destroyed session ignores send() and close(). */
  destroyed: boolean;
  /** ms since epoch of the last data received from the peer (stamped by the transport). */
  lastActivity?: number;
  /**
   * Per-session stanza interception (Prosody's session filters): `filters.in` sees each stanza the
   * peer sent before it is routed, `filters.out` each stanza before it is written; a filter
   * returns the stanza (or another) to pass it on, or undefined to take it (count, queue, hold,
   * drop). Only stanzas (message, presence, iq) pass the filters, never stream-level elements.
   */
  readonly filters: SessionFilters;
  /** Send an element: stanzas pass the `out` filters, then the framing writes it. */
  send(stanza: Element | string): void;
  close(reason?: CloseReason): void;
  /** Expect a fresh stream header (after STARTTLS or SASL success); sets `notopen`. */
  resetStream(): void;
}

export interface C2SUnauthedSession extends StreamSessionBase {
  type: 'c2s_unauthed';
  /** The domain the client asked for in its stream header, once known. */
  host?: string;
}

export interface C2SSession extends StreamSessionBase {
  type: 'c2s';
  username: string;
  host: string;
  /** Present from resource binding on (see BoundC2SSession). */
  resource?: string;
  /** `username@host/resource`, from resource binding on. (Prosody: full_jid) */
  fullJid?: string;
  /** Last priority pushed in available presence (set through SessionManager.setPresence). */
  priority?: number;
  /** Last non-directed available presence; undefined once unavailable (SessionManager.setPresence). */
  presence?: Element;
  /** True once this resource requested the roster: it gets roster pushes (SessionManager.setInterested). */
  interested: boolean;
  /**
   * Per-session switches that modules on other cluster nodes must see (e.g. `carbons`), changed
   * through SessionManager.setFlag(); published with the binding.
   */
  flags?: ReadonlySet<string>;
  /** The user's roster, loaded when the resource binds (shape owned by the roster module). */
  roster?: unknown;
  /**
   * True while the session has no connection but is kept alive by a module that vetoed
   * `pre-session-destroy` (stream management): it stays a bound resource, stanzas to it pass its
   * `out` filters and the framing drops them, until `SessionManager.resume()` or destruction.
   */
  hibernating: boolean;
  /** Set on a new connection's session once `SessionManager.resume()` moved it into this older one. */
  resumedInto?: BoundC2SSession;
}

/** A client session with a bound resource: what routing, presence and every stanza event deal with. */
export interface BoundC2SSession extends C2SSession {
  resource: string;
  fullJid: string;
}

export interface S2SUnauthedSession extends StreamSessionBase {
  type: 's2s_unauthed';
  direction: 'incoming' | 'outgoing';
  /** (Prosody: to_host) */
  toHost?: string;
  /** (Prosody: from_host) */
  fromHost?: string;
}

export interface S2SSession extends StreamSessionBase {
  type: 's2s';
  direction: 'incoming' | 'outgoing';
  toHost: string;
  fromHost: string;
}

export interface ComponentSession extends StreamSessionBase {
  type: 'component';
  /** The component's domain. */
  host: string;
}

/** A served domain (VirtualHost). `send` delivers a stanza to the host itself. */
export interface LocalSession {
  type: 'local';
  readonly id: string;
  host: string;
  context: HostContext;
  log: Logger;
  send(stanza: Element): void;
}

export type StreamSession = C2SUnauthedSession | C2SSession | S2SUnauthedSession | S2SSession | ComponentSession;
export type Session = StreamSession | LocalSession;
/** What stanzas are routed from: a bound client resource, a server or component stream, or a served domain. */
export type StanzaOrigin = BoundC2SSession | S2SUnauthedSession | S2SSession | ComponentSession | LocalSession;

/** Whether a client session has bound a resource. */
export function isBound(session: Session): session is BoundC2SSession {
  return session.type === 'c2s' && session.resource !== undefined;
}

/** Whether an element is a stanza (what filters and routing deal with), as opposed to stream-level elements. */
export function isStanza(el: Element): boolean {
  const n = el.name;
  return n === 'message' || n === 'presence' || n === 'iq';
}

let counter = 0;
/** A short unique session id with a prefix naming its kind. */
export function newSessionId(prefix: string): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return prefix + counter.toString(36);
}
