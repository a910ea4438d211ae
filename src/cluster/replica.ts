/**
 * A worker's in-memory replica of the resources bound on the other workers, as proxy sessions,
 * so that `SessionManager.getUserSessions()` and `getSession()` stay synchronous. It is filled
 * by a snapshot when the node joins and kept current by the engine's registry events; a binding
 * is identified by (worker, sid), so a stale unbind never removes a newer binding.
 */
import type { BoundC2SSession } from '../core/session.js';
import type { NodeRef, RegistryEntry } from './protocol.js';
import type { ProxySession } from './proxy-session.js';

export class Replica {
  /** host → username → resource → proxy */
  private readonly hosts = new Map<string, Map<string, Map<string, ProxySession>>>();
  private count = 0;

  constructor(
    /** This worker or node (a function when it changes, as a Redis node's incarnation does): its own entries are never held as proxies. */
    private readonly self: NodeRef | (() => NodeRef),
    private readonly makeProxy: (entry: RegistryEntry) => ProxySession,
  ) {}

  get size(): number {
    return this.count;
  }

  /** Replace everything with a snapshot from the primary. */
  load(entries: readonly RegistryEntry[]): void {
    for (const p of this.all()) p.destroyed = true;
    this.hosts.clear();
    this.count = 0;
    for (const e of entries) this.upsert(e);
  }

  /** A binding appeared or changed state. */
  upsert(e: RegistryEntry): void {
    if (e.worker === (typeof this.self === 'function' ? this.self() : this.self)) return;
    const resources = this.resources(e.host, e.username, true);
    const existing = resources.get(e.resource);
    if (existing && existing.entry.worker === e.worker && existing.entry.sid === e.sid) {
      existing.apply(e);
      return;
    }
    if (existing) existing.destroyed = true;
    else this.count++;
    resources.set(e.resource, this.makeProxy(e));
  }

  /** A binding went away; ignored when it is not the binding held (already replaced). */
  remove(e: RegistryEntry): void {
    const resources = this.resources(e.host, e.username, false);
    const existing = resources?.get(e.resource);
    if (!existing || existing.entry.worker !== e.worker || existing.entry.sid !== e.sid) return;
    this.delete(existing);
  }

  /** Drop a proxy this worker no longer trusts (e.g. it was just kicked by a new local binding). */
  release(session: BoundC2SSession): boolean {
    const existing = this.resources(session.host, session.username, false)?.get(session.resource ?? '');
    if (existing !== session) return false;
    this.delete(existing);
    return true;
  }

  /** Forget every binding of a worker that exited. */
  dropWorker(worker: NodeRef): ProxySession[] {
    const gone = this.all().filter((p) => p.entry.worker === worker);
    for (const p of gone) this.delete(p);
    return gone;
  }

  userSessions(host: string, username: string): ProxySession[] {
    const r = this.hosts.get(host)?.get(username);
    return r ? [...r.values()] : [];
  }

  session(host: string, username: string, resource: string): ProxySession | undefined {
    return this.hosts.get(host)?.get(username)?.get(resource);
  }

  all(): ProxySession[] {
    const out: ProxySession[] = [];
    for (const users of this.hosts.values()) for (const r of users.values()) out.push(...r.values());
    return out;
  }

  private delete(p: ProxySession): void {
    const users = this.hosts.get(p.host);
    const r = users?.get(p.username);
    if (r?.get(p.resource) !== p) return;
    r.delete(p.resource);
    if (r.size === 0) users?.delete(p.username);
    if (users?.size === 0) this.hosts.delete(p.host);
    p.destroyed = true;
    this.count--;
  }

  private resources(host: string, username: string, create: true): Map<string, ProxySession>;
  private resources(host: string, username: string, create: false): Map<string, ProxySession> | undefined;
  private resources(host: string, username: string, create: boolean): Map<string, ProxySession> | undefined {
    let users = this.hosts.get(host);
    if (!users) {
      if (!create) return undefined;
      users = new Map();
      this.hosts.set(host, users);
    }
    let r = users.get(username);
    if (!r && create) {
      r = new Map();
      users.set(username, r);
    }
    return r;
  }
}
