/**
 * Keeps every live stream session and the index of bound client resources, and performs the
 * documented transitions: makeAuthenticated(), bindResource(), destroySession(). Each fires a
 * vetoable `pre-*` event on the host first, then the event itself.
 *
 * Routing asks this registry "where is this JID's session?"; keeping that behind one interface
 * is what lets a later cluster put the registry in a shared store.
 */
import { randomBytes } from 'node:crypto';
import { prepareResource, JidError } from '../jid/index.js';
import type { Server } from './server.js';
import type { C2SSession, C2SUnauthedSession, CloseReason, S2SSession, S2SUnauthedSession, StreamSession } from './session.js';

export type ResourceConflictPolicy = 'kick_old' | 'refuse_new';

export type BindResult = { ok: true; resource: string } | { ok: false; condition: 'conflict' | 'not-allowed' | 'bad-request'; text: string };

/**
 * The resources bound in the other processes of a cluster (src/cluster), seen as proxy
 * sessions, and where this process publishes changes of its own bindings. Absent when Canto
 * runs as one process, so the single-process path pays one `undefined` check.
 */
export interface RemoteSessions {
  userSessions(host: string, username: string): C2SSession[];
  session(host: string, username: string, resource: string): C2SSession | undefined;
  /** Forget a proxy that a local binding has just replaced (kick_old across processes). */
  release(session: C2SSession): void;
  localBound(session: C2SSession): void;
  localUnbound(session: C2SSession): void;
  localUpdated(session: C2SSession): void;
}

export class SessionManager {
  /** Every stream session, authenticated or not. */
  readonly all = new Set<StreamSession>();
  /** host → username → resource → session */
  private readonly bound = new Map<string, Map<string, Map<string, C2SSession>>>();
  private remote: RemoteSessions | undefined;

  constructor(private readonly server: Server) {}

  /** Cluster mode: lookups also return other processes' resources, and bindings are published. */
  attachRemote(remote: RemoteSessions): void {
    this.remote = remote;
  }

  add(session: StreamSession): void {
    this.all.add(session);
    this.server.events.fire('session-created', { session });
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
  makeS2SAuthenticated(session: S2SUnauthedSession, fromHost: string, toHost: string, method: 'dialback' | 'SASL EXTERNAL'): S2SSession {
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
      existing.close({ condition: 'conflict', text: 'replaced by a new connection with the same resource' });
      this.unbind(existing);
      this.remote?.release(existing);
    }
    const ctx = this.server.hosts.get(session.host);
    if (ctx?.events.fire('pre-resource-bind', { session, resource })) {
      return { ok: false, condition: 'not-allowed', text: 'resource binding refused' };
    }
    session.resource = resource;
    session.fullJid = `${session.username}@${session.host}/${resource}`;
    this.userResources(session.host, session.username).set(resource, session);
    session.log.setBindings({ resource });
    this.remote?.localBound(session);
    ctx?.events.fire('resource-bind', { session });
    return { ok: true, resource };
  }

  /** The bound sessions of an account (empty when offline); in a cluster, with other processes' as proxies. */
  getUserSessions(host: string, username: string): C2SSession[] {
    const r = this.bound.get(host)?.get(username);
    const local = r ? [...r.values()] : [];
    if (this.remote === undefined) return local;
    const remote = this.remote.userSessions(host, username);
    if (remote.length === 0) return local;
    // While a resource moves between processes both may be known for a moment: the local one wins.
    return local.concat(r ? remote.filter((p) => !r.has(p.resource ?? '')) : remote);
  }

  getSession(host: string, username: string, resource: string): C2SSession | undefined {
    const local = this.bound.get(host)?.get(username)?.get(resource);
    if (local !== undefined || this.remote === undefined) return local;
    return this.remote.session(host, username, resource);
  }

  /** A resource bound in this process (never a proxy for another process's). */
  getLocalSession(host: string, username: string, resource: string): C2SSession | undefined {
    return this.bound.get(host)?.get(username)?.get(resource);
  }

  /**
   * A bound session's priority, presence or `interested` changed: modules that change them call
   * this so a cluster can tell the other processes. Does nothing in a single process.
   */
  updated(session: C2SSession): void {
    if (this.remote === undefined || session.resource === undefined) return;
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
   * Forget a session for good: unbind its resource (firing resource-unbind), fire
   * session-destroyed, and turn it into a resting object whose send/close do nothing, so late
   * callbacks cannot write to a dead socket.
   */
  destroySession(session: StreamSession, reason?: CloseReason): void {
    if (session.destroyed) return;
    session.destroyed = true;
    this.all.delete(session);
    if (session.type === 'c2s') this.unbind(session, reason);
    session.send = () => {};
    session.close = () => {};
    this.server.events.fire('session-destroyed', { session, reason });
  }

  private unbind(session: C2SSession, reason?: CloseReason): void {
    if (session.resource === undefined) return;
    const users = this.bound.get(session.host);
    const resources = users?.get(session.username);
    if (resources?.get(session.resource) !== session) return;
    resources.delete(session.resource);
    if (resources.size === 0) users?.delete(session.username);
    this.remote?.localUnbound(session);
    this.server.hosts.get(session.host)?.events.fire('resource-unbind', { session, reason });
  }

  private userResources(host: string, username: string): Map<string, C2SSession> {
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
