/**
 * The room archive (XEP-0313 on the room JID, XEP-0359 stanza ids by the room): groupchat
 * messages of rooms with `archiving` go into the archive store `muc_archive` (store key = the
 * room's local part, `with` = the sender's occupant JID, the stored stanza carries the sender's
 * real bare JID in a muc#user item, shown only to those who may see real JIDs). The broadcast
 * copy is held (the `muc-message` handler returns a promise) until the item is written, then
 * stamped `<stanza-id by='room JID'/>`, so every live copy has the id the archive answers with.
 *
 * Queries run on the user archive's engine (mam/queries.ts `ArchiveQueries`, page.ts, query.ts):
 * the same forms, RSM, flip-page, ids, metadata. This file adds who may read (anyone who may enter
 * an open room, members of a members-only room; never outcasts), the `with` rule (an occupant JID)
 * and the real-JID view.
 *
 * It is also the room's HistoryProvider: an archiving room serves history on join from the store
 * (the XEP-0045 limits through `selectHistory`); a room without archiving keeps the in-memory
 * ring. The archive goes with the room (destroyed, or temporary and emptied).
 */
import { stanzaError } from '../../core/errors.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { ArchiveItem, ArchiveStore } from '../../storage/types.js';
import type { Element } from '../../xml/element.js';
import { parseXmlFragment } from '../../xml/parse-fragment.js';
import { asClientStanza } from '../../xml/stanza.js';
import { roomArchivable, stampStanzaId } from '../mam/eligibility.js';
import type { MamQuery } from '../mam/query.js';
import { shallow } from './fanout.js';
import { selectHistory, type HistoryEntry, type HistoryProvider, type HistoryRequest } from './history.js';
import { NS_MUC_USER } from './ns.js';
import { seesRealJids } from './roles.js';
import type { Occupant, Room } from './room.js';
import type { MucService } from './service.js';

export const MUC_ARCHIVE_STORE = 'muc_archive';

export class RoomArchive implements HistoryProvider {
  constructor(
    private readonly muc: MucService,
    readonly store: ArchiveStore<string>,
    /** The provider for rooms that do not archive (the in-memory ring). */
    private readonly fallback: HistoryProvider,
    private readonly onArchived: () => void,
  ) {}

  // ───────────── the write side ─────────────

  /** `muc-message` (below the occupant id, so it is archived too): archive, then stamp the broadcast copy. */
  onMessage = ({ room, occupant, stanza }: { room: Room; occupant: Occupant; stanza: Element }): false | Promise<false> => {
    if (!room.config.archiving || !roomArchivable(stanza)) return false;
    return this.append(room, stanza, `${room.jid}/${occupant.nick}`, occupant.bare).then(() => false);
  };

  /** Write a message as the room broadcasts it (plus the sender's real bare JID) and stamp it; a storage failure is logged, the message goes on unstamped. */
  async append(room: Room, stanza: Element, withJid: string, realBare?: string): Promise<string | undefined> {
    const stored = asClientStanza(stanza);
    if (realBare !== undefined) stored.c('x', { xmlns: NS_MUC_USER }).c('item', { jid: realBare });
    try {
      const id = await this.store.append(room.local, { when: this.muc.now(), with: withJid, value: stored.toString() });
      stampStanzaId(stanza, id, room.jid);
      this.onArchived();
      return id;
    } catch (err) {
      this.muc.mod.log.error({ err, room: room.jid }, 'could not archive a room message');
      return undefined;
    }
  }

  // ───────────── who reads, and what they see ─────────────

  /** The store key of the room an archive query is for, or a stanza error. */
  archiveOf = (event: StanzaEvent): string => {
    const room = this.muc.room(event.to.local);
    if (!room || (room.locked && this.muc.affiliation(room, event.from.bare) !== 'owner')) throw stanzaError('CANTO_ERR_MUC_ROOM_NOT_FOUND');
    if (!room.config.archiving) throw stanzaError('CANTO_ERR_MUC_ARCHIVE_OFF');
    const affiliation = this.muc.affiliation(room, event.from.bare);
    // XEP-0313 §5.1.2 and Prosody: whoever could enter may read; members-only rooms only their members.
    if (affiliation === 'outcast' || (room.config.membersOnly && affiliation === 'none')) throw stanzaError('CANTO_ERR_MUC_ARCHIVE_FORBIDDEN');
    return room.local;
  };

  /** `with` in a room archive is an occupant JID (room@service/nick) or the room itself. */
  adjust = (event: StanzaEvent, q: MamQuery): MamQuery => {
    if (q.with === undefined) return q;
    const roomJid = `${event.to.local}@${event.to.domain}`;
    if (q.with !== roomJid && !q.with.startsWith(`${roomJid}/`)) throw stanzaError('CANTO_ERR_MUC_ARCHIVE_WITH');
    return q;
  };

  /** Real JIDs only for those who may see them now (non-anonymous rooms, moderators, owners and admins). */
  view = (original: Element, event: StanzaEvent): Element => {
    const room = this.muc.room(event.to.local);
    if (room && this.mayseeRealJids(room, event.from.bare, event.from.full)) return original;
    return withoutRealJid(original);
  };

  private mayseeRealJids(room: Room, bare: string, full: string): boolean {
    const affiliation = this.muc.affiliation(room, bare);
    if (affiliation === 'owner' || affiliation === 'admin') return true;
    return seesRealJids(room.bySession.get(full)?.role ?? 'none', room.config.whois);
  }

  // ───────────── history on join ─────────────

  record(room: Room, entry: HistoryEntry): void | Promise<void> {
    // An archiving room wrote the message in `onMessage` already.
    if (!room.config.archiving) return this.fallback.record(room, entry);
  }

  fetch(room: Room, request: HistoryRequest, now: number): HistoryEntry[] | Promise<HistoryEntry[]> {
    if (!room.config.archiving) return this.fallback.fetch(room, request, now);
    return this.fromArchive(room, request, now);
  }

  forget(room: Room): void {
    this.fallback.forget(room);
  }

  private async fromArchive(room: Room, request: HistoryRequest, now: number): Promise<HistoryEntry[]> {
    const length = Math.min(room.config.historyLength, this.muc.options.max_history);
    const limit = Math.min(length, request.maxstanzas ?? Infinity);
    if (limit <= 0 || request.maxchars === 0) return [];
    let start = request.since;
    if (request.seconds !== undefined) start = Math.max(start ?? -Infinity, now - request.seconds * 1000);
    const items = await this.store.find(room.local, { start: start === undefined || start === -Infinity ? undefined : start, limit, reverse: true });
    const entries: HistoryEntry[] = [];
    for (const item of items.reverse()) {
      const e = this.entry(room, item);
      if (e) entries.push(e);
    }
    // maxchars and the rest of the limits, as for the ring.
    return selectHistory(entries, request, length, now);
  }

  /** A stored message as history: without the real JID, with the room's stanza-id (clients dedupe on it). */
  private entry(room: Room, item: ArchiveItem<string>): HistoryEntry | undefined {
    try {
      const stanza = withoutRealJid(parseXmlFragment(item.value, { defaultNs: 'jabber:client' }));
      // Tombstones and moderation notices are for archive readers, not history.
      if (!stanza.getChild('body')) return undefined;
      stampStanzaId(stanza, item.id, room.jid);
      return { stanza, when: item.when };
    } catch (err) {
      this.muc.mod.log.warn({ err, id: item.id, room: room.jid }, 'skipping a room archive item that does not parse');
      return undefined;
    }
  }

  /** The room is gone: so is its archive (not a promise: a failure is logged). */
  deleteRoom(room: Room): void {
    this.store.delete(room.local).then(
      (n) => this.muc.mod.log.info({ room: room.jid, deleted: n }, 'room archive deleted with the room'),
      (err: unknown) => this.muc.mod.log.error({ err, room: room.jid }, 'could not delete a room archive'),
    );
  }
}

/** The stored message without the muc#user payload that carries the sender's real JID. */
export function withoutRealJid(stanza: Element): Element {
  if (!stanza.getChild('x', NS_MUC_USER)) return stanza;
  const copy = shallow(stanza);
  copy.children = copy.children.filter((c) => typeof c === 'string' || !(c.name === 'x' && c.xmlns === NS_MUC_USER));
  return copy;
}

/** The real bare JID a stored message carries, if any. */
export function realJidOf(stanza: Element): string | undefined {
  return stanza.getChild('x', NS_MUC_USER)?.getChild('item')?.attrs.jid;
}
