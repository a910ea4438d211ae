/**
 * Presence to a room (XEP-0045 §7.1–7.6, §7.14): entering (creating the room when it does not
 * exist), the checks in the XEP's order, multi-session nicknames, presence updates, re-sync,
 * nickname changes, leaving, and presence errors from an occupant (its client or server failed).
 */
import type { StanzaEvent } from '../../core/event-map.js';
import type { Jid } from '../../jid/index.js';
import type { Element } from '../../xml/element.js';
import { addressed, broadcastsPresence, sanitizePresence, unavailableFrom, viewFor } from './fanout.js';
import { parseHistoryRequest } from './history.js';
import { enforceNickname, keyOf, nicknameSkeleton } from './nick.js';
import { NS_MUC, STATUS } from './ns.js';
import { announce, removeOccupant } from './occupancy.js';
import { newBucket } from './rate-limit.js';
import { refuse } from './reply.js';
import { defaultRole, isAdminOrOwner } from './roles.js';
import type { Occupant, Room } from './room.js';
import type { MucService } from './service.js';
import { sendHistoryAndSubject } from './join-replay.js';
import type { StanzaErrorCode } from '../../core/errors.js';

export function onPresence(muc: MucService, event: StanzaEvent): true {
  const { stanza, to, from } = event;
  const room = muc.room(to.local);
  const o = room?.bySession.get(from.full);
  const type = stanza.attrs.type;
  if (type === 'error' || type === 'unavailable') {
    // An error means the occupant's resource is gone or failing (333); unavailable to the room's bare JID or any nickname is a leave.
    if (room && o) removeOccupant(muc, room, o, type === 'error' ? { sessions: [from.full], codes: [STATUS.TECHNICAL], reason: 'error' } : { sessions: [from.full], leaving: stanza });
    return true;
  }
  if (type !== undefined) return true; // probes and subscriptions mean nothing to a room
  if (to.isBare()) {
    // §7.2.6: entering needs a nickname.
    return stanza.getChild('x', NS_MUC) ? refuse(muc.out, stanza, 'CANTO_ERR_MUC_NICK_REQUIRED') : true;
  }
  if (muc.stopping) return true;
  if (room && o) {
    const key = keyOf(to.resource);
    if (key !== o.key) return changeNick(muc, room, o, stanza, to, from);
    room.addSession(o, from.full, sanitizePresence(stanza));
    // A client that re-sends its join presence lost track of the room: it gets the room again (as a join).
    if (stanza.getChild('x', NS_MUC)) replay(muc, room, o, from.full, stanza, []);
    else announce(muc, room, o);
    return true;
  }
  return join(muc, room, stanza, to, from);
}

/** The nickname the user may have, or the refusal; `assigned` when the service changed it (210). */
function checkNick(muc: MucService, room: Room, requested: string, bare: string, self?: Occupant): { nick: string; key: string; skeleton: string; assigned: boolean } | StanzaErrorCode {
  const enforced = enforceNickname(requested);
  if (!enforced.ok) return 'CANTO_ERR_MUC_NICK_INVALID';
  let nick = enforced.value;
  const registered = room.affiliations.get(bare)?.nick;
  // Members-only rooms honour registered nicknames: a member enters with its own (210).
  if (registered !== undefined && room.config.membersOnly && keyOf(registered) !== keyOf(nick)) {
    if (self) return 'CANTO_ERR_MUC_NICK_LOCKED';
    nick = registered;
  }
  const key = keyOf(nick);
  if (key === undefined) return 'CANTO_ERR_MUC_NICK_INVALID';
  const holder = room.occupants.get(key);
  if (holder && holder !== self && (self !== undefined || holder.bare !== bare)) return 'CANTO_ERR_MUC_NICK_CONFLICT';
  const registrant = room.registrant(key);
  if (registrant !== undefined && registrant !== bare) return 'CANTO_ERR_MUC_NICK_RESERVED';
  const skeleton = nicknameSkeleton(nick);
  const look = room.lookalike(skeleton);
  if (!holder && look && look !== self && look.bare !== bare) return 'CANTO_ERR_MUC_NICK_LOOKALIKE';
  return { nick, key, skeleton, assigned: nick !== requested };
}

function join(muc: MucService, existing: Room | undefined, stanza: Element, to: Jid, from: Jid): true {
  const x = stanza.getChild('x', NS_MUC);
  if (!enforceNickname(to.resource).ok) return refuse(muc.out, stanza, 'CANTO_ERR_MUC_NICK_INVALID');
  let room = existing;
  let created = false;
  if (!room) {
    const why = muc.refuseCreation(from);
    if (why) return refuse(muc.out, stanza, why);
    // §10.1.3: a join without the MUC payload is an old (groupchat 1.0) client: an instant room.
    room = muc.create(to.local, from, x !== undefined);
    created = true;
  }
  const affiliation = muc.affiliation(room, from.bare);
  const refusal = admission(muc, room, affiliation, x);
  if (refusal) return cleanup(muc, room, created, refuse(muc.out, stanza, refusal));
  const checked = checkNick(muc, room, to.resource, from.bare);
  if (typeof checked === 'string') return cleanup(muc, room, created, refuse(muc.out, stanza, checked));
  let o = room.occupants.get(checked.key);
  const first = o === undefined;
  if (!o) {
    const max = Math.min(room.config.maxUsers || Infinity, muc.options.max_occupants);
    if (room.occupants.size >= max && !isAdminOrOwner(affiliation)) return refuse(muc.out, stanza, 'CANTO_ERR_MUC_FULL');
    o = {
      nick: checked.nick, key: checked.key, skeleton: checked.skeleton, bare: from.bare, sessions: new Map([[from.full, sanitizePresence(stanza)]]),
      primary: from.full, role: defaultRole(affiliation, room.config.moderated), bucket: newBucket(muc.options.message_burst, muc.now()),
    };
    room.addOccupant(o);
  } else {
    room.addSession(o, from.full, sanitizePresence(stanza));
  }
  muc.metrics.joins.inc();
  const codes = [...(created ? [STATUS.CREATED] : []), ...(checked.assigned ? [STATUS.NICK_ASSIGNED] : [])];
  replay(muc, room, o, from.full, stanza, codes);
  // §7.2.3: then everyone else learns of the new occupant (the other resources of a shared nickname get their own view).
  if (first && broadcastsPresence(room, o)) {
    const views = muc.views(room, o);
    const joined = o;
    muc.fanOut(room, (other) => (other === joined ? undefined : viewFor(views, room, other)));
  } else if (!first) {
    for (const s of o.sessions.keys()) if (s !== from.full) muc.out.send(addressed(muc.selfPresence(room, o, []), s));
  }
  muc.mod.fire('muc-occupant-joined', { room, occupant: o, session: from.full, first });
  return true;
}

/** §7.2.4–7.2.9: may this user enter (before the nickname is looked at)? */
function admission(muc: MucService, room: Room, affiliation: string, x: Element | undefined): StanzaErrorCode | undefined {
  if (room.locked && affiliation !== 'owner') return 'CANTO_ERR_MUC_LOCKED';
  if (affiliation === 'outcast') return 'CANTO_ERR_MUC_BANNED';
  if (room.config.membersOnly && affiliation === 'none') return 'CANTO_ERR_MUC_MEMBERS_ONLY';
  const owners = affiliation === 'owner' || affiliation === 'admin';
  if (room.config.password !== '' && !owners && x?.getChildText('password', NS_MUC) !== room.config.password) return 'CANTO_ERR_MUC_PASSWORD';
  return undefined;
}

/** A room created by a join that was then refused (a bad nickname) does not stay. */
function cleanup(muc: MucService, room: Room, created: boolean, result: true): true {
  if (created && room.empty) void muc.forget(room);
  return result;
}

/** §7.2.3, in order: the others' presence, the occupant's own, the history, the subject. */
function replay(muc: MucService, room: Room, o: Occupant, session: string, stanza: Element, codes: number[]): void {
  for (const other of room.occupants.values()) {
    if (other !== o && broadcastsPresence(room, other)) muc.out.send(addressed(viewFor(muc.views(room, other), room, o), session));
  }
  muc.out.send(addressed(muc.selfPresence(room, o, [...codes, ...muc.roomCodes(room)]), session));
  sendHistoryAndSubject(muc, room, session, parseHistoryRequest(stanza.getChild('x', NS_MUC)?.getChild('history', NS_MUC)));
}

/** §7.6: a new nickname: 303 from the old one (with the new nick), then presence from the new one. */
function changeNick(muc: MucService, room: Room, o: Occupant, stanza: Element, to: Jid, from: Jid): true {
  const checked = checkNick(muc, room, to.resource, o.bare, o);
  if (typeof checked === 'string') return refuse(muc.out, stanza, checked);
  const views = muc.transientViews(room, o, unavailableFrom(room.jid, o.nick), o.role, [STATUS.NICK_CHANGED], { nick: checked.nick });
  if (broadcastsPresence(room, o)) muc.fanOut(room, (other) => (other === o ? undefined : viewFor(views, room, other)));
  for (const s of o.sessions.keys()) muc.out.send(addressed(views.self(s), s));
  room.rename(o, checked.nick, checked.key, checked.skeleton);
  room.addSession(o, from.full, sanitizePresence(stanza));
  announce(muc, room, o, checked.assigned ? [STATUS.NICK_ASSIGNED] : []);
  return true;
}
