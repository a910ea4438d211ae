/**
 * The events SASL2's Bind2 (XEP-0386) fires, declared here so the modules that offer an inline
 * feature (smacks, carbons, csi) hook them without knowing this module.
 */
import type { BoundC2SSession, C2SUnauthedSession } from '../../core/session.js';
import type { Element } from '../../xml/element.js';

declare module '../../core/event-map.js' {
  interface EventMap {
    /** Advertising Bind2 on an unauthenticated stream: push the `var` of each feature you take inline. */
    'bind2-features': { session: C2SUnauthedSession; features: string[] };
    /**
     * Bind2 just bound `session` for this `<bind/>` request: act on your inline element in it
     * (e.g. `<enable xmlns='urn:xmpp:carbons:2'/>`) and add any result to `bound`.
     */
    'bind2-inline': { session: BoundC2SSession; request: Element; bound: Element };
  }
}

export const NS_SASL2 = 'urn:xmpp:sasl:2';
export const NS_BIND2 = 'urn:xmpp:bind:0';
export const NS_FAST = 'urn:xmpp:fast:0';
export const NS_SM = 'urn:xmpp:sm:3';
