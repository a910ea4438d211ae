/**
 * Keeps every live stream session and the index of bound client resources, makes stream
 * sessions (create()) and performs the documented transitions: makeAuthenticated(),
 * makeS2SAuthenticated(), bindResource(), connectionClosed()/destroySession() (a bound client
 * session may hibernate instead), resume(). Each fires a vetoable `pre-*` event first, then the
 * event itself. Presence, priority and `interested` change through setPresence() and
 * setInterested(), which also tell the cluster layer.
 *
 * Routing asks this registry "where is this JID's session?"; keeping that behind one interface
 * is what lets a later cluster put the registry in a shared store.
 */
import { randomBytes } from 'node:crypto';
import { prepareResource, JidError } from '../jid/index.js';
import type { Server } from './server.js';
import type { Element } from '../xml/element.js';
import type { Logger } from './logging.js';
import { SessionFilters } from './filters.js';
import { stanzaPeerOf, type CoreMetrics } from './core-metrics.js';
import { isBound, isStanza } from './session.js';
import type {
  BoundC2SSession, C2SSession, C2SUnauthedSession, CloseReason, ComponentSession, Connection, Framing, S2SSession,
  S2SUnauthedSession, StreamSession,
} from './session.js';

/** What the factory needs besides the connection and framing; `type` picks the kind of session. */
export type NewSessionInit =
  | { type: 'c2s_unauthed'; host?: string }
  | { type: 's2s_unauthed'; direction: 'incoming' | 'outgoing'; toHost?: string; fromHost?: string }
  | { type: 'component'; host: string };

type SessionOf<I extends NewSessionInit> = I['type'] extends 'c2s_unauthed' ? C2SUnauthedSession : I['type'] extends 's2s_unauthed' ? S2SUnauthedSession : ComponentSession;

export interface NewSessionCommon {
  /** From newSessionId(); the framing's logger usually carries it already. */
  id: string;
  log: Logger;
  /** The peer's address when it is not conn.remoteAddress (a trusted proxy's client). */
  ip?: string;
}

/** The framing of a session that has no connection (hibernating, or retired): writes go nowhere. */
const DETACHED: Framing = {
  send: () => {},
  close: () => {},
  restart: () => {},
  closeReason: undefined,
  ended: true,
};

export type ResourceConflictPolicy = 'kick_old' | 'refuse_new';

export type BindResult = { ok: true; resource: string; session: BoundC2SSession } | { ok: false; condition: 'conflict' | 'not-allowed' | 'bad-request'; text: string };

/**
 * The resources bound in the other processes of a cluster (src/cluster), seen as proxy
 * sessions, and where this process publishes changes of its own bindings. Absent when Canto
 * runs as one process, so the single-process path pays one `undefined` check.
 */
export interface RemoteSessions {
  userSessions(host: string, username: string): BoundC2SSession[];
  session(host: string, username: string, resource: string): BoundC2SSession | undefined;
  /** Forget a proxy that a local binding has just replaced (kick_old across processes). */
  release(session: BoundC2SSession): void;
  localBound(session: BoundC2SSession): void;
  localUnbound(session: BoundC2SSession): void;
  localUpdated(session: BoundC2SSession): void;
}

export class SessionManager {
  /** Every stream session, authenticated or not. */
  readonly all = new Set<StreamSession>();
  /** host → username → resource → session */
  private readonly bound = new Map<string, Map<string, Map<string, BoundC2SSession>>>();
  private remote: RemoteSessions | undefined;

  constructor(private readonly server: Server) {}

  /** Cluster mode: lookups also return other processes' resources, and bindings are published. */
  attachRemote(remote: RemoteSessions): void {
    this.remote = remote;
  }

  /**
   * The session factory: a new stream session over `conn`, written through `framing`, registered
   * and announced with `session-created`. Stanzas it sends pass its `out` filters; the transport
   * passes what the peer sends through `receive()`.
   */
  create<I extends NewSessionInit>(conn: Connection, framing: Framing, init: I & NewSessionCommon): SessionOf<I> {
    const filters = new SessionFilters();
    const sent = this.server.coreMetrics.stanzasOut;
    // Built as one literal, then the fields of its kind assigned one by one (no spread or rest):
    // every session of a kind then shares V8's hidden classes instead of carrying its own.
    const session = {
      type: init.type,
      id: init.id,
      conn,
      framing,
      notopen: true,
      secure: conn.encrypted,
      ip: init.ip ?? conn.remoteAddress,
      streamId: '',
      log: init.log,
      destroyed: false,
      filters,
      send(data: Element | string): void {
        let out: Element | string | undefined = data;
        if (typeof data !== 'string' && isStanza(data)) {
          out = filters.runOut(data, session);
          if (out !== undefined) countStanza(sent, session.type, out.name);
        }
        if (out !== undefined) session.framing.send(out);
      },
      close(reason?: CloseReason): void {
        session.framing.close(reason);
      },
      resetStream(): void {
        session.notopen = true;
        session.secure = session.conn.encrypted;
        session.framing.restart();
      },
    } as unknown as StreamSession & { host?: string; direction?: 'incoming' | 'outgoing'; toHost?: string; fromHost?: string };
    if (init.type === 's2s_unauthed') {
      session.direction = init.direction;
      if (init.toHost !== undefined) session.toHost = init.toHost;
      if (init.fromHost !== undefined) session.fromHost = init.fromHost;
    } else if (init.host !== undefined) {
      session.host = init.host;
    }
    this.add(session);
    return session as SessionOf<I>;
  }

  /** Register a session made elsewhere (the factory calls this). */
  add(session: StreamSession): void {
    this.all.add(session);
    this.server.events.fire('session-created', { session });
  }

  /**
   * A stanza the peer sent on this session: passes the session's `in` filters. Returns the
   * stanza to route, or undefined when a filter took it.
   */
  receive(session: StreamSession, stanza: Element): Element | undefined {
    const passed = session.filters.runIn(stanza, session);
    if (passed !== undefined) countStanza(this.server.coreMetrics.stanzasIn, session.type, passed.name);
    return passed;
  }

  /** Turn an unauthenticated client session into an authenticated one (after SASL success). */
  makeAuthenticated(session: C2SUnauthedSession, username: string): C2SSession | undefined {
    const host = session.host;
    const ctx = host !== undefined ? this.server.hosts.get(host) : undefined;
    if (!ctx || host === undefined) return undefined;
    if (ctx.events.fire('pre-authenticated', { session, username })) return undefined;
    const authed = session as unknown as C2SSession;
    authed.type = 'c2s';
    authed.username = username;
    authed.host = host;
    authed.interested = false;
    authed.hibernating = false;
    // Added in place (the session's logger is its own): a child per transition would keep a chain of loggers per session.
    authed.log.setBindings({ user: `${username}@${host}` });
    ctx.events.fire('authenticated', { session: authed });
    return authed;
  }

  /**
   * Turn an unauthenticated server-to-server stream into an authenticated one, for its first
   * domain pair (a stream may carry more pairs later: piggybacking, XEP-0220 §3.4), and fire
   * `s2s-authenticated` on the server bus.
   */
  makeS2SAuthenticated(session: S2SUnauthedSession, fromHost: string, toHost: string, method: 'dialback' | 'SASL EXTERNAL'): S2SSession | undefined {
    if (this.server.events.fire('pre-s2s-authenticated', { session, fromHost, toHost, method })) return undefined;
    const authed = session as unknown as S2SSession;
    authed.type = 's2s';
    authed.fromHost = fromHost;
    authed.toHost = toHost;
    this.server.events.fire('s2s-authenticated', { session: authed, method });
    return authed;
  }

  /**
   * Bind a resource (RFC 6120 §7). An empty request gets a server-generated resource. A taken
   * resource is resolved by `policy`: the default lets the new session win and closes the old
   * one with the `conflict` stream error.
   */
  bindResource(session: C2SSession, requested: string | undefined, policy: ResourceConflictPolicy = 'kick_old'): BindResult {
    let resource: string;
    if (requested === undefined || requested === '') {
      resource = randomBytes(6).toString('base64url');
    } else {
      try {
        resource = prepareResource(requested);
      } catch (err) {
        if (err instanceof JidError) return { ok: false, condition: 'bad-request', text: `invalid resource: ${err.message}` };
        throw err;
      }
    }
    const existing = this.getSession(session.host, session.username, resource);
    if (existing && existing !== session) {
      if (policy === 'refuse_new') return { ok: false, condition: 'conflict', text: 'resource already in use' };
      // The old session is closed first so its unavailable presence goes out before the new one binds.
      const reason: CloseReason = { condition: 'conflict', text: 'replaced by a new connection with the same resource' };
      existing.close(reason);
      this.unbind(existing);
      this.remote?.release(existing);
    }
    const ctx = this.server.hosts.get(session.host);
    if (ctx?.events.fire('pre-resource-bind', { session, resource })) {
      return { ok: false, condition: 'not-allowed', text: 'resource binding refused' };
    }
    const bound = session as BoundC2SSession;
    bound.resource = resource;
    bound.fullJid = `${session.username}@${session.host}/${resource}`;
    this.userResources(session.host, session.username).set(resource, bound);
    session.log.setBindings({ resource });
    this.remote?.localBound(bound);
    ctx?.events.fire('resource-bind', { session: bound });
    return { ok: true, resource, session: bound };
  }

  /** The bound sessions of an account (empty when offline); in a cluster, with other processes' as proxies. */
  getUserSessions(host: string, username: string): BoundC2SSession[] {
    const r = this.bound.get(host)?.get(username);
    const local = r ? [...r.values()] : [];
    if (this.remote === undefined) return local;
    const remote = this.remote.userSessions(host, username);
    if (remote.length === 0) return local;
    // While a resource moves between processes both may be known for a moment: the local one wins.
    return local.concat(r ? remote.filter((p) => !r.has(p.resource)) : remote);
  }

  getSession(host: string, username: string, resource: string): BoundC2SSession | undefined {
    const local = this.bound.get(host)?.get(username)?.get(resource);
    if (local !== undefined || this.remote === undefined) return local;
    return this.remote.session(host, username, resource);
  }

  /** The resources of an account bound in this process (never proxies for another process's). */
  getLocalUserSessions(host: string, username: string): BoundC2SSession[] {
    const r = this.bound.get(host)?.get(username);
    return r ? [...r.values()] : [];
  }

  /** A resource bound in this process (never a proxy for another process's). */
  getLocalSession(host: string, username: string, resource: string): BoundC2SSession | undefined {
    return this.bound.get(host)?.get(username)?.get(resource);
  }

  /**
   * A resource's last broadcast presence (undefined once unavailable) and its priority: the
   * presence module calls this; a cluster tells the other processes.
   */
  setPresence(session: BoundC2SSession, presence: Element | undefined, priority?: number): void {
    session.presence = presence;
    if (presence !== undefined) session.priority = priority;
    this.updated(session);
  }

  /** The resource asked for the roster: it gets roster pushes from now on. */
  setInterested(session: BoundC2SSession, interested = true): void {
    session.interested = interested;
    this.updated(session);
  }

  /**
   * Switch a per-session flag other processes must see on this resource (e.g. `carbons`): a
   * cluster publishes it with the binding, so a proxy of the resource elsewhere carries it too.
   */
  setFlag(session: BoundC2SSession, flag: string, on: boolean): void {
    if (on === (session.flags?.has(flag) ?? false)) return;
    const flags = new Set(session.flags);
    if (on) flags.add(flag);
    else flags.delete(flag);
    session.flags = flags;
    this.updated(session);
  }

  private updated(session: BoundC2SSession): void {
    if (this.remote === undefined) return;
    if (this.bound.get(session.host)?.get(session.username)?.get(session.resource) !== session) return;
    this.remote.localUpdated(session);
  }

  /** Number of bound resources per host in this process, for metrics and tests. */
  countBound(host?: string): number {
    let n = 0;
    for (const [h, users] of this.bound) {
      if (host !== undefined && h !== host) continue;
      for (const r of users.values()) n += r.size;
    }
    return n;
  }

  /**
   * A transport's connection is gone. Ignored when the session has meanwhile moved to another
   * connection (resumed elsewhere); otherwise the session is destroyed — or hibernates, when it
   * is a bound client session whose stream did not end cleanly and a module vetoes
   * `pre-session-destroy` (stream management).
   */
  connectionClosed(session: StreamSession, conn: Connection): void {
    if (session.destroyed || session.conn !== conn) return;
    this.destroySession(session, session.framing.closeReason, { connectionLost: !session.framing.ended });
  }

  /**
   * Forget a session for good: unbind its resource (firing resource-unbind), fire
   * session-destroyed, and turn it into a resting object whose send/close do nothing, so late
   * callbacks cannot write to a dead socket. A bound client session first fires the vetoable
   * `pre-session-destroy` on its host (unless `final`); a module that returns true keeps it
   * alive, hibernating without a connection.
   */
  destroySession(session: StreamSession, reason?: CloseReason, opts: { final?: boolean; connectionLost?: boolean } = {}): void {
    if (session.destroyed) return;
    if (!opts.final && isBound(session) && !session.hibernating) {
      const ctx = this.server.hosts.get(session.host);
      if (ctx?.events.fire('pre-session-destroy', { session, reason, connectionLost: opts.connectionLost ?? false })) {
        this.hibernate(session);
        return;
      }
    }
    this.retire(session);
    if (session.type === 'c2s') this.unbind(session, reason);
    this.server.events.fire('session-destroyed', { session, reason });
  }

  /** A resting object from now on (Prosody's retire_session): out of the registry, send and close do nothing. */
  private retire(session: StreamSession): void {
    session.destroyed = true;
    this.all.delete(session);
    session.send = () => {};
    session.close = () => {};
    session.framing = DETACHED;
  }

  private hibernate(session: BoundC2SSession): void {
    session.hibernating = true;
    // No connection to write to; closing a hibernating session (a kick, shutdown, a module giving
    // up on it) ends it for good, since no connection end will come to destroy it.
    session.framing = { ...DETACHED, close: (reason) => this.destroySession(session, reason, { final: true }) };
    session.log.info('connection lost: session hibernating');
    this.server.hosts.get(session.host)?.events.fire('session-hibernated', { session });
  }

  /**
   * Move a newer connection into an older bound session (stream management resumption): the old
   * session keeps its resource, filters and state and continues on `fresh`'s connection; `fresh`
   * is retired without events (its transport follows `resumedInto`). An old connection that is
   * still open (half-dead) is closed.
   */
  resume(old: BoundC2SSession, fresh: C2SSession): void {
    if (old.destroyed || fresh.destroyed) throw new Error('cannot resume with a destroyed session');
    const stale = old.hibernating ? undefined : old.framing;
    old.conn = fresh.conn;
    old.framing = fresh.framing;
    old.secure = fresh.secure;
    old.ip = fresh.ip;
    old.streamId = fresh.streamId;
    old.notopen = fresh.notopen;
    old.lastActivity = Date.now();
    old.hibernating = false;
    fresh.resumedInto = old;
    this.retire(fresh);
    // Closed once the session has left it: a transport reporting the close at once (from inside
    // close()) then finds the session on another connection and leaves it alone.
    stale?.close();
    old.log.info({ ip: old.ip }, 'session resumed on a new connection');
    this.server.hosts.get(old.host)?.events.fire('session-resumed', { session: old });
  }

  /**
   * The session moves to another cluster node (XEP-0198 resumption there): it leaves this
   * process without resource-unbind (contacts must not see it go) or session-destroyed (rooms
   * must not drop it), only `session-handed-over`, and becomes a resting object; an open
   * connection is closed. The cluster
   * layer has the new node's binding replace this one.
   */
  handOver(session: BoundC2SSession): void {
    if (session.destroyed) return;
    const stale = session.hibernating ? undefined : session.framing;
    const resources = this.bound.get(session.host)?.get(session.username);
    if (resources?.get(session.resource) === session) {
      resources.delete(session.resource);
      if (resources.size === 0) this.bound.get(session.host)?.delete(session.username);
    }
    this.retire(session);
    stale?.close();
    session.log.info('session handed over to another cluster node');
    this.server.hosts.get(session.host)?.events.fire('session-handed-over', { session });
  }

  private unbind(session: C2SSession, reason?: CloseReason): void {
    if (!isBound(session)) return;
    const users = this.bound.get(session.host);
    const resources = users?.get(session.username);
    if (resources?.get(session.resource) !== session) return;
    resources.delete(session.resource);
    if (resources.size === 0) users?.delete(session.username);
    this.remote?.localUnbound(session);
    this.server.hosts.get(session.host)?.events.fire('resource-unbind', { session, reason });
  }

  private userResources(host: string, username: string): Map<string, BoundC2SSession> {
    let users = this.bound.get(host);
    if (!users) {
      users = new Map();
      this.bound.set(host, users);
    }
    let r = users.get(username);
    if (!r) {
      r = new Map();
      users.set(username, r);
    }
    return r;
  }
}

/** One stanza more in the core's per-peer counters (a plain increment: this runs per stanza). */
function countStanza(counts: CoreMetrics['stanzasIn'], type: StreamSession['type'], name: string): void {
  const peer = stanzaPeerOf(type);
  if (peer === undefined || (name !== 'message' && name !== 'presence' && name !== 'iq')) return;
  counts[peer][name]++;
}
