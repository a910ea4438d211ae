/**
 * The stream entries this node handled lately, so an entry read again (its XACK was lost to a
 * Redis hiccup, or a pending entry re-read after reconnecting) is acknowledged without being
 * delivered a second time. Bounded: the oldest ids are forgotten first.
 */
export class RecentIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity = 20_000) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    if (this.ids.has(id)) return;
    this.ids.add(id);
    // A Set iterates in insertion order: the first key is the oldest.
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value as string);
  }

  get size(): number {
    return this.ids.size;
  }
}
