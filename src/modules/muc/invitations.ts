/**
 * Mediated invitations and declines (§7.8.2, §7.8.3). The room sends the invitation from its
 * own JID, stamping who invited (never what the inviter wrote in `from`); a members-only room
 * may add the invitee to its member list (`invite_adds_member`). Direct invitations (XEP-0249)
 * go from user to user and never reach the room.
 */
import { tryParseJid, type Jid } from '../../jid/index.js';
import type { Element } from '../../xml/element.js';
import { message } from '../../xml/stanza.js';
import { NS_CONFERENCE, NS_MUC_USER } from './ns.js';
import { refuse } from './reply.js';
import { isAdminOrOwner } from './roles.js';
import type { Room } from './room.js';
import type { MucService } from './service.js';

export function onInvitation(muc: MucService, room: Room, stanza: Element, from: Jid, userX: Element): true {
  const declines = userX.getChildren('decline', NS_MUC_USER);
  if (declines.length > 0) {
    // §7.8.3: a decline is passed on to the inviter, from the room.
    for (const d of declines) {
      const inviter = tryParseJid(d.attrs.to ?? '');
      if (!inviter) return refuse(muc.out, stanza, 'CANTO_ERR_JID_MALFORMED', 'a decline needs the inviter in "to"');
      const m = message({ from: room.jid, to: inviter.full, id: stanza.attrs.id });
      const decline = m.c('x', { xmlns: NS_MUC_USER }).c('decline', { from: from.bare });
      const reason = d.getChildText('reason', NS_MUC_USER);
      if (reason !== undefined) decline.c('reason').t(reason);
      muc.out.send(m);
    }
    return true;
  }
  const sender = room.bySession.get(from.full);
  if (!sender) return refuse(muc.out, stanza, 'CANTO_ERR_MUC_NOT_OCCUPANT');
  const affiliation = muc.affiliation(room, from.bare);
  const privileged = sender.role === 'moderator' || isAdminOrOwner(affiliation);
  if (!room.config.allowInvites && !privileged) return refuse(muc.out, stanza, 'CANTO_ERR_MUC_INVITE_FORBIDDEN');
  const invites = userX.getChildren('invite', NS_MUC_USER);
  const invitees: Jid[] = [];
  for (const inv of invites) {
    const to = tryParseJid(inv.attrs.to ?? '');
    if (!to) return refuse(muc.out, stanza, 'CANTO_ERR_JID_MALFORMED', 'an invitation needs the invitee in "to"');
    invitees.push(to);
  }
  let saved = false;
  // Who invited, as the invitee sees it: the real JID when the room shows real JIDs, else the occupant's room JID.
  const inviter = room.config.whois === 'anyone' ? from.bare : `${room.jid}/${sender.nick}`;
  invites.forEach((inv, i) => {
    const to = invitees[i]!; // parsed above, same index
    if (room.config.membersOnly && muc.options.invite_adds_member && muc.affiliation(room, to.bare) === 'none') {
      room.setAffiliation(to.bare, { ...room.affiliations.get(to.bare), affiliation: 'member' });
      saved = true;
    }
    const reason = inv.getChildText('reason', NS_MUC_USER) ?? '';
    const m = message({ from: room.jid, to: to.full, id: stanza.attrs.id });
    const x = m.c('x', { xmlns: NS_MUC_USER });
    x.c('invite', { from: inviter }).c('reason').t(reason);
    if (room.config.password !== '') x.c('password').t(room.config.password);
    m.c('body').t(`${inviter} invited you to the room ${room.jid}${reason !== '' ? `: ${reason}` : ''}`);
    m.c('x', { xmlns: NS_CONFERENCE, jid: room.jid, reason: reason !== '' ? reason : undefined, password: room.config.password || undefined });
    muc.out.send(m);
  });
  if (saved) void muc.save(room);
  return true;
}
