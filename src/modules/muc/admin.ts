/**
 * muc#admin (§8 moderators, §9 admins, §10 owners): the role and affiliation lists and their
 * changes. A set is checked whole before anything changes; then each change is told to the room
 * (kick 307, ban 301, affiliation lost in a members-only room 321, new roles and affiliations as
 * presence, affiliation changes of non-occupants as a message) and the room is saved once.
 */
import { stanzaError } from '../../core/errors.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { tryParseJid } from '../../jid/index.js';
import { Element } from '../../xml/element.js';
import { message } from '../../xml/stanza.js';
import { toOccupant } from './fanout.js';
import { keyOf } from './nick.js';
import { NS_MUC_ADMIN, NS_MUC_USER, STATUS } from './ns.js';
import { announce, removeOccupant } from './occupancy.js';
import { checkAffiliationChange, checkRoleChange, defaultRole, isAffiliation, isRole, mayReadList, seesRealJids, type Affiliation, type Party, type Role, type Verdict } from './roles.js';
import type { Occupant, Room } from './room.js';
import type { MucService } from './service.js';

/** The room an iq is for; item-not-found when there is none (or it is locked and the asker does not own it). */
export function roomFor(muc: MucService, event: StanzaEvent): Room {
  const room = muc.room(event.to.local);
  if (!room) throw stanzaError('CANTO_ERR_MUC_ROOM_NOT_FOUND');
  if (room.locked && muc.affiliation(room, event.from.bare) !== 'owner') throw stanzaError('CANTO_ERR_MUC_LOCKED');
  return room;
}

/** The asker as the permission tables see it: an owner or admin who is not in the room still acts as a moderator. */
function asker(muc: MucService, room: Room, event: StanzaEvent): Party & { occupant?: Occupant } {
  const occupant = room.bySession.get(event.from.full);
  const affiliation = muc.affiliation(room, event.from.bare);
  const role: Role = occupant?.role ?? (affiliation === 'owner' || affiliation === 'admin' ? 'moderator' : 'none');
  return { role, affiliation, occupant };
}

const refused = (v: Verdict): never => {
  throw stanzaError(v === 'forbidden' ? 'CANTO_ERR_FORBIDDEN' : 'CANTO_ERR_MUC_TARGET_PROTECTED');
};

function items(event: StanzaEvent): Element[] {
  const list = event.stanza.getChild('query', NS_MUC_ADMIN)?.getChildren('item', NS_MUC_ADMIN) ?? [];
  if (list.length === 0) throw stanzaError('CANTO_ERR_BAD_REQUEST', 'the query needs at least one item');
  return list;
}

export function adminGet(muc: MucService, event: StanzaEvent): Element {
  const room = roomFor(muc, event);
  const item = items(event)[0]!; // items() never returns an empty list
  const who = asker(muc, room, event);
  const query = new Element('query', { xmlns: NS_MUC_ADMIN });
  const { affiliation, role } = item.attrs;
  if (affiliation !== undefined) {
    if (!isAffiliation(affiliation) || affiliation === 'none') throw stanzaError('CANTO_ERR_BAD_REQUEST', `cannot list affiliation "${affiliation}"`);
    if (!mayReadList(who, { affiliation })) throw stanzaError('CANTO_ERR_FORBIDDEN');
    for (const bare of room.withAffiliation(affiliation).sort()) {
      const r = room.affiliations.get(bare);
      const el = query.c('item', { affiliation, jid: bare, nick: r?.nick });
      if (r?.reason !== undefined) el.c('reason').t(r.reason);
    }
    return query;
  }
  if (role !== undefined) {
    if (!isRole(role) || role === 'none') throw stanzaError('CANTO_ERR_BAD_REQUEST', `cannot list role "${role}"`);
    if (!mayReadList(who, { role })) throw stanzaError('CANTO_ERR_FORBIDDEN');
    for (const o of room.occupants.values()) {
      if (o.role === role) query.c('item', { role, nick: o.nick, affiliation: muc.affiliation(room, o.bare), jid: o.primary });
    }
    return query;
  }
  throw stanzaError('CANTO_ERR_BAD_REQUEST', 'an item needs an affiliation or a role');
}

type Change =
  | { kind: 'role'; target: Occupant; role: Role; reason?: string }
  | { kind: 'affiliation'; bare: string; affiliation: Affiliation; nick?: string; reason?: string };

export async function adminSet(muc: MucService, event: StanzaEvent): Promise<undefined> {
  const room = roomFor(muc, event);
  const who = asker(muc, room, event);
  const changes: Change[] = [];
  const owners = new Set(room.withAffiliation('owner'));
  for (const item of items(event)) {
    const reason = item.getChildText('reason', NS_MUC_ADMIN);
    const { role, affiliation, nick, jid } = item.attrs;
    if (affiliation !== undefined) {
      const target = tryParseJid(jid ?? '');
      if (!isAffiliation(affiliation)) throw stanzaError('CANTO_ERR_BAD_REQUEST', `unknown affiliation "${affiliation}"`);
      if (!target) throw stanzaError('CANTO_ERR_BAD_REQUEST', 'an affiliation change needs a jid');
      const verdict = checkAffiliationChange(who.affiliation, room.affiliation(target.bare), affiliation);
      if (verdict !== 'ok') refused(verdict);
      if (affiliation === 'owner') owners.add(target.bare);
      else owners.delete(target.bare);
      changes.push({ kind: 'affiliation', bare: target.bare, affiliation, nick, reason });
    } else if (role !== undefined) {
      const key = keyOf(nick ?? '');
      const target = key === undefined ? undefined : room.occupants.get(key);
      if (!isRole(role)) throw stanzaError('CANTO_ERR_BAD_REQUEST', `unknown role "${role}"`);
      if (!target) throw stanzaError('CANTO_ERR_MUC_NO_SUCH_OCCUPANT');
      const verdict = checkRoleChange(who, muc.party(room, target), role);
      if (verdict !== 'ok') refused(verdict);
      changes.push({ kind: 'role', target, role, reason });
    } else {
      throw stanzaError('CANTO_ERR_BAD_REQUEST', 'an item needs a role (with nick) or an affiliation (with jid)');
    }
  }
  // §10.6 / §10.7: the room keeps an owner.
  if (owners.size === 0) throw stanzaError('CANTO_ERR_MUC_LAST_OWNER');
  const actor = who.occupant ? { nick: who.occupant.nick } : undefined;
  let save = false;
  for (const c of changes) {
    if (c.kind === 'role') applyRole(muc, room, c.target, c.role, c.reason, actor);
    else {
      applyAffiliation(muc, room, c.bare, c.affiliation, c.nick, c.reason, actor);
      save = true;
    }
  }
  if (save) await muc.save(room);
  return undefined;
}

function applyRole(muc: MucService, room: Room, target: Occupant, role: Role, reason: string | undefined, actor?: { nick: string }): void {
  if (!room.occupants.has(target.key)) return; // gone meanwhile (an earlier item of the same set)
  if (role === 'none') {
    removeOccupant(muc, room, target, { codes: [STATUS.KICKED], extras: { reason, actor }, reason: 'kick' });
    return;
  }
  target.role = role;
  announce(muc, room, target);
}

/** Set an affiliation (and a reserved nickname) and apply it to the room. Also used by registration. */
export function applyAffiliation(muc: MucService, room: Room, bare: string, affiliation: Affiliation, nick: string | undefined, reason: string | undefined, actor?: { nick: string }): void {
  const before = room.affiliations.get(bare);
  const keepNick = affiliation !== 'none' && affiliation !== 'outcast' ? (nick ?? before?.nick) : undefined;
  room.setAffiliation(bare, { affiliation, nick: keepNick, reason: affiliation === 'outcast' ? reason : undefined });
  // A nickname now reserved for `bare` is taken from whoever else uses it (307).
  const nickKey = keepNick === undefined ? undefined : keyOf(keepNick);
  const holder = nickKey === undefined ? undefined : room.occupants.get(nickKey);
  if (holder && holder.bare !== bare) removeOccupant(muc, room, holder, { codes: [STATUS.KICKED], extras: { reason: 'This nickname is reserved' }, reason: 'kick' });
  const present = room.occupantsOf(bare);
  for (const o of present) {
    if (affiliation === 'outcast') removeOccupant(muc, room, o, { codes: [STATUS.BANNED], extras: { reason, actor }, reason: 'ban' });
    else if (room.config.membersOnly && affiliation === 'none') removeOccupant(muc, room, o, { codes: [STATUS.AFFILIATION_CHANGED], extras: { reason, actor }, reason: 'affiliation' });
    else {
      const role = defaultRole(affiliation, room.config.moderated);
      // A voice granted by a moderator survives a change between none and member.
      if (!(o.role === 'participant' && role === 'visitor')) o.role = role;
      announce(muc, room, o);
    }
  }
  if (present.length === 0) {
    // Those who may see real JIDs learn of the change of someone not in the room.
    const note = message({ from: room.jid });
    const x = note.c('x', { xmlns: NS_MUC_USER });
    // A ban says so (301) with its reason, as it would to an occupant.
    if (affiliation === 'outcast') x.c('status', { code: String(STATUS.BANNED) });
    const noteItem = x.c('item', { jid: bare, affiliation });
    if (affiliation === 'outcast' && reason !== undefined) noteItem.c('reason').t(reason);
    for (const o of room.occupants.values()) if (seesRealJids(o.role, room.config.whois)) toOccupant(muc.out, o, note);
  }
}
