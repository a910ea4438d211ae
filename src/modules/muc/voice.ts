/**
 * Voice requests (§7.13) and their approval (§8.6): a visitor submits the muc#request form to the
 * room, the room asks every moderator with the same form, and a moderator who submits it back
 * with muc#request_allow = true gives the visitor voice.
 */
import type { Jid } from '../../jid/index.js';
import type { Element } from '../../xml/element.js';
import { message } from '../../xml/stanza.js';
import { toOccupant } from './fanout.js';
import { buildForm, parseBoolean, type ParsedForm } from './forms.js';
import { keyOf } from './nick.js';
import { FORM_REQUEST } from './ns.js';
import { announce } from './occupancy.js';
import { refuse } from './reply.js';
import { checkRoleChange } from './roles.js';
import type { Room } from './room.js';
import type { MucService } from './service.js';

export function onVoiceForm(muc: MucService, room: Room, stanza: Element, from: Jid, form: ParsedForm): true {
  const sender = room.bySession.get(from.full);
  if (!sender) return refuse(muc.out, stanza, 'CANTO_ERR_MUC_NOT_OCCUPANT');
  if (form.type !== 'submit') return refuse(muc.out, stanza, 'CANTO_ERR_BAD_REQUEST', 'submit the muc#request form');
  const allow = form.fields.get('muc#request_allow')?.[0];
  if (sender.role === 'moderator' && allow !== undefined) {
    // §8.6: the approval. Anything but true is a denial, which needs no answer.
    if (parseBoolean(allow) !== true) return true;
    const nick = form.fields.get('muc#roomnick')?.[0];
    const key = nick === undefined ? undefined : keyOf(nick);
    const target = key === undefined ? undefined : room.occupants.get(key);
    if (!target) return refuse(muc.out, stanza, 'CANTO_ERR_MUC_NO_SUCH_OCCUPANT');
    if (target.role !== 'visitor') return true;
    const verdict = checkRoleChange(muc.party(room, sender), muc.party(room, target), 'participant');
    if (verdict !== 'ok') return refuse(muc.out, stanza, verdict === 'forbidden' ? 'CANTO_ERR_FORBIDDEN' : 'CANTO_ERR_MUC_TARGET_PROTECTED');
    target.role = 'participant';
    announce(muc, room, target);
    return true;
  }
  if (sender.role !== 'visitor') return true; // has voice already
  const request = message({ from: room.jid });
  request.cnode(
    buildForm('form', FORM_REQUEST, [
      { var: 'muc#role', type: 'list-single', label: 'Requested role', values: ['participant'], options: [['participant', 'participant']] },
      { var: 'muc#jid', type: 'jid-single', label: 'User ID', values: [from.bare] },
      { var: 'muc#roomnick', type: 'text-single', label: 'Room Nickname', values: [sender.nick] },
      { var: 'muc#request_allow', type: 'boolean', label: 'Grant voice to this person?', values: ['false'] },
    ], 'Voice request'),
  );
  for (const o of room.occupants.values()) if (o.role === 'moderator') toOccupant(muc.out, o, request);
  return true;
}
