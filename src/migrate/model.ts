/**
 * What a migration moves, independent of the file format or server it came from: one
 * `UserData` per account and one `RoomData` per MUC room. Every reader (XEP-0227 files, a
 * Prosody data directory, Prosody's SQL table) produces these; `canto-store.ts` writes them to
 * Canto's storage and reads them back out for `canto export`.
 *
 * Values are kept in the shapes Canto stores (stanzas as XML text, credentials as base64), so
 * writing them is a copy and reading them back is exact.
 */
import type { AccountCredentials } from '../storage/types.js';
import type { NodeRecord, StoredItem } from '../modules/pubsub/engine/types.js';
import type { StoredRoom } from '../modules/muc/persistence.js';

export type SubscriptionState = 'none' | 'to' | 'from' | 'both';

export interface RosterItemData {
  jid: string;
  name?: string;
  groups: string[];
  subscription: SubscriptionState;
  /** Pending out (`ask='subscribe'`). */
  ask: boolean;
  /** Pre-approved (RFC 6121 §3.4). */
  approved: boolean;
}

export interface ArchivedStanza {
  /** The archive id (MAM); offline messages have none in XEP-0227. */
  id?: string;
  /** ms since the epoch */
  when: number;
  with: string;
  /** The stanza as XML text, in jabber:client. */
  stanza: string;
}

export interface PepNodeData {
  name: string;
  record: NodeRecord;
  /** By item id. */
  items: Map<string, StoredItem>;
}

export interface UserData {
  host: string;
  username: string;
  /** SCRAM credentials as stored, or derived from a plain password by the reader. */
  credentials: AccountCredentials;
  /**
   * The plain password `credentials` were derived from (XEP-0227 `password`, as ejabberd exports
   * plain-stored accounts), in memory only: an account whose credentials already verify it is left
   * as it is, so importing again does not change its salt.
   */
  plainPassword?: string;
  /** ms since the epoch, when known. */
  created?: number;
  roster?: { items: RosterItemData[]; /** contact bare JID → the subscribe presence as XML */ pending: Map<string, string> };
  vcard?: string;
  /** namespace → the elements stored under it, as XML text. */
  privateXml?: Map<string, string[]>;
  offline?: ArchivedStanza[];
  blocklist?: string[];
  pep?: PepNodeData[];
  mam?: ArchivedStanza[];
}

export interface RoomData {
  /** The MUC service's domain. */
  host: string;
  /** The room's local part. */
  name: string;
  state: StoredRoom;
  archive?: ArchivedStanza[];
}

export interface MigrationData {
  users: UserData[];
  rooms: RoomData[];
}

/** The kinds `--dry-run` and import report on, in report order. */
export const KINDS = ['account', 'roster', 'vcard', 'private', 'offline', 'blocklist', 'pep', 'mam', 'room', 'room-archive'] as const;
export type Kind = (typeof KINDS)[number];
export type Outcome = 'created' | 'updated' | 'unchanged';

/** Per kind, how many values an import created, updated or left as they were. */
export class ImportReport {
  readonly counts = new Map<Kind, Record<Outcome, number>>();

  add(kind: Kind, outcome: Outcome, n = 1): void {
    if (n === 0) return;
    const c = this.counts.get(kind) ?? { created: 0, updated: 0, unchanged: 0 };
    c[outcome] += n;
    this.counts.set(kind, c);
  }

  /** One line per kind that had anything: `roster: 2 created, 0 updated, 1 unchanged`. */
  lines(): string[] {
    return KINDS.filter((k) => this.counts.has(k)).map((k) => {
      const c = this.counts.get(k) as Record<Outcome, number>;
      return `${k}: ${c.created} created, ${c.updated} updated, ${c.unchanged} unchanged`;
    });
  }
}

/** Input that cannot be imported: the message names the element (or file, or key) at fault. */
export class MigrationInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationInputError';
  }
}
