/**
 * Presence on block and unblock (XEP-0191 §3.3, §3.4): blocking a contact sends them unavailable
 * presence from each of the user's available resources, unblocking sends the current presence —
 * both only to contacts allowed to see the user's presence (subscription 'from' or 'both').
 */
import type { ModuleApi } from '../../core/modules.js';
import type { BoundC2SSession } from '../../core/session.js';
import { parseJid, tryParseJid } from '../../jid/index.js';
import { presence } from '../../xml/stanza.js';
import { loadRoster } from '../roster/store.js';
import { Blocklist } from './blocklist.js';
import type { BlockEnforcer } from './enforce.js';

/**
 * The bare JIDs with a presence subscription to the user ('from' or 'both'), or undefined when
 * no roster is available to tell.
 */
export type SubscribersLookup = (username: string) => Promise<ReadonlySet<string> | undefined>;

/**
 * Subscribers from the roster store when the roster module runs on this host; undefined
 * otherwise (checked at each call: modules may load in any order).
 */
export function rosterSubscribers(mod: ModuleApi): SubscribersLookup {
  return async (username) => {
    if (!mod.context?.modules.has('roster')) return undefined;
    const roster = await loadRoster(mod.server, mod.host, username);
    return new Set(roster.items().filter((item) => roster.isSubscriber(item.jid)).map((item) => item.jid));
  };
}

/**
 * The JIDs that should get presence for these (un)blocked items. Without roster data, the items
 * that name a user (domains would be guesses); with it, the subscribers the items match.
 */
export function presenceTargets(items: string[], subscribers: ReadonlySet<string> | undefined, stillBlocked?: Blocklist): string[] {
  const targets = new Set<string>();
  const itemList = new Blocklist(items);
  if (subscribers === undefined) {
    for (const item of items) if (item.includes('@')) targets.add(item);
  } else {
    for (const sub of subscribers) {
      const jid = tryParseJid(sub);
      if (jid && itemList.matches(jid)) targets.add(sub);
    }
    // A full-JID item names one resource of a subscriber: that resource gets the presence.
    for (const item of items) {
      const jid = parseJid(item);
      if (jid.local !== '' && jid.resource !== '' && subscribers.has(jid.bare)) targets.add(item);
    }
  }
  if (stillBlocked) {
    for (const t of [...targets]) if (stillBlocked.matches(parseJid(t))) targets.delete(t);
  }
  return [...targets];
}

export class PresenceEffects {
  constructor(
    private readonly mod: ModuleApi,
    private readonly enforcer: BlockEnforcer,
    private readonly subscribers: SubscribersLookup,
  ) {}

  /** After a block: unavailable presence from each available resource to the blocked contacts. */
  async blocked(username: string, items: string[]): Promise<void> {
    const resources = this.availableResources(username);
    if (resources.length === 0 || items.length === 0) return;
    const targets = presenceTargets(items, await this.subscribers(username));
    // However the user's presence was sent, they get unavailable (the list allowed it until now).
    for (const session of resources) {
      for (const to of targets) {
        const p = presence({ type: 'unavailable', from: session.fullJid, to });
        this.enforcer.skipOutboundCheck(p);
        this.mod.server.router.route(session, p);
      }
    }
  }

  /**
   * After an unblock: the current presence of each available resource to the unblocked contacts
   * that may see it. Without roster data nothing is sent: presence must not reach someone who is
   * not subscribed.
   */
  async unblocked(username: string, items: string[], remaining: Blocklist): Promise<void> {
    const resources = this.availableResources(username);
    if (resources.length === 0 || items.length === 0) return;
    const subs = await this.subscribers(username);
    if (subs === undefined) return;
    const targets = presenceTargets(items, subs, remaining);
    for (const session of resources) {
      for (const to of targets) {
        const current = session.presence;
        if (!current) continue;
        const p = current.clone();
        p.attrs.from = session.fullJid ?? p.attrs.from ?? '';
        p.attrs.to = to;
        this.mod.server.router.route(session, p);
      }
    }
  }

  private availableResources(username: string): BoundC2SSession[] {
    return this.mod.server.sessions.getUserSessions(this.mod.host, username).filter((s) => s.presence !== undefined);
  }
}
