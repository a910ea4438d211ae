/**
 * XEP-0313 Message Archive Management (urn:xmpp:mam:2 and #extended) with XEP-0359 stanza ids,
 * for the accounts of a host. archiver.ts writes, queries.ts reads, retention.ts prunes; the
 * README has the design (hook priorities, the offline interplay).
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { duration, oneOf } from '../../core/option-schemas.js';
import { Archiver } from './archiver.js';
import { NS_SID, stanzaIdBy } from './eligibility.js';
import { NS_MAM, NS_MAM_EXTENDED } from './query.js';
import { POLICIES, type Prefs } from './prefs.js';
import { CachedKeyval } from './prefs-cache.js';
import { Queries } from './queries.js';
import { archiveExpiry, startRetention } from './retention.js';

export { archivable } from './eligibility.js';
export { parseMamQuery, NS_MAM, NS_MAM_EXTENDED } from './query.js';

/**
 * Where MAM hooks the stanza path: below blocking (1000, so blocked messages are not archived),
 * above delivery and offline storage (0), so the stanza-id is on the stanza before it is
 * delivered, stored offline or copied (carbons).
 */
export const MAM_PRIORITY = 500;


export default defineModule({
  name: 'mam',
  description: 'XEP-0313 message archive with XEP-0359 stanza ids',
  depends: ['roster'],
  options: z.object({
    default_policy: oneOf([...POLICIES], 'always'),
    default_page_size: z.number().int().min(1).default(100),
    max_page_size: z.number().int().min(1).default(250),
    archive_expires_after: archiveExpiry('365 days'),
    prune_interval: duration('1 hour', { min: 1000 }),
    prune_batch_size: z.number().int().min(1).default(500),
  }),
  setup(mod) {
    const opts = mod.options;
    const store = mod.archive<string>('mam');
    const prefs = new CachedKeyval(mod.keyval<Prefs>('mam_prefs'));
    mod.cachedStore('mam_prefs', (username) => prefs.forget(username));
    const archived = mod.measure.counter('mam_messages_archived_total', 'Messages archived, by direction (in: received, out: sent)', ['direction']);
    const queryTime = mod.measure.histogram('mam_query_seconds', 'Time to answer an archive query', [0.005, 0.02, 0.1, 0.5, 2]);
    const pruned = mod.measure.counter('mam_messages_pruned_total', 'Archived messages deleted by retention');
    const skipped = mod.measure.counter('mam_offline_skipped_total', 'Offline messages not re-sent to a session that synced from the archive');

    const archiver = new Archiver(mod, { store, prefs, defaultPolicy: opts.default_policy, onArchived: (direction) => archived.inc({ direction }) });
    mod.hook('pre-message/bare', archiver.outgoing, MAM_PRIORITY);
    mod.hook('pre-message/full', archiver.outgoing, MAM_PRIORITY);
    mod.hook('message/bare', archiver.incoming, MAM_PRIORITY);
    mod.hook('message/full', archiver.incoming, MAM_PRIORITY);

    const limits = { defaultMax: Math.min(opts.default_page_size, opts.max_page_size), maxMax: opts.max_page_size };
    const queries = new Queries({
      store,
      prefs,
      defaultPolicy: opts.default_policy,
      limits,
      timeQuery: () => queryTime.startTimer(),
      warn: (obj, msg) => mod.log.warn(obj, msg),
    });
    mod.iq('set', NS_MAM, 'query', queries.query, { to: 'bare' });
    mod.iq('get', NS_MAM, 'query', queries.form, { to: 'bare' });
    mod.iq('get', NS_MAM, 'metadata', queries.metadata, { to: 'bare' });
    mod.iq('get', NS_MAM, 'prefs', queries.getPrefs, { to: 'bare' });
    mod.iq('set', NS_MAM, 'prefs', queries.setPrefs, { to: 'bare' });

    // The archive is the account's (XEP-0313 §8): advertised in disco#info of the bare JID.
    mod.hook('disco-info', ({ to, query, trusted }) => {
      if (to.local === '' || !trusted) return;
      for (const ns of [NS_MAM, NS_MAM_EXTENDED, NS_SID]) query.c('feature', { var: ns });
    });

    // Offline interplay: a session that synced from the archive before its initial presence
    // already has the archived offline messages; they are not sent again (README).
    mod.hook('offline/deliver', ({ session, stanza, username, host }) => {
      if (!queries.syncedBeforePresence.has(session)) return false;
      if (stanzaIdBy(stanza, `${username}@${host}`) === undefined) return false;
      skipped.inc();
      return true;
    });

    // Not a promise: 'user-deleted' is fired, and a promise would claim it from other modules.
    mod.hook('user-deleted', ({ username }) => {
      const user = `${username}@${mod.host}`;
      Promise.all([store.delete(username), prefs.set(username, undefined)]).then(
        ([n]) => mod.log.info({ user, deleted: n }, 'message archive deleted with the account'),
        (err: unknown) => mod.log.error({ err, user }, 'could not delete the message archive of a deleted account'),
      );
    });

    startRetention(mod, store, {
      expiresAfter: opts.archive_expires_after ?? undefined,
      interval: opts.prune_interval,
      batchSize: opts.prune_batch_size,
      onPruned: (n) => pruned.inc(undefined, n),
    });
  },
});
