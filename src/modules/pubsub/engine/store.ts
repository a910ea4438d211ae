/**
 * Where the engine keeps its data, through Canto's store shapes only (so it runs on every driver):
 *
 * - node records: map store `pubsub-nodes`, username = the owner scope, key = the node name,
 *   value = NodeRecord (config, affiliations, subscriptions, item ids oldest first);
 * - items: one map store per node, `pubsub-items:<node>`, username = the owner scope,
 *   key = the item id, value = StoredItem (payload XML, publisher, time).
 *
 * One store per node makes deleting or purging a node one `keys()` plus deletes of its items
 * only, and reading an item one indexed lookup. The owner scope is the `username` column, so
 * deleting an account's data (PEP) deletes its nodes and items with it.
 */
import type { MapStore } from '../../../storage/types.js';
import type { NodeRecord, StoredItem } from './types.js';

/** Opens map stores (a ModuleApi is one). */
export interface MapOpener {
  map<T>(store: string): MapStore<T>;
}

export interface PubsubStores {
  nodes: MapStore<NodeRecord>;
  items(node: string): MapStore<StoredItem>;
}

export const NODES_STORE = 'pubsub-nodes';
export const ITEMS_STORE_PREFIX = 'pubsub-items:';

/** The stores of one host or component (`prefix` lets another user of the engine keep its own). */
export function pubsubStores(opener: MapOpener, prefix = 'pubsub'): PubsubStores {
  const nodes = opener.map<NodeRecord>(`${prefix}-nodes`);
  return { nodes, items: (node) => opener.map<StoredItem>(`${prefix}-items:${node}`) };
}
