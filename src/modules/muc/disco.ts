/**
 * Service discovery (§6): the service (identity, features, its public rooms), a room (identity,
 * the muc_* features of its configuration, the muc#roominfo form, occupants where allowed), and
 * the `x-roomuser-item` node (§7.7: the asker's registered nickname). The disco module is not
 * loaded on a component, so the MUC answers its own disco; extensions add to a room's answer
 * with the `muc-disco-info` event.
 */
import { randomBytes } from 'node:crypto';
import { stanzaError } from '../../core/errors.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { Element } from '../../xml/element.js';
import { roomFor } from './admin.js';
import { buildForm } from './forms.js';
import { FORM_REQUEST, FORM_ROOMINFO, NODE_ROOMUSER_ITEM, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_MUC, NS_MUC_UNIQUE, NS_REGISTER } from './ns.js';
import type { Room } from './room.js';
import type { MucService } from './service.js';

const SERVICE_FEATURES = [NS_DISCO_INFO, NS_DISCO_ITEMS, NS_MUC, NS_MUC_UNIQUE];

export function serviceInfo(event: StanzaEvent): Element {
  if (event.stanza.getChild('query', NS_DISCO_INFO)?.attrs.node !== undefined) throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', 'no such node');
  const query = new Element('query', { xmlns: NS_DISCO_INFO });
  query.c('identity', { category: 'conference', type: 'text', name: 'Chatrooms' });
  for (const f of SERVICE_FEATURES) query.c('feature', { var: f });
  return query;
}

/** §6.3: the public rooms (not hidden, not locked), by address. */
export function serviceItems(muc: MucService): Element {
  const query = new Element('query', { xmlns: NS_DISCO_ITEMS });
  const rooms = [...muc.rooms()].filter((r) => r.config.public && !r.locked).sort((a, b) => (a.jid < b.jid ? -1 : 1));
  for (const r of rooms) query.c('item', { jid: r.jid, name: r.config.name || r.local });
  return query;
}

/** The muc_* features that describe a room's configuration (§15.2.2). */
export function roomFeatures(room: Room): string[] {
  const c = room.config;
  return [
    NS_MUC, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_REGISTER, FORM_REQUEST,
    c.persistent ? 'muc_persistent' : 'muc_temporary',
    c.membersOnly ? 'muc_membersonly' : 'muc_open',
    c.moderated ? 'muc_moderated' : 'muc_unmoderated',
    c.public ? 'muc_public' : 'muc_hidden',
    c.password !== '' ? 'muc_passwordprotected' : 'muc_unsecured',
    c.whois === 'anyone' ? 'muc_nonanonymous' : 'muc_semianonymous',
  ];
}

export function roomInfo(muc: MucService, event: StanzaEvent): Element {
  const room = roomFor(muc, event);
  const node = event.stanza.getChild('query', NS_DISCO_INFO)?.attrs.node;
  if (node === NODE_ROOMUSER_ITEM) {
    const query = new Element('query', { xmlns: NS_DISCO_INFO, node });
    const nick = room.affiliations.get(event.from.bare)?.nick;
    if (nick !== undefined) query.c('identity', { category: 'conference', type: 'text', name: nick });
    return query;
  }
  if (node !== undefined) throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', 'no such node');
  const c = room.config;
  const query = new Element('query', { xmlns: NS_DISCO_INFO });
  query.c('identity', { category: 'conference', type: 'text', name: c.name || room.local });
  for (const f of roomFeatures(room)) query.c('feature', { var: f });
  query.cnode(
    buildForm('result', FORM_ROOMINFO, [
      { var: 'muc#roominfo_description', type: 'text-single', values: [c.description] },
      { var: 'muc#roomconfig_roomname', type: 'text-single', values: [c.name] },
      { var: 'muc#roominfo_occupants', type: 'text-single', values: [String(room.occupants.size)] },
      { var: 'muc#roominfo_subject', type: 'text-single', values: [room.subject?.text ?? ''] },
      { var: 'muc#roominfo_subjectmod', type: 'boolean', values: [c.changeSubject ? '1' : '0'] },
      { var: 'muc#roominfo_lang', type: 'text-single', values: [c.lang] },
      { var: 'muc#maxhistoryfetch', type: 'text-single', values: [String(c.historyLength)] },
      { var: 'muc#roomconfig_allowinvites', type: 'boolean', values: [c.allowInvites ? '1' : '0'] },
      { var: 'muc#roomconfig_allowpm', type: 'list-single', values: [c.allowPm] },
      { var: 'muc#roomconfig_changesubject', type: 'boolean', values: [c.changeSubject ? '1' : '0'] },
    ]),
  );
  muc.mod.fire('muc-disco-info', { room, query, from: event.from });
  return query;
}

/** §6.5: the occupants' room JIDs, for occupants, or for anyone when the room is public and shows real JIDs. */
export function roomItems(muc: MucService, event: StanzaEvent): Element {
  const room = roomFor(muc, event);
  const query = new Element('query', { xmlns: NS_DISCO_ITEMS });
  const allowed = room.bySession.has(event.from.full) || (room.config.public && room.config.whois === 'anyone');
  if (allowed) for (const o of room.occupants.values()) query.c('item', { jid: `${room.jid}/${o.nick}` });
  return query;
}

/** XEP-0045 §10.1.4: a room name nobody uses yet. */
export function uniqueName(muc: MucService): Element {
  let name: string;
  do name = randomBytes(10).toString('hex');
  while (muc.room(name));
  return new Element('unique', { xmlns: NS_MUC_UNIQUE }).t(name);
}
