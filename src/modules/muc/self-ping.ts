/**
 * XEP-0410 MUC self-ping: a client pings its own occupant JID to learn whether it is still
 * joined. The room answers itself (never forwarded to the client's other resources):
 * a result when the ping comes from a resource joined under that nickname, `not-acceptable`
 * otherwise (not joined, another nickname, or no such room), which the XEP tells clients to
 * treat as "rejoin". Hooked on `iq/full` above the iq forwarder (priority 10).
 */
import type { StanzaEvent } from '../../core/event-map.js';
import { reply } from '../../xml/stanza.js';
import { keyOf } from './nick.js';
import { refuse } from './reply.js';
import type { MucService } from './service.js';

export const NS_PING = 'urn:xmpp:ping';
export const FEATURE_SELF_PING = 'http://jabber.org/protocol/muc#self-ping-optimization';
export const SELF_PING_PRIORITY = 20;

/** Answers a self-ping (true), or leaves the iq to the forwarder (false). */
export function onSelfPing(muc: MucService, event: StanzaEvent): boolean {
  const { stanza, to, from } = event;
  if (stanza.attrs.type !== 'get' || !stanza.getChild('ping', NS_PING)) return false;
  const room = muc.room(to.local);
  const occupant = room?.bySession.get(from.full);
  // A ping to someone else's room JID is an occupant-to-occupant ping: the forwarder's job.
  if (occupant && occupant.key !== keyOf(to.resource)) return false;
  if (!occupant) return refuse(muc.out, stanza, 'CANTO_ERR_MUC_SELF_PING_NOT_JOINED');
  muc.out.send(reply(stanza));
  return true;
}
