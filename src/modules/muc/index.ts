/**
 * XEP-0045 Multi-User Chat as an internal component (`[[component]] domain = "conference.…"
 * module = "muc"`): rooms, occupants, roles and affiliations, configuration, persistence,
 * history, registration, invitations and voice requests. README.md has the whole picture and
 * the extension points (events.ts) the room archive and the modern extensions use.
 */
import { defineModule } from '../../core/modules.js';
import { isBound } from '../../core/session.js';
import { adminGet, adminSet } from './admin.js';
import { banReports, fileBanReports } from './report-ban.js';
import { mucAdmin } from './admin-ops.js';
import { roomInfo, roomItems, serviceInfo, serviceItems, uniqueName } from './disco.js';
import './events.js';
import { installExtensions } from './extensions.js';
import { IqForwarder } from './iq-forward.js';
import { onOccupantMessage, onRoomMessage } from './messages.js';
import { mucMetrics } from './metrics.js';
import { NS_DISCO_INFO, NS_DISCO_ITEMS, NS_MUC_ADMIN, NS_MUC_OWNER, NS_MUC_UNIQUE, NS_REGISTER, STATUS } from './ns.js';
import { removeOccupant } from './occupancy.js';
import { mucOptions } from './options.js';
import { ownerGet, ownerSet } from './owner.js';
import { ROOM_STORE, RoomStore, type StoredRoom } from './persistence.js';
import { onPresence } from './presence.js';
import { registerGet, registerSet } from './register.js';
import type { Room } from './room.js';
import { MucService } from './service.js';

export type { MucApi } from './events.js';
export type { MucAdmin, RoomSummary, AffiliationEntry, NewRoom } from './admin-ops.js';
export type { HistoryProvider, HistoryEntry, HistoryRequest } from './history.js';
export { MemoryHistory, selectHistory } from './history.js';
export type { Room, Occupant, RoomConfig, AffiliationRecord, Subject } from './room.js';
export * from './ns.js';

export default defineModule({
  name: 'muc',
  description: 'XEP-0045 Multi-User Chat service',
  options: mucOptions,
  async setup(mod) {
    if (mod.server.components.get(mod.host)?.kind !== 'internal') {
      mod.log.error({ host: mod.host }, 'the muc module serves a [[component]] (domain = "conference.…", module = "muc"), not a virtual host: not started here');
      return;
    }
    // The gauges read the service at scrape time; the service counts through the metrics.
    const ref: { muc?: MucService } = {};
    const metrics = mucMetrics(mod, {
      rooms: () => ref.muc?.roomCount ?? 0,
      occupants: () => {
        let n = 0;
        for (const r of ref.muc?.rooms() ?? []) n += r.occupants.size;
        return n;
      },
    });
    const muc = new MucService(mod, new RoomStore(mod.map<StoredRoom>(ROOM_STORE), mod.log), metrics);
    ref.muc = muc;
    for (const room of await muc.store.loadAll(mod.host, muc.defaultConfig())) muc.addLoaded(room);
    mod.log.info({ rooms: muc.roomCount }, 'persistent rooms loaded');
    mod.provides('muc', muc);
    mod.provides('muc-admin', mucAdmin(muc));
    await installExtensions(mod, muc);

    mod.hook('presence/full', (event) => onPresence(muc, event));
    mod.hook('presence/bare', (event) => onPresence(muc, event));
    mod.hook('message/bare', (event) => onRoomMessage(muc, event));
    mod.hook('message/full', (event) => onOccupantMessage(muc, event));
    const forwarder = new IqForwarder(muc);
    mod.hook('iq/full', (event) => forwarder.handle(event), 10);

    // The room's stanzas wait for the end of the turn (MucService.queue); what an iq handler made
    // the room send goes out before the iq's answer, as the XEP orders it (§8.2: the kicked
    // occupant's presence, then the moderator's result).
    const flushed = <E, R>(handler: (event: E) => R): ((event: E) => R) => (event) => {
      let result: R;
      try {
        result = handler(event);
      } catch (err) {
        muc.flush();
        throw err;
      }
      if (result instanceof Promise) {
        return result.then(
          (value: unknown) => (muc.flush(), value),
          (err: unknown) => {
            muc.flush();
            throw err;
          },
        ) as R;
      }
      muc.flush();
      return result;
    };
    mod.iq('get', NS_MUC_ADMIN, 'query', flushed((event) => adminGet(muc, event)), { to: 'bare' });
    mod.iq('set', NS_MUC_ADMIN, 'query', flushed(async (event) => {
      // A ban may carry a XEP-0377 report (report-ban.ts): read before, filed once the ban is done.
      const reports = banReports(muc, event);
      const result = await adminSet(muc, event);
      await fileBanReports(mod, muc, event, reports);
      return result;
    }), { to: 'bare' });
    mod.iq('get', NS_MUC_OWNER, 'query', flushed((event) => ownerGet(muc, event)), { to: 'bare' });
    mod.iq('set', NS_MUC_OWNER, 'query', flushed((event) => ownerSet(muc, event)), { to: 'bare' });
    mod.iq('get', NS_REGISTER, 'query', flushed((event) => registerGet(muc, event)), { to: 'bare' });
    mod.iq('set', NS_REGISTER, 'query', flushed((event) => registerSet(muc, event)), { to: 'bare' });
    mod.iq('get', NS_DISCO_INFO, 'query', (event) => serviceInfo(event));
    mod.iq('get', NS_DISCO_ITEMS, 'query', () => serviceItems(muc));
    mod.iq('get', NS_DISCO_INFO, 'query', (event) => roomInfo(muc, event), { to: 'bare' });
    mod.iq('get', NS_DISCO_ITEMS, 'query', (event) => roomItems(muc, event), { to: 'bare' });
    mod.iq('get', NS_MUC_UNIQUE, 'unique', () => uniqueName(muc));

    // A local resource that ends for good (closed, lost and not resumed, its stream management
    // hibernation expired) leaves its rooms: the presence module's unavailable presence usually
    // did it already; this catches the rest, so no ghost occupant stays.
    const joined = new Map<string, Set<Room>>();
    mod.hook('muc-occupant-joined', ({ room, session }) => {
      let set = joined.get(session);
      if (!set) joined.set(session, (set = new Set()));
      set.add(room);
    });
    mod.hook('muc-occupant-left', ({ room, session }) => {
      const set = joined.get(session);
      set?.delete(room);
      if (set?.size === 0) joined.delete(session);
    });
    mod.hookGlobal('session-destroyed', ({ session }) => {
      if (session.type !== 'c2s' || !isBound(session)) return;
      for (const room of [...(joined.get(session.fullJid) ?? [])]) {
        const o = room.bySession.get(session.fullJid);
        if (o) removeOccupant(muc, room, o, { sessions: [session.fullJid] });
      }
    });

    // Redis cluster: one node serves this domain at a time (src/cluster/redis/placement.ts). The
    // node taking it loads the rooms from storage (occupants of the previous owner are gone: their
    // clients notice with a failing XEP-0410 self-ping and join again); the node losing it drops
    // its rooms quietly. Resources of a node that died leave their rooms.
    const reload = async (owned: boolean): Promise<void> => {
      joined.clear();
      await muc.reloadRooms();
      mod.log.info({ rooms: muc.roomCount, owned }, owned ? 'serving this MUC domain on this cluster node: rooms loaded from storage' : 'another cluster node serves this MUC domain now: rooms dropped here');
    };
    mod.hook('cluster-service-acquired', () => reload(true));
    mod.hook('cluster-service-released', () => reload(false));
    mod.hookGlobal('cluster-sessions-gone', ({ jids }) => {
      for (const jid of jids) {
        for (const room of [...(joined.get(jid) ?? [])]) {
          const o = room.bySession.get(jid);
          if (o) removeOccupant(muc, room, o, { sessions: [jid] });
        }
      }
    });

    // §7.14 status 332: the service is going down; occupants are told before their streams close.
    mod.hookGlobal('server-stopping', () => {
      muc.stopping = true; // from now on nothing joins, and emptied rooms stay as they are
      for (const room of muc.rooms()) {
        for (const o of [...room.occupants.values()]) removeOccupant(muc, room, o, { codes: [STATUS.SHUTDOWN] });
      }
      muc.flush(); // before the streams close
    });
  },
});
