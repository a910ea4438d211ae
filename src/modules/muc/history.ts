/**
 * Discussion history sent on join (XEP-0045 §7.2.15): the provider interface and the in-memory
 * ring that is the default. The room archive (XEP-0313 on the room) replaces the provider through
 * the `muc` service (`setHistory`) and serves history from storage instead.
 */
import type { Element } from '../../xml/element.js';
import type { Room } from './room.js';

export interface HistoryEntry {
  /** The message as broadcast: from the occupant's room JID, no `to`. Never modified. */
  stanza: Element;
  /** ms since the epoch */
  when: number;
  /** Characters of the serialized stanza, computed when a `maxchars` request first needs it. */
  chars?: number;
}

/** The <history/> of a join (§7.2.15); all optional. `since` in ms since the epoch. */
export interface HistoryRequest {
  maxchars?: number;
  maxstanzas?: number;
  seconds?: number;
  since?: number;
}

export interface HistoryProvider {
  /** A groupchat message with a body was broadcast (after the `muc-message` hooks). */
  record(room: Room, entry: HistoryEntry): void | Promise<void>;
  /** What to replay to a joining occupant, oldest first (the caller adds the delay stamp and `to`). */
  fetch(room: Room, request: HistoryRequest, now: number): HistoryEntry[] | Promise<HistoryEntry[]>;
  /** The room is destroyed (or emptied and temporary): forget its history. */
  forget(room: Room): void;
}

/**
 * Apply a request's limits to entries (oldest first) and the room's length: the newest
 * `min(maxstanzas, length)` entries, none older than `seconds` or `since`, and, from the newest
 * back, no more than `maxchars` characters of whole stanzas. Returns oldest first.
 */
export function selectHistory(entries: readonly HistoryEntry[], request: HistoryRequest, length: number, now: number): HistoryEntry[] {
  let n = Math.min(length, request.maxstanzas ?? Infinity);
  if (n <= 0 || request.maxchars === 0) return [];
  const from = request.seconds !== undefined ? now - request.seconds * 1000 : -Infinity;
  const since = request.since ?? -Infinity;
  const out: HistoryEntry[] = [];
  let chars = 0;
  for (let i = entries.length - 1; i >= 0 && n > 0; i--, n--) {
    const e = entries[i]!; // 0 <= i < length
    if (e.when < from || e.when < since) break;
    if (request.maxchars !== undefined) {
      e.chars ??= e.stanza.toString().length;
      if (chars + e.chars > request.maxchars) break;
      chars += e.chars;
    }
    out.push(e);
  }
  return out.reverse();
}

/** The default provider: the last `max` messages of each room, in memory, lost at restart. */
export class MemoryHistory implements HistoryProvider {
  private readonly rings = new Map<Room, HistoryEntry[]>();

  constructor(private readonly max: number) {}

  record(room: Room, entry: HistoryEntry): void {
    const keep = Math.min(this.max, room.config.historyLength);
    if (keep === 0) return;
    let ring = this.rings.get(room);
    if (!ring) this.rings.set(room, (ring = []));
    ring.push(entry);
    if (ring.length > keep) ring.splice(0, ring.length - keep);
  }

  fetch(room: Room, request: HistoryRequest, now: number): HistoryEntry[] {
    const ring = this.rings.get(room);
    if (!ring) return [];
    return selectHistory(ring, request, Math.min(this.max, room.config.historyLength), now);
  }

  forget(room: Room): void {
    this.rings.delete(room);
  }
}

/** Read <history maxchars maxstanzas seconds since/> (bad values are ignored, as if absent). */
export function parseHistoryRequest(history: Element | undefined): HistoryRequest {
  const req: HistoryRequest = {};
  if (!history) return req;
  const int = (name: string): number | undefined => {
    const v = history.attrs[name];
    return v !== undefined && /^\d{1,10}$/.test(v) ? Number(v) : undefined;
  };
  const maxchars = int('maxchars');
  if (maxchars !== undefined) req.maxchars = maxchars;
  const maxstanzas = int('maxstanzas');
  if (maxstanzas !== undefined) req.maxstanzas = maxstanzas;
  const seconds = int('seconds');
  if (seconds !== undefined) req.seconds = seconds;
  const since = history.attrs.since !== undefined ? Date.parse(history.attrs.since) : NaN;
  if (!Number.isNaN(since)) req.since = since;
  return req;
}
