/**
 * A bounded map that forgets the least recently used key first. A Map keeps insertion order, so
 * "use" is delete + set and the oldest key is the first one.
 */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  /** Keys dropped to stay within `capacity`, since construction. */
  evictions = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`LRU capacity must be a positive integer, not ${capacity}`);
  }

  get size(): number {
    return this.map.size;
  }

  /** The value, marked as just used. */
  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) return undefined;
    this.map.delete(key);
    this.map.set(key, v);
    return v;
  }

  /** The value, without marking it used. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  /** Set a value (marked as just used); returns what was evicted to make room. */
  set(key: K, value: V): Array<[K, V]> {
    this.map.delete(key);
    this.map.set(key, value);
    const evicted: Array<[K, V]> = [];
    while (this.map.size > this.capacity) {
      const oldest = this.map.entries().next().value;
      if (oldest === undefined) break;
      this.map.delete(oldest[0]);
      evicted.push(oldest);
      this.evictions++;
    }
    return evicted;
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }
}
