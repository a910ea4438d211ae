/**
 * The users' archive preferences, read on every archived message, kept in memory: a bounded
 * map in front of the keyval store (writes go through it; in a cluster, mod.cachedStore tells
 * us when another process wrote one). Values are shared read-only: callers must not mutate them.
 */
import type { KeyValStore } from '../../storage/types.js';

export class CachedKeyval<T> implements KeyValStore<T> {
  /** username → value, or null for "no value stored" (so misses are cached too). */
  private readonly cache = new Map<string, T | null>();

  constructor(
    private readonly inner: KeyValStore<T>,
    private readonly max = 10_000,
  ) {}

  async get(username: string): Promise<T | undefined> {
    const hit = this.cache.get(username);
    if (hit !== undefined) return hit ?? undefined;
    const value = await this.inner.get(username);
    this.remember(username, value);
    return value;
  }

  async set(username: string, value: T | undefined): Promise<void> {
    this.cache.delete(username);
    await this.inner.set(username, value);
    this.remember(username, value);
  }

  async update(username: string, fn: (current: T | undefined) => T | undefined): Promise<T | undefined> {
    this.cache.delete(username);
    const value = await this.inner.update(username, fn);
    this.remember(username, value);
    return value;
  }

  /** Another process changed the value: read it again next time. */
  forget(username: string): void {
    this.cache.delete(username);
  }

  private remember(username: string, value: T | undefined): void {
    // Oldest first out (a Map iterates in insertion order): a plain bound, no LRU bookkeeping.
    if (this.cache.size >= this.max) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(username, value ?? null);
  }
}
