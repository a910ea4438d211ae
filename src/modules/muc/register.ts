/**
 * Registering a nickname with a room (§7.10, jabber:iq:register with the muc#register form):
 * the user becomes a member (an owner or admin keeps its affiliation) with a reserved nickname
 * that nobody else may use in the room; members-only rooms then give it to the member on entry.
 * `<remove/>` gives the nickname up, and a member its membership (in a members-only room it then
 * leaves, 321). A members-only room registers only its members.
 */
import { stanzaError } from '../../core/errors.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { Element } from '../../xml/element.js';
import { applyAffiliation, roomFor } from './admin.js';
import { buildForm, parseForm } from './forms.js';
import { enforceNickname, keyOf, nicknameSkeleton } from './nick.js';
import { FORM_REGISTER, NS_DATA, NS_REGISTER } from './ns.js';
import { isAdminOrOwner } from './roles.js';
import type { Room } from './room.js';
import type { MucService } from './service.js';

function mayRegister(muc: MucService, room: Room, bare: string): void {
  const affiliation = muc.affiliation(room, bare);
  if (affiliation === 'outcast') throw stanzaError('CANTO_ERR_MUC_BANNED');
  if (room.config.membersOnly && affiliation === 'none') throw stanzaError('CANTO_ERR_MUC_REGISTRATION_FORBIDDEN', 'this members-only room registers its members only');
}

export function registerGet(muc: MucService, event: StanzaEvent): Element {
  const room = roomFor(muc, event);
  const bare = event.from.bare;
  const query = new Element('query', { xmlns: NS_REGISTER });
  const nick = room.affiliations.get(bare)?.nick;
  if (nick !== undefined) {
    query.c('registered');
    query.c('username').t(nick);
    return query;
  }
  mayRegister(muc, room, bare);
  query.c('instructions').t('Choose the nickname to reserve in this room.');
  query.cnode(buildForm('form', FORM_REGISTER, [{ var: 'muc#register_roomnick', type: 'text-single', label: 'Nickname', values: [] }], 'Room registration'));
  return query;
}

export async function registerSet(muc: MucService, event: StanzaEvent): Promise<undefined> {
  const room = roomFor(muc, event);
  const bare = event.from.bare;
  const query = event.stanza.getChild('query', NS_REGISTER);
  // The stored affiliation: a service admin (an owner everywhere) registers as a member.
  const affiliation = room.affiliation(bare);
  if (query?.getChild('remove', NS_REGISTER)) {
    const record = room.affiliations.get(bare);
    if (!record) throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', 'not registered with this room');
    if (isAdminOrOwner(record.affiliation)) room.setAffiliation(bare, { affiliation: record.affiliation });
    else applyAffiliation(muc, room, bare, 'none', undefined, undefined);
    await muc.save(room);
    return undefined;
  }
  const x = query?.getChild('x', NS_DATA);
  if (!x) throw stanzaError('CANTO_ERR_BAD_REQUEST', 'submit the muc#register form');
  const form = parseForm(x);
  if (form.type === 'cancel') return undefined;
  if (form.type !== 'submit' || form.formType !== FORM_REGISTER) throw stanzaError('CANTO_ERR_BAD_REQUEST', `submit the ${FORM_REGISTER} form`);
  mayRegister(muc, room, bare);
  const requested = form.fields.get('muc#register_roomnick')?.[0];
  if (requested === undefined || requested === '') throw stanzaError('CANTO_ERR_NOT_ACCEPTABLE', 'muc#register_roomnick is required');
  const enforced = enforceNickname(requested);
  if (!enforced.ok) throw stanzaError('CANTO_ERR_MUC_NICK_INVALID');
  const key = keyOf(enforced.value);
  const registrant = key === undefined ? undefined : room.registrant(key);
  if (registrant !== undefined && registrant !== bare) throw stanzaError('CANTO_ERR_MUC_NICK_RESERVED');
  const holder = key === undefined ? undefined : room.occupants.get(key);
  if (holder && holder.bare !== bare) throw stanzaError('CANTO_ERR_MUC_NICK_CONFLICT');
  const look = room.lookalike(nicknameSkeleton(enforced.value));
  if (look && look.bare !== bare) throw stanzaError('CANTO_ERR_MUC_NICK_LOOKALIKE');
  applyAffiliation(muc, room, bare, affiliation === 'none' ? 'member' : affiliation, enforced.value, undefined);
  await muc.save(room);
  return undefined;
}
