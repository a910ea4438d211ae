/**
 * XEP-0425 moderated message retraction (urn:xmpp:message-moderate:1 with XEP-0424
 * urn:xmpp:message-retract:1): a moderator asks the room to retract a message by its room
 * stanza-id:
 *
 *   <iq type='set' to='room'><moderate xmlns='urn:xmpp:message-moderate:1' id='STANZA-ID'>
 *     <retract xmlns='urn:xmpp:message-retract:1'/><reason>…</reason></moderate></iq>
 *
 * The room replaces the archived message with a tombstone (the same message, its content replaced
 * by `<retracted stamp><moderated by/><reason/></retracted>`, §6), tells every occupant with a
 * groupchat message from the room carrying `<retract id><moderated by><occupant-id/></moderated>
 * <reason/></retract>` plus a fallback body, archives that notice (so clients catching up through
 * the archive learn of it too) and answers the iq with a result.
 *
 * Errors: `forbidden` for anyone but a moderator occupant, `item-not-found` for an id that is not
 * in the room's archive, `bad-request` without an id or the retract payload.
 *
 * The tombstone keeps the item's id and time: the archive store has no update, so the item is
 * deleted and appended again with the same id, time and `with`.
 */
import { randomUUID } from 'node:crypto';
import { stanzaError } from '../../core/errors.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { Element } from '../../xml/element.js';
import { message } from '../../xml/stanza.js';
import { parseXmlFragment } from '../../xml/parse-fragment.js';
import type { RoomArchive } from './archive.js';
import type { OccupantIds } from './occupant-id.js';
import { NS_OCCUPANT_ID } from './occupant-id.js';
import type { MucService } from './service.js';

export const NS_MODERATE = 'urn:xmpp:message-moderate:1';
export const NS_RETRACT = 'urn:xmpp:message-retract:1';
const NS_FALLBACK = 'urn:xmpp:fallback:0';
const NS_HINTS = 'urn:xmpp:hints';
/** Tombstones keep what identifies the message; everything else (body, payloads) goes. */
const KEPT_IN_TOMBSTONE = new Set([`occupant-id ${NS_OCCUPANT_ID}`, 'x http://jabber.org/protocol/muc#user', `origin-id urn:xmpp:sid:0`]);

export class Moderation {
  constructor(
    private readonly muc: MucService,
    private readonly archive: RoomArchive,
    private readonly ids: OccupantIds,
  ) {}

  handle = async (event: StanzaEvent): Promise<undefined> => {
    const { stanza, from, to } = event;
    const room = this.muc.room(to.local);
    if (!room) throw stanzaError('CANTO_ERR_MUC_ROOM_NOT_FOUND');
    const moderator = room.bySession.get(from.full);
    if (!moderator || moderator.role !== 'moderator') throw stanzaError('CANTO_ERR_MUC_MODERATE_FORBIDDEN');
    const req = stanza.getChild('moderate', NS_MODERATE);
    const id = req?.attrs.id;
    if (!req || id === undefined || id === '' || !req.getChild('retract', NS_RETRACT)) {
      throw stanzaError('CANTO_ERR_BAD_REQUEST', 'expected <moderate id> with <retract xmlns="urn:xmpp:message-retract:1"/>');
    }
    const reasonText = req.getChildText('reason') ?? undefined;
    const [item] = await this.archive.store.find(room.local, { ids: [id] });
    if (!item) throw stanzaError('CANTO_ERR_MUC_NO_SUCH_MESSAGE');
    const by = `${room.jid}/${moderator.nick}`;
    const moderated = (): Element => {
      const m = new Element('moderated', { xmlns: NS_MODERATE, by });
      m.cnode(this.ids.element(room, moderator.bare));
      return m;
    };

    // The tombstone, in place of the message.
    const original = parseXmlFragment(item.value, { defaultNs: 'jabber:client' });
    const tombstone = new Element('message', { ...original.attrs }, original.xmlns);
    const retracted = tombstone.c('retracted', { xmlns: NS_RETRACT, stamp: new Date(this.muc.now()).toISOString() });
    retracted.cnode(moderated());
    if (reasonText !== undefined) retracted.c('reason').t(reasonText);
    for (const c of original.elements) if (KEPT_IN_TOMBSTONE.has(`${c.name} ${c.xmlns}`)) tombstone.cnode(c);
    await this.archive.store.delete(room.local, { ids: [id] });
    await this.archive.store.append(room.local, { id, when: item.when, with: item.with, value: tombstone.toString() });

    // The notice to every occupant, archived like any room message.
    const notice = message({ from: room.jid, type: 'groupchat', id: randomUUID() });
    const retract = notice.c('retract', { xmlns: NS_RETRACT, id });
    retract.cnode(moderated());
    if (reasonText !== undefined) retract.c('reason').t(reasonText);
    notice.c('body').t(`${moderator.nick} retracted a message${reasonText ? `: ${reasonText}` : ''}`);
    notice.c('fallback', { xmlns: NS_FALLBACK, for: NS_RETRACT });
    notice.c('store', { xmlns: NS_HINTS });
    if (room.config.archiving) await this.archive.append(room, notice, room.jid);
    this.muc.broadcast(room, () => notice);
    this.muc.metrics.messages.inc({ kind: 'moderation' });
    this.muc.mod.log.info({ room: room.jid, id, by: moderator.bare }, 'message moderated');
    return undefined;
  };
}
