/**
 * The effects of a blocklist on stanzas (XEP-0191 §3.3), run from high-priority hooks before
 * any delivery:
 * - inbound (a blocked entity → the user): presence dropped; messages answered with
 *   service-unavailable (errors dropped); iq get/set answered with service-unavailable, other
 *   iqs dropped. The user looks offline.
 * - outbound (the user → a blocked entity): not routed; messages and iq get/set answered with
 *   not-acceptable + <blocked xmlns='urn:xmpp:blocking:errors'/>; presence (which the server
 *   also sends on the user's behalf, e.g. broadcasts), iq results and errors are dropped.
 * Stanzas within one account, and from the user to their own server, are never blocked.
 *
 * Handlers are synchronous, so the lists must be in memory. When one is not (a user who is
 * offline, or whose list is still loading after login), the stanza is held, the list loaded,
 * and the stanza routed again once decided; stanzas held for the same user keep their order.
 */
import type { ModuleApi } from '../../core/modules.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { Element } from '../../xml/element.js';
import { errorReply } from '../../xml/stanza.js';
import type { Blocklist } from './blocklist.js';
import type { BlocklistCache } from './cache.js';
import { cacheForHost } from './registry.js';

export const NS_BLOCKING_ERRORS = 'urn:xmpp:blocking:errors';

interface Party {
  cache: BlocklistCache;
  username: string;
}

/** What a check found: which lists (if any) the stanza hits. */
export type Verdict = 'pass' | 'outbound' | 'inbound';

export class BlockEnforcer {
  /** Stanzas already checked: 'outbound' = the sender's list; 'all' = both lists. */
  private readonly cleared = new WeakMap<Element, 'outbound' | 'all'>();

  constructor(private readonly mod: ModuleApi) {}

  /** Let a stanza the server sends for the user pass the user's own list (e.g. the unavailable presence on block). */
  skipOutboundCheck(stanza: Element): void {
    this.cleared.set(stanza, 'outbound');
  }

  /** `pre-<kind>/<dest>` on this host: the recipient's list and the sender's. Returns true when the stanza was taken. */
  readonly onLocalStanza = (event: StanzaEvent): boolean => this.check(event, true);

  /** `route/remote`, `route/component`: only the local sender's list. */
  readonly onOutgoingStanza = (event: StanzaEvent): boolean => this.check(event, false);

  private check(event: StanzaEvent, inboundToo: boolean): boolean {
    const { stanza } = event;
    const mark = this.cleared.get(stanza);
    if (mark !== undefined) this.cleared.delete(stanza);
    if (mark === 'all') return false;
    const sender = mark === 'outbound' ? undefined : this.senderParty(event);
    const recipient = inboundToo ? this.recipientParty(event) : undefined;
    const senderList = sender?.cache.peek(sender.username);
    const recipientList = recipient?.cache.peek(recipient.username);
    if ((sender && !senderList) || (recipient && !recipientList)) {
      this.deferred(event, sender, recipient);
      return true;
    }
    return this.apply(event, senderList, recipientList);
  }

  /** Load the missing lists, then decide; a stanza that passes is routed again. */
  private deferred(event: StanzaEvent, sender: Party | undefined, recipient: Party | undefined): void {
    Promise.all([sender?.cache.load(sender.username), recipient?.cache.load(recipient.username)]).then(
      ([senderList, recipientList]) => {
        if (this.apply(event, senderList, recipientList)) return;
        this.cleared.set(event.stanza, 'all');
        this.mod.server.router.route(event.origin, event.stanza);
      },
      (err: unknown) => {
        this.mod.log.error({ err, from: event.from.full, to: event.to.full }, 'could not load a blocklist');
        this.mod.server.router.bounce(event.origin, event.stanza, 'internal-server-error');
      },
    );
  }

  /** Act on the verdict; true when the stanza was blocked (and answered or dropped). */
  private apply(event: StanzaEvent, senderList: Blocklist | undefined, recipientList: Blocklist | undefined): boolean {
    const verdict = decide(event, senderList, recipientList);
    if (verdict === 'pass') return false;
    const { stanza, origin, from, to } = event;
    const kind = stanza.name;
    const type = stanza.attrs.type;
    this.mod.log.debug({ kind, type, from: from.full, to: to.full, verdict }, 'stanza blocked');
    if (kind === 'presence' || type === 'error' || (kind === 'iq' && type === 'result')) return true;
    if (verdict === 'inbound') {
      this.mod.server.router.bounce(origin, stanza, 'service-unavailable');
    } else if (origin.type === 'c2s') {
      origin.send(blockedError(stanza));
    }
    return true;
  }

  /** The local account sending this stanza, when its host runs the blocking module. */
  private senderParty(event: StanzaEvent): Party | undefined {
    const { origin, from, to } = event;
    // Only a client of the account or the server itself speaks for a local account.
    if (from.local === '' || (origin.type !== 'c2s' && origin.type !== 'local')) return undefined;
    if (to.bare === from.bare || to.full === from.domain) return undefined;
    const cache = cacheForHost(this.mod.server, from.domain);
    return cache ? { cache, username: from.local } : undefined;
  }

  /** The local account this stanza is addressed to (this host's), unless it comes from itself. */
  private recipientParty(event: StanzaEvent): Party | undefined {
    const { from, to } = event;
    if (to.local === '' || to.bare === from.bare) return undefined;
    const cache = cacheForHost(this.mod.server, to.domain);
    return cache ? { cache, username: to.local } : undefined;
  }
}

/** The pure decision: does the sender block the recipient, or the recipient the sender? */
export function decide(event: Pick<StanzaEvent, 'from' | 'to'>, senderList: Blocklist | undefined, recipientList: Blocklist | undefined): Verdict {
  if (senderList?.matches(event.to)) return 'outbound';
  if (recipientList?.matches(event.from)) return 'inbound';
  return 'pass';
}

/** XEP-0191 §3.3: the error for a stanza the user sent to someone they blocked. */
export function blockedError(stanza: Element): Element {
  const err = errorReply(stanza, 'not-acceptable', undefined, 'cancel');
  err.getChild('error')?.c('blocked', { xmlns: NS_BLOCKING_ERRORS });
  return err;
}
