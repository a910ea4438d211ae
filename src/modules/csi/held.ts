/**
 * The stanzas held for one inactive session: the latest per key (sender and kind), in the order
 * their latest versions arrived (a newer one moves to the end, so a flush keeps the relative
 * order of what is delivered).
 */
import type { Element } from '../../xml/element.js';

export class HeldStanzas {
  private readonly byKey = new Map<string, Element>();

  get size(): number {
    return this.byKey.size;
  }

  /** Hold `stanza`; true when it replaced an older one of the same key. */
  hold(key: string, stanza: Element): boolean {
    const replaced = this.byKey.delete(key);
    this.byKey.set(key, stanza);
    return replaced;
  }

  /** Everything held, oldest first; empties the queue. */
  take(): Element[] {
    const all = [...this.byKey.values()];
    this.byKey.clear();
    return all;
  }
}
