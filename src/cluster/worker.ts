/**
 * One worker (or node) of a cluster (docs/scaling.md): the link between this process's Server
 * and the cluster's routing engine, Redis (src/cluster/redis; the primary relay on one machine
 * was retired). It publishes the local bindings, keeps the replica of the other workers' bindings
 * (proxy sessions), delivers stanzas that other workers send to local sessions, forwards
 * stanzas for remote domains and components to the service worker, and applies cache
 * invalidations. Nothing here runs when Canto is a single process.
 */
import type { EventMap } from '../core/event-map.js';
import type { Logger } from '../core/logging.js';
import type { Completion } from '../core/router.js';
import type { ClusterRole, Server } from '../core/server.js';
import type { BoundC2SSession, CloseReason } from '../core/session.js';
import type { RemoteSessions } from '../core/sessionmanager.js';
import type { SessionMover } from '../core/session-mover.js';
import type { StreamErrorCondition } from '../core/stream-errors.js';
import { tryParseJid } from '../jid/index.js';
import type { StorageDriver } from '../storage/types.js';
import { Element } from '../xml/element.js';
import { parseXmlFragment } from '../xml/parse-fragment.js';
import { presence } from '../xml/stanza.js';
import { applyInvalidation } from './invalidate.js';
import {
  SERVICE_WORKER,
  type DeliverMessage, type DirectedPresence, type ForwardMessage, type NodeRef, type PrimaryToWorker, type RegistryEntry, type WireCloseReason, type WorkerToPrimary,
} from './protocol.js';
import { ProxySession, type ProxyLink } from './proxy-session.js';
import { Replica } from './replica.js';
import { watchStorage } from './storage-watch.js';

const NONE_CACHED: ReadonlyMap<string, number> = new Map();
/** iq requests from other nodes remembered for routing their replies back (the oldest go first). */
const MAX_ASKED = 10_000;
const ASKED_TTL_MS = 120_000;
/** Before every other pre-stanza handler: a reply going back to another node is not this node's business. */
const REPLY_PRIORITY = 10_000;

/**
 * The routing interface between a worker and its cluster engine (docs/scaling.md): the engine
 * takes the worker's registry changes and stanzas for other nodes (`send`) and hands it what
 * other nodes send (`onMessage`). The implementation is Redis (`RedisEngine`; the primary relay
 * over node:cluster IPC that came first was retired: docs/scaling.md); a pipe in unit tests. The handler's promise
 * settles once a delivered stanza is handed to its session, stored or bounced: the Redis engine
 * acknowledges a stream entry only then.
 */
export interface ClusterEngine {
  send(msg: WorkerToPrimary): void;
  onMessage(handler: (msg: PrimaryToWorker) => Promise<void> | undefined): void;
}

/** The engine's older name (from the retired primary relay), kept for the unit tests' pipes. */
export type WorkerChannel = ClusterEngine;

export interface ClusterWorkerOptions {
  /** Runs HTTP, s2s and components itself instead of forwarding to worker 1 (every Redis node does). */
  serviceWorker?: boolean;
  /** This process in registry entries when it differs from `worker` (a Redis node's current member). */
  selfRef?: () => NodeRef;
  /**
   * Send iq replies back to the node whose request this node delivered (a `forward` with `to`):
   * a module there (caps, PEP, ping…) asked from a bare JID or a domain, and only that node
   * knows the pending request. Needs an engine that forwards to a node (Redis).
   */
  routeReplies?: boolean;
  /** Runs when the worker is attached to its server, before the server starts (engine-specific hooks). */
  onAttach?: (server: Server) => void;
}

export class ClusterWorker implements ClusterRole, RemoteSessions, ProxyLink {
  readonly serviceWorker: boolean;
  readonly replica: Replica;
  /** Stanzas this worker routed again after a miss: a proxy sends them with hops = 1. */
  private readonly rerouted = new WeakSet<Element>();
  private server: Server | undefined;
  private synced!: () => void;
  /** The snapshot is in: later changes are news (a snapshot's entries are not). */
  private snapshotLoaded = false;
  private readonly snapshot = new Promise<void>((resolve) => (this.synced = resolve));

  private readonly selfRef: () => NodeRef;
  /**
   * Where `forward` messages of kind `service` go (src/cluster/redis/placement.ts); `again` for
   * one a dead node had queued and never handled.
   */
  serviceRouter: ((msg: ForwardMessage, stanza: Element, again: boolean) => Completion) | undefined;
  private readonly routeReplies: boolean;
  /** Moves XEP-0198 sessions to and from other nodes (set by the Redis node: src/cluster/redis/sm-takeover.ts). */
  sessionMover: SessionMover | undefined;
  private readonly onAttach: ((server: Server) => void) | undefined;
  /** `fullJid\0id` of an iq get/set another node delivered here → that node (routeReplies). */
  private readonly asked = new Map<string, { node: NodeRef; at: number }>();

  constructor(
    readonly worker: number | string,
    readonly workers: number,
    private readonly channel: ClusterEngine,
    readonly log: Logger,
    opts: ClusterWorkerOptions = {},
  ) {
    this.serviceWorker = opts.serviceWorker ?? worker === SERVICE_WORKER;
    this.selfRef = opts.selfRef ?? (() => worker);
    this.routeReplies = opts.routeReplies ?? false;
    this.onAttach = opts.onAttach;
    this.replica = new Replica(this.selfRef, (entry) => new ProxySession(entry, this));
    channel.onMessage((msg) => this.onMessage(msg));
  }

  /** The live server once attached (the Redis engine fences and reaps through it). */
  get attached(): Server | undefined {
    return this.server;
  }

  /** Storage whose writes to cached per-user data are announced to the other workers. */
  wrapStorage(storage: StorageDriver): StorageDriver {
    return watchStorage(
      storage,
      (store, host, username) => this.channel.send({ t: 'invalidate', store, host, username }),
      () => this.server?.cachedStoreCounts ?? NONE_CACHED,
    );
  }

  /** Connect to a server before it starts; resolves once the registry snapshot is in. */
  async attach(server: Server, snapshotTimeoutMs = 10_000): Promise<void> {
    this.server = server;
    server.sessions.attachRemote(this);
    this.installForwarding(server);
    if (this.routeReplies) this.installReplyRouting(server);
    this.onAttach?.(server);
    this.channel.send({ t: 'hello' });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no registry snapshot from the cluster engine')), snapshotTimeoutMs);
    });
    try {
      await Promise.race([this.snapshot, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Tell the engine this node accepts connections. */
  ready(): void {
    this.channel.send({ t: 'ready' });
  }

  // ───────────────────────── RemoteSessions (for SessionManager) ─────────────────────────

  userSessions(host: string, username: string): BoundC2SSession[] {
    return this.replica.userSessions(host, username);
  }

  session(host: string, username: string, resource: string): BoundC2SSession | undefined {
    return this.replica.session(host, username, resource);
  }

  release(session: BoundC2SSession): void {
    this.replica.release(session);
  }

  localBound(session: BoundC2SSession): void {
    this.channel.send({ t: 'bound', e: this.entryOf(session) });
  }

  localUnbound(session: BoundC2SSession): void {
    this.channel.send({ t: 'unbound', e: this.entryOf(session) });
  }

  localUpdated(session: BoundC2SSession): void {
    this.channel.send({ t: 'updated', e: this.entryOf(session) });
  }

  private entryOf(s: BoundC2SSession): RegistryEntry {
    const e: RegistryEntry = { host: s.host, username: s.username, resource: s.resource ?? '', worker: this.selfRef(), sid: s.id, interested: s.interested };
    if (s.priority !== undefined) e.priority = s.priority;
    if (s.presence !== undefined) e.presence = s.presence.toString();
    if (s.flags !== undefined && s.flags.size > 0) e.flags = [...s.flags];
    return e;
  }

  // ───────────────────────── ProxyLink (for proxy sessions) ─────────────────────────

  deliver(entry: RegistryEntry, stanza: Element | string): void {
    const raw = typeof stanza === 'string';
    const msg: DeliverMessage = {
      t: 'deliver', to: entry.worker, from: this.selfRef(),
      host: entry.host, username: entry.username, resource: entry.resource,
      xml: raw ? stanza : stanza.toString(),
      hops: !raw && this.rerouted.has(stanza) ? 1 : 0,
    };
    if (raw) msg.raw = true;
    this.channel.send(msg);
  }

  closeRemote(entry: RegistryEntry, reason: CloseReason | undefined): void {
    this.channel.send({
      t: 'close', to: entry.worker, sid: entry.sid,
      host: entry.host, username: entry.username, resource: entry.resource,
      reason: toWire(reason),
    });
  }

  // ───────────────────────── messages from the engine ─────────────────────────

  private onMessage(msg: PrimaryToWorker): Promise<void> | undefined {
    try {
      const done = this.handle(msg);
      return done?.catch((err: unknown) => this.log.error({ err, message: msg.t }, 'cluster message failed'));
    } catch (err) {
      this.log.error({ err, message: msg.t }, 'cluster message failed');
      return undefined;
    }
  }

  /** A promise when the message's work (a delivery that was routed again) completes later. */
  private handle(msg: PrimaryToWorker): Completion {
    switch (msg.t) {
      case 'snapshot':
        this.replica.load(msg.entries);
        this.snapshotLoaded = true;
        this.log.debug({ remote: this.replica.size }, 'cluster registry snapshot loaded');
        this.synced();
        return;
      case 'bound':
      case 'updated':
        this.upsert(msg.e);
        return;
      case 'unbound':
        this.replica.remove(msg.e);
        return;
      case 'drop-worker':
        this.dropWorker(msg.worker, msg.reap === true, msg.entries);
        if (msg.reap === true && msg.directed !== undefined) this.undoDirected(msg.directed);
        return;
      case 'deliver':
        return this.onDeliver(msg);
      case 'close':
        this.onClose(msg.host, msg.username, msg.resource, msg.sid, msg.reason);
        return;
      case 'forward':
        return this.onForward(msg);
      case 'undeliverable':
        return this.onUndeliverable(msg.msg);
      case 'invalidate': {
        const server = this.server;
        if (!server) return;
        applyInvalidation(server, msg).catch((err: unknown) => this.log.error({ err, store: msg.store, user: msg.username }, 'cache invalidation failed'));
        return;
      }
    }
  }

  /**
   * Take another worker's binding. When it has just become available, this worker's modules
   * hear 'presence/initial' for it as they would for a local resource: a message this worker
   * stored offline while that presence was on its way is then delivered (the offline module's
   * deliveries claim each stored message, so the owning worker's own run sends none twice).
   */
  private upsert(entry: RegistryEntry): void {
    const before = this.replica.session(entry.host, entry.username, entry.resource);
    const wasAvailable = before !== undefined && before.entry.sid === entry.sid && before.presence !== undefined;
    this.replica.upsert(entry);
    const proxy = this.replica.session(entry.host, entry.username, entry.resource);
    if (wasAvailable || !proxy?.presence || !this.snapshotLoaded) return;
    this.server?.hosts.get(entry.host)?.events.fire('presence/initial', { session: proxy, presence: proxy.presence });
  }

  /**
   * A worker exited: forget its bindings. The worker the primary picks (`reap`) also fires
   * resource-unbind for each, so the presence module tells contacts those resources went offline.
   */
  private dropWorker(worker: NodeRef, reap: boolean, entries: readonly RegistryEntry[] | undefined): void {
    const gone = this.replica.dropWorker(worker);
    this.log.info({ gone_worker: worker, resources: gone.length }, 'dropped the bindings of a worker that exited');
    if (!this.server) return;
    if (!reap) {
      if (gone.length > 0) this.server.events.fire('cluster-sessions-gone', { jids: gone.map((p) => p.fullJid) });
      return;
    }
    // Bindings the engine held that this replica did not (e.g. this node's own earlier incarnation).
    const held = new Set(gone.map((p) => `${p.host}\u0000${p.username}\u0000${p.resource}`));
    for (const e of entries ?? []) {
      if (e.worker !== worker || held.has(`${e.host}\u0000${e.username}\u0000${e.resource}`)) continue;
      const proxy = new ProxySession(e, this);
      proxy.destroyed = true;
      gone.push(proxy);
    }
    if (gone.length > 0) this.server.events.fire('cluster-sessions-gone', { jids: gone.map((p) => p.fullJid) });
    for (const proxy of gone) {
      this.server.hosts.get(proxy.host)?.events.fire('resource-unbind', { session: proxy, reason: { condition: 'system-shutdown', text: 'the cluster worker serving this connection stopped' } });
    }
  }

  /**
   * The directed available presence a dead node's sessions had sent (RFC 6121 §4.6.3): each
   * recipient gets unavailable presence from the session's full JID, routed from its host as
   * that node would have at the session's end. Skipped for a full JID that is bound again
   * (somewhere live): its new session's presence is not this one's to end.
   */
  private undoDirected(directed: readonly DirectedPresence[]): void {
    const server = this.server;
    if (!server) return;
    let sent = 0;
    for (const { from, to } of directed) {
      const jid = tryParseJid(from);
      const ctx = jid && server.hosts.get(jid.domain);
      if (!jid || !ctx || server.sessions.getSession(jid.domain, jid.local, jid.resource) !== undefined) continue;
      const stanza = presence({ from, to, type: 'unavailable' });
      // As sent by the session's own node: the sender-side events ran (or never will) there.
      void server.router.route(ctx.session, stanza, { senderSideDone: true });
      sent++;
    }
    if (sent > 0) this.log.info({ recipients: sent }, 'told the recipients of a dead node\'s directed presence that it is unavailable');
  }

  private onDeliver(msg: DeliverMessage): Completion {
    const server = this.server;
    if (!server) return;
    const session = server.sessions.getLocalSession(msg.host, msg.username, msg.resource);
    if (msg.raw) {
      session?.send(msg.xml);
      return;
    }
    const stanza = this.parse(msg.xml);
    if (!stanza) return;
    if (!session) {
      // The resource moved to another node meanwhile (a resumed stream management session): it is
      // still bound, there. Once, so two stale views cannot pass it back and forth.
      const moved = msg.hops === 0 ? this.replica.session(msg.host, msg.username, msg.resource) : undefined;
      if (moved !== undefined && moved.entry.worker !== msg.from) {
        this.rerouted.add(stanza);
        moved.send(stanza);
        return;
      }
      return this.missed(msg, stanza);
    }
    if (this.routeReplies) this.noteRequest(session, stanza, msg.from);
    session.send(stanza);
    // Modules here that learn from what reaches local users (caps) see it too: the router's
    // events for it ran on the sending node.
    if (stanza.name === 'presence') server.hosts.get(msg.host)?.events.fire('cluster-presence-delivered', { session, stanza });
  }

  /** An iq request from another node reached a local session: its reply goes back there. */
  private noteRequest(session: BoundC2SSession, stanza: Element, from: NodeRef): void {
    const { type, id } = stanza.attrs;
    if (stanza.name !== 'iq' || (type !== 'get' && type !== 'set') || id === undefined || from === this.selfRef()) return;
    const now = Date.now();
    for (const [key, v] of this.asked) {
      if (this.asked.size < MAX_ASKED && now - v.at < ASKED_TTL_MS) break;
      this.asked.delete(key);
    }
    const key = `${session.fullJid}\u0000${id}`;
    this.asked.delete(key);
    this.asked.set(key, { node: from, at: now });
  }

  /** A local client's iq result/error to a request another node delivered is routed on that node. */
  private installReplyRouting(server: Server): void {
    const onStanza = (event: EventMap['pre-stanza']): boolean => {
      const { origin, stanza, from } = event;
      const type = stanza.attrs.type;
      if (origin.type !== 'c2s' || stanza.name !== 'iq' || (type !== 'result' && type !== 'error') || this.asked.size === 0) return false;
      const key = `${from.full}\u0000${stanza.attrs.id ?? ''}`;
      const asked = this.asked.get(key);
      if (asked === undefined) return false;
      this.asked.delete(key);
      stanza.attrs.from = from.full;
      stanza.attrs.to ??= event.to.full;
      this.channel.send({ t: 'forward', kind: 'reply', to: asked.node, from: this.selfRef(), xml: stanza.toString() });
      return true;
    };
    // pre-stanza fires on the sender's host bus: hook each host as it is activated.
    server.events.on('host-activated', ({ host }) => {
      server.hosts.get(host)?.events.on('pre-stanza', onStanza, REPLY_PRIORITY);
    });
  }

  /**
   * A stanza for a resource that is not (or no longer) bound where the sender thought: handled
   * as a stanza to an unavailable resource. It is routed again here at most once (hops), so two
   * workers with different views can never pass it back and forth.
   */
  private missed(msg: DeliverMessage, stanza: Element): Completion {
    const server = this.server;
    const ctx = server?.hosts.get(msg.host);
    if (!server || !ctx || msg.hops > 0 || !this.worthRerouting(server, msg, stanza)) {
      this.log.debug({ to: `${msg.username}@${msg.host}/${msg.resource}`, stanza: stanza.name, hops: msg.hops }, 'dropping a stanza for a resource that is gone');
      return;
    }
    this.rerouted.add(stanza);
    // Its sender-side events ran on the worker it came from.
    return server.router.route(ctx.session, stanza, { senderSideDone: true });
  }

  /**
   * What a single process would have done had it known the resource was gone: iq get/set and
   * messages to that full JID go through the usual rules again (service-unavailable, other
   * resources, offline storage); a message to the bare JID only when no other resource can have
   * received it; presence to an unavailable resource is dropped (RFC 6121 §8.5.3.2.1).
   */
  private worthRerouting(server: Server, msg: DeliverMessage, stanza: Element): boolean {
    if (stanza.name === 'iq') return stanza.attrs.type === 'get' || stanza.attrs.type === 'set';
    if (stanza.name !== 'message') return false;
    const to = tryParseJid(stanza.attrs.to ?? '');
    if (to && to.resource !== '') return true;
    return !server.sessions.getUserSessions(msg.host, msg.username).some((s) => s.presence !== undefined && (s.priority ?? 0) >= 0);
  }

  private onClose(host: string, username: string, resource: string, sid: string, wire: WireCloseReason | undefined): void {
    const server = this.server;
    const session = server?.sessions.getLocalSession(host, username, resource);
    if (!server || !session || session.id !== sid) return;
    const reason = fromWire(wire);
    session.close(reason);
    // Unbound now, not when the socket closes, so the new binding elsewhere is the only one.
    server.sessions.destroySession(session, reason, { final: true });
  }

  private onForward(msg: ForwardMessage): Completion {
    const server = this.server;
    const stanza = server && this.parse(msg.xml);
    if (!server || !stanza) return;
    if (msg.kind === 'service') return this.serviceRouter?.(msg, stanza, false);
    const ctx = server.hosts.get(tryParseJid(stanza.attrs.from ?? '')?.domain ?? '');
    if (!ctx) {
      this.log.warn({ from: stanza.attrs.from, kind: msg.kind }, 'dropping a forwarded stanza not from a local host');
      return;
    }
    // The sending worker stamped and checked 'from' and ran the sender-side events; routing it
    // from the host trusts that.
    server.router.route(ctx.session, stanza, { senderSideDone: true });
  }

  private onUndeliverable(msg: DeliverMessage | ForwardMessage): Completion {
    const server = this.server;
    const stanza = server && this.parse(msg.xml);
    if (!server || !stanza) return;
    if (msg.t === 'deliver') return this.missed(msg, stanza);
    // The node that asked is gone: its request times out there, as with a lost connection.
    if (msg.kind === 'reply') return;
    if (msg.kind === 'service') return this.serviceRouter?.(msg, stanza, true);
    const ctx = server.hosts.get(tryParseJid(stanza.attrs.from ?? '')?.domain ?? '');
    if (!ctx) return;
    const condition = msg.kind === 'remote' ? 'remote-server-not-found' : 'service-unavailable';
    server.router.bounce(ctx.session, stanza, condition, 'the cluster worker serving this route is not running');
  }

  private parse(xml: string): Element | undefined {
    try {
      return parseXmlFragment(xml);
    } catch (err) {
      this.log.warn({ err }, 'unreadable stanza from another worker');
      return undefined;
    }
  }

  // ───────────────────────── forwarding to the service worker ─────────────────────────

  /**
   * On the other workers, stanzas for remote domains and components go to the service worker
   * (priority 0: after presence and blocking have seen them, where s2s and component delivery sit).
   */
  private installForwarding(server: Server): void {
    if (this.serviceWorker) return;
    const cfg = server.config;
    if (cfg.s2s.ports.length > 0 || cfg.s2s.direct_tls_ports.length > 0) {
      const toRemote = (event: EventMap['route/remote']): true | undefined => {
        if (!server.hosts.has(event.fromHost) && !server.components.has(event.fromHost)) return undefined;
        this.forward('remote', event.stanza, event);
        return true;
      };
      server.events.on('route/remote', toRemote, 0);
      // route/remote fires on the sender's host bus: hook each host as it is activated.
      server.events.on('host-activated', ({ host }) => {
        server.hosts.get(host)?.events.on('route/remote', toRemote, 0);
      });
    }
    if (cfg.component.length > 0) {
      server.events.on('route/component', (event) => {
        this.forward('component', event.stanza, event);
        return true;
      }, 0);
    }
  }

  private forward(kind: ForwardMessage['kind'], stanza: Element, event: EventMap['route/component']): void {
    stanza.attrs.from ??= event.from.full;
    stanza.attrs.to ??= event.to.full;
    this.channel.send({ t: 'forward', kind, from: this.selfRef(), xml: stanza.toString() });
  }
}

function toWire(reason: CloseReason | undefined): WireCloseReason | undefined {
  if (reason === undefined) return undefined;
  if (typeof reason === 'string') return { condition: reason };
  if (reason instanceof Element) return { xml: reason.toString() };
  return reason.text !== undefined ? { condition: reason.condition, text: reason.text } : { condition: reason.condition };
}

function fromWire(wire: WireCloseReason | undefined): CloseReason | undefined {
  if (wire === undefined) return undefined;
  if (wire.xml !== undefined) {
    try {
      return parseXmlFragment(wire.xml);
    } catch {
      return 'undefined-condition';
    }
  }
  // The condition came from a CloseReason in another worker of the same build.
  const condition = (wire.condition ?? 'undefined-condition') as StreamErrorCondition;
  return wire.text !== undefined ? { condition, text: wire.text } : condition;
}
