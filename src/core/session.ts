/**
 * The session model (docs/sessions.md): every connection and every served domain is a session.
 * A discriminated union on `type`, so the compiler knows which fields exist in which state.
 * A session object keeps its identity as it authenticates: the transitions in sessionmanager.ts
 * change `type` in place and add the fields of the new state.
 */
import type { Element } from '../xml/element.js';
import type { Logger } from './logging.js';
import type { CloseReason } from './stream-errors.js';
import type { HostContext } from './host.js';

export type SessionType = 'c2s_unauthed' | 'c2s' | 's2s_unauthed' | 's2s' | 'local' | 'component';

/** The underlying transport of a stream session (TCP, TLS, BOSH, WebSocket). */
export interface Connection {
  readonly transport: 'tcp' | 'websocket' | 'bosh' | 'internal';
  /** Remote address as seen by the socket (before any trusted-proxy rewriting). */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Whether bytes on this connection are currently encrypted. */
  readonly encrypted: boolean;
  /** Queue framed text for the peer. Returns false when the transport's buffer is above its mark. */
  write(data: string): boolean;
  /** Bytes accepted by write() and not yet handed to the OS. */
  readonly bufferedBytes: number;
  /** Flush and close gracefully. */
  end(): void;
  /** Close at once. */
  destroy(): void;
  /** Upgrade to TLS in place (STARTTLS); absent on transports that cannot (BOSH, WebSocket). */
  startTls?(opts: import('../net/socket-connection.js').StartTlsOptions): Promise<void>;
  /** The TLS socket once encrypted (for channel binding); absent otherwise. */
  readonly tlsSocket?: import('node:tls').TLSSocket;
}

export type { CloseReason } from './stream-errors.js';

interface StreamSessionBase {
  /** Unique, log-friendly id ("c2s1f"). */
  readonly id: string;
  conn: Connection;
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
  /** Present from resource binding on. */
  resource?: string;
  /** `username@host/resource`, from resource binding on. (Prosody: full_jid) */
  fullJid?: string;
  /** Last priority pushed in available presence. */
  priority?: number;
  /** Last non-directed available presence; undefined once unavailable. */
  presence?: Element;
  /** True once this resource requested the roster: it gets roster pushes. */
  interested: boolean;
  /** The user's roster, loaded when the resource binds (shape owned by the roster module). */
  roster?: unknown;
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

let counter = 0;
/** A short unique session id with a prefix naming its kind. */
export function newSessionId(prefix: string): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return prefix + counter.toString(36);
}
