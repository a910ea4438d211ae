/**
 * Real-time block lists (RTBL): pubsub nodes whose items name spammers' JIDs and domains, as
 * hex SHA-256 digests or in plain text (xmppbl.org's format). The host subscribes to each
 * configured node (source.ts), keeps it live and cached, and refuses what listed senders on
 * other servers send (enforce.ts). Options in `[modules.rtbl]`; README.md; docs/abuse.md.
 * With no `sources` (the default) the module only answers its service: nothing is checked.
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { check, duration, isBareJid, jidList, oneOf } from '../../core/option-schemas.js';
import { AllowList, defaultFormat } from './blocklist.js';
import { RtblEnforcer } from './enforce.js';
import { IqRequests } from './requests.js';
import { NS_PUBSUB_EVENT, RtblSource, type CachedList } from './source.js';

/** Storage: keyval store, one value per source keyed by "service node" (the entries, the last fetch). */
export const RTBL_STORE = 'rtbl';
/** Above blocking (1000) and every delivery hook: a listed sender's stanza goes no further. */
export const RTBL_PRIORITY = 1100;
/** Answers to our requests and the lists' notifications are taken before anything else sees them. */
const LIST_TRAFFIC_PRIORITY = 1200;
/** After a fetch, a new s2s stream to the service within this long does not fetch again. */
const RESYNC_QUIET_MS = 5000;

/** What other modules (and tests, and the admin tools to come) may ask. */
export interface RtblApi {
  /** The source ("service node") that lists this JID (its bare JID or its domain), or undefined. Allow-list applied. */
  listedBy(jid: string): string | undefined;
  /** Each source: its key, entries, failed fetches, the time of the last complete fetch (ms). */
  sources(): Array<{ key: string; entries: number; failures: number; fetched: number | undefined }>;
  /** Fetch every list again now (resolves when done; a failure is logged, not thrown). */
  refresh(): Promise<void>;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    rtbl: RtblApi;
  }
}

const sourceSchema = z.strictObject({
  jid: check(isBareJid, 'the pubsub service\'s address, such as "xmppbl.org" (or an account\'s bare JID for PEP)').transform((j) => j.toLowerCase()),
  node: z.string().min(1, 'expected a node name such as "muc_bans_sha256"'),
  format: z.enum(['sha256', 'plain']).optional(),
});

export default defineModule({
  name: 'rtbl',
  description: 'Real-time block lists (xmppbl.org format) over publish-subscribe',
  options: z.object({
    sources: z.array(sourceSchema).default(() => []).superRefine((list, ctx) => {
      const seen = new Set<string>();
      for (const [i, s] of list.entries()) {
        const key = `${s.jid} ${s.node}`;
        if (seen.has(key)) ctx.addIssue({ code: 'custom', path: [i], message: `the node "${s.node}" of ${s.jid} is listed twice` });
        seen.add(key);
      }
    }),
    allow: jidList(),
    action: oneOf(['bounce', 'drop'], 'bounce'),
    refresh_interval: duration('6 hours'), // 0: only at start, after reconnections and on retries
    retry_interval: duration('1 minute', { min: 1 }),
    request_timeout: duration('30s', { min: 1 }),
    max_entries: z.number().int().min(1).default(1_000_000),
    log_entries: z.number().int().min(0).default(20),
  }),
  setup: async (mod) => {
    const o = mod.options;
    const requests = new IqRequests(mod, o.request_timeout);
    const store = mod.keyval<CachedList>(RTBL_STORE);
    const sources = o.sources.map((s) => new RtblSource(
      { mod, requests, store, maxEntries: o.max_entries, retryMs: o.retry_interval, refreshMs: o.refresh_interval, logEntries: o.log_entries },
      { jid: s.jid, node: s.node, format: s.format ?? defaultFormat(s.node) },
    ));
    const hits = mod.measure.counter('rtbl_hits_total', 'Stanzas and s2s streams refused because the sender is on a block list, by kind (message, subscription, presence, iq, muc_join, muc_stanza, s2s)', ['kind']);
    mod.measure.gauge('rtbl_entries', 'Entries of each block list, by source ("service node")', ['source'], (g) => {
      for (const s of sources) g.set(s.list.size, { source: s.key });
    });
    mod.measure.counter('rtbl_fetch_failures_total', 'Fetches of a block list that failed (no answer, an error), by source', ['source'], (c) => {
      for (const s of sources) c.set(s.failures, { source: s.key });
    });
    const enforcer = new RtblEnforcer(mod, sources, new AllowList(o.allow), o.action, hits);

    mod.provides('rtbl', {
      listedBy(jid) {
        const at = jid.indexOf('@');
        const bare = jid.split('/')[0]?.toLowerCase() ?? '';
        return enforcer.listedBy(bare, at === -1 ? bare : bare.slice(at + 1))?.key;
      },
      sources: () => sources.map((s) => ({ key: s.key, entries: s.list.size, failures: s.failures, fetched: s.lastFetched })),
      refresh: async () => {
        await Promise.all(sources.map((s) => s.sync('asked')));
      },
    });
    if (sources.length === 0) {
      mod.log.debug('no block lists configured ([modules.rtbl] sources): nothing is checked');
      return;
    }

    // The cache first, so the lists are in force before the listeners accept anyone.
    await Promise.all(sources.map((s) => s.loadCache().catch((err: unknown) => mod.log.error({ err, source: s.key }, 'reading the block list cache failed'))));

    for (const kind of ['message', 'presence', 'iq'] as const) {
      for (const dest of ['bare', 'full', 'host'] as const) mod.hook(`${kind}/${dest}`, enforcer.onInbound, RTBL_PRIORITY);
    }
    mod.hookGlobal('route/component', enforcer.onComponent, RTBL_PRIORITY);
    mod.hookGlobal('pre-s2s-authenticated', enforcer.onS2sAuthenticated, RTBL_PRIORITY);

    mod.hook('iq/host', ({ stanza, from }: StanzaEvent) => requests.answer(stanza, from.full), LIST_TRAFFIC_PRIORITY);
    mod.hook('message/host', ({ stanza, from }: StanzaEvent) => {
      const event = stanza.getChild('event', NS_PUBSUB_EVENT);
      if (!event) return false;
      let handled = false;
      for (const s of sources) if (s.isService(from.bare) && s.onEvent(event)) handled = true;
      return handled;
    }, LIST_TRAFFIC_PRIORITY);

    // Cluster: stanzas from other servers arrive on the service worker, which keeps the lists;
    // the other workers keep what the cache held at their start.
    if (!mod.server.runsServiceListeners) {
      mod.log.debug('block lists are kept by the cluster service worker');
      return;
    }
    // Fetch once the server (and federation) is up; again after a new stream to a service's
    // domain (notifications may have been lost while there was none), and every refresh_interval.
    const syncAll = (reason: string) => {
      for (const s of sources) void s.sync(reason);
    };
    mod.hookGlobal('server-started', () => syncAll('start'));
    mod.hookGlobal('s2s-authenticated', ({ session }) => {
      const { fromHost, toHost } = session;
      const peer = fromHost === mod.host ? toHost : toHost === mod.host ? fromHost : undefined;
      if (peer === undefined) return;
      for (const s of sources) {
        if (domainOf(s.config.jid) !== peer || s.busy || mod.now() - (s.lastFetched ?? 0) < RESYNC_QUIET_MS) continue;
        void s.sync('new s2s stream');
      }
    });
    if (o.refresh_interval > 0) mod.setInterval(() => syncAll('refresh'), o.refresh_interval);

    mod.onUnload(async () => {
      for (const s of sources) s.stopping();
      requests.cancelAll();
      await Promise.all(sources.map((s) => s.stop()));
    });
  },
});

function domainOf(jid: string): string {
  const at = jid.indexOf('@');
  return at === -1 ? jid : jid.slice(at + 1);
}
