/**
 * What other modules use of vcard-temp (XEP-0054): the `vcard` service (read and write an
 * account's vCard on the server's side) and the `vcard/updated` event. The avatar module uses
 * both for XEP-0398 (a vCard PHOTO turned into a XEP-0084 avatar and back).
 */
import type { Element } from '../../xml/element.js';

/**
 * Who wrote a vCard: `client` for an iq-set of the account's own client, else the name of the
 * module that wrote it through the service. A module reacting to `vcard/updated` skips its own
 * writes by this (no conversion loops).
 */
export type VCardSource = 'client' | (string & {});

export interface VCardService {
  /** The account's stored vCard (a fresh copy), or undefined when it has none. */
  get(username: string): Promise<Element | undefined>;
  /**
   * Replace the account's vCard (an empty `<vCard/>` deletes it), as `source`, and fire
   * `vcard/updated`. Rejects with `CANTO_ERR_POLICY_VIOLATION` when it is larger than the
   * module's `max_size` (nothing is stored then).
   */
  set(username: string, vcard: Element, source: VCardSource): Promise<void>;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    vcard: VCardService;
  }
}

declare module '../../core/event-map.js' {
  interface EventMap {
    /**
     * An account's vCard was stored (or deleted: `vcard` is then an empty `<vCard/>`). Dispatched
     * after the write and before the iq-set is answered: a handler may hold it (return a
     * promise) so the client's result means the work it does is done; handlers must not throw.
     */
    'vcard/updated': { username: string; vcard: Element; source: VCardSource };
  }
}
