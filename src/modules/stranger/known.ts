/**
 * Per-account memory of who is not a stranger beyond the roster: the JIDs the user wrote to or
 * shared presence with ("contacted"), the senders the user accepted ("approved"), and the times
 * a young account first wrote to a stranger (for the new-account limit). One keyval document per
 * account, kept in memory for accounts seen recently (bounded LRU), written only when it changes.
 */
import type { KeyValStore } from '../../storage/types.js';

export const KNOWN_STORE = 'stranger_known';

export interface KnownDoc {
  /** Bare JIDs the user sent a message or directed presence to, oldest first. */
  contacted: string[];
  /** Bare JIDs whose message requests the user accepted, oldest first. */
  approved: string[];
  /** ms timestamps of first messages to strangers in the last day (new accounts only). */
  firstContacts?: number[];
}

const emptyDoc = (): KnownDoc => ({ contacted: [], approved: [] });

/** Append `jid` (moved to the end when present), keeping at most `max` entries. */
function remember(list: string[], jid: string, max: number): string[] {
  const out = list.filter((j) => j !== jid);
  out.push(jid);
  return out.length > max ? out.slice(out.length - max) : out;
}

export class KnownContacts {
  private readonly cache = new Map<string, KnownDoc>();

  constructor(
    private readonly store: KeyValStore<KnownDoc>,
    private readonly maxEntries: number,
    private readonly cacheSize: number,
  ) {}

  /** The cached document, if this account's is in memory. */
  peek(username: string): KnownDoc | undefined {
    const doc = this.cache.get(username);
    if (doc) {
      // Most recently used last.
      this.cache.delete(username);
      this.cache.set(username, doc);
    }
    return doc;
  }

  async load(username: string): Promise<KnownDoc> {
    const cached = this.peek(username);
    if (cached) return cached;
    const doc = (await this.store.get(username)) ?? emptyDoc();
    this.keep(username, doc);
    return doc;
  }

  forget(username: string): void {
    this.cache.delete(username);
  }

  static knows(doc: KnownDoc, bare: string): boolean {
    return doc.contacted.includes(bare) || doc.approved.includes(bare);
  }

  /** Record that the user wrote to `bare` (no write when already the newest entry). */
  async contacted(username: string, bare: string): Promise<void> {
    const doc = this.peek(username);
    if (doc && doc.contacted[doc.contacted.length - 1] === bare) return;
    if (doc?.contacted.includes(bare)) {
      // Known already: keep the in-memory order fresh without a write per message.
      doc.contacted = remember(doc.contacted, bare, this.maxEntries);
      return;
    }
    await this.change(username, (d) => ({ ...d, contacted: remember(d.contacted, bare, this.maxEntries) }));
  }

  async approve(username: string, bare: string): Promise<void> {
    await this.change(username, (d) => ({ ...d, approved: remember(d.approved, bare, this.maxEntries) }));
  }

  /**
   * A young account's first message to a stranger: counted when fewer than `limit` were counted in
   * the last `windowMs`; false (nothing counted) when the limit is reached.
   */
  async countFirstContact(username: string, now: number, windowMs: number, limit: number): Promise<boolean> {
    let allowed = false;
    await this.change(username, (d) => {
      const recent = (d.firstContacts ?? []).filter((t) => t > now - windowMs);
      allowed = recent.length < limit;
      return { ...d, firstContacts: allowed ? [...recent, now] : recent };
    });
    return allowed;
  }

  private async change(username: string, fn: (doc: KnownDoc) => KnownDoc): Promise<void> {
    const stored = await this.store.update(username, (d) => fn(d ?? emptyDoc()));
    this.keep(username, stored ?? emptyDoc());
  }

  private keep(username: string, doc: KnownDoc): void {
    this.cache.delete(username);
    this.cache.set(username, doc);
    while (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }
}
