/**
 * The Redis key layout of a Canto cluster (src/cluster/redis/README.md has the whole table).
 * A node joins as a *member*: `node_id#incarnation`, a fresh incarnation on every (re)join, so
 * the stream and bindings of a node's earlier life are reaped like any dead node's even when it
 * comes back with the same id.
 */

/** One key prefix for everything; a Redis database shared with other software keeps apart. */
export const PREFIX = 'canto:';

export const keys = {
  /** Sorted set: member → lease expiry (ms since the epoch, as the member last renewed it). */
  members: `${PREFIX}members`,
  /** Hash: `host\0user\0resource` → JSON RegistryEntry of the bound resource. */
  registry: `${PREFIX}reg`,
  /** String with a TTL: the incarnation holding node_id's lease. */
  lease: (nodeId: string): string => `${PREFIX}lease:${nodeId}`,
  /** Set: the registry fields a member bound (so a reaper finds a dead member's bindings). */
  memberSessions: (member: string): string => `${PREFIX}msess:${member}`,
  /** Stream: stanzas and close requests for a member's sessions, read by consumer group GROUP. */
  stream: (member: string): string => `${PREFIX}stream:${member}`,
  /** String with a TTL: which survivor is reaping a dead member. */
  reapLock: (member: string): string => `${PREFIX}reap:${member}`,
  /** String with a TTL: the member owning a singleton service (a MUC domain), renewed with its lease. */
  owner: (service: string): string => `${PREFIX}owner:${service}`,
  /** String with a TTL: one takeover per XEP-0198 resumption id at a time, deleted by it once the holder answered (sm-takeover.ts). */
  smTakeover: (id: string): string => `${PREFIX}smtake:${id}`,
  /**
   * Hash: directed available presence a member's sessions sent (RFC 6121 §4.6), field
   * `{sid}\0{to}` → the session's full JID; deleted when the member is reaped (directed-presence.ts).
   */
  directed: (member: string): string => `${PREFIX}dpres:${member}`,
  /** String with a TTL (the session's window): the member an XEP-0198 session moved to. */
  smLocation: (id: string): string => `${PREFIX}smloc:${id}`,
  /** String, no TTL: the cluster's random secret, made by the first node that needs it (SET NX; shared-secret.ts). */
  secret: `${PREFIX}secret`,
  /** String with a TTL: the internal HTTP base URL of a node (BOSH forwarding, src/modules/bosh/cluster.ts). */
  http: (nodeId: string): string => `${PREFIX}http:${nodeId}`,
};

/** Pub/sub channel of registry changes, dead-member drops and cache invalidations. */
export const CHANNEL = `${PREFIX}registry`;
/** The consumer group on every member stream. */
export const GROUP = 'canto';

export const LEASE_MS = 6000;
/** Renew three to four times per lease: a single lost round trip never costs the lease. */
export const HEARTBEAT_MS = 1500;
/** A reaper that dies mid-way is replaced after this. */
export const REAP_LOCK_MS = 30_000;
/** The local deadline is this much before the lease's TTL runs out (clock and round-trip slack). */
export const FENCE_MARGIN_MS = 500;

export function memberOf(nodeId: string, incarnation: string): string {
  return `${nodeId}#${incarnation}`;
}

export function parseMember(member: string): { nodeId: string; incarnation: string } {
  const i = member.lastIndexOf('#');
  return i < 0 ? { nodeId: member, incarnation: '' } : { nodeId: member.slice(0, i), incarnation: member.slice(i + 1) };
}

/** The registry hash field of a binding. */
export function registryField(e: { host: string; username: string; resource: string }): string {
  return `${e.host}\u0000${e.username}\u0000${e.resource}`;
}
