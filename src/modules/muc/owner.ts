/**
 * muc#owner (§10): the configuration form (get, submit, cancel) and room destruction (§10.9).
 * The first submission unlocks a new room (§10.1: an empty submission makes an instant room);
 * a cancelled first configuration destroys it. Configuration changes are told to the occupants
 * (§10.2.1: 170–173 for logging and anonymity, 104 for the rest), and a room that became
 * members-only removes those who are not members (322).
 */
import { stanzaError } from '../../core/errors.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { tryParseJid } from '../../jid/index.js';
import { Element } from '../../xml/element.js';
import { message } from '../../xml/stanza.js';
import { roomFor } from './admin.js';
import { applyConfigForm, changedKeys, configForm } from './config-form.js';
import { parseForm } from './forms.js';
import { broadcastMessage } from './messages.js';
import { NS_DATA, NS_MUC_OWNER, NS_MUC_USER, STATUS } from './ns.js';
import { removeOccupant } from './occupancy.js';
import type { Room } from './room.js';
import type { MucService } from './service.js';

function ownedRoom(muc: MucService, event: StanzaEvent): Room {
  const room = roomFor(muc, event);
  if (muc.affiliation(room, event.from.bare) !== 'owner') throw stanzaError('CANTO_ERR_FORBIDDEN', 'only owners may configure or destroy the room');
  return room;
}

const limitsOf = (muc: MucService) => ({ maxOccupants: muc.options.max_occupants, maxHistory: muc.options.max_history });

export function ownerGet(muc: MucService, event: StanzaEvent): Element {
  const room = ownedRoom(muc, event);
  return new Element('query', { xmlns: NS_MUC_OWNER }).cnode(configForm(room.config, limitsOf(muc)));
}

export async function ownerSet(muc: MucService, event: StanzaEvent): Promise<undefined> {
  const room = ownedRoom(muc, event);
  const query = event.stanza.getChild('query', NS_MUC_OWNER);
  const destroy = query?.getChild('destroy', NS_MUC_OWNER);
  if (destroy) {
    const alternate = destroy.attrs.jid;
    if (alternate !== undefined && !tryParseJid(alternate)) throw stanzaError('CANTO_ERR_JID_MALFORMED', 'the alternate venue is not a JID');
    await destroyRoom(muc, room, { reason: destroy.getChildText('reason', NS_MUC_OWNER), alternate, password: destroy.getChildText('password', NS_MUC_OWNER) });
    return undefined;
  }
  const x = query?.getChild('x', NS_DATA);
  if (!x) throw stanzaError('CANTO_ERR_BAD_REQUEST', 'expected a data form or <destroy/>');
  const form = parseForm(x);
  if (form.type === 'cancel') {
    // §10.1.3: cancelling the first configuration destroys the new room.
    if (room.locked) await destroyRoom(muc, room, {});
    return undefined;
  }
  if (form.type !== 'submit') throw stanzaError('CANTO_ERR_BAD_REQUEST', 'submit the form (type "submit") or cancel it');
  const before = room.config;
  const next = applyConfigForm(form, before, limitsOf(muc));
  const changed = changedKeys(before, next);
  const wasLocked = room.locked;
  room.config = next;
  room.locked = false;
  if (changed.length > 0) {
    for (const o of room.occupants.values()) o.cached = undefined;
    if (!wasLocked) notifyChange(muc, room, changed);
    if (next.membersOnly && !before.membersOnly) {
      for (const o of [...room.occupants.values()]) {
        if (muc.affiliation(room, o.bare) === 'none') removeOccupant(muc, room, o, { codes: [STATUS.MEMBERS_ONLY], reason: 'members_only' });
      }
    }
    muc.mod.fire('muc-config-changed', { room, changed });
  }
  await muc.save(room);
  if (room.empty && !room.config.persistent) await muc.forget(room);
  return undefined;
}

/** §10.2.1: a message from the room with the status codes of the change. */
function notifyChange(muc: MucService, room: Room, changed: string[]): void {
  const codes: number[] = [];
  if (changed.includes('whois')) codes.push(room.config.whois === 'anyone' ? STATUS.NOW_NON_ANONYMOUS : STATUS.NOW_SEMI_ANONYMOUS);
  if (changed.includes('logging')) codes.push(room.config.logging ? STATUS.LOGGING_ON : STATUS.LOGGING_OFF);
  if (codes.length === 0 || changed.some((k) => k !== 'whois' && k !== 'logging')) codes.unshift(STATUS.CONFIG_CHANGED);
  const m = message({ from: room.jid, type: 'groupchat' });
  const x = m.c('x', { xmlns: NS_MUC_USER });
  for (const code of codes) x.c('status', { code: String(code) });
  broadcastMessage(muc, room, m);
}

/** §10.9: everyone leaves with the <destroy/> (reason, alternate venue, its password); the room is forgotten. */
export async function destroyRoom(muc: MucService, room: Room, why: { reason?: string; alternate?: string; password?: string }): Promise<void> {
  const destroy = new Element('destroy', { xmlns: NS_MUC_USER, jid: why.alternate });
  if (why.reason !== undefined) destroy.c('reason').t(why.reason);
  if (why.password !== undefined) destroy.c('password').t(why.password);
  room.destroyed = true;
  for (const o of [...room.occupants.values()]) removeOccupant(muc, room, o, { destroy, reason: 'destroy' });
  muc.mod.log.info({ room: room.jid, reason: why.reason }, 'room destroyed');
  await muc.forget(room, why.reason);
}
