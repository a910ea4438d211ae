/**
 * The roster storage API (RFC 6121 §2), shared by every module that needs to know who is
 * subscribed to whom: one document per user in the host's `roster` keyval store, holding the
 * items (name, groups, subscription, ask, pre-approval), the pending inbound subscription
 * requests (kept apart from the items: RFC 6121 §3.1.3 does not make them roster items) and a
 * version counter for roster versioning (RFC 6121 §2.6, XEP-0237).
 *
 *   const roster = await loadRoster(server, 'localhost', 'juliet');
 *   roster.subscriptionOf('romeo@example.net');            // 'none' | 'to' | 'from' | 'both'
 *   await modifyRoster(server, host, user, (r) => r.setItem({ ...item, name: 'R' }));
 *
 * Every change goes through modifyRoster(), which serialises read-modify-write per user inside
 * this process, saves, and bumps the version when an item changed.
 */
import { randomBytes } from 'node:crypto';
import type { ModuleServer } from '../../core/server.js';
import type { KeyValStore } from '../../storage/types.js';

export type Subscription = 'none' | 'to' | 'from' | 'both';

export const ROSTER_STORE = 'roster';

/** One roster item as the API hands it out (a copy: changing it changes nothing stored). */
export interface RosterItem {
  /** The contact's JID, prepared (normally a bare JID). */
  jid: string;
  name?: string;
  groups: string[];
  subscription: Subscription;
  /** Pending out: the user asked for the contact's presence (`ask='subscribe'`). */
  ask: boolean;
  /** Pre-approved: a subscription request from the contact will be approved (RFC 6121 §3.4). */
  approved: boolean;
}

/** What is stored per item (the JID is the key). Short and JSON-only. */
interface StoredItem {
  name?: string;
  groups: string[];
  subscription: Subscription;
  ask?: true;
  approved?: true;
}

/** The stored document, one per user. */
export interface RosterDoc {
  /** Random per document, so a version from a deleted and re-created account never matches. */
  epoch: string;
  version: number;
  items: Record<string, StoredItem>;
  /** Pending inbound subscription requests: contact bare JID → the request stanza as XML. */
  pending: Record<string, string>;
}

/** Nothing stored yet: every such roster is the same (empty), so it has one fixed version. */
const UNSAVED_EPOCH = 'new';

function emptyDoc(): RosterDoc {
  return { epoch: UNSAVED_EPOCH, version: 0, items: {}, pending: {} };
}

function toItem(jid: string, s: StoredItem): RosterItem {
  const item: RosterItem = { jid, groups: [...s.groups], subscription: s.subscription, ask: s.ask === true, approved: s.approved === true };
  if (s.name !== undefined) item.name = s.name;
  return item;
}

function toStored(item: RosterItem): StoredItem {
  const s: StoredItem = { groups: [...item.groups], subscription: item.subscription };
  if (item.name !== undefined && item.name !== '') s.name = item.name;
  if (item.ask) s.ask = true;
  if (item.approved) s.approved = true;
  return s;
}

/** A user's roster. Mutating methods are meant for the callback of modifyRoster(). */
export class Roster {
  /** JIDs of items changed (set or removed) since load, for roster pushes. */
  readonly changed = new Set<string>();
  private dirty = false;

  constructor(
    readonly host: string,
    readonly username: string,
    private readonly doc: RosterDoc,
  ) {}

  /** The roster version string (RFC 6121 §2.6), opaque to clients. */
  get ver(): string {
    return `${this.doc.epoch}-${this.doc.version}`;
  }

  get size(): number {
    return Object.keys(this.doc.items).length;
  }

  items(): RosterItem[] {
    return Object.entries(this.doc.items).map(([jid, s]) => toItem(jid, s));
  }

  getItem(jid: string): RosterItem | undefined {
    const s = this.doc.items[jid];
    return s ? toItem(jid, s) : undefined;
  }

  /** The subscription state with this contact; 'none' when it is not in the roster. */
  subscriptionOf(jid: string): Subscription {
    return this.doc.items[jid]?.subscription ?? 'none';
  }

  /** Whether the contact receives the user's presence (subscription 'from' or 'both'). */
  isSubscriber(jid: string): boolean {
    const s = this.subscriptionOf(jid);
    return s === 'from' || s === 'both';
  }

  /** Whether the user receives the contact's presence (subscription 'to' or 'both'). */
  isSubscribedTo(jid: string): boolean {
    const s = this.subscriptionOf(jid);
    return s === 'to' || s === 'both';
  }

  hasPendingIn(jid: string): boolean {
    return this.doc.pending[jid] !== undefined;
  }

  /** Pending inbound subscription requests, oldest first, as stored XML. */
  pendingIn(): Array<{ jid: string; stanza: string }> {
    return Object.entries(this.doc.pending).map(([jid, stanza]) => ({ jid, stanza }));
  }

  setItem(item: RosterItem): void {
    this.doc.items[item.jid] = toStored(item);
    this.changed.add(item.jid);
    this.dirty = true;
  }

  /** Returns false when there was no such item. */
  removeItem(jid: string): boolean {
    if (this.doc.items[jid] === undefined) return false;
    delete this.doc.items[jid];
    this.changed.add(jid);
    this.dirty = true;
    return true;
  }

  /** Record (stanza XML) or clear (undefined) a pending inbound request; not a roster change. */
  setPendingIn(jid: string, stanza: string | undefined): void {
    if (stanza === undefined) {
      if (this.doc.pending[jid] === undefined) return;
      delete this.doc.pending[jid];
    } else {
      this.doc.pending[jid] = stanza;
    }
    this.dirty = true;
  }

  /** @internal used by modifyRoster */
  commit(): RosterDoc | undefined {
    if (!this.dirty) return undefined;
    if (this.doc.epoch === UNSAVED_EPOCH) this.doc.epoch = randomBytes(4).toString('hex');
    if (this.changed.size > 0) this.doc.version += 1;
    this.dirty = false;
    return this.doc;
  }
}

function store(server: ModuleServer, host: string): KeyValStore<RosterDoc> {
  return server.storage.keyval<RosterDoc>(host, ROSTER_STORE);
}

/** Read a user's roster (an empty one when nothing is stored). */
export async function loadRoster(server: ModuleServer, host: string, username: string): Promise<Roster> {
  return new Roster(host, username, (await store(server, host).get(username)) ?? emptyDoc());
}

/** Convenience: the subscription state between a local user and a contact. */
export async function subscriptionOf(server: ModuleServer, host: string, username: string, contact: string): Promise<Subscription> {
  return (await loadRoster(server, host, username)).subscriptionOf(contact);
}

/**
 * Load, change and save a user's roster atomically, through the store's read-modify-write
 * (`update`), so concurrent changes lose nothing, in one process or across a cluster's workers.
 * `fn` may run more than once (a network driver retries a compare-and-set): it must only change
 * the roster it is given. Returns the roster after the change (its `changed` names the items that
 * changed, for pushes) and `fn`'s result.
 */
export async function modifyRoster<T>(server: ModuleServer, host: string, username: string, fn: (roster: Roster) => T): Promise<{ roster: Roster; result: T }> {
  let outcome: { roster: Roster; result: T } | undefined;
  await store(server, host).update(username, (doc) => {
    const roster = new Roster(host, username, doc ?? emptyDoc());
    const result = fn(roster);
    outcome = { roster, result };
    // Unchanged: the stored value stays as it was (nothing stored stays nothing).
    return roster.commit() ?? doc;
  });
  if (outcome === undefined) throw new Error('roster update did not run');
  return outcome;
}
