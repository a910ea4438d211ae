/**
 * Cluster mode: a storage driver wrapper that reports writes to the per-user data other workers
 * cache in memory (the keyval stores modules declare with `mod.cachedStore`) and
 * account deletions, so the worker can broadcast an invalidation. Everything else passes through.
 */
import type { ArchiveStore, KeyValStore, MapStore, StorageDriver } from '../storage/types.js';
/** The `store` of an invalidation that says an account was deleted. */
export const ACCOUNT_DELETED = '@account';

/** The cached store names (a Set, or the server's Map of store → modules caching it). */
export interface CachedStores {
  has(store: string): boolean;
  keys(): Iterable<string>;
}

export type WriteListener = (store: string, host: string, username: string) => void;

/**
 * `cached` lists the keyval stores whose values modules keep in memory (ModuleApi.cachedStore);
 * it is read at write time, as modules declare them when they load.
 */
export function watchStorage(inner: StorageDriver, written: WriteListener, cached: () => CachedStores): StorageDriver {
  const accounts = inner.accounts;
  return {
    accounts: {
      create: (host, username, credentials) => accounts.create(host, username, credentials),
      get: (host, username) => accounts.get(host, username),
      exists: (host, username) => accounts.exists(host, username),
      setCredentials: (host, username, credentials) => accounts.setCredentials(host, username, credentials),
      list: (host) => accounts.list(host),
      count: (host) => accounts.count(host),
      async delete(host, username) {
        const existed = await accounts.delete(host, username);
        if (existed) written(ACCOUNT_DELETED, host, username);
        return existed;
      },
    },
    keyval<T>(host: string, store: string): KeyValStore<T> {
      const kv = inner.keyval<T>(host, store);
      const announce = (username: string) => {
        if (cached().has(store)) written(store, host, username);
      };
      return {
        get: (username) => kv.get(username),
        async set(username, value) {
          await kv.set(username, value);
          announce(username);
        },
        async update(username, fn) {
          const stored = await kv.update(username, fn);
          announce(username); // not reached when fn throws: nothing was written
          return stored;
        },
      };
    },
    map<T>(host: string, store: string): MapStore<T> {
      return inner.map<T>(host, store);
    },
    archive<T>(host: string, store: string): ArchiveStore<T> {
      return inner.archive<T>(host, store);
    },
    async deleteUserData(host, username) {
      await inner.deleteUserData(host, username);
      for (const store of cached().keys()) written(store, host, username);
    },
    close: () => inner.close(),
  };
}
