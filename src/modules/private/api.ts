/**
 * What other modules use of XEP-0049 private XML storage: the `private` service (read and write
 * one namespace of an account's storage on the server's side) and the `private/stored` event.
 * The bookmarks module uses both to keep XEP-0048 `storage:bookmarks` and XEP-0402 PEP bookmarks
 * the same list.
 */
import type { Element } from '../../xml/element.js';

/**
 * Who wrote: `client` for the account's own iq-set, else the name of the module that wrote
 * through the service (a module reacting to `private/stored` skips its own writes by this).
 */
export type PrivateSource = 'client' | (string & {});

export interface PrivateService {
  /** The elements stored in namespace `ns` (fresh copies, document order); [] when none. */
  get(username: string, ns: string): Promise<Element[]>;
  /**
   * Replace what is stored in `ns` with `elements` (all in that namespace; [] deletes it), as
   * `source`, then fire `private/stored`. The iq's limits (size, namespace count) do not apply:
   * a module writes data it derived from what the account already stores elsewhere.
   */
  set(username: string, ns: string, elements: Element[], source: PrivateSource): Promise<void>;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    private: PrivateService;
  }
}

declare module '../../core/event-map.js' {
  interface EventMap {
    /**
     * A namespace of an account's private storage was replaced (once per namespace of an
     * iq-set). Dispatched after the write and before the client is answered: a handler may hold
     * it (return a promise) so the result means the work it does is done; handlers must not throw.
     */
    'private/stored': { username: string; ns: string; elements: Element[]; source: PrivateSource };
  }
}
