/**
 * Item order and eviction. A node keeps its item ids oldest first in its record, so ordering and
 * `max_items` eviction need no read of the items themselves. Pure functions.
 */

/**
 * The id list after publishing `id` (new, or an overwrite, which makes it the newest, XEP-0060
 * §7.1.2), and the ids that fall out to keep at most `max` (oldest first).
 */
export function placeItem(items: readonly string[], id: string, max: number): { items: string[]; evicted: string[] } {
  const next = items.filter((x) => x !== id);
  next.push(id);
  const over = Math.max(0, next.length - max);
  return { items: next.slice(over), evicted: next.slice(0, over) };
}

/** The ids newest first, at most `max` of them (XEP-0060 §6.5.7: the N most recent). */
export function newestFirst(items: readonly string[], max?: number): string[] {
  const out = items.slice().reverse();
  return max === undefined ? out : out.slice(0, max);
}

/** The ids kept when a node's limit shrinks (a configure lowering max_items), and those to drop. */
export function trimTo(items: readonly string[], max: number): { items: string[]; evicted: string[] } {
  const over = Math.max(0, items.length - max);
  return { items: items.slice(over), evicted: items.slice(0, over) };
}
