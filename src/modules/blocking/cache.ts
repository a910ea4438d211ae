/**
 * The blocklists of one host's users, in memory. The block check runs on every stanza and event
 * handlers are synchronous, so a list must be in memory when a stanza needs it: lists of users
 * with bound resources are kept (pinned) for as long as they are online; others are loaded on
 * demand and kept in a small LRU. Storage reads and writes of one user run one after another, so
 * a load never overtakes a pending save.
 */
import type { KeyValStore } from '../../storage/types.js';
import { Blocklist } from './blocklist.js';

export class BlocklistCache {
  private readonly pinned = new Map<string, Blocklist>();
  /** Lists of users without sessions, least recently used first. */
  private readonly recent = new Map<string, Blocklist>();
  private readonly loading = new Map<string, Promise<Blocklist>>();
  /** Per-user chain of storage operations. */
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Users with bound sessions (their lists are pinned once loaded). */
  private readonly online = new Set<string>();

  constructor(
    private readonly store: KeyValStore<string[]>,
    private readonly maxRecent = 1000,
  ) {}

  /** The list if it is in memory. */
  peek(username: string): Blocklist | undefined {
    const p = this.pinned.get(username);
    if (p) return p;
    const r = this.recent.get(username);
    if (r) {
      // Refresh its place in the LRU order.
      this.recent.delete(username);
      this.recent.set(username, r);
    }
    return r;
  }

  /** The list, loading it from storage when it is not in memory. */
  load(username: string): Promise<Blocklist> {
    const cached = this.peek(username);
    if (cached) return Promise.resolve(cached);
    let pending = this.loading.get(username);
    if (!pending) {
      pending = this.enqueue(username, async () => {
        const items = (await this.store.get(username)) ?? [];
        // A list put in memory while this load waited (there is none today) would win.
        const list = this.peek(username) ?? new Blocklist(items);
        this.keep(username, list);
        return list;
      }).finally(() => this.loading.delete(username));
      this.loading.set(username, pending);
    }
    return pending;
  }

  /** Persist the list as it is now (in order with the user's other storage operations). */
  save(username: string, list: Blocklist): Promise<void> {
    const items = list.items();
    return this.enqueue(username, () => this.store.set(username, items.length > 0 ? items : undefined));
  }

  /** The user has a bound resource: keep their list in memory while they are online. */
  userOnline(username: string): void {
    this.online.add(username);
    const r = this.recent.get(username);
    if (r) {
      this.recent.delete(username);
      this.pinned.set(username, r);
    }
  }

  /** The user's last resource is gone: their list may be evicted. */
  userOffline(username: string): void {
    this.online.delete(username);
    const p = this.pinned.get(username);
    if (p) {
      this.pinned.delete(username);
      this.keep(username, p);
    }
  }

  /** Forget a user entirely (account deleted). */
  forget(username: string): void {
    this.pinned.delete(username);
    this.recent.delete(username);
    this.online.delete(username);
  }

  /** Numbers for tests and metrics. */
  stats(): { pinned: number; recent: number } {
    return { pinned: this.pinned.size, recent: this.recent.size };
  }

  private keep(username: string, list: Blocklist): void {
    if (this.online.has(username)) {
      this.pinned.set(username, list);
      return;
    }
    this.recent.delete(username);
    this.recent.set(username, list);
    while (this.recent.size > this.maxRecent) {
      const oldest = this.recent.keys().next().value;
      if (oldest === undefined) break;
      this.recent.delete(oldest);
    }
  }

  private enqueue<T>(username: string, op: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(username) ?? Promise.resolve();
    const next = prev.then(op);
    const tail = next.catch(() => undefined);
    this.chains.set(username, tail);
    void tail.then(() => {
      if (this.chains.get(username) === tail) this.chains.delete(username);
    });
    return next;
  }
}
