/**
 * In-memory storage driver — FOR UNIT TESTS ONLY. Nothing is persisted and nothing is bounded.
 *
 * It behaves like the SQLite driver in every observable way (the shared contract test runs
 * against both): values round-trip through JSON, archive order is (when, insertion order),
 * the same validation and the same errors.
 */
import {
  applyUpdate,
  bareOf,
  checkArchiveItem,
  checkArchiveQuery,
  checkCredentials,
  checkHost,
  checkKey,
  checkScope,
  checkUsername,
  compareUtf8,
  copyCredentials,
  decodeValue,
  encodeValue,
  newArchiveId,
} from './common.js';
import { StorageDuplicateIdError, StorageItemNotFoundError } from './errors.js';
import type {
  AccountCredentials,
  AccountStore,
  ArchiveItem,
  ArchiveQuery,
  ArchiveStore,
  KeyValStore,
  MapStore,
  StorageDriver,
} from './types.js';

interface ArchiveRow {
  seq: number;
  id: string;
  at: number;
  with: string;
  withBare: string;
  value: string;
}

/** One key per (host, username); JSON keeps it unambiguous whatever characters they contain. */
function userKey(host: string, username: string): string {
  return JSON.stringify([host, username]);
}

/** `outer.get(key)`, creating an empty inner map the first time. */
function inner<K, V>(outer: Map<string, Map<K, V>>, key: string): Map<K, V> {
  let m = outer.get(key);
  if (!m) {
    m = new Map<K, V>();
    outer.set(key, m);
  }
  return m;
}

function byTimeThenSeq(a: ArchiveRow, b: ArchiveRow): number {
  return a.at - b.at || a.seq - b.seq;
}

/** The rows a query selects, in the order `find` returns them. */
function selectRows(rows: readonly ArchiveRow[], query: ArchiveQuery | undefined): ArchiveRow[] {
  const q = checkArchiveQuery(query);
  const anchor = (id: string): ArchiveRow => {
    const row = rows.find((r) => r.id === id);
    if (!row) throw new StorageItemNotFoundError(id);
    return row;
  };
  const after = q.after === undefined ? undefined : anchor(q.after);
  const before = q.before === undefined ? undefined : anchor(q.before);
  const ids = q.ids === undefined ? undefined : new Set(q.ids);
  const withBare = q.with === undefined ? undefined : bareOf(q.with);
  const withFull = q.with?.includes('/') ? q.with : undefined;
  const selected = rows
    .filter(
      (r) =>
        (q.start === undefined || r.at >= q.start) &&
        (q.end === undefined || r.at <= q.end) &&
        (withBare === undefined || r.withBare === withBare) &&
        (withFull === undefined || r.with === withFull) &&
        (after === undefined || byTimeThenSeq(r, after) > 0) &&
        (before === undefined || byTimeThenSeq(r, before) < 0) &&
        (ids === undefined || ids.has(r.id)),
    )
    .sort(byTimeThenSeq);
  if (q.reverse) selected.reverse();
  return q.limit === undefined ? selected : selected.slice(0, q.limit);
}

export function openMemoryStorage(): StorageDriver {
  return new MemoryStorage();
}

class MemoryStorage implements StorageDriver {
  readonly accounts: AccountStore;
  private closed = false;
  private seq = 0;
  private readonly accountsByHost = new Map<string, Map<string, { credentials: AccountCredentials; created: number }>>();
  /** userKey → store → JSON text */
  private readonly keyvals = new Map<string, Map<string, string>>();
  /** userKey → store → key → JSON text */
  private readonly maps = new Map<string, Map<string, Map<string, string>>>();
  /** userKey → store → rows */
  private readonly archives = new Map<string, Map<string, ArchiveRow[]>>();

  constructor() {
    this.accounts = this.makeAccountStore();
  }

  private ensureOpen(): void {
    if (this.closed) throw new Error('storage is closed');
  }

  keyval<T>(host: string, store: string): KeyValStore<T> {
    checkScope(host, store);
    return {
      get: async (username) => {
        this.ensureOpen();
        checkUsername(username);
        const text = this.keyvals.get(userKey(host, username))?.get(store);
        return text === undefined ? undefined : decodeValue<T>(text);
      },
      set: async (username, value) => {
        this.ensureOpen();
        checkUsername(username);
        const stores = inner(this.keyvals, userKey(host, username));
        if (value === undefined) stores.delete(store);
        else stores.set(store, encodeValue(value));
      },
      // Atomic as it stands: nothing awaits between the read and the write.
      update: async (username, fn) => {
        this.ensureOpen();
        checkUsername(username);
        const stores = inner(this.keyvals, userKey(host, username));
        const next = applyUpdate(stores.get(store), fn);
        if (next === undefined) stores.delete(store);
        else stores.set(store, next);
        return next === undefined ? undefined : decodeValue<T>(next);
      },
    };
  }

  map<T>(host: string, store: string): MapStore<T> {
    checkScope(host, store);
    const items = (username: string): Map<string, string> => inner(inner(this.maps, userKey(host, username)), store);
    const sortedEntries = (username: string): [string, string][] =>
      [...items(username).entries()].sort(([a], [b]) => compareUtf8(a, b));
    return {
      get: async (username, key) => {
        this.ensureOpen();
        checkUsername(username);
        checkKey(key);
        const text = items(username).get(key);
        return text === undefined ? undefined : decodeValue<T>(text);
      },
      set: async (username, key, value) => {
        this.ensureOpen();
        checkUsername(username);
        checkKey(key);
        if (value === undefined) items(username).delete(key);
        else items(username).set(key, encodeValue(value));
      },
      update: async (username, key, fn) => {
        this.ensureOpen();
        checkUsername(username);
        checkKey(key);
        const userItems = items(username);
        const next = applyUpdate(userItems.get(key), fn);
        if (next === undefined) userItems.delete(key);
        else userItems.set(key, next);
        return next === undefined ? undefined : decodeValue<T>(next);
      },
      getAll: async (username) => {
        this.ensureOpen();
        checkUsername(username);
        return new Map(sortedEntries(username).map(([key, text]) => [key, decodeValue<T>(text)]));
      },
      keys: async (username) => {
        this.ensureOpen();
        checkUsername(username);
        return sortedEntries(username).map(([key]) => key);
      },
    };
  }

  archive<T>(host: string, store: string): ArchiveStore<T> {
    checkScope(host, store);
    const rowsOf = (username: string): ArchiveRow[] => {
      const stores = inner(this.archives, userKey(host, username));
      let rows = stores.get(store);
      if (!rows) {
        rows = [];
        stores.set(store, rows);
      }
      return rows;
    };
    return {
      append: async (username, item) => {
        this.ensureOpen();
        checkUsername(username);
        checkArchiveItem(item);
        const rows = rowsOf(username);
        const id = item.id ?? newArchiveId();
        if (rows.some((r) => r.id === id)) throw new StorageDuplicateIdError(id);
        const withJid = item.with ?? '';
        rows.push({
          seq: ++this.seq,
          id,
          at: item.when ?? Date.now(),
          with: withJid,
          withBare: bareOf(withJid),
          value: encodeValue(item.value),
        });
        return id;
      },
      find: async (username, query) => {
        this.ensureOpen();
        checkUsername(username);
        return selectRows(rowsOf(username), query).map(
          (r): ArchiveItem<T> => ({ id: r.id, when: r.at, with: r.with, value: decodeValue<T>(r.value) }),
        );
      },
      count: async (username, query) => {
        this.ensureOpen();
        checkUsername(username);
        return selectRows(rowsOf(username), query).length;
      },
      delete: async (username, query) => {
        this.ensureOpen();
        checkUsername(username);
        const rows = rowsOf(username);
        const doomed = new Set(selectRows(rows, query));
        const kept = rows.filter((r) => !doomed.has(r));
        rows.splice(0, rows.length, ...kept);
        return doomed.size;
      },
    };
  }

  private makeAccountStore(): AccountStore {
    const hostAccounts = (host: string) => inner(this.accountsByHost, host);
    const checkAccount = (host: string, username: string): void => {
      this.ensureOpen();
      checkHost(host);
      checkUsername(username);
    };
    return {
      create: async (host, username, credentials) => {
        checkAccount(host, username);
        const clean = checkCredentials(credentials);
        const accounts = hostAccounts(host);
        if (accounts.has(username)) return false;
        accounts.set(username, { credentials: clean, created: Date.now() });
        return true;
      },
      exists: async (host, username) => {
        checkAccount(host, username);
        return hostAccounts(host).has(username);
      },
      get: async (host, username) => {
        checkAccount(host, username);
        const account = hostAccounts(host).get(username);
        if (!account) return undefined;
        return { host, username, credentials: copyCredentials(account.credentials), created: account.created };
      },
      setCredentials: async (host, username, credentials) => {
        checkAccount(host, username);
        const clean = checkCredentials(credentials);
        const account = hostAccounts(host).get(username);
        if (!account) return false;
        account.credentials = clean;
        return true;
      },
      delete: async (host, username) => {
        checkAccount(host, username);
        const existed = hostAccounts(host).delete(username);
        this.removeUserData(host, username);
        return existed;
      },
      list: async (host) => {
        checkAccount(host, '');
        return [...hostAccounts(host).keys()].sort(compareUtf8);
      },
      count: async (host) => {
        checkAccount(host, '');
        return hostAccounts(host).size;
      },
    };
  }

  private removeUserData(host: string, username: string): void {
    const key = userKey(host, username);
    this.keyvals.delete(key);
    this.maps.delete(key);
    this.archives.delete(key);
  }

  async deleteUserData(host: string, username: string): Promise<void> {
    this.ensureOpen();
    checkHost(host);
    checkUsername(username);
    this.removeUserData(host, username);
  }

  async archiveSizes(): Promise<Array<{ host: string; store: string; items: number }>> {
    this.ensureOpen();
    const totals = new Map<string, { host: string; store: string; items: number }>();
    for (const [key, stores] of this.archives) {
      const [host] = JSON.parse(key) as [string, string];
      for (const [store, rows] of stores) {
        const k = JSON.stringify([host, store]);
        const t = totals.get(k) ?? { host, store, items: 0 };
        t.items += rows.length;
        totals.set(k, t);
      }
    }
    return [...totals.values()];
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
