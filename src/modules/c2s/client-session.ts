/**
 * The client session, shared by every transport (TCP/TLS, WebSocket, and BOSH later): the
 * c2s_unauthed → c2s lifecycle, the stream open checks (to, version, host kept across
 * restarts), stream features, the dispatch of stream elements, the auth timeout, the per-IP cap
 * on unauthenticated connections (shared by the nodes of a Redis cluster) and the destroy on close.
 *
 * A transport provides the Connection and a framing object (how opens, stanzas and closes look
 * on its wire) and calls the returned handle when its framing reports something. The framing
 * checks what is framing-specific itself (e.g. TCP: <stream:stream> in the streams namespace;
 * WebSocket: <open/> in the framing namespace) and reports an accepted open as a StreamOpen.
 */
import { randomBytes } from 'node:crypto';
import type { ModuleServer } from '../../core/server.js';
import type { Logger } from '../../core/logging.js';
import { newSessionId, type C2SSession, type C2SUnauthedSession, type Connection, type Framing } from '../../core/session.js';
import { Element, NS_STREAM } from '../../xml/element.js';
import { NS } from '../../xml/ns.js';
import { prepareDomain, tryParseJid } from '../../jid/index.js';
import type { Completion } from '../../core/router.js';

/** Elements waiting behind a held stanza before reading from the peer pauses. */
const BACKLOG_PAUSE = 64;
/**
 * A process's shared count of an address's unauthenticated connections lives this much longer
 * than the auth timeout after its last increase: every connection it counts has authenticated or
 * been closed by then, so only a dead process's count (or one whose decrease was lost) expires.
 */
const SHARED_COUNT_SLACK_MS = 10_000;

/**
 * Counts shared by the nodes of a Redis cluster (RedisBucketStore.count): each process adds to
 * its own count of a key; the answer is every live process's total, or undefined when the store
 * cannot be reached (then the local count alone applies).
 */
export interface SharedCounts {
  count(key: string, instance: string, delta: number, ttlMs: number): Promise<number | undefined>;
}

/** The attributes of a client's stream open that matter to the session. */
export interface StreamOpen {
  to: string | undefined;
  /** The client's optional 'from' (RFC 6120 §4.7.1: its bare JID); checked for validity only. */
  from?: string | undefined;
  version: string | undefined;
  lang: string | undefined;
}

/** What a transport's framing does for a client session: the core's Framing, plus the stream open. */
export interface ClientFraming extends Framing {
  /** Send our stream open; `id` is generated. Returns the stream id. */
  openStream(attrs: { from?: string; lang?: string }): string;
  /** The connection is gone: stop timers. */
  disposed(): void;
}

/** What the framing reports to the session. */
export interface ClientStreamEvents {
  /** The client opened (or re-opened) its stream; framing-level checks already passed. */
  streamOpen(open: StreamOpen): void;
  element(el: Element): void;
  /** The client closed its stream (the framing has answered). */
  streamClose(): void;
}

/** What the transport calls on the session. */
export interface ClientSessionHandle extends ClientStreamEvents {
  readonly session: C2SUnauthedSession | C2SSession;
  /** Bytes or a message arrived (stamps lastActivity for the ping module). */
  activity(): void;
  /** The connection is closed: destroy the session. */
  connectionClosed(): void;
}

export interface ClientSessionOptions {
  server: ModuleServer;
  /** Parent logger (the transport module's). */
  log: Logger;
  conn: Connection;
  /** The client's address; defaults to conn.remoteAddress (a trusted proxy may say otherwise). */
  ip?: string;
  /** Extra fields for the session's log lines, e.g. the local port. */
  logFields?: Record<string, unknown>;
  makeFraming(events: ClientStreamEvents, log: Logger): ClientFraming;
}

/**
 * The client sessions of one server, whatever their transport: the c2s module makes one and
 * provides it as the 'c2s' service, so the WebSocket and BOSH modules start their sessions
 * through it and the `c2s.max_unauthed_per_ip` cap counts every transport's connections together.
 * On a Redis cluster node (`shared`) the cap counts every node's connections: each connection is
 * added to this process's count in Redis, and one the cluster-wide total puts over the cap is
 * closed when the answer comes (while still unauthenticated). Logins never wait for Redis: a
 * connection is let in (or refused) on the local count at once, and with Redis away the local
 * count is all there is.
 */
export class ClientSessions {
  /** Unauthenticated connections per address. */
  readonly unauthedPerIp = new Map<string, number>();
  /** This process in the shared counts. */
  readonly instance = randomBytes(9).toString('base64url');

  constructor(readonly shared?: SharedCounts) {}

  start(opts: ClientSessionOptions): ClientSessionHandle {
    return startClientSession(opts, this);
  }
}

declare module '../../core/services.js' {
  interface ServiceMap {
    c2s: ClientSessions;
  }
}

/** `sessions.unauthedPerIp`: the server-wide unauthenticated connections per address. */
function startClientSession(opts: ClientSessionOptions, sessions: ClientSessions): ClientSessionHandle {
  const counts = sessions.unauthedPerIp;
  const { server, conn } = opts;
  const cfg = server.config.c2s;
  const id = newSessionId('c2s');
  const ip = opts.ip ?? conn.remoteAddress;
  const log = opts.log.child({ session: id, ip });

  const count = (counts.get(ip) ?? 0) + 1;
  counts.set(ip, count);
  let countedUnauthed = true;
  /** Whether this connection was added to the shared count (settles with the store's answer). */
  let sharedAdded: Promise<boolean> | undefined;
  const sharedKey = `unauthed:${ip}`;
  const sharedTtl = cfg.auth_timeout + SHARED_COUNT_SLACK_MS;
  const releaseUnauthed = () => {
    if (!countedUnauthed) return;
    countedUnauthed = false;
    const n = (counts.get(ip) ?? 1) - 1;
    if (n <= 0) counts.delete(ip);
    else counts.set(ip, n);
    const { shared } = sessions;
    if (shared !== undefined && sharedAdded !== undefined) {
      void sharedAdded.then((added) => (added ? shared.count(sharedKey, sessions.instance, -1, sharedTtl) : undefined)).catch(() => undefined);
    }
  };

  const events: ClientStreamEvents = {
    streamOpen: (open) => onStreamOpen(open),
    element: (el) => onElement(el),
    streamClose: () => log.debug('client closed the stream'),
  };
  const framing = opts.makeFraming(events, log);

  const session: C2SUnauthedSession = server.sessions.create(conn, framing, { type: 'c2s_unauthed', id, log, ip });
  log.debug({ transport: conn.transport, ...opts.logFields }, 'client connected');

  if (count > cfg.max_unauthed_per_ip) {
    log.warn({ count }, 'too many unauthenticated connections from this address');
    session.close({ condition: 'policy-violation', text: 'too many unauthenticated connections from your address' });
  } else if (sessions.shared !== undefined && ip !== '') {
    const max = cfg.max_unauthed_per_ip;
    sharedAdded = sessions.shared.count(sharedKey, sessions.instance, 1, sharedTtl).then(
      (total) => {
        if (total === undefined) return false;
        if (total > max && countedUnauthed && !session.destroyed) {
          log.warn({ count: total, local: counts.get(ip) ?? 0 }, 'too many unauthenticated connections from this address across the cluster');
          session.close({ condition: 'policy-violation', text: 'too many unauthenticated connections from your address' });
        }
        return true;
      },
      () => false,
    );
  }

  const authTimer = setTimeout(() => {
    if (session.type === 'c2s_unauthed' && !session.destroyed) {
      log.info('closing a connection that did not authenticate in time');
      session.close({ condition: 'connection-timeout', text: 'authentication took too long' });
    }
  }, cfg.auth_timeout);
  authTimer.unref();

  // The session object changes type in place as it authenticates; after a stream management
  // resumption this connection carries an older session (resumedInto).
  const current = (): C2SUnauthedSession | C2SSession => {
    const s = session as C2SUnauthedSession | C2SSession;
    return (s.type === 'c2s' && s.resumedInto) || s;
  };

  function onStreamOpen(open: StreamOpen): void {
    const s = current();
    let host: string;
    try {
      if (open.to === undefined || open.to === '') throw new Error('missing');
      host = prepareDomain(open.to);
    } catch {
      s.close({ condition: 'host-unknown', text: "the stream header needs a valid 'to' naming a domain served here" });
      return;
    }
    if (open.from !== undefined && open.from !== '' && tryParseJid(open.from) === undefined) {
      s.close({ condition: 'invalid-from', text: "the stream header's 'from' is not a valid JID" });
      return;
    }
    const previous = s.notopen && s.streamId === '' ? undefined : s.host;
    if (previous !== undefined && previous !== host) {
      s.close({ condition: 'not-authorized', text: "the 'to' attribute must stay the same across stream restarts" });
      return;
    }
    if (!server.hosts.has(host)) {
      s.close({ condition: 'host-unknown', text: `this server does not serve ${host}` });
      return;
    }
    const version = open.version ?? '0.0';
    const major = Number.parseInt(version.split('.')[0] ?? '0', 10);
    if (major !== 1) {
      framing.openStream({ from: host });
      s.close({ condition: 'unsupported-version', text: 'only XMPP 1.0 streams are supported' });
      return;
    }
    if (s.type === 'c2s_unauthed') s.host = host;
    s.notopen = false;
    s.secure = conn.encrypted;
    s.streamId = framing.openStream({ from: host, lang: open.lang });
    const features = new Element('features', undefined, NS_STREAM);
    server.hosts.get(host)?.events.fire('stream-features', { origin: s, features });
    s.send(features);
  }

  // In-order completion: while a stanza of this session is held by a handler (async work such
  // as storing it offline), the elements after it wait here and run once it is complete. So an
  // answer to a later stanza (a ping, a stream management <r/>) means every earlier one was
  // delivered, stored or bounced. Reading from the peer pauses while the backlog is long.
  let inflight: Promise<void> | undefined;
  const backlog: Element[] = [];
  let releaseReading: (() => void) | undefined;

  function onElement(el: Element): void {
    if (inflight !== undefined) {
      backlog.push(el);
      if (backlog.length >= BACKLOG_PAUSE && releaseReading === undefined) releaseReading = conn.holdReading?.();
      return;
    }
    processElement(el);
  }

  function processElement(el: Element): void {
    const done = handleElement(el);
    if (done !== undefined) inflight = done.then(drainBacklog);
  }

  function drainBacklog(): void {
    inflight = undefined;
    while (inflight === undefined && backlog.length > 0) processElement(backlog.shift() as Element);
    if (inflight === undefined && releaseReading !== undefined) {
      releaseReading();
      releaseReading = undefined;
    }
  }

  function handleElement(el: Element): Completion {
    const s = current();
    // A session that moved to a newer connection ignores what the old one still delivers.
    if (s.notopen || s.conn !== conn) return undefined;
    const isStanza = el.xmlns === NS.client && (el.name === 'message' || el.name === 'presence' || el.name === 'iq');
    // Non-stanza elements (<starttls/>, <auth/>, …) and, until a resource is bound, stanzas
    // (the bind iq) are offered to the modules first.
    const bound = s.type === 'c2s' && s.resource !== undefined;
    if (!isStanza || !bound) {
      const ctx = server.hosts.get(s.host ?? '');
      if (ctx?.events.fire('stream-element', { origin: s, element: el })) {
        if (s.type !== 'c2s_unauthed') {
          clearTimeout(authTimer);
          releaseUnauthed();
        }
        return undefined;
      }
      if (!isStanza) {
        s.close({ condition: 'unsupported-stanza-type', text: `<${el.name} xmlns='${el.xmlns}'/> is not understood here` });
        return undefined;
      }
    }
    if (s.type === 'c2s_unauthed') {
      s.close({ condition: 'not-authorized', text: 'authenticate before sending stanzas' });
      return undefined;
    }
    const stanza = server.sessions.receive(s, el);
    return stanza !== undefined ? server.router.fromClient(s, stanza) : undefined;
  }

  return {
    session,
    ...events,
    activity: () => {
      current().lastActivity = Date.now(); // read by the ping module to find idle connections
    },
    connectionClosed: () => {
      clearTimeout(authTimer);
      releaseUnauthed();
      framing.disposed();
      log.debug('client disconnected');
      server.sessions.connectionClosed(current(), conn);
    },
  };
}
