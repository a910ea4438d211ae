/**
 * XEP-0280 Message Carbons: a resource enables carbons with <enable/> and then gets a copy of
 * what its account's other resources send (<sent/>) and receive (<received/>), for messages of
 * the kinds rules.ts says; forged carbon wrappers are removed from messages between accounts.
 * See README.md for the hooks and their priorities.
 */
import { defineModule } from '../../core/modules.js';
import { stanzaError } from '../../core/errors.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { BoundC2SSession } from '../../core/session.js';
import { availableResources, highestPriority } from '../message/index.js';
import { carbonVerdict, NS_CARBONS, stripForgedCarbons, stripPrivate, wrapCarbon, type Direction } from './rules.js';

export { NS_CARBONS, NS_FORWARD, carbonVerdict, isCarbon, wrapCarbon } from './rules.js';

/**
 * Above the delivery hooks (0), so <private/> is removed and the copies made before delivery;
 * below blocking (1000), so a blocked message is never copied. A module that stamps messages
 * (MAM's stanza-id) hooks above this, so the copies carry the stamp.
 */
export const CARBONS_PRIORITY = 1;
/** The session flag (`C2SSession.flags`) of a resource that enabled carbons. */
export const CARBONS_FLAG = 'carbons';

export default defineModule({
  name: 'carbons',
  description: 'XEP-0280 Message Carbons',
  depends: ['message'],
  setup(mod) {
    /**
     * Resources that enabled carbons: a session flag, so that in a cluster a proxy of a resource
     * bound on another node carries it too (the registry publishes flags).
     */
    const enabled = {
      has: (s: BoundC2SSession): boolean => s.flags?.has(CARBONS_FLAG) ?? false,
      set: (s: BoundC2SSession, on: boolean): void => mod.server.sessions.setFlag(s, CARBONS_FLAG, on),
    };
    const copies = mod.measure.counter('carbons_copies_total', 'Carbon copies sent to resources, by direction', ['direction']);
    const forged = mod.measure.counter('carbons_forged_removed_total', 'Forged carbon wrappers removed from messages between accounts');

    mod.addFeature(NS_CARBONS);

    const toggle = (on: boolean) => ({ origin, from, to }: StanzaEvent): undefined => {
      // §4.1, §5.1: only a client of this host, for itself (to its own bare JID or its server).
      const own = origin.type === 'c2s' && origin.host === mod.host && (to.local === '' ? to.domain === mod.host : to.bare === from.bare);
      if (!own) throw stanzaError('CANTO_ERR_NOT_ALLOWED', 'carbons are enabled by the resource itself');
      enabled.set(origin, on);
      mod.log.debug({ jid: origin.fullJid }, on ? 'carbons enabled' : 'carbons disabled');
      return undefined;
    };
    mod.iq('set', NS_CARBONS, 'enable', toggle(true), { to: ['bare', 'host'] });
    // XEP-0386 Bind2: enabled inline at login (events of the sasl2 module).
    mod.hook('bind2-features', ({ features }) => {
      features.push(NS_CARBONS);
    });
    mod.hook('bind2-inline', ({ session, request }) => {
      if (request.getChild('enable', NS_CARBONS) === undefined) return;
      enabled.set(session, true);
      mod.log.debug({ jid: session.fullJid }, 'carbons enabled (Bind2)');
    });
    mod.iq('set', NS_CARBONS, 'disable', toggle(false), { to: ['bare', 'host'] });

    /** Send a copy to each carbons-enabled available resource of the user except `skip`. */
    const copyTo = (direction: Direction, event: StanzaEvent, username: string, userBare: string, skip: Set<BoundC2SSession>): void => {
      let n = 0;
      for (const s of mod.server.sessions.getUserSessions(mod.host, username)) {
        if (skip.has(s) || !enabled.has(s) || s.presence === undefined) continue;
        s.send(wrapCarbon(direction, event.stanza, userBare, s.fullJid));
        n++;
      }
      if (n === 0) return;
      copies.inc({ direction }, n);
      mod.log.debug({ user: userBare, direction, copies: n, id: event.stanza.attrs.id }, 'carbons copied');
    };

    // Sender side: what a client of this host sends, wherever it goes (§8).
    const onSent = (event: StanzaEvent): false => {
      const { origin, stanza, from, to } = event;
      if (origin.type !== 'c2s') return false;
      if (stripForgedCarbons(stanza, from, to)) {
        forged.inc();
        mod.log.debug({ from: from.full, to: to.full }, 'forged carbon removed');
      }
      // Within one account the receiving side copies (below): no second, 'sent' copy.
      if (to.bare === from.bare) return false;
      const verdict = carbonVerdict(stanza, 'sent', to.resource !== '');
      if (verdict.copy) copyTo('sent', event, origin.username, from.bare, new Set([origin]));
      return false;
    };

    // Destination side: what is delivered to a user of this host, from anyone (§7).
    const onReceived = (event: StanzaEvent): false => {
      const { origin, stanza, from, to } = event;
      // A re-sent message (stream management): the other resources had their copies the first time.
      if (to.local === '' || event.redelivery) return false;
      if (stripForgedCarbons(stanza, from, to)) {
        forged.inc();
        mod.log.debug({ from: from.full, to: to.full }, 'forged carbon removed');
      }
      const verdict = carbonVerdict(stanza, 'received', to.resource !== '');
      stripPrivate(stanza); // §9: after deciding, before delivery
      if (!verdict.copy) return false;
      const skip = originalRecipients(mod.server.sessions.getUserSessions(mod.host, to.local), to.resource);
      if (origin.type === 'c2s') skip.add(origin); // a message between an account's own resources
      copyTo('received', event, to.local, to.bare, skip);
      return false;
    };

    for (const dest of ['bare', 'full', 'host'] as const) mod.hook(`pre-message/${dest}`, onSent, CARBONS_PRIORITY);
    mod.hook('message/bare', onReceived, CARBONS_PRIORITY);
    mod.hook('message/full', onReceived, CARBONS_PRIORITY);
  },
});

/**
 * The resources the message module gives the original to (RFC 6121 §8.5, for the types that
 * are copied: chat and normal): the addressed resource when it is bound, else the available
 * resources of the highest non-negative priority.
 */
export function originalRecipients(sessions: BoundC2SSession[], resource: string): Set<BoundC2SSession> {
  if (resource !== '') {
    const addressed = sessions.find((s) => s.resource === resource);
    if (addressed) return new Set([addressed]);
  }
  return new Set(highestPriority(availableResources(sessions)));
}
