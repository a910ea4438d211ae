/**
 * Which hosts of a server run the blocking module, and their caches. A stanza between two local
 * hosts fires its events only on the destination host, so the module there checks the sender's
 * blocklist through this registry.
 */
import type { Server } from '../../core/server.js';
import type { BlocklistCache } from './cache.js';

const registries = new WeakMap<Server, Map<string, BlocklistCache>>();

/** Register a host's cache; returns the function that unregisters it. */
export function registerHost(server: Server, host: string, cache: BlocklistCache): () => void {
  let hosts = registries.get(server);
  if (!hosts) {
    hosts = new Map();
    registries.set(server, hosts);
  }
  hosts.set(host, cache);
  return () => {
    if (hosts.get(host) === cache) hosts.delete(host);
  };
}

export function cacheForHost(server: Server, host: string): BlocklistCache | undefined {
  return registries.get(server)?.get(host);
}
