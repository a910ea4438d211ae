/**
 * XEP-0421 occupant ids: `<occupant-id xmlns='urn:xmpp:occupant-id:0' id/>` on every presence and
 * groupchat message from an occupant. The id is HMAC-SHA-256(service secret, room JID + NUL +
 * real bare JID), base64: stable for one user in one room (across rejoins, nick changes and
 * restarts: the secret is stored), different per user and per room, and it reveals nothing
 * about the real JID. Ids a client put on its own stanzas are removed (forgery).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { ModuleApi } from '../../core/modules.js';
import { Element } from '../../xml/element.js';
import type { Room } from './room.js';

export const NS_OCCUPANT_ID = 'urn:xmpp:occupant-id:0';
const SECRET_STORE = 'muc_secret';

export class OccupantIds {
  /** room JID → bare JID → id: an HMAC per presence would be waste. */
  private readonly cache = new Map<string, Map<string, string>>();

  private constructor(private readonly secret: Buffer) {}

  /** The service's secret from storage, made on first use. */
  static async load(mod: ModuleApi): Promise<OccupantIds> {
    const store = mod.keyval<string>(SECRET_STORE);
    let secret = await store.get('');
    if (secret === undefined) {
      secret = randomBytes(32).toString('base64');
      await store.set('', secret);
    }
    return new OccupantIds(Buffer.from(secret, 'base64'));
  }

  of(room: Room, bare: string): string {
    let ids = this.cache.get(room.jid);
    if (!ids) this.cache.set(room.jid, (ids = new Map()));
    let id = ids.get(bare);
    if (id === undefined) {
      id = createHmac('sha256', this.secret).update(`${room.jid}\0${bare}`).digest('base64');
      ids.set(bare, id);
    }
    return id;
  }

  forget(room: Room): void {
    this.cache.delete(room.jid);
  }

  /** Replace whatever occupant-ids the stanza carries (forged by the sender) with the room's. `stanza` must own its child list. */
  stamp(stanza: Element, room: Room, bare: string): void {
    strip(stanza);
    stanza.cnode(this.element(room, bare));
  }

  element(room: Room, bare: string): Element {
    return new Element('occupant-id', { xmlns: NS_OCCUPANT_ID, id: this.of(room, bare) });
  }
}

function strip(stanza: Element): void {
  if (!stanza.children.some((c) => typeof c !== 'string' && c.name === 'occupant-id' && c.xmlns === NS_OCCUPANT_ID)) return;
  stanza.children = stanza.children.filter((c) => typeof c === 'string' || !(c.name === 'occupant-id' && c.xmlns === NS_OCCUPANT_ID));
}
