/**
 * Runs a parsed MAM query against the archive store: one page in (when, insertion) order,
 * whether it is the last page in the paging direction, and the size of the whole result set.
 * Unknown ids surface as the store's StorageItemNotFoundError (answered item-not-found).
 */
import type { ArchiveItem, ArchiveQuery, ArchiveStore } from '../../storage/types.js';
import { StorageItemNotFoundError } from '../../storage/errors.js';
import type { MamQuery } from './query.js';

export interface Page<T> {
  /** Oldest first, unless the query asked to flip the page. */
  items: ArchiveItem<T>[];
  /** No more items after the page (forward paging) or before it (backward paging). */
  complete: boolean;
  /** Items in the whole result set (filters and the form's before-id/after-id, not RSM). */
  count: number;
}

export async function runPage<T>(store: ArchiveStore<T>, username: string, q: MamQuery): Promise<Page<T>> {
  const filter: ArchiveQuery = { start: q.start, end: q.end, with: q.with, ids: q.ids, after: q.afterId, before: q.beforeId };
  const count = await store.count(username, filter);
  // RSM after/before page inside the form's after-id/before-id: the stricter bound applies.
  const after = await innerBound(store, username, q.afterId, q.after, 'later');
  const before = await innerBound(store, username, q.beforeId, typeof q.before === 'string' ? q.before : undefined, 'earlier');
  const backward = q.before !== undefined;
  if (q.max === 0) {
    // XEP-0059 §2.6: a count without items. Still checks the ids (an unknown one is an error).
    if (after !== undefined || before !== undefined) await store.count(username, { ...filter, after, before, limit: 0 });
    return { items: [], complete: count === 0, count };
  }
  const found = await store.find(username, { ...filter, after, before, limit: q.max + 1, reverse: backward });
  const complete = found.length <= q.max;
  const items = found.slice(0, q.max);
  if (backward) items.reverse();
  if (q.flip) items.reverse();
  return { items, complete, count };
}

/**
 * Of two anchor ids (either may be missing), the one that bounds the set more: the later one
 * for "after", the earlier one for "before". Both must exist in the archive.
 */
async function innerBound<T>(store: ArchiveStore<T>, username: string, a: string | undefined, b: string | undefined, want: 'later' | 'earlier'): Promise<string | undefined> {
  if (a === undefined || b === undefined || a === b) return b ?? a;
  if ((await store.count(username, { ids: [b] })) === 0) throw new StorageItemNotFoundError(b);
  // Throws for an unknown `a`; counts 1 when b is strictly after a.
  const bAfterA = (await store.count(username, { after: a, ids: [b] })) === 1;
  if (want === 'later') return bAfterA ? b : a;
  return bAfterA ? a : b;
}
