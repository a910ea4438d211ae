/**
 * A room's state: configuration, affiliations (with registered nicknames), subject, lock, and
 * the occupant registry. Plain data and lookups, no stanzas: the handlers in presence.ts,
 * messages.ts, admin.ts and owner.ts change it and say so to the occupants through fanout.ts.
 *
 * The registry is what other modules read (the `muc` service): `occupants` by nickname key,
 * `bySession` by the real full JID of each joined resource. Lookups are maps, so a join or a
 * message does no per-occupant work beyond the fan-out itself.
 */
import type { Element } from '../../xml/element.js';
import type { Affiliation, AllowPm, Role } from './roles.js';
import type { TokenBucket } from './rate-limit.js';
import { keyOf } from './nick.js';

export interface RoomConfig {
  name: string;
  description: string;
  lang: string;
  persistent: boolean;
  public: boolean;
  membersOnly: boolean;
  moderated: boolean;
  /** '' when the room has no password. */
  password: string;
  /** 0: the service's limit. */
  maxUsers: number;
  whois: 'anyone' | 'moderators';
  allowInvites: boolean;
  changeSubject: boolean;
  allowPm: AllowPm;
  historyLength: number;
  /** muc#roomconfig_enablelogging: the room says it is logged (status 170); the archive module acts on it. */
  logging: boolean;
  /** muc#roomconfig_enablearchiving (Prosody's field): the room archives its messages (XEP-0313 on the room JID). */
  archiving: boolean;
  /** Roles whose presence is broadcast (muc#roomconfig_presencebroadcast). */
  presenceBroadcast: Role[];
}

export interface AffiliationRecord {
  affiliation: Affiliation;
  /** A registered (reserved) nickname. */
  nick?: string;
  /** Why, for bans (§9.1) and lists. */
  reason?: string;
}

export interface Subject {
  text: string;
  /** The nickname that set it ('' for the room itself). */
  nick: string;
  /** ms since the epoch */
  when: number;
}

/** One nickname in the room: one bare JID, one or more of its resources (multi-session). */
export interface Occupant {
  nick: string;
  /** The nickname's comparison key (RFC 8266 §2.4). */
  key: string;
  /** The nickname's lookalike key (nick.ts). */
  skeleton: string;
  /** The real bare JID. */
  bare: string;
  /** Real full JID → the last presence that resource sent to the room. */
  sessions: Map<string, Element>;
  /** The resource whose presence is the occupant's (the last that sent one). */
  primary: string;
  role: Role;
  bucket: TokenBucket;
  /** The built broadcast presences, until something about the occupant changes (fanout.ts). */
  cached?: { plain: Element; withJid: Element };
}

export class Room {
  readonly jid: string;
  locked: boolean;
  subject: Subject | undefined;
  private readonly affiliationMap = new Map<string, AffiliationRecord>();
  /** Registered nickname key → bare JID, so a join checks reservations with one lookup. */
  private readonly registered = new Map<string, string>();
  readonly occupants = new Map<string, Occupant>();
  readonly bySession = new Map<string, Occupant>();
  private readonly skeletons = new Map<string, Occupant>();
  /** The last state written to storage, so saves are serialized (persistence.ts). */
  saving: Promise<void> = Promise.resolve();
  destroyed = false;

  constructor(
    readonly local: string,
    domain: string,
    public config: RoomConfig,
    readonly created: number,
    readonly creator: string,
  ) {
    this.jid = `${local}@${domain}`;
    this.locked = false;
  }

  /** Bare JID → affiliation record; change it through setAffiliation only. */
  get affiliations(): ReadonlyMap<string, AffiliationRecord> {
    return this.affiliationMap;
  }

  affiliation(bare: string): Affiliation {
    return this.affiliationMap.get(bare)?.affiliation ?? 'none';
  }

  setAffiliation(bare: string, record: AffiliationRecord | undefined): void {
    const before = this.affiliationMap.get(bare)?.nick;
    if (before !== undefined) {
      const k = keyOf(before);
      if (k !== undefined && this.registered.get(k) === bare) this.registered.delete(k);
    }
    if (record === undefined || (record.affiliation === 'none' && record.nick === undefined)) {
      this.affiliationMap.delete(bare);
      return;
    }
    // Records are stored without undefined fields, so they round-trip through JSON unchanged.
    const clean: AffiliationRecord = { affiliation: record.affiliation };
    if (record.nick !== undefined) clean.nick = record.nick;
    if (record.reason !== undefined) clean.reason = record.reason;
    this.affiliationMap.set(bare, clean);
    const k = clean.nick === undefined ? undefined : keyOf(clean.nick);
    if (k !== undefined) this.registered.set(k, bare);
  }

  /** The bare JIDs with this affiliation. */
  withAffiliation(affiliation: Affiliation): string[] {
    const out: string[] = [];
    for (const [bare, r] of this.affiliationMap) if (r.affiliation === affiliation) out.push(bare);
    return out;
  }

  /** The bare JID that registered this nickname key, if any. */
  registrant(key: string): string | undefined {
    return this.registered.get(key);
  }

  /** An occupant whose nickname looks like this one (same skeleton), if any. */
  lookalike(skeleton: string): Occupant | undefined {
    return this.skeletons.get(skeleton);
  }

  addOccupant(o: Occupant): void {
    this.occupants.set(o.key, o);
    this.skeletons.set(o.skeleton, o);
    for (const s of o.sessions.keys()) this.bySession.set(s, o);
  }

  addSession(o: Occupant, fullJid: string, presence: Element): void {
    o.sessions.set(fullJid, presence);
    o.primary = fullJid;
    o.cached = undefined;
    this.bySession.set(fullJid, o);
  }

  /** Remove one resource; the occupant goes when it was the last. Returns whether it went. */
  removeSession(o: Occupant, fullJid: string): boolean {
    o.sessions.delete(fullJid);
    this.bySession.delete(fullJid);
    if (o.sessions.size > 0) {
      if (o.primary === fullJid) o.primary = o.sessions.keys().next().value as string;
      o.cached = undefined;
      return false;
    }
    this.removeOccupant(o);
    return true;
  }

  removeOccupant(o: Occupant): void {
    if (this.occupants.get(o.key) === o) this.occupants.delete(o.key);
    if (this.skeletons.get(o.skeleton) === o) this.skeletons.delete(o.skeleton);
    for (const s of o.sessions.keys()) this.bySession.delete(s);
  }

  rename(o: Occupant, nick: string, key: string, skeleton: string): void {
    this.removeOccupant(o);
    o.nick = nick;
    o.key = key;
    o.skeleton = skeleton;
    o.cached = undefined;
    this.addOccupant(o);
  }

  /** The occupants of a bare JID: its resources may have joined under different nicknames (admin actions only: a scan). */
  occupantsOf(bare: string): Occupant[] {
    const out: Occupant[] = [];
    for (const o of this.occupants.values()) if (o.bare === bare) out.push(o);
    return out;
  }

  get empty(): boolean {
    return this.occupants.size === 0;
  }
}
