/**
 * XEP-0486 MUC avatars: a room's vCard-temp. Owners set it with `<vCard xmlns='vcard-temp'/>`
 * (iq set to the room JID), anyone gets it (iq get). The SHA-1 of the PHOTO's BINVAL bytes is
 * the avatar hash: in the room's disco#info (`vcard-temp` feature and the
 * `muc#roominfo_avatarhash` field of the muc#roominfo form) and in a presence from the room's bare
 * JID with `<x xmlns='vcard-temp:x:update'><photo>hash</photo></x>`, sent to every occupant when
 * it changes and to each resource when it enters. Stored in the map store `muc_vcards`
 * (username '', key = room local part); deleted with the room.
 */
import { createHash } from 'node:crypto';
import { stanzaError } from '../../core/errors.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { MapStore } from '../../storage/types.js';
import { Element } from '../../xml/element.js';
import { parseXmlFragment } from '../../xml/parse-fragment.js';
import { presence } from '../../xml/stanza.js';
import { FORM_ROOMINFO, NS_DATA } from './ns.js';
import type { Room } from './room.js';
import type { MucService } from './service.js';

export const NS_VCARD = 'vcard-temp';
export const NS_VCARD_UPDATE = 'vcard-temp:x:update';
export const VCARD_STORE = 'muc_vcards';

interface Avatar {
  xml: string;
  /** '' when the vCard has no photo. */
  hash: string;
}

export class RoomAvatars {
  private readonly byRoom = new Map<string, Avatar>();

  constructor(
    private readonly muc: MucService,
    private readonly store: MapStore<string>,
  ) {}

  async load(): Promise<void> {
    for (const [local, xml] of await this.store.getAll('')) this.byRoom.set(local, { xml, hash: photoHash(parseXmlFragment(xml)) });
  }

  hash(room: Room): string | undefined {
    return this.byRoom.get(room.local)?.hash;
  }

  get = (event: StanzaEvent): Element => {
    const room = this.muc.room(event.to.local);
    if (!room) throw stanzaError('CANTO_ERR_MUC_ROOM_NOT_FOUND');
    const a = this.byRoom.get(room.local);
    return a ? parseXmlFragment(a.xml) : new Element('vCard', { xmlns: NS_VCARD });
  };

  set = async (event: StanzaEvent): Promise<undefined> => {
    const room = this.muc.room(event.to.local);
    if (!room) throw stanzaError('CANTO_ERR_MUC_ROOM_NOT_FOUND');
    if (this.muc.affiliation(room, event.from.bare) !== 'owner') throw stanzaError('CANTO_ERR_MUC_AVATAR_FORBIDDEN');
    const vcard = event.stanza.getChild('vCard', NS_VCARD);
    if (!vcard) throw stanzaError('CANTO_ERR_BAD_REQUEST');
    const binval = vcard.getChild('PHOTO')?.getChildText('BINVAL');
    if (binval !== undefined && !/^[A-Za-z0-9+/=\s]*$/.test(binval)) throw stanzaError('CANTO_ERR_BAD_REQUEST', 'PHOTO BINVAL is not base64');
    const empty = vcard.elements.length === 0;
    const xml = vcard.clone().toString();
    if (empty) {
      this.byRoom.delete(room.local);
      await this.store.set('', room.local, undefined);
    } else {
      this.byRoom.set(room.local, { xml, hash: photoHash(vcard) });
      await this.store.set('', room.local, xml);
    }
    const hash = this.hash(room) ?? '';
    this.muc.broadcast(room, () => updatePresence(room, hash));
    return undefined;
  };

  /** A resource entered: it learns the avatar hash (when there is one). */
  joined(room: Room, session: string): void {
    const hash = this.hash(room);
    if (hash === undefined || hash === '') return;
    const p = updatePresence(room, hash);
    p.attrs.to = session;
    this.muc.out.send(p);
  }

  /** disco#info: the feature, and the hash in the muc#roominfo form. */
  disco(room: Room, query: Element): void {
    query.c('feature', { var: NS_VCARD });
    const hash = this.hash(room);
    if (hash === undefined || hash === '') return;
    const form = query.getChildren('x', NS_DATA).find((x) => x.getChildren('field').some((f) => f.attrs.var === 'FORM_TYPE' && f.getChildText('value') === FORM_ROOMINFO));
    form?.c('field', { var: 'muc#roominfo_avatarhash', type: 'text-multi' }).c('value').t(hash);
  }

  deleteRoom(room: Room): void {
    if (!this.byRoom.delete(room.local)) return;
    this.store.set('', room.local, undefined).catch((err: unknown) => this.muc.mod.log.error({ err, room: room.jid }, 'could not delete a room vCard'));
  }
}

function photoHash(vcard: Element): string {
  const binval = vcard.getChild('PHOTO')?.getChildText('BINVAL');
  if (binval === undefined || binval.trim() === '') return '';
  return createHash('sha1').update(Buffer.from(binval.replace(/\s+/g, ''), 'base64')).digest('hex');
}

function updatePresence(room: Room, hash: string): Element {
  const p = presence({ from: room.jid });
  const photo = p.c('x', { xmlns: NS_VCARD_UPDATE }).c('photo');
  if (hash !== '') photo.t(hash);
  return p;
}
