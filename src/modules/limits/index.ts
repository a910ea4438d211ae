/**
 * Rate limits against floods and abuse (docs/abuse.md), on by default:
 * - every client and server connection reads at most so many stanzas and bytes a second, with a
 *   burst (its own buckets and its address's shared ones); over that, reading from its socket
 *   pauses until the buckets refill (session-limits.ts): nothing is dropped or buffered;
 * - every account may send so many messages to strangers and subscription requests an hour, and
 *   join so many group chats a minute (account-limits.ts); over that: policy-violation; an account
 *   of another server may send this server's users so many subscription requests an hour.
 * Options in `[modules.limits]` (options.ts). In a Redis cluster the account buckets are in
 * Redis, shared by every node, and so are the per-address read buckets (settled in batches,
 * shared-bucket.ts); the per-connection ones are local (a connection is on one node).
 */
import { defineModule } from '../../core/modules.js';
import { AccountLimits, type AccountLimitKind } from './account-limits.js';
import { MemoryBucketStore, type BucketStore } from './bucket-store.js';
import { limitsOptions, type LimitsOptions } from './options.js';
import type { HandlerResult } from '../../core/events.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { RedisBucketStore } from './redis-bucket-store.js';
import { SessionLimits, streamKind, type StreamKind } from './session-limits.js';

/** Runs after blocking (1000) and before mam (500) and presence/carbons. */
const PRIORITY = 900;
/** How often addresses whose connections are all gone are forgotten. */
const SWEEP_MS = 60_000;

export default defineModule({
  name: 'limits',
  description: 'Rate limits on connections and accounts',
  scope: 'global',
  options: limitsOptions,
  setup(mod) {
    const { server } = mod;

    const pauses = mod.measure.counter('limits_read_pauses_total', 'Times reading from a connection was paused because it was over its stanza or byte rate, by connection kind', ['kind']);
    const throttled = mod.measure.counter('limits_throttled_sessions_total', 'Connections that went over their rate at least once, by connection kind', ['kind']);
    const violations = mod.measure.counter('limits_policy_violations_total', 'Stanzas refused with policy-violation over a per-account limit (remote_subscriptions: sent by accounts of other servers), by limit', ['limit']);
    const redis = server.config.cluster.redis !== undefined ? new RedisBucketStore(server.config.cluster.redis, mod.log) : undefined;
    const store: BucketStore = redis ?? new MemoryBucketStore(() => mod.now());
    mod.onUnload(() => store.close());
    const makeSessionLimits = (options: LimitsOptions): SessionLimits => new SessionLimits(options, {
      shared: redis,
      now: () => mod.now(),
      setTimeout: (fn, ms) => mod.setTimeout(fn, ms),
      paused: (kind: StreamKind, session, waitMs, first) => {
        pauses.inc({ kind });
        if (first) {
          throttled.inc({ kind });
          session.log.info({ wait_ms: waitMs }, 'connection over its rate limit: reading paused');
        } else {
          session.log.debug({ wait_ms: waitMs }, 'reading paused (rate limit)');
        }
      },
    });
    // Replaced by a reload with new options (onReconfigure below); the filters and hooks read these variables.
    let sessions = makeSessionLimits(mod.options);
    mod.measure.gauge('limits_paused_connections', 'Connections whose reading is paused now by a rate limit, by connection kind', ['kind'], (g) => {
      for (const kind of ['c2s', 's2s'] as const) g.set(sessions.pausedNow[kind], { kind });
    });

    // The in filter stays on a session after an unload (a session retired by a resumption fires no
    // event to forget it by); it then finds no throttle and does nothing.
    const filtered = new WeakSet<object>();
    const limit = (session: Parameters<SessionLimits['attach']>[0]): void => {
      if (!sessions.attach(session) || filtered.has(session)) return;
      filtered.add(session);
      session.filters.in.add((stanza, s) => {
        sessions.stanza(s);
        return stanza;
      }, 1000);
    };
    mod.hook('session-created', ({ session }) => {
      if (session.type !== 'local' && streamKind(session) !== undefined) limit(session);
    });
    mod.onUnload(() => {
      for (const s of server.sessions.all) sessions.detach(s.conn);
    });
    mod.setInterval(() => sessions.sweep(), SWEEP_MS);

    const makeAccountLimits = (options: LimitsOptions): AccountLimits => new AccountLimits(options.account, {
      server,
      store,
      log: mod.log,
      refused: (kind: AccountLimitKind) => violations.inc({ limit: kind }),
    });
    let account = makeAccountLimits(mod.options);
    const onMessage = (event: StanzaEvent): HandlerResult => account.onMessage(event);
    const onPresence = (event: StanzaEvent): HandlerResult => account.onPresence(event);
    const onInboundPresence = (event: StanzaEvent): HandlerResult => account.onInboundPresence(event);
    // Every host's bus, those a reload adds included.
    mod.hookEveryHost('pre-message/bare', onMessage, PRIORITY);
    mod.hookEveryHost('pre-message/full', onMessage, PRIORITY);
    mod.hookEveryHost('pre-presence/bare', onPresence, PRIORITY);
    mod.hookEveryHost('pre-presence/full', onPresence, PRIORITY);
    mod.hookEveryHost('presence/bare', onInboundPresence, PRIORITY);

    // A reload with new numbers: every connection is limited afresh by them (full buckets; its
    // in filter, added once, reads `sessions`), and accounts are counted against the new limits
    // (the buckets already taken from stay in the store).
    mod.onReconfigure((next) => {
      const before = sessions;
      sessions = makeSessionLimits(next);
      for (const s of server.sessions.all) {
        before.detach(s.conn);
        if (streamKind(s) !== undefined) limit(s);
      }
      account = makeAccountLimits(next);
      mod.log.info('rate limits changed: connections and accounts are limited by the new numbers');
    });
  },
});
