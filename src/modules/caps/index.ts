/**
 * XEP-0115 Entity Capabilities: learns the caps of local resources and of the contacts whose
 * presence reaches local users, verifies each (hash, ver) once with a disco#info query, keeps the
 * verified features in a bounded cache shared by the host's users, and offers them as the `caps`
 * service (api.ts). Also advertises Canto's own caps in the c2s stream features. See README.md.
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { duration } from '../../core/option-schemas.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { Element } from '../../xml/element.js';
import { tryParseJid } from '../../jid/index.js';
import { NS_CAPS, type CapsService } from './api.js';
import { OwnCapsSource } from './own-caps.js';
import { CapsTracker } from './tracker.js';

export { NS_CAPS, VerRecord, type CapsService, type OwnCaps, type AnnouncedCaps } from './api.js';
export { computeVer, verificationString, parseDiscoInfo, verify, illFormed } from './verification.js';

/** Above delivery (0) so every presence is seen before it is delivered or dropped; below blocking (1000): blocked presence is not learned from. */
export const CAPS_PRIORITY = 10;

export default defineModule({
  name: 'caps',
  description: 'XEP-0115 Entity Capabilities',
  depends: ['disco'],
  options: z.object({
    /** Verified (hash, ver) → features kept, shared by all users of the host (least recently used dropped first). */
    cache_size: z.number().int().min(1).default(10_000),
    /** Available full JIDs whose caps are remembered on the host. */
    max_jids: z.number().int().min(1).default(100_000),
    /** Local users remembered per JID as having received its presence. */
    max_watchers: z.number().int().min(1).default(1_000),
    /** disco#info queries out at once. */
    max_queries: z.number().int().min(1).default(32),
    /** Unverified vers waiting for (or in) a query; caps beyond are not looked at. */
    max_pending: z.number().int().min(1).default(1_000),
    query_timeout: duration('30 seconds', { min: 1 }),
    /** Canto's own caps node (XEP-0115: a URI naming the software; no '#'). */
    node: z.string().min(1).refine((s) => !s.includes('#'), { message: "expected a URI without '#'" }).default('https://canto.im'),
  }),
  setup(mod) {
    const ctx = mod.context;
    if (!ctx) throw new Error('caps is a host module');
    const o = mod.options;

    const queries = mod.measure.counter('caps_queries_total', 'disco#info queries sent to verify a caps ver');
    const outcomes = mod.measure.counter('caps_query_outcomes_total', 'Ends of caps disco#info queries, by result', ['result']);
    const skipped = mod.measure.counter('caps_skipped_total', 'Presence caps not looked at, by reason', ['reason']);
    const hits = mod.measure.counter('caps_cache_hits_total', 'Presence caps whose ver was already verified');
    const evictions = mod.measure.counter('caps_cache_evictions_total', 'Verified vers dropped from the full cache');

    const tracker = new CapsTracker(
      {
        host: mod.host,
        send: (stanza) => mod.send(stanza),
        setTimeout: (fn, ms) => mod.setTimeout(fn, ms),
        featuresKnown: (jid, username, features) => mod.fire('caps/features-known', { jid, username, features }),
        forgotten: (jid) => mod.fire('caps/forgotten', { jid }),
        debug: (obj, msg) => mod.log.debug(obj, msg),
        count: {
          sent: () => queries.inc(),
          outcome: (result) => outcomes.inc({ result: result.replace('-', '_') }),
          skipped: (reason) => skipped.inc({ reason }),
          cacheHit: () => hits.inc(),
          evicted: (n) => evictions.inc(undefined, n),
        },
      },
      {
        cacheSize: o.cache_size,
        maxJids: o.max_jids,
        maxWatchers: o.max_watchers,
        maxInFlight: o.max_queries,
        maxPending: o.max_pending,
        timeoutMs: o.query_timeout,
        maxAttempts: 3,
      },
    );
    mod.measure.gauge('caps_cache_entries', 'Verified vers in the cache', [], (g) => g.set(tracker.cache.size));
    mod.measure.gauge('caps_jids', 'Available full JIDs whose caps are tracked', [], (g) => g.set(tracker.table.size));
    mod.measure.gauge('caps_queries_in_flight', 'caps disco#info queries waiting for an answer', [], (g) => g.set(tracker.discovery.inFlight));

    // ── presence: what local resources broadcast, and what reaches local users ──
    const capsOf = (stanza: Element): Element | undefined => stanza.getChild('c', NS_CAPS);
    const onPresence = ({ origin, stanza, to, from }: StanzaEvent): undefined => {
      const type = stanza.attrs.type;
      if (type !== undefined && type !== 'unavailable') return undefined;
      if (origin.type === 'c2s' && stanza.attrs.to === undefined) {
        // The user's own broadcast (the router addressed it to the bare JID): the user sees it.
        if (type === undefined) tracker.available(from.full, from.bare, origin.username, capsOf(stanza));
        else tracker.gone(from.full);
        return undefined;
      }
      if (to.local === '') return undefined;
      if (type === 'unavailable') {
        tracker.unavailable(from.full, to.local);
      } else if (mod.server.sessions.getUserSessions(mod.host, to.local).length > 0) {
        // Only for users online here: nobody's presence to a missing or offline account is
        // remembered (a user learns the contacts' presence again with the probes at login).
        tracker.available(from.full, from.bare, to.local, capsOf(stanza));
      }
      return undefined; // only watching: delivery is the presence module's
    };
    mod.hook('presence/bare', onPresence, CAPS_PRIORITY);
    mod.hook('presence/full', onPresence, CAPS_PRIORITY);
    // Cluster: a contact's presence routed on another node and handed to a local user here.
    mod.hook('cluster-presence-delivered', ({ session, stanza }) => {
      const type = stanza.attrs.type;
      const from = stanza.attrs.from;
      if (from === undefined || (type !== undefined && type !== 'unavailable')) return;
      const jid = tryParseJid(from);
      if (!jid || jid.resource === '') return;
      if (type === 'unavailable') tracker.unavailable(jid.full, session.username);
      else tracker.available(jid.full, jid.bare, session.username, capsOf(stanza));
    });
    mod.hook('resource-unbind', ({ session }) => {
      tracker.gone(session.fullJid);
    });

    // The answers to our disco#info queries come to the bare JID they were sent from.
    mod.hook('iq/bare', ({ stanza, from }) => {
      const type = stanza.attrs.type;
      if (type !== 'result' && type !== 'error') return false;
      return tracker.answer(stanza, from.full);
    }, 100);

    // ── Canto's own caps ──
    mod.addFeature(NS_CAPS);
    const own = new OwnCapsSource(ctx, o.node, () => mod.require('disco').hostInfo());
    // §6.3: in the stream features, so clients need not ask at each login. Before authentication
    // too: a SASL2 client (XEP-0388) binds inline and never sees the features after it.
    mod.hook('stream-features', ({ origin, features }) => {
      if (origin.type !== 'c2s' && origin.type !== 'c2s_unauthed') return;
      const caps = own.get();
      features.c('c', { xmlns: NS_CAPS, hash: caps.hash, node: caps.node, ver: caps.ver });
    });
    // disco#info to node#ver: the same answer as without a node.
    mod.hook('disco-info-node', ({ to, node, query }) => {
      if (to.local !== '') return false;
      const caps = own.get();
      if (node !== `${caps.node}#${caps.ver}`) return false;
      for (const child of own.info().elements) query.cnode(child);
      return true;
    });

    const service: CapsService = {
      featuresOf: (jid) => tracker.featuresOf(jid),
      hasFeature: (jid, feature) => tracker.featuresOf(jid)?.has(feature) ?? false,
      identitiesOf: (jid) => tracker.identitiesOf(jid),
      announced: (jid) => tracker.announced(jid),
      resourcesOf: (bare, seenBy) => tracker.resourcesOf(bare, seenBy),
      ownCaps: () => own.get(),
    };
    mod.provides('caps', service);
  },
});
