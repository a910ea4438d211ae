/**
 * Messages to a room (§7.4 groupchat, §8.1 subject, §7.5 private messages) and the errors an
 * occupant's server sends back (the occupant is removed with status 333). Invitations and voice requests
 * are in invitations.ts and voice.ts; this file routes a message to them.
 */
import type { StanzaEvent } from '../../core/event-map.js';
import type { Jid } from '../../jid/index.js';
import { Element } from '../../xml/element.js';
import { toOccupant } from './fanout.js';
import { parseForm } from './forms.js';
import { onInvitation } from './invitations.js';
import { keyOf } from './nick.js';
import { FORM_REQUEST, NS_DATA, NS_MUC_USER, NS_SID, STATUS } from './ns.js';
import { removeOccupant } from './occupancy.js';
import { take } from './rate-limit.js';
import { refuse } from './reply.js';
import { mayChangeSubject, mayPrivateMessage } from './roles.js';
import type { Occupant, Room } from './room.js';
import type { MucService } from './service.js';
import { onVoiceForm } from './voice.js';

/** Errors that mean the occupant's resource is gone for good: it is removed (333), so no ghost stays in the room. */
const GONE = new Set(['gone', 'item-not-found', 'recipient-unavailable', 'redirect', 'remote-server-not-found', 'remote-server-timeout', 'service-unavailable']);

export function onRoomMessage(muc: MucService, event: StanzaEvent): true | Promise<true> {
  const { stanza, to, from } = event;
  const type = stanza.attrs.type ?? 'normal';
  if (type === 'error') return true;
  const room = muc.room(to.local);
  if (!room) return refuse(muc.out, stanza, 'CANTO_ERR_MUC_ROOM_NOT_FOUND');
  const userX = stanza.getChild('x', NS_MUC_USER);
  if (userX && (userX.getChild('invite', NS_MUC_USER) || userX.getChild('decline', NS_MUC_USER))) return onInvitation(muc, room, stanza, from, userX);
  const form = stanza.getChild('x', NS_DATA);
  if (form && parseForm(form).formType === FORM_REQUEST) return onVoiceForm(muc, room, stanza, from, parseForm(form));
  if (type !== 'groupchat') return refuse(muc.out, stanza, 'CANTO_ERR_BAD_REQUEST', 'a room takes groupchat messages, invitations and voice requests');
  return onGroupchat(muc, room, stanza, from);
}

/** May this occupant send now (the token bucket)? Counts refusals. */
function withinRate(muc: MucService, o: Occupant): boolean {
  if (take(o.bucket, muc.options.message_rate, muc.options.message_burst, muc.now())) return true;
  muc.metrics.rateLimited.inc();
  return false;
}

/** The room's copy of a message: from the occupant's room JID, without what only the room may add. */
function roomCopy(room: Room, o: Occupant, stanza: Element): Element {
  const base = stanza.clone();
  delete base.attrs.to;
  base.attrs.from = `${room.jid}/${o.nick}`;
  base.children = base.children.filter(
    (c) => typeof c === 'string' || !((c.name === 'x' && c.xmlns === NS_MUC_USER) || (c.name === 'stanza-id' && c.xmlns === NS_SID && c.attrs.by === room.jid)),
  );
  return base;
}

function onGroupchat(muc: MucService, room: Room, stanza: Element, from: Jid): true | Promise<true> {
  const o = room.bySession.get(from.full);
  if (!o) return refuse(muc.out, stanza, 'CANTO_ERR_MUC_NOT_OCCUPANT');
  if (o.role === 'visitor' || o.role === 'none') return refuse(muc.out, stanza, 'CANTO_ERR_MUC_NO_VOICE');
  if (!withinRate(muc, o)) return refuse(muc.out, stanza, 'CANTO_ERR_MUC_RATE_LIMITED');
  const subject = stanza.getChild('subject');
  const body = stanza.getChild('body');
  // §8.1: a subject without a body changes the subject; with a body it is an ordinary message.
  if (subject && !body) {
    if (!mayChangeSubject(o.role, room.config.changeSubject)) return refuse(muc.out, stanza, 'CANTO_ERR_MUC_SUBJECT_FORBIDDEN');
    room.subject = { text: subject.getText(), nick: o.nick, when: muc.now() };
    void muc.save(room);
    fanOutMessage(muc, room, roomCopy(room, o, stanza));
    return true;
  }
  const base = roomCopy(room, o, stanza);
  const held = muc.mod.dispatch('muc-message', { room, occupant: o, stanza: base, from });
  const go = (dropped: boolean): true => {
    if (dropped || room.destroyed) return true;
    if (body) void muc.history.record(room, { stanza: base, when: muc.now() });
    fanOutMessage(muc, room, base);
    muc.metrics.messages.inc({ kind: 'groupchat' });
    return true;
  };
  if (typeof held === 'boolean') return go(held);
  return held.then(go, (err: unknown) => {
    muc.mod.log.error({ err, room: room.jid }, 'a muc-message handler failed');
    return refuse(muc.out, stanza, 'CANTO_ERR_INTERNAL');
  });
}

/**
 * One message to every resource of every occupant, sent at once (after what the room queued
 * before): for other modules (a moderation notice), whose iq answer may follow it.
 */
export function broadcastMessage(muc: MucService, room: Room, base: Element): void {
  fanOutMessage(muc, room, base);
  muc.flush();
}

/** One message to every resource of every occupant: built once, a shallow copy each, queued with the turn's output. */
export function fanOutMessage(muc: MucService, room: Room, base: Element): void {
  let n = 0;
  for (const o of room.occupants.values()) {
    toOccupant(muc.out, o, base);
    n += o.sessions.size;
  }
  muc.metrics.deliveries.inc(undefined, n);
}

/** A message to an occupant (room/nick): a private message, or an error from the occupant's side. */
export function onOccupantMessage(muc: MucService, event: StanzaEvent): true {
  const { stanza, to, from } = event;
  const type = stanza.attrs.type ?? 'normal';
  const room = muc.room(to.local);
  if (type === 'error') {
    const o = room?.bySession.get(from.full);
    const condition = stanza.getChild('error')?.elements.find((c) => c.xmlns === 'urn:ietf:params:xml:ns:xmpp-stanzas' && c.name !== 'text')?.name;
    if (room && o && condition !== undefined && GONE.has(condition)) {
      removeOccupant(muc, room, o, { sessions: [from.full], codes: [STATUS.TECHNICAL], reason: 'error' });
    }
    return true;
  }
  if (!room) return refuse(muc.out, stanza, 'CANTO_ERR_MUC_ROOM_NOT_FOUND');
  const sender = room.bySession.get(from.full);
  if (!sender) return refuse(muc.out, stanza, 'CANTO_ERR_MUC_NOT_OCCUPANT');
  if (type === 'groupchat') return refuse(muc.out, stanza, 'CANTO_ERR_MUC_PM_GROUPCHAT');
  const key = keyOf(to.resource);
  const target = key === undefined ? undefined : room.occupants.get(key);
  if (!target) return refuse(muc.out, stanza, 'CANTO_ERR_MUC_NO_SUCH_OCCUPANT');
  if (!mayPrivateMessage(sender.role, room.config.allowPm)) return refuse(muc.out, stanza, 'CANTO_ERR_MUC_PM_FORBIDDEN');
  if (!withinRate(muc, sender)) return refuse(muc.out, stanza, 'CANTO_ERR_MUC_RATE_LIMITED');
  const base = roomCopy(room, sender, stanza);
  // §7.5: marked as coming through a room, so clients (and carbons) know it is not a one-to-one chat.
  base.cnode(new Element('x', { xmlns: NS_MUC_USER }));
  toOccupant(muc.out, target, base);
  muc.metrics.messages.inc({ kind: 'private' });
  return true;
}
