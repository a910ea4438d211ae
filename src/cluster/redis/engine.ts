/**
 * The Redis engine of a Canto cluster (docs/scaling.md, src/cluster/redis/README.md): one
 * process = one node, nodes anywhere that reach one Redis/Valkey. It implements the same routing
 * interface (`ClusterEngine`) the retired one-machine primary relay had, so the worker side — the replica
 * of proxy sessions, delivery, the RFC 6121 handling of a stanza whose resource has gone — is
 * shared. What Redis holds: the leases, the registry of bound resources, one stream per member.
 *
 * - Membership: `SET lease NX PX`, renewed every HEARTBEAT_MS; a node that cannot renew before
 *   its lease runs out *fences* itself (closes its client sessions, refuses binds) and rejoins as
 *   a new incarnation when Redis answers again.
 * - Registry: Lua scripts guarded by the lease write the hash and publish the change; each node
 *   keeps a replica (snapshot on join and after every reconnect, pub/sub in between).
 * - Delivery: XADD to the target member's stream (only while its lease is current); the owner
 *   reads with XREADGROUP and XACKs only after the stanza was handed to the session, stored or
 *   bounced. A survivor reaps a dead member: drops its bindings (contacts get unavailable
 *   presence), claims its pending and unread entries and routes them again.
 */
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import type { Logger } from '../../core/logging.js';
import type { CloseMessage, DeliverMessage, DirectedPresence, ForwardMessage, PrimaryToWorker, RegistryEntry, WorkerToPrimary } from '../protocol.js';
import type { ClusterEngine } from '../worker.js';
import {
  CHANNEL, FENCE_MARGIN_MS, GROUP, HEARTBEAT_MS, LEASE_MS, REAP_LOCK_MS,
  keys, memberOf, parseMember, registryField,
} from './keys.js';
import { RecentIds } from './recent-ids.js';
import type { ControlMessage } from './sm-takeover.js';
import {
  ALL_SCRIPTS, BIND, CLAIM_SERVICE, DEAD_MEMBERS, DELETE_IF, DELIVER, DIRECTED_ADD, JOIN, REAP_ENTRIES, RELEASE, RELEASE_SERVICE, RENEW, ROUTE_SERVICE, UNBIND, UPDATE,
  scriptSha, type Script,
} from './scripts.js';

type Client = ReturnType<typeof createClient>;
type Handler = (msg: PrimaryToWorker) => Promise<void> | undefined;
/** A stream entry as XREADGROUP/XAUTOCLAIM return it: id and field/value list. */
type StreamEntry = [string, string[]];

/** What goes over the registry channel. */
type ChannelEvent =
  | { t: 'bound' | 'updated' | 'unbound'; e: RegistryEntry }
  | { t: 'drop'; worker: string }
  | { t: 'invalidate'; from: string; m: Extract<WorkerToPrimary, { t: 'invalidate' }> };

export interface RedisEngineOptions {
  url: string;
  nodeId: string;
  log: Logger;
  leaseMs?: number;
  heartbeatMs?: number;
}

/**
 * Where a stanza for a singleton service went (placement.ts): `none` — no live owner, and the
 * service is one a node only holds while it has it (an external component's connection).
 */
export type ServiceRoute = 'fenced' | 'local' | 'queued' | 'none';

/** Another live node holds this node_id's lease. */
export class NodeIdTakenError extends Error {}

const READ_COUNT = 256;
const BLOCK_MS = 1000;

export class RedisEngine implements ClusterEngine {
  readonly nodeId: string;
  private readonly log: Logger;
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;
  private readonly cmd: Client;
  private readonly sub: Client;
  private readonly reader: Client;
  /**
   * The lease's own connection: a renewal must not wait behind the bulk of the other commands
   * (thousands of binds when clients come back at once), or a busy node fences itself.
   */
  private readonly leaseConn: Client;
  private handler: Handler | undefined;
  private incarnation = '';
  private member = '';
  private state: 'new' | 'serving' | 'fenced' | 'stopped' = 'new';
  /** When the lease may have run out in Redis if no renewal succeeds before. */
  private leaseDeadline = 0;
  /** Bumped on every (re)join, fence and stop: a read loop of an older generation ends. */
  private generation = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private ticking = false;
  private renewing = false;
  private reapingNow = false;
  private snapshotChain: Promise<void> = Promise.resolve();
  private snapshotWaiting = false;
  private readonly processed = new RecentIds();
  /** Channel events that arrive while a snapshot is loading, applied after it in order. */
  private buffered: ChannelEvent[] | undefined;
  private readonly reaping = new Set<string>();
  /** Members DELIVER found dead (their proxies were dropped at once; incarnations never come back). */
  private readonly knownDead = new RecentIds(1000);
  /** This member's bindings as last sent, so they can be written again after a failed write. */
  private readonly own = new Map<string, RegistryEntry>();
  /** Unbinds that did not reach Redis (retried with the resync). */
  private readonly unsentUnbinds = new Map<string, RegistryEntry>();
  /** A registry write failed while the lease held: rewrite this member's bindings at the next heartbeat. */
  private dirty = false;
  /** Called when this node stops serving (it closes its client sessions) and when it serves again. */
  onFence: (reason: string) => void = () => {};
  onRejoin: () => void = () => {};
  /**
   * Singleton services (placement.ts) this node can serve → whether it owns each now. Called
   * with (service, true) before anything is routed to a service it took (the promise: its state
   * is loaded), with false when it lost it (fenced, stopping, or taken by another member).
   */
  private readonly services = new Map<string, ServiceState>();
  onServiceChange: (service: string, owned: boolean) => Promise<void> | void = () => {};
  /**
   * Stream management takeover messages (sm-takeover.ts), called synchronously in stream order;
   * `reaped`: read from a dead member's stream by its reaper.
   */
  onControl: (msg: ControlMessage, reaped: boolean) => void = () => {};

  constructor(opts: RedisEngineOptions) {
    this.nodeId = opts.nodeId;
    this.log = opts.log.child({ node_id: opts.nodeId });
    this.leaseMs = opts.leaseMs ?? LEASE_MS;
    this.heartbeatMs = opts.heartbeatMs ?? HEARTBEAT_MS;
    // No offline queue: while Redis is away a command fails at once (a delivery is then routed
    // locally as undeliverable) instead of waiting, unbounded, for the connection.
    this.cmd = createClient({
      url: opts.url,
      disableOfflineQueue: true,
      socket: { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(100 * (retries + 1), 1000) },
    });
    this.sub = this.cmd.duplicate();
    this.reader = this.cmd.duplicate();
    this.leaseConn = this.cmd.duplicate();
    for (const [name, c] of [['commands', this.cmd], ['subscriber', this.sub], ['stream reader', this.reader], ['lease', this.leaseConn]] as const) {
      c.on('error', (err: Error) => this.log.debug({ err: err.message, connection: name }, 'redis connection error'));
    }
    // After a reconnect the channel may have lost events: load the registry again.
    this.sub.on('ready', () => {
      if (this.state === 'serving') void this.loadSnapshot();
    });
  }

  /** This node in registry entries: `node_id#incarnation` (changes when it rejoins). */
  get self(): string {
    return this.member;
  }

  /** Not serving: no lease (yet, or any more). Binds are refused and sessions were closed. */
  get fenced(): boolean {
    return this.state !== 'serving';
  }

  /** Connect and take the lease; throws NodeIdTakenError when another live node has this id. */
  async start(): Promise<void> {
    await Promise.all([this.cmd.connect(), this.sub.connect(), this.reader.connect(), this.leaseConn.connect()]);
    await this.sub.subscribe(CHANNEL, (message: string) => this.onChannel(message));
    await Promise.all(ALL_SCRIPTS.map((script) => this.cmd.sendCommand(['SCRIPT', 'LOAD', script.lua])));
    const joined = await this.join();
    if (joined !== true) {
      await this.closeClients();
      throw new NodeIdTakenError(`node_id "${this.nodeId}" is held by a live node (its lease ${keys.lease(this.nodeId)} expires in ${joined} ms): every node needs its own [cluster] node_id`);
    }
    this.heartbeat = setInterval(() => void this.tick(), this.heartbeatMs);
  }

  /** Graceful stop: give the lease back; a survivor reaps what is left in this member's stream. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const wasServing = this.state === 'serving';
    this.state = 'stopped';
    this.generation++;
    clearInterval(this.heartbeat);
    if (wasServing) {
      for (const [service, s] of this.services) {
        if (!s.owned) continue;
        s.owned = false;
        await this.run(RELEASE_SERVICE, [keys.owner(service)], [this.member]).catch(() => undefined);
      }
      try {
        await this.run(RELEASE, [keys.lease(this.nodeId)], [this.incarnation]);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'could not release the cluster lease (it expires by itself)');
      }
    }
    await this.closeClients();
  }

  // ───────────────────────── ClusterEngine ─────────────────────────

  onMessage(handler: Handler): void {
    this.handler = handler;
  }

  send(msg: WorkerToPrimary): void {
    switch (msg.t) {
      case 'hello':
        void this.loadSnapshot();
        return;
      case 'ready':
        return;
      case 'bound':
        void this.bind(msg.e);
        return;
      case 'updated':
        void this.update(msg.e);
        return;
      case 'unbound':
        void this.unbind(msg.e);
        return;
      case 'deliver':
      case 'close':
        this.enqueue(msg);
        return;
      case 'forward':
        // Every Redis node runs its own s2s and components; what is forwarded goes to a named
        // node (an iq reply to the node that asked, a stanza for a service's owner).
        if (msg.to === undefined) void this.handler?.({ t: 'undeliverable', msg });
        else this.enqueue(msg);
        return;
      case 'invalidate':
        if (this.state !== 'serving') return;
        this.cmd.sendCommand(['PUBLISH', CHANNEL, JSON.stringify({ t: 'invalidate', from: this.member, m: msg } satisfies ChannelEvent)])
          .catch((err: unknown) => this.log.warn({ err: (err as Error).message, store: msg.store }, 'could not announce a cache invalidation'));
        return;
    }
  }

  // ───────────────────────── control messages (sm-takeover.ts) ─────────────────────────

  /** Queue a control message on its target's stream; false when the target is not alive or Redis failed. */
  async sendControl(msg: ControlMessage): Promise<boolean> {
    if (this.state !== 'serving') return false;
    const { nodeId, incarnation } = parseMember(msg.to);
    try {
      const id = await this.run(DELIVER, [keys.lease(nodeId), keys.stream(msg.to)], [incarnation, JSON.stringify(msg)]);
      return id !== null;
    } catch (err) {
      this.log.debug({ err: (err as Error).message, to: msg.to }, 'could not queue a control message for another node');
      return false;
    }
  }

  /** Whether `member` holds its node's lease now (false on a Redis error). */
  async memberLive(member: string): Promise<boolean> {
    const { nodeId, incarnation } = parseMember(member);
    if (incarnation === '') return false;
    try {
      return String(await this.cmd.sendCommand(['GET', keys.lease(nodeId)])) === incarnation;
    } catch {
      return false;
    }
  }

  /**
   * Remove this member's binding `e` if Redis still holds exactly it (`UNBIND`): true when it did.
   * For a session handed over to a node that never bound it.
   */
  async unbindIfStill(e: RegistryEntry): Promise<boolean> {
    if (this.state !== 'serving' || e.worker !== this.member) return false;
    const event = JSON.stringify({ t: 'unbound', e } satisfies ChannelEvent);
    try {
      return Number(await this.run(UNBIND, [keys.registry, keys.memberSessions(this.member)], [registryField(e), this.member, e.sid, CHANNEL, event])) === 1;
    } catch {
      return false;
    }
  }

  /** A plain string key (undefined when absent). */
  async getKey(key: string): Promise<string | undefined> {
    const v = await this.cmd.sendCommand(['GET', key]);
    return typeof v === 'string' ? v : undefined;
  }

  /** `SET key value PX ms` (errors are logged, not thrown). */
  setKey(key: string, value: string, ms: number): void {
    this.cmd.sendCommand(['SET', key, value, 'PX', String(Math.max(1, Math.round(ms)))])
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message, key }, 'could not write a key to Redis'));
  }

  /** `SET key value NX PX`: true for the first caller within `ms` (or until it releases the key). */
  async claimOnce(key: string, ms: number, value: string = this.member): Promise<boolean> {
    return String(await this.cmd.sendCommand(['SET', key, value, 'NX', 'PX', String(ms)])) === 'OK';
  }

  /** Delete `key` if it still holds `value` (what `claimOnce` wrote); errors are logged (the key expires). */
  releaseOnce(key: string, value: string): void {
    this.run(DELETE_IF, [key], [value])
      .catch((err: unknown) => this.log.debug({ err: (err as Error).message, key }, 'could not release a key in Redis (it expires)'));
  }

  // ───────────────────────── directed presence (directed-presence.ts) ─────────────────────────

  /**
   * Record a directed presence of a local session in this member's hash (only while the lease is
   * current): the member it was written under, or undefined (not serving, lease gone, Redis error).
   */
  async recordDirected(field: string, fullJid: string): Promise<string | undefined> {
    if (this.state !== 'serving') return undefined;
    const member = this.member;
    try {
      const ok = await this.run(DIRECTED_ADD, [keys.lease(this.nodeId), keys.directed(member)], [this.incarnation, field, fullJid]);
      return Number(ok) === 1 ? member : undefined;
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'could not record a directed presence in Redis');
      return undefined;
    }
  }

  /** Remove records of `member`'s hash (HDEL: never creates it again). */
  forgetDirected(member: string, fields: string[]): void {
    if (fields.length === 0 || this.state === 'stopped') return;
    this.cmd.sendCommand(['HDEL', keys.directed(member), ...fields])
      .catch((err: unknown) => this.log.debug({ err: (err as Error).message }, 'could not remove a directed presence record from Redis'));
  }

  /**
   * A binding of this member that another member's `BIND` is about to replace (a session handed
   * over): it is no longer this member's to write again or to unbind.
   */
  disownBinding(e: { host: string; username: string; resource: string }): void {
    const field = registryField(e);
    this.own.delete(field);
    this.unsentUnbinds.delete(field);
  }

  // ───────────────────────── membership ─────────────────────────

  /** true when joined; else the remaining lease of the node holding this id, in ms. */
  private async join(): Promise<true | number> {
    const incarnation = randomBytes(6).toString('base64url');
    const member = memberOf(this.nodeId, incarnation);
    const sentAt = Date.now();
    const reply = await this.run(JOIN, [keys.lease(this.nodeId), keys.members, keys.stream(member)], [incarnation, String(this.leaseMs), member, String(sentAt + this.leaseMs), GROUP]) as unknown[];
    if (Number(reply[0]) !== 1) return Number(reply[1]);
    this.incarnation = incarnation;
    this.member = member;
    this.leaseDeadline = sentAt + this.leaseMs - FENCE_MARGIN_MS;
    this.state = 'serving';
    const gen = ++this.generation;
    this.log.info({ member, lease_ms: this.leaseMs }, 'joined the cluster');
    void this.readLoop(gen);
    return true;
  }

  private async tick(): Promise<void> {
    if (this.state === 'serving' && Date.now() > this.leaseDeadline) {
      this.fence(`could not renew the cluster lease in Redis for ${this.leaseMs - FENCE_MARGIN_MS} ms`);
    }
    // The renewal runs every heartbeat on its own, whatever the rest of a round (a resync of
    // thousands of bindings, claims) is still doing: a slow round must not cost the lease.
    if (this.state === 'serving' && !this.renewing) {
      this.renewing = true;
      this.renew()
        .catch((err: unknown) => this.log.debug({ err: (err as Error).message }, 'cluster lease renewal failed'))
        .finally(() => (this.renewing = false));
    }
    // One round at a time; the deadline check above still runs while one hangs.
    if (this.ticking || this.state === 'stopped') return;
    this.ticking = true;
    try {
      if (this.state === 'fenced') await this.rejoin();
      if (this.state === 'serving' && this.dirty) await this.resync();
      if (this.state === 'serving') await this.claimServices();
      // Reaping may route hundreds of stanzas: it must never hold up the next renewal.
      if (this.state === 'serving' && !this.reapingNow) {
        this.reapingNow = true;
        this.reapDead()
          .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'reaping dead cluster nodes failed (retried next heartbeat)'))
          .finally(() => (this.reapingNow = false));
      }
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'cluster heartbeat failed');
    } finally {
      this.ticking = false;
    }
  }

  private async renew(): Promise<void> {
    const gen = this.generation;
    const sentAt = Date.now();
    const ok = await this.run(RENEW, [keys.lease(this.nodeId), keys.members], [this.incarnation, String(this.leaseMs), this.member, String(sentAt + this.leaseMs)], this.leaseConn);
    if (gen !== this.generation || this.state !== 'serving') return;
    if (Number(ok) === 1) this.leaseDeadline = sentAt + this.leaseMs - FENCE_MARGIN_MS;
    else this.fence('the cluster lease is gone from Redis (expired, or Redis lost its data)');
  }

  /**
   * Stop serving: the lease may already belong to nobody, so survivors may be reaping this
   * member; acting on its sessions now could deliver what they reroute a second time.
   */
  private fence(reason: string): void {
    if (this.state !== 'serving') return;
    this.state = 'fenced';
    this.generation++;
    this.own.clear();
    this.unsentUnbinds.clear();
    this.dirty = false;
    this.log.error({ reason, member: this.member }, 'this node stops serving: it closes its client sessions and refuses new ones until it can rejoin the cluster');
    void this.handler?.({ t: 'snapshot', entries: [] });
    for (const service of this.services.keys()) this.setOwned(service, false);
    try {
      this.onFence(reason);
    } catch (err) {
      this.log.error({ err }, 'closing sessions after losing the lease failed');
    }
  }

  private async rejoin(): Promise<void> {
    const joined = await this.join();
    if (joined !== true) {
      this.log.error({ lease_expires_in_ms: joined }, `cannot rejoin: node_id "${this.nodeId}" is held by another live node`);
      return;
    }
    await this.loadSnapshot();
    this.log.info({ member: this.member }, 'serving again after rejoining the cluster');
    this.onRejoin();
  }

  // ───────────────────────── registry ─────────────────────────

  /**
   * Load the registry as the replica. One at a time: a snapshot whose HGETALL ran before a
   * change must never replace a replica that already applied that change. Requests made while
   * one waits are merged; one made while one runs gets a fresh one after it.
   */
  private loadSnapshot(): Promise<void> {
    if (this.snapshotWaiting) return this.snapshotChain;
    this.snapshotWaiting = true;
    this.snapshotChain = this.snapshotChain.then(() => {
      this.snapshotWaiting = false;
      return this.snapshotNow();
    });
    return this.snapshotChain;
  }

  private async snapshotNow(): Promise<void> {
    if (this.state !== 'serving') return;
    this.buffered ??= [];
    try {
      const all = await this.cmd.sendCommand(['HGETALL', keys.registry]) as string[] | Record<string, string>;
      const values = Array.isArray(all) ? all.filter((_, i) => i % 2 === 1) : Object.values(all);
      const entries: RegistryEntry[] = [];
      for (const v of values) {
        const e = parseJson<RegistryEntry>(v);
        if (e && e.worker !== this.member) entries.push(e);
      }
      await this.handler?.({ t: 'snapshot', entries });
      const later = this.buffered;
      this.buffered = undefined;
      for (const ev of later) this.apply(ev);
    } catch (err) {
      this.buffered = undefined;
      this.log.warn({ err: (err as Error).message }, 'could not load the cluster registry (retried when Redis answers again)');
    }
  }

  /** Write this member's bindings again (and the unbinds that failed) after Redis was away. */
  private async resync(): Promise<void> {
    this.dirty = false;
    for (const e of [...this.unsentUnbinds.values()]) await this.unbind(e);
    for (const e of [...this.own.values()]) await this.bind({ ...e, worker: this.member }, true);
    if (!this.dirty) this.log.info({ bindings: this.own.size }, 'registry entries of this node written again after Redis was unreachable');
  }

  private async bind(e: RegistryEntry, rewrite = false): Promise<void> {
    const field = registryField(e);
    this.own.set(field, e);
    this.unsentUnbinds.delete(field);
    if (this.state !== 'serving') return;
    const event = JSON.stringify({ t: 'bound', e } satisfies ChannelEvent);
    try {
      const reply = await this.run(BIND, [keys.registry, keys.memberSessions(this.member), keys.lease(this.nodeId)], [registryField(e), JSON.stringify(e), this.incarnation, CHANNEL, event, this.member, rewrite ? '1' : '0']) as unknown[];
      if (Number(reply[0]) === 0) {
        this.fence('the cluster lease was gone when a resource was bound');
        return;
      }
      if (Number(reply[0]) === 2) {
        // Bound elsewhere while this node could not write: the newer binding wins.
        this.own.delete(field);
        void this.handler?.({
          t: 'close', to: this.member, sid: e.sid, host: e.host, username: e.username, resource: e.resource,
          reason: { condition: 'conflict', text: 'replaced by a new connection with the same resource' },
        });
        return;
      }
      const old = typeof reply[1] === 'string' && reply[1] !== '' ? parseJson<RegistryEntry>(reply[1]) : undefined;
      // Two nodes bound one resource at once (neither saw the other): the later binding wins.
      if (old && old.worker !== e.worker) {
        this.enqueue({
          t: 'close', to: old.worker, sid: old.sid, host: old.host, username: old.username, resource: old.resource,
          reason: { condition: 'conflict', text: 'replaced by a new connection with the same resource' },
        });
      }
    } catch (err) {
      this.dirty = true;
      this.log.warn({ err: (err as Error).message, resource: e.resource }, 'could not register a binding in Redis (written again when it answers)');
    }
  }

  private async update(e: RegistryEntry): Promise<void> {
    const field = registryField(e);
    if (this.own.get(field)?.sid === e.sid) this.own.set(field, e);
    if (this.state !== 'serving') return;
    const event = JSON.stringify({ t: 'updated', e } satisfies ChannelEvent);
    try {
      const reply = Number(await this.run(UPDATE, [keys.registry, keys.lease(this.nodeId)], [registryField(e), JSON.stringify(e), this.incarnation, CHANNEL, event, this.member, e.sid]));
      // Redis has no such binding although this node still holds it (its BIND was lost): the
      // node's bindings are written again, with this state, at the next heartbeat.
      if (reply === -1 && this.own.get(field)?.sid === e.sid) {
        this.dirty = true;
        this.log.warn({ resource: e.resource }, 'a binding was missing from the cluster registry when its state changed (written again at the next heartbeat)');
      }
    } catch (err) {
      this.dirty = true;
      this.log.warn({ err: (err as Error).message, resource: e.resource }, 'could not update a binding in Redis (written again when it answers)');
    }
  }

  private async unbind(e: RegistryEntry): Promise<void> {
    const field = registryField(e);
    if (this.own.get(field)?.sid === e.sid) this.own.delete(field);
    if (typeof e.worker !== 'string' || e.worker === '' || e.worker !== this.member) {
      this.unsentUnbinds.delete(field);
      return;
    }
    const event = JSON.stringify({ t: 'unbound', e } satisfies ChannelEvent);
    try {
      await this.run(UNBIND, [keys.registry, keys.memberSessions(e.worker)], [field, e.worker, e.sid, CHANNEL, event]);
      this.unsentUnbinds.delete(field);
    } catch (err) {
      // Retried with the resync while this member serves; a fenced member's bindings are reaped.
      this.dirty = true;
      this.unsentUnbinds.set(field, e);
      this.log.debug({ err: (err as Error).message, resource: e.resource }, 'could not remove a binding from Redis');
    }
  }

  private onChannel(message: string): void {
    const ev = parseJson<ChannelEvent>(message);
    if (!ev) return;
    if (this.buffered) this.buffered.push(ev);
    else this.apply(ev);
  }

  private apply(ev: ChannelEvent): void {
    if (this.state !== 'serving') return;
    switch (ev.t) {
      case 'bound':
      case 'updated':
      case 'unbound':
        if (ev.e.worker !== this.member) void this.handler?.(ev);
        return;
      case 'drop':
        if (!this.reaping.has(ev.worker)) void this.handler?.({ t: 'drop-worker', worker: ev.worker });
        return;
      case 'invalidate':
        if (ev.from !== this.member) void this.handler?.(ev.m);
        return;
    }
  }

  // ───────────────────────── singleton services ─────────────────────────

  /**
   * This node can serve `service`. Placed (a MUC or pubsub domain): it claims it whenever no live
   * member owns it. `held` (an external component's domain): it claims it only while it has the
   * component's connection (acquireHeld … releaseHeld), and never takes it for a stanza.
   */
  addService(service: string, held = false): void {
    if (!this.services.has(service)) this.services.set(service, { owned: false, ready: false, change: Promise.resolve(), held, connected: false });
  }

  /**
   * A held service's connection authenticated here: take `canto:owner:{service}` (`replace`: even
   * from another live member, whose next renewal then fails and which closes its connection).
   * Resolves true once this node owns it; false when another live member holds it (without
   * `replace`), this node is fenced, or Redis failed.
   */
  async acquireHeld(service: string, replace: boolean): Promise<boolean> {
    const s = this.services.get(service);
    if (!s?.held || this.state !== 'serving') return false;
    let ok: unknown;
    try {
      ok = await this.run(CLAIM_SERVICE, [keys.owner(service), keys.lease(this.nodeId)], [this.member, this.incarnation, String(this.leaseMs), replace ? '1' : '0']);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, service }, 'could not claim an external component\'s domain in Redis');
      return false;
    }
    if (Number(ok) !== 1 || this.state !== 'serving') return false;
    s.connected = true;
    await this.setOwned(service, true);
    return s.owned;
  }

  /** A held service's connection here ended: give the domain up (if this member still has it). */
  releaseHeld(service: string): void {
    const s = this.services.get(service);
    if (!s?.held) return;
    s.connected = false;
    void this.setOwned(service, false);
    if (this.state !== 'serving') return;
    this.run(RELEASE_SERVICE, [keys.owner(service)], [this.member])
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message, service }, 'could not release an external component\'s domain in Redis (it expires with the lease)'));
  }

  /** This node owns `service` now, its state is loaded and its lease is current: stanzas for it are handled here. */
  owns(service: string): boolean {
    return this.services.get(service)?.ready === true && this.state === 'serving' && Date.now() <= this.leaseDeadline;
  }

  /** Resolves once a change of ownership under way (loading the state) is done. */
  settled(service: string): Promise<void> {
    return this.services.get(service)?.change ?? Promise.resolve();
  }

  /**
   * A stanza for a singleton service this node does not own (as far as it knows): queued on the
   * owner's stream; or, when no live member owns it, taken here (the state is loaded before this
   * resolves) and 'local'. One script: the owner cannot change between the check and the XADD.
   */
  async routeService(service: string, msg: ForwardMessage): Promise<ServiceRoute> {
    if (this.state !== 'serving') return 'fenced';
    const held = this.services.get(service)?.held === true;
    const reply = await this.run(ROUTE_SERVICE, [keys.owner(service), keys.lease(this.nodeId)], [this.member, this.incarnation, String(this.leaseMs), JSON.stringify(msg), held ? '0' : '1']) as unknown[];
    const code = Number(reply[0]);
    if (code === 0) return 'fenced';
    if (code === 4) return 'none';
    if (code === 2) {
      // Another member owns it: if this node thought it did, it has lost it.
      if (this.services.get(service)?.owned === true) await this.setOwned(service, false);
      return 'queued';
    }
    // A held service changes hands only with its connection (acquireHeld, releaseHeld): the
    // answer may predate a release, and the component module then answers as for no connection.
    if (held) return 'local';
    await this.setOwned(service, true);
    return 'local';
  }

  private async claimServices(): Promise<void> {
    for (const [service, s] of this.services) {
      // A held service is renewed only while its connection is here (and was taken at its handshake).
      if (s.held && !s.connected) continue;
      const ok = await this.run(CLAIM_SERVICE, [keys.owner(service), keys.lease(this.nodeId)], [this.member, this.incarnation, String(this.leaseMs)]);
      if (this.state !== 'serving') return;
      // The connection ended while the script ran: releaseHeld has given it up.
      if (s.held && !s.connected) continue;
      await this.setOwned(service, Number(ok) === 1);
    }
  }

  /** Record a change of ownership and let the service load or drop its state (one change at a time). */
  private setOwned(service: string, owned: boolean): Promise<void> {
    const s = this.services.get(service);
    if (!s) return Promise.resolve();
    if (s.owned === owned) return s.change;
    s.owned = owned;
    s.ready = false;
    if (owned) this.log.info({ service }, 'this node serves the singleton service now');
    else this.log.warn({ service }, 'this node no longer serves the singleton service');
    s.change = s.change.then(() => this.onServiceChange(service, owned)).then(() => {
      if (owned && s.owned) s.ready = true;
    }).catch((err: unknown) => {
      this.log.error({ err, service }, owned ? 'loading a singleton service\'s state failed' : 'dropping a singleton service\'s state failed');
    });
    return s.change;
  }

  // ───────────────────────── delivery ─────────────────────────

  /** Append to the owning member's stream; when it is not alive (or Redis is away) the stanza is handled here as undeliverable. */
  private enqueue(msg: DeliverMessage | CloseMessage | ForwardMessage): void {
    const target = String(msg.to);
    const undeliverable = (): void => {
      if (msg.t !== 'close') void this.handler?.({ t: 'undeliverable', msg });
    };
    if (this.state !== 'serving') {
      undeliverable();
      return;
    }
    const { nodeId, incarnation } = parseMember(target);
    this.run(DELIVER, [keys.lease(nodeId), keys.stream(target)], [incarnation, JSON.stringify(msg)]).then(
      (id) => {
        if (id !== null) return;
        this.forgetDead(target);
        undeliverable();
      },
      (err: unknown) => {
        this.log.debug({ err: (err as Error).message, to: target }, 'could not queue a stanza for another node');
        undeliverable();
      },
    );
  }

  /**
   * DELIVER found `member`'s lease gone: drop its proxies here now rather than at its reaping
   * (up to a heartbeat later). Otherwise a stanza handled as undeliverable is routed again to the
   * same dead member's proxy and, on its second miss, dropped instead of stored offline. The
   * reaper still tells contacts (it fires resource-unbind from the bindings Redis held).
   */
  private forgetDead(member: string): void {
    if (member === this.member || this.knownDead.has(member)) return;
    this.knownDead.add(member);
    void this.handler?.({ t: 'drop-worker', worker: member });
  }

  /** Read this member's stream: its pending entries first (after a reconnect), then new ones. */
  private async readLoop(gen: number): Promise<void> {
    const stream = keys.stream(this.member);
    let pendingFirst = true;
    while (gen === this.generation && this.state === 'serving') {
      try {
        const args = ['XREADGROUP', 'GROUP', GROUP, this.member, 'COUNT', String(READ_COUNT)];
        if (!pendingFirst) args.push('BLOCK', String(BLOCK_MS));
        args.push('STREAMS', stream, pendingFirst ? '0' : '>');
        const entries = streamEntries(await this.reader.sendCommand(args));
        if (gen !== this.generation) return;
        if (pendingFirst && entries.length === 0) {
          pendingFirst = false;
          continue;
        }
        await this.handle(stream, entries, false);
      } catch (err) {
        if (gen !== this.generation) return;
        this.log.debug({ err: (err as Error).message }, 'reading this node\'s stream failed; retrying');
        pendingFirst = true;
        await sleep(250);
      }
    }
  }

  /**
   * Deliver (or, for a dead member's entries, route again) then acknowledge and delete. An entry
   * handled before is only acknowledged: at most one delivery per entry from this node.
   */
  private async handle(stream: string, entries: StreamEntry[], reaped: boolean): Promise<void> {
    // Past the lease deadline (e.g. the event loop stalled) a survivor may be reaping this very
    // stream: deliver nothing; the next heartbeat fences this node.
    if (!reaped && Date.now() > this.leaseDeadline) return;
    const ids: string[] = [];
    for (const [id, fields] of entries) {
      ids.push(id);
      const key = `${stream}/${id}`;
      if (this.processed.has(key)) continue;
      const msg = parseJson<DeliverMessage | CloseMessage | ForwardMessage | ControlMessage>(fieldValue(fields, 'm'));
      if (msg && (msg.t === 'sm-takeover' || msg.t === 'sm-state')) {
        try {
          this.onControl(msg, reaped);
        } catch (err) {
          this.log.error({ err, message: msg.t }, 'a stream management takeover message failed');
        }
      } else if (msg && this.handler) {
        if (!reaped) await this.handler(msg);
        else if (msg.t !== 'close') await this.handler({ t: 'undeliverable', msg });
      }
      this.processed.add(key);
    }
    if (ids.length === 0) return;
    await Promise.all([
      this.cmd.sendCommand(['XACK', stream, GROUP, ...ids]),
      this.cmd.sendCommand(['XDEL', stream, ...ids]),
    ]);
  }

  // ───────────────────────── reaping dead members ─────────────────────────

  private async reapDead(): Promise<void> {
    const dead = await this.run(DEAD_MEMBERS, [keys.members], []) as string[];
    for (const member of dead) {
      if (member === this.member || this.state !== 'serving') continue;
      await this.reap(member);
    }
  }

  /**
   * Take a dead member's place once: its bindings leave the registry (every node drops them and
   * this one fires resource-unbind, so contacts see them go unavailable), then its pending and
   * never-read entries are routed again here, as stanzas to resources that have gone.
   */
  private async reap(member: string): Promise<void> {
    const lock = await this.cmd.sendCommand(['SET', keys.reapLock(member), this.member, 'NX', 'PX', String(REAP_LOCK_MS)]);
    if (String(lock) !== 'OK') return;
    this.reaping.add(member);
    try {
      const drop = JSON.stringify({ t: 'drop', worker: member } satisfies ChannelEvent);
      const raw = await this.run(REAP_ENTRIES, [keys.registry, keys.memberSessions(member)], [member, CHANNEL, drop]) as string[];
      const entries = raw.map((r) => parseJson<RegistryEntry>(r)).filter((e): e is RegistryEntry => e !== undefined);
      // Directed presence its sessions had sent: told with the contacts (a reaper that dies after
      // this tells them again: unavailable presence twice is harmless).
      const directed = directedOf(await this.cmd.sendCommand(['HGETALL', keys.directed(member)]));
      await this.handler?.({ t: 'drop-worker', worker: member, reap: true, entries, directed });
      const stream = keys.stream(member);
      let rerouted = 0;
      // Entries the dead member read but never acknowledged (whoever holds them now)…
      let cursor = '0-0';
      do {
        const reply = await this.tolerateNoGroup(['XAUTOCLAIM', stream, GROUP, this.member, '0', cursor, 'COUNT', String(READ_COUNT)]);
        if (!Array.isArray(reply)) break;
        cursor = String(reply[0]);
        const claimed = streamList(reply[1]);
        rerouted += claimed.length;
        await this.handle(stream, claimed, true);
      } while (cursor !== '0-0');
      // …and those it never read.
      for (;;) {
        const reply = await this.tolerateNoGroup(['XREADGROUP', 'GROUP', GROUP, this.member, 'COUNT', String(READ_COUNT), 'STREAMS', stream, '>']);
        const unread = streamEntries(reply);
        if (unread.length === 0) break;
        rerouted += unread.length;
        await this.handle(stream, unread, true);
      }
      await Promise.all([
        this.cmd.sendCommand(['DEL', stream, keys.directed(member)]),
        this.cmd.sendCommand(['ZREM', keys.members, member]),
      ]);
      await this.cmd.sendCommand(['DEL', keys.reapLock(member)]);
      this.log.warn({ dead_member: member, resources: entries.length, directed_presence: directed.length, stanzas_rerouted: rerouted }, 'reaped a cluster node whose lease expired');
    } finally {
      this.reaping.delete(member);
    }
  }

  /** A reaped stream may already be gone (another reaper finished): that is an empty answer. */
  private async tolerateNoGroup(args: string[]): Promise<unknown> {
    try {
      return await this.cmd.sendCommand(args);
    } catch (err) {
      if (/NOGROUP|no such key/i.test((err as Error).message)) return null;
      throw err;
    }
  }

  // ───────────────────────── plumbing ─────────────────────────

  /**
   * Run a script. EVALSHA goes out at once, in call order: Redis runs one connection's commands
   * in the order sent, and a binding's BIND, UPDATE and UNBIND (or two deliveries to one member)
   * must reach it in the order made. (Waiting here for a SCRIPT LOAD let an UPDATE overtake its
   * BIND: it found no binding and the presence was lost.) The scripts are loaded at start; when
   * Redis has lost them (restart, SCRIPT FLUSH) EVAL runs the body and caches it again.
   */
  private async run(script: Script, keyList: string[], args: string[], conn: Client = this.cmd): Promise<unknown> {
    try {
      return await conn.sendCommand(['EVALSHA', scriptSha(script), String(keyList.length), ...keyList, ...args]);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
    }
    return conn.sendCommand(['EVAL', script.lua, String(keyList.length), ...keyList, ...args]);
  }

  private async closeClients(): Promise<void> {
    for (const c of [this.reader, this.sub, this.cmd, this.leaseConn]) {
      try {
        c.destroy();
      } catch {
        // already closed
      }
    }
  }
}

/** What the engine knows of one singleton service. */
interface ServiceState {
  owned: boolean;
  /** Owned and its state loaded: stanzas for it are handled here. */
  ready: boolean;
  change: Promise<void>;
  /** Claimed only while this node has its connection (an external component), never for a stanza. */
  held: boolean;
  /** A held service's connection is here. */
  connected: boolean;
}

function parseJson<T>(raw: unknown): T | undefined {
  if (typeof raw !== 'string') return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return undefined;
  }
}

/** HGETALL of a member's directed-presence hash (field `{sid}\0{to}` → from) → the pairs. */
function directedOf(reply: unknown): DirectedPresence[] {
  const out: DirectedPresence[] = [];
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const field = String(reply[i]);
    const cut = field.indexOf('\u0000');
    if (cut >= 0) out.push({ from: String(reply[i + 1]), to: field.slice(cut + 1) });
  }
  return out;
}

function fieldValue(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** XREADGROUP's reply (one stream) → its entries; null (nothing new) → none. */
function streamEntries(reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const first = reply[0] as unknown;
  // RESP2: [[stream, entries]]
  if (Array.isArray(first)) return streamList(first[1]);
  return [];
}

/** A list of [id, [field, value, …]] (deleted entries come back as [id, null] and are skipped). */
function streamList(list: unknown): StreamEntry[] {
  if (!Array.isArray(list)) return [];
  const out: StreamEntry[] = [];
  for (const item of list) {
    if (!Array.isArray(item) || typeof item[0] !== 'string') continue;
    out.push([item[0], Array.isArray(item[1]) ? (item[1] as unknown[]).map(String) : []]);
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
