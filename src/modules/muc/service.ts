/**
 * The MUC service of one component domain: its rooms, who may create them, effective
 * affiliations (service admins own every room), room lifecycle (create, empty, destroy), saving,
 * and the presence views of occupants. The stanza handlers (presence.ts, messages.ts, admin.ts,
 * owner.ts, register.ts, disco.ts) all work through one MucService.
 */
import type { ModuleApi } from '../../core/modules.js';
import type { Jid } from '../../jid/index.js';
import type { Element } from '../../xml/element.js';
import { presence as presenceStanza } from '../../xml/stanza.js';
import type { MucApi } from './events.js';
import { shallow, toAll, withChild, mucUserX, type ItemExtras, type PresenceViews, type Sender } from './fanout.js';
import { MemoryHistory, type HistoryProvider } from './history.js';
import type { MucMetrics } from './metrics.js';
import { STATUS } from './ns.js';
import type { MucOptions } from './options.js';
import type { RoomStore } from './persistence.js';
import { ROLES, type Affiliation, type Party } from './roles.js';
import { Room, type Occupant, type RoomConfig } from './room.js';

export class MucService implements MucApi {
  readonly domain: string;
  readonly options: MucOptions;
  private readonly roomMap = new Map<string, Room>();
  history: HistoryProvider;
  /** The server is stopping: occupants were told (332), what follows (sessions closing) changes nothing. */
  stopping = false;
  private readonly admins: Set<string>;
  /**
   * Every stanza the room sends goes out through here, queued and routed at the end of the
   * event-loop turn (flush): see `queue`.
   */
  readonly out: Sender;
  /** The room's output of this event-loop turn, in order. */
  private pending: Element[] = [];
  private flushScheduled = false;

  constructor(
    readonly mod: ModuleApi<MucOptions>,
    readonly store: RoomStore,
    readonly metrics: MucMetrics,
  ) {
    this.domain = mod.host;
    this.options = mod.options;
    this.history = new MemoryHistory(this.options.max_history);
    this.admins = new Set([...mod.server.config.admins, ...this.options.admins]);
    this.out = { send: (stanza) => this.queue(stanza) };
  }

  /**
   * Why the room's output waits for the end of the turn: a socket connection writes what one
   * tick queued for it as one TLS write, and the tick ends after each socket's read callback.
   * A busy room handles many occupants' stanzas (joins, messages) in one turn, each fanned out
   * to everyone; routed at once, every occupant got one TLS write per stanza. Routed together
   * from one setImmediate (after all the turn's reads), an occupant gets everything the turn
   * produced for it in one write: most of a join's or a message's fan-out cost was those writes.
   * The order of everything the room sends is kept (one queue); iq handlers flush before their
   * answer goes out (index.ts), so e.g. a kick's presences still precede the moderator's result.
   */
  private queue(stanza: Element): void {
    this.pending.push(stanza);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushTurn);
    }
  }

  private readonly flushTurn = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  /** Route everything the room queued, in order (also at once when an iq answer or shutdown must follow it). */
  flush(): void {
    while (this.pending.length > 0) {
      // A delivery may come back to the room at once (an error from a local occupant's side): that goes to a new batch.
      const batch = this.pending;
      this.pending = [];
      for (const stanza of batch) this.mod.send(stanza);
    }
  }

  now(): number {
    return this.mod.now();
  }

  rooms(): IterableIterator<Room> {
    return this.roomMap.values();
  }

  room(local: string): Room | undefined {
    return this.roomMap.get(local);
  }

  get roomCount(): number {
    return this.roomMap.size;
  }

  addLoaded(room: Room): void {
    this.roomMap.set(room.local, room);
  }

  /**
   * Redis cluster (src/cluster/redis/placement.ts): forget every room without telling anyone
   * (another node serves this domain, or did until now) and load the persistent ones from
   * storage again. Nothing is saved: the stored state is the truth.
   */
  async reloadRooms(): Promise<void> {
    for (const room of this.roomMap.values()) this.history.forget(room);
    this.roomMap.clear();
    this.pending = [];
    for (const room of await this.store.loadAll(this.domain, this.defaultConfig())) this.addLoaded(room);
  }

  isServiceAdmin(bare: string): boolean {
    return this.admins.has(bare);
  }

  affiliation(room: Room, bare: string): Affiliation {
    return this.admins.has(bare) ? 'owner' : room.affiliation(bare);
  }

  party(room: Room, o: Occupant): Party {
    return { role: o.role, affiliation: this.affiliation(room, o.bare) };
  }

  /** The service's broadcast for other modules: sent at once (after what the room queued before), as it always was. */
  broadcast(room: Room, pick: (o: Occupant) => Element | undefined): void {
    toAll(this.out, room, pick);
    this.flush();
  }

  /** The room's own broadcasts (joins, leaves, presence changes): queued with the rest of the turn's output. */
  fanOut(room: Room, pick: (o: Occupant) => Element | undefined): void {
    toAll(this.out, room, pick);
  }

  // ───────────────────────── creation and lifecycle ─────────────────────────

  /** Why `creator` may not create a room now (a coded error), or undefined when it may. */
  refuseCreation(creator: Jid): 'CANTO_ERR_MUC_CREATE_FORBIDDEN' | 'CANTO_ERR_MUC_TOO_MANY_ROOMS' | undefined {
    const policy = this.options.creators;
    const admin = this.admins.has(creator.bare);
    if (policy === 'admins' && !admin) return 'CANTO_ERR_MUC_CREATE_FORBIDDEN';
    if (policy === 'local' && !admin && (creator.local === '' || !this.mod.server.hosts.has(creator.domain))) return 'CANTO_ERR_MUC_CREATE_FORBIDDEN';
    const max = this.options.max_rooms_per_user;
    if (max > 0 && !admin) {
      let n = 0;
      for (const r of this.roomMap.values()) if (r.creator === creator.bare) n++;
      if (n >= max) return 'CANTO_ERR_MUC_TOO_MANY_ROOMS';
    }
    return undefined;
  }

  defaultConfig(): RoomConfig {
    const d = this.options.room_defaults;
    return {
      name: '', description: '', lang: '', persistent: d.persistent, public: d.public, membersOnly: d.members_only,
      moderated: d.moderated, password: '', maxUsers: 0, whois: d.whois, allowInvites: d.allow_invites,
      changeSubject: d.change_subject, allowPm: d.allow_pm, historyLength: d.history_length, logging: d.logging, archiving: d.archiving,
      presenceBroadcast: ROLES.filter((r) => r !== 'none'),
    };
  }

  /** A new room owned by `creator`; locked until configured (§10.1) unless the join was an old-style one. */
  create(local: string, creator: Jid, locked: boolean): Room {
    const room = new Room(local, this.domain, this.defaultConfig(), this.now(), creator.bare);
    room.locked = locked;
    room.setAffiliation(creator.bare, { affiliation: 'owner' });
    this.roomMap.set(local, room);
    this.metrics.roomsCreated.inc();
    this.mod.log.info({ room: room.jid, by: creator.bare }, 'room created');
    this.mod.fire('muc-room-created', { room, creator });
    return room;
  }

  /** The last occupant left: a temporary room goes; a persistent one stays (its history too). */
  emptied(room: Room): void {
    if (!room.empty || room.config.persistent || room.destroyed || this.stopping) return;
    this.forget(room);
  }

  /** Remove a room from memory and storage. */
  forget(room: Room, reason?: string): Promise<void> {
    room.destroyed = true;
    if (this.roomMap.get(room.local) === room) this.roomMap.delete(room.local);
    this.history.forget(room);
    this.mod.fire('muc-room-destroyed', { room, reason });
    return this.store.save(room);
  }

  /** Write the room's state when it is persistent (or remove it when it stopped being so). */
  save(room: Room): Promise<void> {
    return this.store.save(room);
  }

  // ───────────────────────── occupants' presence ─────────────────────────

  /** Codes every self-presence carries in this room: 100 (non-anonymous), 170 (logged). */
  roomCodes(room: Room): number[] {
    const codes: number[] = [];
    if (room.config.whois === 'anyone') codes.push(STATUS.NON_ANONYMOUS);
    if (room.config.logging) codes.push(STATUS.LOGGING_ON);
    return codes;
  }

  /** The occupant's presence without MUC payload, from its room JID; extensions add to it (muc-occupant-presence). */
  private core(room: Room, o: Occupant, base: Element): Element {
    base.attrs.from = `${room.jid}/${o.nick}`;
    this.mod.fire('muc-occupant-presence', { room, occupant: o, presence: base });
    return base;
  }

  /** The occupant's current presence as others see it, built once per change. */
  views(room: Room, o: Occupant): PresenceViews {
    if (o.cached) return o.cached;
    const stored = o.sessions.get(o.primary);
    const base = stored ? shallow(stored) : presenceStanza();
    const core = this.core(room, o, base);
    const affiliation = this.affiliation(room, o.bare);
    o.cached = {
      plain: withChild(core, mucUserX(affiliation, o.role, undefined, [])),
      withJid: withChild(core, mucUserX(affiliation, o.role, o.primary, [])),
    };
    return o.cached;
  }

  /** The occupant's current presence for its own resources: real JID, 110 and `codes`. */
  selfPresence(room: Room, o: Occupant, codes: readonly number[]): Element {
    const stored = o.sessions.get(o.primary);
    const core = this.core(room, o, stored ? shallow(stored) : presenceStanza());
    return withChild(core, mucUserX(this.affiliation(room, o.bare), o.role, o.primary, [...codes, STATUS.SELF]));
  }

  /**
   * The views of a presence that is not the occupant's current one (unavailable, 303, kicked,
   * destroyed): `base` built by the caller, the item with `role` and `extras`, `codes` for all;
   * `self(jid)` for each of the occupant's own resources (its real JID and 110).
   */
  transientViews(room: Room, o: Occupant, base: Element, role: string, codes: readonly number[], extras: ItemExtras = {}, destroy?: Element): PresenceViews & { self(jid: string): Element } {
    const core = this.core(room, o, base);
    const affiliation = this.affiliation(room, o.bare);
    return {
      plain: withChild(core, mucUserX(affiliation, role, undefined, codes, extras, destroy)),
      withJid: withChild(core, mucUserX(affiliation, role, o.primary, codes, extras, destroy)),
      self: (jid) => withChild(core, mucUserX(affiliation, role, jid, [...codes, STATUS.SELF], extras, destroy)),
    };
  }
}
