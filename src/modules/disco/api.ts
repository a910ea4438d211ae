/**
 * What other modules use to extend service discovery (XEP-0030) beyond `mod.addFeature`,
 * `mod.addIdentity` and `mod.addDiscoExtension`:
 *
 * - `addDiscoItem(mod, item)`: a fixed item in the host's disco#items (removed on unload);
 * - the events below, fired on the host for every query, to answer per requester or per node.
 *
 * Events for queries without a node collect (handlers append and must not return true);
 * events for a node are claimed: the handler that knows the node fills the reply and returns
 * true, and a node nobody claims is answered with item-not-found. For an account's bare JID the
 * events are dispatched: a handler may return a promise (e.g. PEP reads its nodes from storage)
 * and the answer waits for it; for the host they are fired (synchronous: the host's answer is
 * also hashed for XEP-0115, at any time).
 */
import type { ModuleApi } from '../../core/modules.js';
import type { LocalSession, StreamSession } from '../../core/session.js';
import type { Jid } from '../../jid/index.js';
import type { Element } from '../../xml/element.js';

export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
export const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';

export interface DiscoItem {
  jid: string;
  name?: string;
  node?: string;
}

export interface DiscoQuery {
  origin: StreamSession | LocalSession;
  stanza: Element;
  from: Jid;
  /** The host (no localpart) or an account's bare JID. */
  to: Jid;
  /**
   * For an account: whether the requester may see the account's presence (the user themself,
   * or a contact with a 'from'/'both' subscription), as XEP-0030 §8 requires for anything
   * that reveals availability. Always true for the host.
   */
  trusted: boolean;
}

declare module '../../core/event-map.js' {
  interface EventMap {
    /** disco#info without a node (host, or an account for trusted requesters): append to `query`. */
    'disco-info': DiscoQuery & { query: Element };
    /** disco#info for a node: fill `query` and return true if the node is yours. */
    'disco-info-node': DiscoQuery & { node: string; query: Element };
    /** disco#items without a node: push to `items`. */
    'disco-items': DiscoQuery & { items: DiscoItem[] };
    /** disco#items for a node: push to `items` and return true if the node is yours. */
    'disco-items-node': DiscoQuery & { node: string; items: DiscoItem[] };
  }
}

/** What the disco module provides on its host as the 'disco' service. */
export interface DiscoService {
  /** Add a fixed item to the host's disco#items; returns the function that removes it. */
  addItem(item: DiscoItem): () => void;
  /** The fixed items (a copy). */
  items(): DiscoItem[];
  /**
   * The <query/> the host answers disco#info without a node with (identities, features, forms,
   * and what `disco-info` handlers add for the host itself as requester). The caps module hashes
   * it for the server's own XEP-0115 `ver`.
   */
  hostInfo(): Element;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    disco: DiscoService;
  }
}

/** The fixed items of one host (the disco module makes one and provides it); `hostInfo` builds the host's answer. */
export function discoService(hostInfo: () => Element): DiscoService {
  const list: DiscoItem[] = [];
  return {
    hostInfo,
    addItem(item) {
      const own = { ...item };
      list.push(own);
      return () => {
        const i = list.indexOf(own);
        if (i >= 0) list.splice(i, 1);
      };
    },
    items: () => [...list],
  };
}

/** Add an item to the disco#items of `mod`'s host; it goes away when `mod` unloads (the module depends on 'disco'). */
export function addDiscoItem(mod: ModuleApi, item: DiscoItem): void {
  if (!mod.context) throw new Error(`module ${mod.name}: addDiscoItem needs a host (this module is global)`);
  mod.onUnload(mod.require('disco').addItem(item));
}
