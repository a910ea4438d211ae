/**
 * The modern extensions, added through the MUC's own extension points (README.md) and nothing
 * else: the room archive (XEP-0313/0359, archive.ts) as the history provider and a `muc-message`
 * handler, self-ping (XEP-0410), occupant ids (XEP-0421), moderation (XEP-0425), room avatars
 * (XEP-0486), and the disco features that announce them, `muc#stable_id` among them (the room
 * keeps senders' message ids: messages.ts roomCopy never rewrites `id`).
 */
import type { ModuleApi } from '../../core/modules.js';
import { NS_SID } from '../mam/eligibility.js';
import { ArchiveQueries } from '../mam/queries.js';
import { NS_MAM, NS_MAM_EXTENDED } from '../mam/query.js';
import { startRetention } from '../mam/retention.js';
import { MUC_ARCHIVE_STORE, RoomArchive } from './archive.js';
import { NS_VCARD, RoomAvatars, VCARD_STORE } from './avatar.js';
import { Moderation, NS_MODERATE } from './moderation.js';
import { NS_OCCUPANT_ID, OccupantIds } from './occupant-id.js';
import type { MucOptions } from './options.js';
import { FEATURE_SELF_PING, onSelfPing, SELF_PING_PRIORITY } from './self-ping.js';
import type { MucService } from './service.js';

export const FEATURE_STABLE_ID = 'http://jabber.org/protocol/muc#stable_id';
/** Occupant ids go on before the archive writes (priority 0), so they are archived too. */
const OCCUPANT_ID_PRIORITY = 100;

export async function installExtensions(mod: ModuleApi<MucOptions>, muc: MucService): Promise<void> {
  const opts = mod.options;
  const archived = mod.measure.counter('muc_archive_messages_total', 'Messages written to room archives');
  const pruned = mod.measure.counter('muc_archive_pruned_total', 'Room archive messages deleted by retention');
  const queryTime = mod.measure.histogram('muc_archive_query_seconds', 'Time to answer a room archive query', [0.005, 0.02, 0.1, 0.5, 2]);
  const moderated = mod.measure.counter('muc_moderations_total', 'Messages retracted by moderators (XEP-0425)');
  const selfPings = mod.measure.counter('muc_self_pings_total', 'Self-pings answered (XEP-0410), by outcome', ['outcome']);

  // XEP-0421: ids on presences and messages, forged ones replaced.
  const ids = await OccupantIds.load(mod);
  mod.hook('muc-occupant-presence', ({ room, occupant, presence }) => ids.stamp(presence, room, occupant.bare));
  mod.hook('muc-message', ({ room, occupant, stanza }) => {
    ids.stamp(stanza, room, occupant.bare);
    return false;
  }, OCCUPANT_ID_PRIORITY);

  // XEP-0313 on rooms: write side, history provider, queries, retention.
  const archive = new RoomArchive(muc, mod.archive<string>(MUC_ARCHIVE_STORE), muc.history, () => archived.inc());
  muc.history = archive;
  mod.hook('muc-message', archive.onMessage);
  const queries = new ArchiveQueries({
    store: archive.store,
    limits: { defaultMax: Math.min(opts.archive_default_page_size, opts.archive_max_page_size), maxMax: opts.archive_max_page_size },
    timeQuery: () => queryTime.startTimer(),
    warn: (obj, msg) => mod.log.warn(obj, msg),
    archiveOf: archive.archiveOf,
    adjust: archive.adjust,
    view: archive.view,
  });
  mod.iq('set', NS_MAM, 'query', queries.query, { to: 'bare' });
  mod.iq('get', NS_MAM, 'query', queries.form, { to: 'bare' });
  mod.iq('get', NS_MAM, 'metadata', queries.metadata, { to: 'bare' });
  startRetention(mod, archive.store, {
    expiresAfter: opts.archive_expires_after ?? undefined,
    interval: opts.archive_prune_interval,
    batchSize: opts.archive_prune_batch_size,
    onPruned: (n) => pruned.inc(undefined, n),
    owners: () => [...muc.rooms()].map((r) => r.local),
    label: 'room archive',
  });

  // XEP-0410: answered by the room, above the iq forwarder.
  mod.hook('iq/full', (event) => {
    const answered = onSelfPing(muc, event);
    if (answered) selfPings.inc({ outcome: event.to.resource !== undefined && muc.room(event.to.local)?.bySession.has(event.from.full) ? 'joined' : 'not-joined' });
    return answered;
  }, SELF_PING_PRIORITY);

  // XEP-0425.
  const moderation = new Moderation(muc, archive, ids);
  mod.iq('set', NS_MODERATE, 'moderate', async (event) => {
    await moderation.handle(event);
    moderated.inc();
    return undefined;
  }, { to: 'bare' });

  // XEP-0486.
  const avatars = new RoomAvatars(muc, mod.map<string>(VCARD_STORE));
  await avatars.load();
  mod.iq('get', NS_VCARD, 'vCard', avatars.get, { to: 'bare' });
  mod.iq('set', NS_VCARD, 'vCard', avatars.set, { to: 'bare' });
  mod.hook('muc-occupant-joined', ({ room, session }) => avatars.joined(room, session));

  mod.hook('muc-disco-info', ({ room, query }) => {
    if (room.config.archiving) for (const f of [NS_MAM, NS_MAM_EXTENDED, NS_SID]) query.c('feature', { var: f });
    for (const f of [NS_OCCUPANT_ID, FEATURE_SELF_PING, NS_MODERATE, FEATURE_STABLE_ID]) query.c('feature', { var: f });
    avatars.disco(room, query);
  });

  mod.hook('muc-room-destroyed', ({ room }) => {
    archive.deleteRoom(room);
    avatars.deleteRoom(room);
    ids.forget(room);
  });
}
