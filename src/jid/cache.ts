// A small bounded map for memoising JID preparation: routing parses the same few JIDs (the
// sender's full JID, the recipient's bare JID) for every stanza, and preparing them again each
// time cost ~4 % of the server's CPU in the `messages` benchmark (bench/README.md).

/**
 * A Map holding at most `maxEntries` entries. When a new key would exceed the bound, the entry
 * inserted longest ago is dropped (first in, first out: a hit does not move its entry, so a
 * lookup is a plain Map read). Only immutable values belong here: every hit returns the same
 * value object.
 */
export class BoundedCache<K, V> {
  readonly #entries = new Map<K, V>();

  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: K): V | undefined {
    return this.#entries.get(key);
  }

  set(key: K, value: V): void {
    if (!this.#entries.has(key) && this.#entries.size >= this.maxEntries) {
      // Maps iterate in insertion order: the first key is the oldest.
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, value);
  }

  clear(): void {
    this.#entries.clear();
  }
}

/**
 * A copy of `s` that shares no memory with any other string. Strings cut out of a larger one
 * (an attribute value of a parsed stanza) may be V8 "sliced strings" pointing into the whole
 * input chunk; a long-lived cache key or value must not keep such a chunk alive.
 */
export function detachedCopy(s: string): string {
  // UTF-16 code units round-trip exactly (lone surrogates included, which UTF-8 would replace),
  // and V8 still makes a one-byte string when every unit fits.
  return Buffer.from(s, 'utf16le').toString('utf16le');
}
