/**
 * The available full JIDs this host has seen presence from, with the caps each announced and
 * the local users that received it. Bounded: at most `maxJids` JIDs (the least recently
 * refreshed one is forgotten first: a remote server whose stream died never sends the
 * unavailable presence) and `maxWatchers` users per JID. Each JID holds a reference to a shared
 * VerRecord, never a copy of its features.
 */
import type { VerRecord } from './api.js';

export interface JidEntry {
  readonly jid: string;
  readonly bare: string;
  /** The caps node the JID announced (interned: one string per software, not per session). */
  node: string | undefined;
  /** What the JID announced last (undefined: no usable caps yet). */
  record: VerRecord | undefined;
  /** Local usernames that received the JID's available presence → the record each was last told about. */
  readonly watchers: Map<string, VerRecord | undefined>;
}

export class JidTable {
  private readonly entries = new Map<string, JidEntry>();
  private readonly byBare = new Map<string, Set<JidEntry>>();
  /** Caps nodes, shared by every JID that announces one (bounded like everything else). */
  private readonly nodes = new Map<string, string>();

  constructor(
    private readonly maxJids: number,
    readonly maxWatchers: number,
    private readonly forgotten: (entry: JidEntry) => void,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(jid: string): JidEntry | undefined {
    return this.entries.get(jid);
  }

  /** The JID's entry, made if new, and marked as the most recently seen. */
  touch(jid: string, bare: string): JidEntry {
    let entry = this.entries.get(jid);
    if (entry) {
      this.entries.delete(jid);
      this.entries.set(jid, entry);
      return entry;
    }
    entry = { jid, bare, node: undefined, record: undefined, watchers: new Map() };
    this.entries.set(jid, entry);
    let set = this.byBare.get(bare);
    if (!set) this.byBare.set(bare, (set = new Set()));
    set.add(entry);
    while (this.entries.size > this.maxJids) {
      const oldest = this.entries.values().next().value;
      if (oldest === undefined || oldest === entry) break;
      this.forget(oldest.jid);
    }
    return entry;
  }

  /** Add or refresh a watcher; false when the JID already has `maxWatchers` others. */
  watch(entry: JidEntry, username: string, record: VerRecord | undefined): boolean {
    if (!entry.watchers.has(username) && entry.watchers.size >= this.maxWatchers) return false;
    entry.watchers.set(username, record);
    return true;
  }

  forget(jid: string): void {
    const entry = this.entries.get(jid);
    if (!entry) return;
    this.entries.delete(jid);
    const set = this.byBare.get(entry.bare);
    set?.delete(entry);
    if (set?.size === 0) this.byBare.delete(entry.bare);
    this.forgotten(entry);
  }

  resourcesOf(bare: string): Iterable<JidEntry> {
    return this.byBare.get(bare) ?? [];
  }

  intern(node: string): string {
    const known = this.nodes.get(node);
    if (known !== undefined) return known;
    // Nodes name software: a few dozen in practice. Past the bound, keep the string unshared.
    if (this.nodes.size < 1000) this.nodes.set(node, node);
    return node;
  }

  all(): IterableIterator<JidEntry> {
    return this.entries.values();
  }
}
