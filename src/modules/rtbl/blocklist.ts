/**
 * The entries of real-time block lists and the question every check asks: is this sender
 * listed? Pure data, no I/O (unit-tested in test/unit/rtbl.test.ts).
 *
 * Two item formats are in use on public lists (xmppbl.org, Prosody's mod_anti_spam and
 * mod_muc_rtbl read them): in a `sha256` node the item id is the lowercase hex SHA-256 of a
 * bare JID or of a domain (`muc_bans_sha256`, `spam_source_jids_sha256`); in a `plain` node the
 * item id is the domain or bare JID itself (`spam_source_domains`). A sender matches when its
 * bare JID or its domain is in a list, in that list's format.
 */
import { createHash } from 'node:crypto';

export type ListFormat = 'sha256' | 'plain';

/** The format a node's items are in, when the configuration does not say: `…_sha256` nodes are hashed. */
export function defaultFormat(node: string): ListFormat {
  return node.endsWith('_sha256') ? 'sha256' : 'plain';
}

/** Lowercase hex SHA-256 of the UTF-8 text, as list publishers compute item ids. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

const HEX64 = /^[0-9a-f]{64}$/;
/** An id longer than any bare JID (3 × 1023 bytes plus '@') is not an entry. */
const MAX_PLAIN_LENGTH = 2048;

/**
 * An item id as a list entry: hex digests lowercased, plain JIDs and domains lowercased (the
 * domain part is case-insensitive; lists publish normalised JIDs). Undefined for ids that
 * cannot be an entry of the format (they are ignored, not matched).
 */
export function normaliseEntry(format: ListFormat, id: string): string | undefined {
  const v = id.trim().toLowerCase();
  if (format === 'sha256') return HEX64.test(v) ? v : undefined;
  if (v === '' || v.length > MAX_PLAIN_LENGTH || /[\s/]/.test(v)) return undefined;
  return v;
}

/** What a sender is checked by: its bare JID and its domain, and their digests once computed. */
export class SenderKeys {
  private hashes: { bare: string; domain: string } | undefined;

  constructor(
    readonly bare: string,
    readonly domain: string,
  ) {}

  /** The keys in a list's format. */
  keys(format: ListFormat): readonly [string, string] {
    if (format === 'plain') return [this.bare, this.domain];
    if (this.hashes === undefined) {
      const bare = sha256Hex(this.bare);
      this.hashes = { bare, domain: this.bare === this.domain ? bare : sha256Hex(this.domain) };
    }
    return [this.hashes.bare, this.hashes.domain];
  }
}

export interface ReplaceResult {
  added: string[];
  removed: string[];
  /** Ids that are not entries of the format, or past the list's size limit. */
  ignored: number;
}

/** One node's entries. */
export class BlockList {
  private readonly entries = new Set<string>();

  constructor(
    readonly format: ListFormat,
    /** At most this many entries: a hostile or broken source cannot grow memory without bound. */
    readonly maxEntries: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Add an item id; the entry when it was new, undefined when known, invalid or over the limit. */
  add(id: string): string | undefined {
    const entry = normaliseEntry(this.format, id);
    if (entry === undefined || this.entries.has(entry) || this.entries.size >= this.maxEntries) return undefined;
    this.entries.add(entry);
    return entry;
  }

  /** Remove an item id; the entry when it was listed. */
  remove(id: string): string | undefined {
    const entry = normaliseEntry(this.format, id);
    if (entry === undefined || !this.entries.delete(entry)) return undefined;
    return entry;
  }

  /** Empty the list (a purge or a deleted node); the entries that were listed. */
  clear(): string[] {
    const was = [...this.entries];
    this.entries.clear();
    return was;
  }

  /** Make the list exactly these ids (a full fetch): what changed. */
  replace(ids: Iterable<string>): ReplaceResult {
    const next = new Set<string>();
    let ignored = 0;
    for (const id of ids) {
      const entry = normaliseEntry(this.format, id);
      if (entry === undefined || (next.size >= this.maxEntries && !next.has(entry))) ignored++;
      else next.add(entry);
    }
    const removed = [...this.entries].filter((e) => !next.has(e));
    const added = [...next].filter((e) => !this.entries.has(e));
    for (const e of removed) this.entries.delete(e);
    for (const e of added) this.entries.add(e);
    return { added, removed, ignored };
  }

  has(entry: string): boolean {
    return this.entries.has(entry);
  }

  /** The entries, for the persistent cache. */
  values(): string[] {
    return [...this.entries];
  }

  /** Whether the sender's bare JID or domain is listed. */
  matches(sender: SenderKeys): boolean {
    if (this.entries.size === 0) return false;
    const [bare, domain] = sender.keys(this.format);
    return this.entries.has(bare) || this.entries.has(domain);
  }

  /** Whether the domain itself is listed (an s2s stream only has a domain). */
  matchesDomain(domain: string): boolean {
    if (this.entries.size === 0) return false;
    return this.entries.has(this.format === 'sha256' ? sha256Hex(domain) : domain);
  }
}

/**
 * The operator's allow-list: bare JIDs and domains that no list blocks. A domain entry allows
 * every JID of that domain (not its subdomains).
 */
export class AllowList {
  private readonly entries: ReadonlySet<string>;

  constructor(entries: readonly string[]) {
    this.entries = new Set(entries.map((e) => e.toLowerCase()));
  }

  allows(bare: string, domain: string): boolean {
    return this.entries.has(bare) || this.entries.has(domain);
  }
}
