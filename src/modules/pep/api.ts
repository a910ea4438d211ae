/**
 * What other modules use of PEP (XEP-0163): the `pep` service and the `pep/*` events. The
 * modules built on PEP (avatars, bookmarks, nickname) publish and read an account's nodes
 * through this service as the account itself, so a server-side write (a vCard PHOTO turned into
 * a XEP-0084 avatar, XEP-0048 private XML bookmarks turned into XEP-0402 items) notifies the
 * account's resources and contacts exactly as a client's publish would.
 */
import type { Element } from '../../xml/element.js';
import type { NodeConfig } from '../pubsub/engine/types.js';

/** An item of an account's node, as the service hands it out. */
export interface PepItem {
  id: string;
  /** The payload element (a fresh copy), or undefined for an item without one. */
  payload: Element | undefined;
  /** The publisher's JID (full, as it published; the account's bare JID for server writes). */
  publisher: string;
  /** ms since the epoch. */
  published: number;
}

export interface PepPublishOptions {
  /**
   * Node configuration the node must have (XEP-0060 §7.1.5 publish-options): a missing node is
   * created with it; an existing node with another value of one of these fields makes the
   * publish fail with `precondition-not-met` — unless `reconfigure` is true, in which case the
   * node is reconfigured to them first (what a server-side converter does for its own nodes).
   */
  config?: Partial<NodeConfig>;
  reconfigure?: boolean;
}

/** The `pep` service, provided on each host that loads the module. Usernames are nodeprepped. */
export interface PepService {
  /**
   * Publish `payload` as item `id` (generated when absent) to the account's `node`, as the
   * account itself; creates the node when missing (with `options.config` over the PEP defaults).
   * Resolves with the item id once stored and the notifications are sent. Rejects with the
   * engine's coded StanzaError (e.g. precondition-not-met, payload-too-big).
   */
  publish(username: string, node: string, payload: Element, id?: string, options?: PepPublishOptions): Promise<string>;
  /** The account's items of `node`, newest first (at most `max`; only `ids` when given); [] when there is no such node. */
  items(username: string, node: string, opts?: { ids?: string[]; max?: number }): Promise<PepItem[]>;
  /** Retract items (notifying with `notify_retract`); unknown ids are ignored; no node: nothing. */
  retract(username: string, node: string, ids: string[]): Promise<void>;
  /** Delete the node (subscribers told per `notify_delete`); no node: nothing. */
  deleteNode(username: string, node: string): Promise<void>;
  /** The account's node names (sorted). */
  nodes(username: string): Promise<string[]>;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    pep: PepService;
  }
}

declare module '../../core/event-map.js' {
  interface EventMap {
    /**
     * An item was published to a local account's PEP node (by a client of the account or through
     * the service), after it was stored and its notifications were sent. `publisher` is the full
     * JID of the publishing client, or the account's bare JID for a server-side publish (a module
     * reacting to its own conversions can skip those). Handlers must not throw or hold it.
     */
    'pep/published': { username: string; node: string; id: string; payload: Element | undefined; publisher: string };
    /** Items were retracted from a local account's PEP node (not fired for node deletion or purge). */
    'pep/retracted': { username: string; node: string; ids: string[]; publisher: string };
    /** A local account's PEP node was deleted (by the account, or with the account). */
    'pep/node-deleted': { username: string; node: string };
  }
}
