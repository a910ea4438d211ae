/**
 * The effects of a blocklist on stanzas (XEP-0191 §3.3), checked once on each side:
 * - outbound, on the sender's host (`pre-<kind>/<dest>`, before any delivery, wherever the
 *   stanza goes): the user → a blocked entity is not routed; messages and iq get/set are
 *   answered with not-acceptable + <blocked xmlns='urn:xmpp:blocking:errors'/>; presence (which
 *   the server also sends on the user's behalf, e.g. broadcasts), iq results and errors dropped.
 * - inbound, on the recipient's host (`<kind>/<bare|full>` above every delivery hook): a blocked
 *   entity → the user: presence dropped; messages and iq get/set answered with
 *   service-unavailable (errors dropped); other iqs dropped. The user looks offline.
 * Stanzas within one account, and between the user and their own server, are never blocked.
 *
 * Lists of online users are in memory; when one is not (an offline recipient, a list still
 * loading after login), the handler holds the stanza (returns a promise) until it is loaded, and
 * routing goes on from there: no stanza is routed twice.
 */
import type { ModuleApi } from '../../core/modules.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { Element } from '../../xml/element.js';
import { errorReply } from '../../xml/stanza.js';
import type { Blocklist } from './blocklist.js';
import type { BlocklistCache } from './cache.js';

export const NS_BLOCKING_ERRORS = 'urn:xmpp:blocking:errors';

export class BlockEnforcer {
  /** Stanzas the server sends for the user past the user's own list (the unavailable presence on block). */
  private readonly exempt = new WeakSet<Element>();

  constructor(
    private readonly mod: ModuleApi,
    private readonly cache: BlocklistCache,
  ) {}

  skipOutboundCheck(stanza: Element): void {
    this.exempt.add(stanza);
  }

  /** Sender side: does this host's user block the destination? True when the stanza was taken. */
  readonly onOutbound = (event: StanzaEvent): boolean | Promise<boolean> => {
    const { origin, from, to, stanza } = event;
    if (this.exempt.delete(stanza)) return false;
    // Only a client of the account or the server itself speaks for a local account.
    if (from.local === '' || from.domain !== this.mod.host || (origin.type !== 'c2s' && origin.type !== 'local')) return false;
    if (to.bare === from.bare || to.full === from.domain) return false;
    return this.withList(event, from.local, (list) => list.matches(to) && this.refuseOutbound(event));
  };

  /** Destination side: does the recipient (this host's user) block the sender? True when taken. */
  readonly onInbound = (event: StanzaEvent): boolean | Promise<boolean> => {
    const { from, to } = event;
    if (to.local === '' || to.bare === from.bare) return false;
    return this.withList(event, to.local, (list) => list.matches(from) && this.refuseInbound(event));
  };

  /** Decide with the user's list, holding the stanza while it loads. */
  private withList(event: StanzaEvent, username: string, decide: (list: Blocklist) => boolean): boolean | Promise<boolean> {
    const list = this.cache.peek(username);
    if (list) return decide(list);
    return this.cache.load(username).then(decide, (err: unknown) => {
      this.mod.log.error({ err, from: event.from.full, to: event.to.full }, 'could not load a blocklist');
      this.mod.server.router.bounce(event.origin, event.stanza, 'internal-server-error');
      return true;
    });
  }

  private refuseOutbound(event: StanzaEvent): true {
    const { stanza, origin } = event;
    this.logBlocked(event, 'outbound');
    if (!isSilent(stanza) && origin.type === 'c2s') origin.send(blockedError(stanza));
    return true;
  }

  private refuseInbound(event: StanzaEvent): true {
    this.logBlocked(event, 'inbound');
    if (!isSilent(event.stanza)) this.mod.server.router.bounce(event.origin, event.stanza, 'service-unavailable');
    return true;
  }

  private logBlocked({ stanza, from, to }: StanzaEvent, verdict: 'inbound' | 'outbound'): void {
    this.mod.log.debug({ kind: stanza.name, type: stanza.attrs.type, from: from.full, to: to.full, verdict }, 'stanza blocked');
  }
}

/** Blocked stanzas that get no error: presence, errors and iq results. */
function isSilent(stanza: Element): boolean {
  const type = stanza.attrs.type;
  return stanza.name === 'presence' || type === 'error' || (stanza.name === 'iq' && type === 'result');
}

/** XEP-0191 §3.3: the error for a stanza the user sent to someone they blocked. */
export function blockedError(stanza: Element): Element {
  const err = errorReply(stanza, 'not-acceptable', undefined, 'cancel');
  err.getChild('error')?.c('blocked', { xmlns: NS_BLOCKING_ERRORS });
  return err;
}
