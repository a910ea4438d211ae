/**
 * Storage interfaces shared by every driver (SQLite now, PostgreSQL later).
 *
 * Three shapes cover all per-user data (see docs/ARCHITECTURE.md, "Storage"):
 * key-value (one value per user), map (per-user keyed items) and archive (ordered items
 * with ids and time). Every store is scoped to one host and one store name; values are
 * JSON-serialisable and round-trip through JSON in every driver, so a value read back is
 * always a fresh copy. All methods are async because network drivers will be.
 *
 * Usernames and hosts are used exactly as given: callers pass them already normalised
 * (nodeprep / nameprep), so "Juliet" and "juliet" are different keys here.
 */

/**
 * The next value from the current one, for `update`. It must be synchronous and pure: a driver
 * may call it more than once (a network driver retries a compare-and-set when another writer got
 * in first), so it must not send stanzas, count calls or touch anything but its argument.
 * `current` is a fresh copy (JSON round-trip), so mutating and returning it is fine.
 * Returning `undefined` deletes the value.
 */
export type UpdateFn<T> = (current: T | undefined) => T | undefined;

/** One value per user, e.g. roster, vCard. */
export interface KeyValStore<T> {
  get(username: string): Promise<T | undefined>;
  /** `undefined` deletes the value. */
  set(username: string, value: T | undefined): Promise<void>;
  /**
   * Atomic read-modify-write: no other write to this value lands between the read that feeds
   * `fn` and the write of its result, in this process or another sharing the database, so
   * concurrent updates lose nothing (as `get` then `set` can). See {@link UpdateFn} for what `fn`
   * may do. Resolves to the value now stored (a fresh copy; `undefined` when deleted).
   * If `fn` throws, nothing changes and the promise rejects with that error; a result JSON
   * cannot hold rejects with StorageInvalidArgumentError, also changing nothing.
   */
  update(username: string, fn: UpdateFn<T>): Promise<T | undefined>;
}

/** Per-user keyed items, e.g. PEP nodes, private XML. */
export interface MapStore<T> {
  get(username: string, key: string): Promise<T | undefined>;
  /** `undefined` deletes the item. */
  set(username: string, key: string, value: T | undefined): Promise<void>;
  /** Atomic read-modify-write of one item, with the semantics of {@link KeyValStore.update}. */
  update(username: string, key: string, fn: UpdateFn<T>): Promise<T | undefined>;
  getAll(username: string): Promise<Map<string, T>>;
  /** The user's keys, sorted (by UTF-8 bytes, as SQLite's BINARY collation does). */
  keys(username: string): Promise<string[]>;
}

export interface ArchiveItem<T> {
  id: string;
  /** ms since epoch */
  when: number;
  with: string;
  value: T;
}

/**
 * Selects archive items. Every field narrows the set; `find`, `count` and `delete` all act on
 * exactly the same set, so `count(q) === (await find(q)).length`.
 *
 * - `start` / `end`: inclusive bounds on `when` (ms).
 * - `with`: a bare JID (no '/') matches items whose `with` is that bare JID or any full JID of it;
 *   a value containing '/' matches only exactly (XEP-0313 semantics).
 * - `after` / `before`: ids of items; only items strictly after / before that item in
 *   (when, seq) order are selected. An id that is not in this user's store throws
 *   {@link StorageItemNotFoundError} (MAM answers item-not-found).
 * - `ids`: only items with one of these ids (an empty array selects nothing).
 * - `reverse`: order newest first; `limit` then keeps the newest `limit` items.
 * - `limit`: at most this many items, taken from the start of the order.
 */
export interface ArchiveQuery {
  start?: number;
  end?: number;
  with?: string;
  after?: string;
  before?: string;
  limit?: number;
  reverse?: boolean;
  ids?: string[];
}

/** Ordered items with ids and time, e.g. offline messages, MAM. */
export interface ArchiveStore<T> {
  /**
   * Adds an item; `when` defaults to now, `with` to '', `id` to a fresh random id.
   * Returns the id. A caller-supplied id already present in this user's store throws.
   */
  append(username: string, item: { when?: number; with?: string; value: T; id?: string }): Promise<string>;
  /** Ascending by (when, insertion order) unless `reverse`. */
  find(username: string, query?: ArchiveQuery): Promise<ArchiveItem<T>[]>;
  count(username: string, query?: ArchiveQuery): Promise<number>;
  /** Returns how many were deleted; no query deletes all of the user's items in this store. */
  delete(username: string, query?: ArchiveQuery): Promise<number>;
}

/** RFC 5802 server-side credential: never the password, only what verifies it. */
export interface ScramCredential {
  /** base64 */
  salt: string;
  iterations: number;
  /** base64 of H(ClientKey) */
  storedKey: string;
  /** base64 of HMAC(SaltedPassword, "Server Key") */
  serverKey: string;
}

export interface AccountCredentials {
  'SCRAM-SHA-1'?: ScramCredential;
  'SCRAM-SHA-256'?: ScramCredential;
  'SCRAM-SHA-512'?: ScramCredential;
}

export type ScramMechanismName = keyof AccountCredentials;
/** RFC 5802 §5.1 / RFC 7677 §4: fewer iterations than this are refused everywhere. */
export const MIN_SCRAM_ITERATIONS = 4096;
export const SCRAM_MECHANISM_NAMES: readonly ScramMechanismName[] = ['SCRAM-SHA-1', 'SCRAM-SHA-256', 'SCRAM-SHA-512'];

export interface Account {
  username: string;
  host: string;
  credentials: AccountCredentials;
  /** ms since epoch */
  created: number;
}

export interface AccountStore {
  /** Returns false if the account already exists. */
  create(host: string, username: string, credentials: AccountCredentials): Promise<boolean>;
  get(host: string, username: string): Promise<Account | undefined>;
  /** Whether the account exists (without reading its credentials: routing asks this per message to an offline user). */
  exists(host: string, username: string): Promise<boolean>;
  /** Replaces all credentials; returns false if there is no such account. */
  setCredentials(host: string, username: string, credentials: AccountCredentials): Promise<boolean>;
  /** Removes the account AND all its data in every store. Returns false if it did not exist. */
  delete(host: string, username: string): Promise<boolean>;
  /** Usernames on this host, sorted. */
  list(host: string): Promise<string[]>;
  count(host: string): Promise<number>;
}

export interface StorageDriver {
  readonly accounts: AccountStore;
  /** Values are JSON-serialisable. */
  keyval<T>(host: string, store: string): KeyValStore<T>;
  map<T>(host: string, store: string): MapStore<T>;
  archive<T>(host: string, store: string): ArchiveStore<T>;
  /** Deletes the user's data in every store of every shape on this host (not the account). */
  deleteUserData(host: string, username: string): Promise<void>;
  /**
   * Items per archive store on every host (for the operator's metrics), when the driver can tell
   * cheaply; optional. Used at most once a minute.
   */
  archiveSizes?(): Promise<Array<{ host: string; store: string; items: number }>>;
  /** Flushes (SQLite: checkpoints the WAL) and closes; later calls reject. Idempotent. */
  close(): Promise<void>;
}
