/**
 * What other modules use of entity capabilities (XEP-0115): the `caps` service and the
 * `caps/features-known` and `caps/forgotten` events. PEP (XEP-0163) is the first user: it asks
 * `hasFeature(jid, node + '+notify')` when it fans out a publish, and sends the last items when
 * `caps/features-known` says a contact's resource is there with `+notify`. See README.md.
 */
import type { CapsIdentity } from './verification.js';

export const NS_CAPS = 'http://jabber.org/protocol/caps';

/**
 * One (hash, ver) as announced in presence. Every JID that announces it points at the same
 * record, so a verified feature set is held once however many sessions use it.
 */
export class VerRecord {
  /**
   * pending: being (or waiting to be) verified; verified: `features` and `identities` are set;
   * failed: nobody proved it in time (a later presence tries again);
   * rejected: a per-JID marker, that JID's own answer did not prove it (never shared, never retried).
   */
  state: 'pending' | 'verified' | 'failed' | 'rejected' = 'pending';
  features: ReadonlySet<string> | undefined;
  identities: readonly CapsIdentity[] | undefined;

  constructor(
    readonly hash: string,
    readonly ver: string,
  ) {}

  get key(): string {
    return verKey(this.hash, this.ver);
  }
}

export function verKey(hash: string, ver: string): string {
  return `${hash}\u0000${ver}`;
}

/** The caps a JID announced, as the service reports them. */
export interface AnnouncedCaps {
  hash: string;
  node: string;
  ver: string;
  state: VerRecord['state'];
}

/** Canto's own caps (stream features, and disco#info on `node#ver`). */
export interface OwnCaps {
  hash: 'sha-1';
  node: string;
  ver: string;
}

/** The `caps` service, provided on each host that loads the module. JIDs are full JIDs as the router normalises them. */
export interface CapsService {
  /** The verified features of an available full JID; undefined while unknown, unverified or not announced. */
  featuresOf(jid: string): ReadonlySet<string> | undefined;
  /** Whether an available full JID's verified features include `feature` (false while unknown). */
  hasFeature(jid: string, feature: string): boolean;
  /** The verified identities of an available full JID. */
  identitiesOf(jid: string): readonly CapsIdentity[] | undefined;
  /** What the JID announced and how far it got (pending, verified, failed, rejected); undefined for no caps or a JID not seen. */
  announced(jid: string): AnnouncedCaps | undefined;
  /**
   * The full JIDs of `bare` that are available as this host has seen them, among those that
   * announced caps (usable or not; a JID that never did is not tracked); with `seenBy`, only
   * those whose presence that local user received.
   */
  resourcesOf(bare: string, seenBy?: string): string[];
  /** Canto's own XEP-0115 caps for this host. */
  ownCaps(): OwnCaps;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    caps: CapsService;
  }
}

declare module '../../core/event-map.js' {
  interface EventMap {
    /**
     * A local user (`username`) now sees `jid` available with these verified features: the
     * features were just verified, the user just received the JID's available presence, or the
     * JID announced different caps. Fired once per user, JID and ver (a presence that repeats
     * the same caps does not fire it again). For the user's own resources `username` is the
     * user. PEP sends the last published items here.
     */
    'caps/features-known': { jid: string; username: string; features: ReadonlySet<string> };
    /** `jid` is no longer tracked: it went unavailable (to every user that saw it), its session ended, or it was evicted. */
    'caps/forgotten': { jid: string };
  }
}
