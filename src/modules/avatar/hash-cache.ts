/**
 * The XEP-0153 photo hash of recently seen accounts ('' = no avatar), bounded: the least
 * recently used account is forgotten first and read from storage again when it next sends
 * presence. A Map keeps insertion order, so "use" is delete + set.
 */
export class HashCache {
  private readonly map = new Map<string, string>();

  constructor(private readonly capacity: number) {}

  get(username: string): string | undefined {
    const v = this.map.get(username);
    if (v === undefined) return undefined;
    this.map.delete(username);
    this.map.set(username, v);
    return v;
  }

  set(username: string, hash: string): void {
    this.map.delete(username);
    this.map.set(username, hash);
    for (const oldest of this.map.keys()) {
      if (this.map.size <= this.capacity) break;
      this.map.delete(oldest);
    }
  }

  forget(username: string): void {
    this.map.delete(username);
  }

  get size(): number {
    return this.map.size;
  }
}
