/**
 * The MUC module's events (on the component's bus) and its service: the extension points the
 * room archive, occupant ids, self-ping and moderation plug into (README.md, "Extension points").
 */
import type { Jid } from '../../jid/index.js';
import type { Element } from '../../xml/element.js';
import type { HistoryProvider } from './history.js';
import type { Occupant, Room } from './room.js';

declare module '../../core/event-map.js' {
  interface EventMap {
    /** A room was created by a join (not loaded from storage). */
    'muc-room-created': { room: Room; creator: Jid };
    /** A room is gone: destroyed by its owner, or a temporary room whose last occupant left. */
    'muc-room-destroyed': { room: Room; reason?: string };
    /** An occupant's resource entered (`session` is the real full JID; `first` when the nickname is new in the room). */
    'muc-occupant-joined': { room: Room; occupant: Occupant; session: string; first: boolean };
    /** An occupant's resource left (`last` when the nickname left the room). */
    'muc-occupant-left': { room: Room; occupant: Occupant; session: string; last: boolean };
    /**
     * An occupant's presence is being built for broadcast (once per change, shared by every
     * recipient): handlers may add children to `presence` (occupant id). Do not keep it.
     */
    'muc-occupant-presence': { room: Room; occupant: Occupant; presence: Element };
    /**
     * A groupchat message is about to be broadcast (held with dispatch: a handler may return a
     * promise, e.g. while archiving). `stanza` is the broadcast copy (from the occupant's room
     * JID, no `to`): handlers may add children (stanza-id, occupant id) or return true to drop it.
     */
    'muc-message': { room: Room; occupant: Occupant; stanza: Element; from: Jid };
    /** A room's disco#info is answered: handlers add features or forms to `query`. */
    'muc-disco-info': { room: Room; query: Element; from: Jid };
    /** The owner changed the configuration (`changed`: the RoomConfig keys that differ). */
    'muc-config-changed': { room: Room; changed: string[] };
  }
}

/** What other modules use of the MUC service (`mod.require('muc')` on the component). */
export interface MucApi {
  readonly domain: string;
  /** Every room in memory (persistent rooms are always loaded). */
  rooms(): IterableIterator<Room>;
  /** A room by its local part. */
  room(local: string): Room | undefined;
  /** The history provider in use; the archive module replaces the in-memory ring with its own. */
  history: HistoryProvider;
  /** Send a stanza to every occupant's resources (`pick` chooses the stanza per occupant, undefined: skip), at once. */
  broadcast(room: Room, pick: (o: Occupant) => Element | undefined): void;
  /**
   * Route now what the room queued for the end of this event-loop turn (its joins, presence and
   * groupchat fan-out wait there, so each occupant gets one write per turn). `broadcast` and
   * `broadcastMessage` flush themselves; call this before answering an iq whose answer must
   * come after something the room sent.
   */
  flush(): void;
  /** The effective affiliation of a bare JID (service admins are owners). */
  affiliation(room: Room, bare: string): string;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    muc: MucApi;
  }
}
