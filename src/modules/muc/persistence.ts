/**
 * Persistent rooms in the map store `muc_rooms` (username '', key = the room's local part):
 * configuration, affiliations with registered nicknames, subject, creation. Written when one of
 * them changes, never per message or presence; occupants are never stored (they rejoin after a
 * restart). Saves of one room are chained so they land in order.
 */
import type { Logger } from '../../core/logging.js';
import type { MapStore } from '../../storage/types.js';
import type { AffiliationRecord, RoomConfig, Subject } from './room.js';
import { Room } from './room.js';

export const ROOM_STORE = 'muc_rooms';

export interface StoredRoom {
  config: RoomConfig;
  affiliations: Record<string, AffiliationRecord>;
  subject?: Subject;
  created: number;
  creator: string;
}

export class RoomStore {
  constructor(
    private readonly map: MapStore<StoredRoom>,
    private readonly log: Logger,
  ) {}

  /** Every stored room, made into Room objects (unlocked, empty); fields a newer version added get `defaults`. */
  async loadAll(domain: string, defaults: RoomConfig): Promise<Room[]> {
    const all = await this.map.getAll('');
    const rooms: Room[] = [];
    for (const [local, stored] of all) {
      const room = new Room(local, domain, { ...defaults, ...stored.config, persistent: true }, stored.created, stored.creator);
      for (const [bare, record] of Object.entries(stored.affiliations)) room.setAffiliation(bare, record);
      room.subject = stored.subject;
      rooms.push(room);
    }
    return rooms;
  }

  /** Write the room's state if it is persistent, remove it otherwise; resolves when written (errors are logged). */
  save(room: Room): Promise<void> {
    const snapshot: StoredRoom | undefined = room.config.persistent && !room.destroyed ? toStored(room) : undefined;
    room.saving = room.saving
      .then(() => this.map.set('', room.local, snapshot))
      .catch((err: unknown) => this.log.error({ err, room: room.jid }, 'saving a room failed'));
    return room.saving;
  }
}

function toStored(room: Room): StoredRoom {
  const stored: StoredRoom = { config: { ...room.config }, affiliations: Object.fromEntries(room.affiliations), created: room.created, creator: room.creator };
  if (room.subject) stored.subject = room.subject;
  return stored;
}
