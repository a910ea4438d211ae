/**
 * The `muc-admin` service: what an operator does to a MUC service's rooms from outside XMPP
 * (the admin HTTP API): list, create (already configured, so unlocked), destroy, and read or
 * set affiliations. It goes through the same code as the owner's and admin's iqs (destroyRoom,
 * applyAffiliation), so occupants are told exactly as if an owner had done it.
 */
import { parseJid, tryParseJid } from '../../jid/index.js';
import { applyAffiliation } from './admin.js';
import { destroyRoom } from './owner.js';
import type { Affiliation } from './roles.js';
import type { Room } from './room.js';
import type { MucService } from './service.js';

export interface RoomSummary {
  jid: string;
  name: string;
  description: string;
  persistent: boolean;
  public: boolean;
  membersOnly: boolean;
  locked: boolean;
  occupants: number;
  /** ms since the epoch */
  created: number;
}

export interface NewRoom {
  name?: string;
  description?: string;
  persistent?: boolean;
  public?: boolean;
  membersOnly?: boolean;
}

export interface AffiliationEntry {
  jid: string;
  affiliation: Affiliation;
  nick?: string;
  reason?: string;
}

export type MucAdminRefusal = 'no-room' | 'exists' | 'bad-name' | 'bad-jid' | 'last-owner';

export interface MucAdmin {
  readonly domain: string;
  list(): RoomSummary[];
  get(local: string): RoomSummary | undefined;
  create(local: string, owner: string, opts: NewRoom): Promise<RoomSummary | MucAdminRefusal>;
  destroy(local: string, reason?: string): Promise<boolean>;
  affiliations(local: string): AffiliationEntry[] | undefined;
  setAffiliation(local: string, jid: string, affiliation: Affiliation, reason?: string): Promise<true | MucAdminRefusal>;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    'muc-admin': MucAdmin;
  }
}

function summary(room: Room): RoomSummary {
  const c = room.config;
  return {
    jid: room.jid, name: c.name, description: c.description, persistent: c.persistent, public: c.public,
    membersOnly: c.membersOnly, locked: room.locked, occupants: room.occupants.size, created: room.created,
  };
}

/** The prepared local part when `local` is a valid room name as given (already normalised), else undefined. */
function roomName(local: string, domain: string): string | undefined {
  const j = tryParseJid(`${local}@${domain}`);
  return j !== undefined && j.local === local && j.resource === '' ? local : undefined;
}

export function mucAdmin(muc: MucService): MucAdmin {
  const live = (local: string): Room | undefined => {
    const room = muc.room(local);
    return room && !room.destroyed ? room : undefined;
  };
  return {
    domain: muc.domain,
    list: () => [...muc.rooms()].filter((r) => !r.destroyed).map(summary).sort((a, b) => a.jid.localeCompare(b.jid)),
    get: (local) => {
      const room = live(local);
      return room && summary(room);
    },
    async create(local, owner, opts) {
      if (roomName(local, muc.domain) === undefined) return 'bad-name';
      const ownerJid = tryParseJid(owner);
      if (!ownerJid || ownerJid.local === '' || ownerJid.resource !== '') return 'bad-jid';
      if (live(local)) return 'exists';
      const room = muc.create(local, parseJid(ownerJid.bare), false);
      const c = room.config;
      room.config = {
        ...c,
        name: opts.name ?? c.name, description: opts.description ?? c.description, persistent: opts.persistent ?? c.persistent,
        public: opts.public ?? c.public, membersOnly: opts.membersOnly ?? c.membersOnly,
      };
      await muc.save(room);
      muc.mod.log.info({ room: room.jid, owner: ownerJid.bare }, 'room created by the operator');
      return summary(room);
    },
    async destroy(local, reason) {
      const room = live(local);
      if (!room) return false;
      await destroyRoom(muc, room, { reason });
      muc.flush();
      return true;
    },
    affiliations(local) {
      const room = live(local);
      if (!room) return undefined;
      return [...room.affiliations].map(([jid, r]) => ({ jid, ...r })).sort((a, b) => a.jid.localeCompare(b.jid));
    },
    async setAffiliation(local, jid, affiliation, reason) {
      const room = live(local);
      if (!room) return 'no-room';
      const target = tryParseJid(jid);
      if (!target || target.resource !== '') return 'bad-jid';
      const bare = target.bare;
      const owners = room.withAffiliation('owner');
      if (affiliation !== 'owner' && owners.length === 1 && owners[0] === bare) return 'last-owner';
      applyAffiliation(muc, room, bare, affiliation, undefined, reason);
      muc.flush();
      await muc.save(room);
      return true;
    },
  };
}
