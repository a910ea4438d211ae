/**
 * The pre-filled message archive of the `mam` scenario, generated the same way for both servers
 * (seeded PRNG): each server's seeding code writes these items in its own storage format.
 */
import { seededRandom } from '../load/stats.js';
import { BENCH_DOMAIN, benchUsername, type ArchiveFill } from './types.js';

/**
 * The archive ends at a fixed instant, not "now": the scenario's time-range queries must
 * address the same items on both servers, and each server is seeded at a different time.
 * Both servers run with archive expiry off, so the age of the items does not matter.
 */
export const ARCHIVE_FILL_END_MS = Date.UTC(2025, 0, 1);

/** The resource the correspondents' archived messages were sent from / to. */
export const ARCHIVE_PEER_RESOURCE = 'phone';

export interface FillItem {
  /** ms since the epoch, strictly increasing. */
  when: number;
  /** The correspondent's account index. */
  peer: number;
  /** Sent by the owner (true) or received (false). */
  outgoing: boolean;
  /** The message as a server would store it (with `from` stamped, no stanza-id). */
  xml: string;
}

export function fillStartMs(fill: ArchiveFill): number {
  return ARCHIVE_FILL_END_MS - fill.spanDays * 86_400_000;
}

/** The fill's items in time order (a generator: the full size has a million). */
export function* fillItems(fill: ArchiveFill): Generator<FillItem> {
  const random = seededRandom(13);
  const start = fillStartMs(fill);
  const step = (fill.spanDays * 86_400_000) / fill.items;
  const owner = `${benchUsername(fill.owner)}@${BENCH_DOMAIN}`;
  let last = -1;
  for (let i = 0; i < fill.items; i++) {
    // Jitter inside each item's own slot keeps the times increasing.
    const when = Math.max(last + 1, Math.floor(start + (i + random() * 0.9) * step));
    last = when;
    const peer = fill.owner + 1 + Math.floor(random() * fill.correspondents);
    const outgoing = random() < 0.5;
    const peerJid = `${benchUsername(peer)}@${BENCH_DOMAIN}`;
    const [from, to] = outgoing ? [`${owner}/bench`, peerJid] : [`${peerJid}/${ARCHIVE_PEER_RESOURCE}`, owner];
    const xml = `<message from='${from}' to='${to}' type='chat' id='fill-${i}'><body>Archived message ${i}: see you at ${(i % 24).toString().padStart(2, '0')}:00 by the station.</body></message>`;
    yield { when, peer, outgoing, xml };
  }
}
