/**
 * Occupants leaving (by choice, kicked, banned, an affiliation lost, the room destroyed, the
 * server stopping, their client failing) and presence updates, each told to the room in the
 * XEP-0045 order: the leaving resources get their own unavailable presence (110), the others the
 * occupant's, once the nickname is gone.
 */
import type { Element } from '../../xml/element.js';
import { addressed, broadcastsPresence, toOccupant, unavailableFrom, viewFor, type ItemExtras } from './fanout.js';
import type { RemovalReason } from './metrics.js';
import type { Occupant, Room } from './room.js';
import type { MucService } from './service.js';

export interface Removal {
  /** The resources that leave (default: all of the occupant's). */
  sessions?: string[];
  codes?: number[];
  extras?: ItemExtras;
  /** The unavailable presence the occupant sent (its <status/> is kept). */
  leaving?: Element;
  /** <destroy/> for a destroyed room (§10.9). */
  destroy?: Element;
  /** Counted in muc_removals_total; none for a voluntary exit. */
  reason?: RemovalReason;
}

export function removeOccupant(muc: MucService, room: Room, o: Occupant, r: Removal = {}): void {
  const sessions = r.sessions ?? [...o.sessions.keys()];
  const views = muc.transientViews(room, o, unavailableFrom(room.jid, o.nick, r.leaving), 'none', r.codes ?? [], r.extras, r.destroy);
  for (const s of sessions) if (o.sessions.has(s)) muc.out.send(addressed(views.self(s), s));
  let last = false;
  for (const s of sessions) {
    if (!o.sessions.has(s)) continue;
    last = room.removeSession(o, s);
    muc.mod.fire('muc-occupant-left', { room, occupant: o, session: s, last });
  }
  if (r.reason) muc.metrics.removals.inc({ reason: r.reason });
  if (!last) return;
  if (broadcastsPresence(room, o)) muc.fanOut(room, (other) => viewFor(views, room, other));
  muc.emptied(room);
}

/** Tell the room an occupant's presence (or role, or affiliation) changed: others get the new view, its resources their own. */
export function announce(muc: MucService, room: Room, o: Occupant, selfCodes: number[] = []): void {
  o.cached = undefined;
  if (broadcastsPresence(room, o)) {
    const views = muc.views(room, o);
    muc.fanOut(room, (other) => (other === o ? undefined : viewFor(views, room, other)));
  }
  toOccupant(muc.out, o, muc.selfPresence(room, o, selfCodes));
}
