/**
 * The messages between a cluster node (ClusterWorker) and its engine (src/cluster/redis). The
 * names (`PrimaryToWorker`, `WorkerToPrimary`, "worker") come from the primary relay over
 * node:cluster IPC that came first; it was retired for the Redis engine (docs/scaling.md).
 */

/** A ClusterWorker numbered 1 is a service worker unless told otherwise (every Redis node is one: serviceWorker). */
export const SERVICE_WORKER = 1;

/**
 * Who holds a session: a worker number under the primary relay, or a Redis node member
 * (`node_id#incarnation`, src/cluster/redis) on the Redis engine.
 */
export type NodeRef = number | string;

/** Where an account's resource is bound. */
export interface EntryKey {
  host: string;
  username: string;
  resource: string;
}

/** What other workers need to know about a bound resource (docs/scaling.md, "What must be shared"). */
export interface RegistryEntry extends EntryKey {
  /** The worker (or Redis node member) holding the real session. */
  worker: NodeRef;
  /** The session's id in that worker (tells two bindings of one resource apart). */
  sid: string;
  priority?: number;
  /** The last broadcast available presence as XML; absent when the resource is unavailable. */
  presence?: string;
  interested: boolean;
  /** The session's flags (`C2SSession.flags`, e.g. `carbons`); absent when none. */
  flags?: string[];
}

/**
 * Directed available presence a session of a dead member had sent (Redis engine: the reaper
 * sends unavailable presence from `from`, the session's full JID, to `to`).
 */
export interface DirectedPresence {
  from: string;
  to: string;
}

/** A CloseReason that survives JSON: a condition (with text), or a prepared element as XML. */
export interface WireCloseReason {
  condition?: string;
  text?: string;
  xml?: string;
}

/** A stanza for a session bound on worker `to`. */
export interface DeliverMessage extends EntryKey {
  t: 'deliver';
  to: NodeRef;
  from: NodeRef;
  xml: string;
  /** Set when `xml` is raw framing text rather than an element. */
  raw?: boolean;
  /** 1 once the stanza has been re-routed after a miss: a second miss drops it. */
  hops: number;
}

/**
 * A stanza routed on another worker: for a remote domain or a component (the service worker
 * under the primary relay), or — with `to`, Redis engine — an iq reply going back to the node
 * that sent the request (`reply`), or a stanza for a singleton service owned by node `to`
 * (`service`, src/cluster/redis/placement.ts).
 */
export interface ForwardMessage {
  t: 'forward';
  kind: 'remote' | 'component' | 'reply' | 'service';
  from: NodeRef;
  /** The node that routes it (absent: the primary relay's service worker). */
  to?: NodeRef;
  /** `service`: the singleton service's domain. */
  service?: string;
  xml: string;
  /** 1 once forwarded after a hand-over: a second one drops it (as DeliverMessage.hops). */
  hops?: number;
}

export interface CloseMessage extends EntryKey {
  t: 'close';
  to: NodeRef;
  sid: string;
  reason?: WireCloseReason;
}

/** Another worker wrote a user's data that workers cache (`store` = keyval store name, or '@account' for a deletion). */
export interface InvalidateMessage {
  t: 'invalidate';
  store: string;
  host: string;
  username: string;
}

export type WorkerToPrimary =
  | { t: 'hello' }
  | { t: 'ready' }
  | { t: 'bound'; e: RegistryEntry }
  | { t: 'updated'; e: RegistryEntry }
  | { t: 'unbound'; e: RegistryEntry }
  | DeliverMessage
  | ForwardMessage
  | CloseMessage
  | InvalidateMessage;

export type PrimaryToWorker =
  | { t: 'snapshot'; entries: RegistryEntry[] }
  | { t: 'bound'; e: RegistryEntry }
  | { t: 'updated'; e: RegistryEntry }
  | { t: 'unbound'; e: RegistryEntry }
  /**
   * A worker exited. `reap`: this worker (one is picked) fires resource-unbind for its resources;
   * `entries`: the dead one's bindings as the engine held them (a reaper's replica may lack some).
   */
  | { t: 'drop-worker'; worker: NodeRef; reap?: boolean; entries?: RegistryEntry[]; directed?: DirectedPresence[] }
  | { t: 'undeliverable'; msg: DeliverMessage | ForwardMessage }
  | DeliverMessage
  | ForwardMessage
  | CloseMessage
  | InvalidateMessage;

export function entryKey(e: EntryKey): string {
  return `${e.host}\u0000${e.username}\u0000${e.resource}`;
}

