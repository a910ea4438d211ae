/**
 * The user's nick in each MUC room, per session, for mention detection: learnt from the
 * presence a room sends the user about themself (XEP-0045 status 110), forgotten when the room
 * says they left. Best effort: a nick the room never confirmed falls back to the account's
 * local part (importance.ts).
 */
import type { Element } from '../../xml/element.js';

const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';
/** Rooms remembered per session: a bound on what a session's presence traffic can make us keep. */
const MAX_ROOMS = 500;

export class RoomNicks {
  private readonly bySession = new WeakMap<object, Map<string, string>>();

  /** Look at a presence sent to `session`. */
  observe(session: object, presence: Element): void {
    const x = presence.getChild('x', NS_MUC_USER);
    if (x === undefined || !x.getChildren('status').some((s) => s.attrs.code === '110')) return;
    const from = presence.attrs.from ?? '';
    const slash = from.indexOf('/');
    if (slash < 0) return;
    const room = from.slice(0, slash);
    let rooms = this.bySession.get(session);
    if (presence.attrs.type === 'unavailable') {
      rooms?.delete(room);
      return;
    }
    if (rooms === undefined) {
      rooms = new Map();
      this.bySession.set(session, rooms);
    }
    if (!rooms.has(room) && rooms.size >= MAX_ROOMS) return;
    rooms.set(room, from.slice(slash + 1));
  }

  nickIn(session: object, room: string): string | undefined {
    return this.bySession.get(session)?.get(room);
  }
}
