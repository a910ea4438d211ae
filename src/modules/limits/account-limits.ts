/**
 * Per-account limits on what a local user sends, checked on the sender-side `pre-` events (after
 * blocking): messages to JIDs not in the roster, presence subscription requests, group chat
 * joins. And one on what an account of another server sends here: subscription requests to this
 * server's users (the recipient-side `presence/bare`, after blocking and block lists), since a
 * remote server's own limits cannot be relied on. Over a limit the stanza is refused with
 * `policy-violation` (RFC 6120 §8.3.3.12), with a text saying which limit, logged and counted.
 * The buckets are in a BucketStore (shared through Redis in a cluster).
 */
import type { StanzaEvent } from '../../core/event-map.js';
import type { HandlerResult } from '../../core/events.js';
import type { Logger } from '../../core/logging.js';
import type { ModuleServer } from '../../core/server.js';
import { isBound, type BoundC2SSession } from '../../core/session.js';
import type { Element } from '../../xml/element.js';
import { errorReply } from '../../xml/stanza.js';
import type { RateLimit } from '../../util/rate-limiter.js';
import { sessionRoster } from '../roster/push.js';
import { loadRoster } from '../roster/store.js';
import type { BucketStore } from './bucket-store.js';
import type { LimitsOptions } from './options.js';

export const NS_MUC = 'http://jabber.org/protocol/muc';

/** The per-account limits, as metric label values. */
export type AccountLimitKind = 'messages_to_strangers' | 'subscriptions' | 'muc_joins' | 'remote_subscriptions';

const HOUR = 3600;
const MINUTE = 60;

export interface AccountLimitsDeps {
  server: ModuleServer;
  store: BucketStore;
  log: Logger;
  /** A stanza was refused over `kind`. */
  refused(kind: AccountLimitKind): void;
}

/** `n` per `seconds`, all of them available at once after a quiet period. */
function perPeriod(n: number, seconds: number): RateLimit | undefined {
  return n > 0 ? { rate: n / seconds, burst: n } : undefined;
}

const TEXTS: Record<AccountLimitKind, string> = {
  messages_to_strangers: 'too many messages to people who are not in your contact list; try again later',
  subscriptions: 'too many subscription requests; try again later',
  muc_joins: 'too many group chat joins; try again later',
  remote_subscriptions: 'too many subscription requests to users of this server; try again later',
};

export class AccountLimits {
  private readonly limits: Record<AccountLimitKind, RateLimit | undefined>;
  /**
   * Stanzas already counted: the presence module routes an outbound subscription again after
   * updating the roster (the same element, through the sender-side events once more).
   */
  private readonly counted = new WeakSet<Element>();

  constructor(options: LimitsOptions['account'], private readonly deps: AccountLimitsDeps) {
    this.limits = {
      messages_to_strangers: perPeriod(options.messages_to_strangers_per_hour, HOUR),
      subscriptions: perPeriod(options.subscriptions_per_hour, HOUR),
      muc_joins: options.muc_joins_per_minute > 0 ? { rate: options.muc_joins_per_minute / MINUTE, burst: options.muc_join_burst } : undefined,
      remote_subscriptions: perPeriod(options.remote_subscriptions_per_hour, HOUR),
    };
  }

  /** pre-message/bare and pre-message/full. */
  readonly onMessage = (event: StanzaEvent): HandlerResult => {
    const { origin, stanza, to } = event;
    if (!isBound(origin) || this.limits.messages_to_strangers === undefined) return undefined;
    const type = stanza.attrs.type ?? 'normal';
    // Only what a person reads: group chat goes to rooms, errors and receipts answer someone.
    if (type === 'groupchat' || type === 'error' || stanza.getChild('body') === undefined) return undefined;
    if (to.bare === `${origin.username}@${origin.host}` || to.local === '') return undefined;
    const loaded = sessionRoster(origin);
    if (loaded !== undefined) return loaded.getItem(to.bare) !== undefined ? undefined : this.check(event, origin, 'messages_to_strangers');
    return loadRoster(this.deps.server, origin.host, origin.username).then((roster) =>
      roster.getItem(to.bare) !== undefined ? false : this.check(event, origin, 'messages_to_strangers'));
  };

  /** pre-presence/bare (subscription requests) and pre-presence/full (group chat joins). */
  readonly onPresence = (event: StanzaEvent): HandlerResult => {
    const { origin, stanza } = event;
    if (!isBound(origin)) return undefined;
    const type = stanza.attrs.type;
    if (type === 'subscribe') return this.check(event, origin, 'subscriptions');
    if (type === undefined && event.to.resource !== '' && stanza.getChild('x', NS_MUC) !== undefined) return this.check(event, origin, 'muc_joins');
    return undefined;
  };

  /**
   * presence/bare: a subscription request from an account of another server (this server's own
   * accounts were counted when they sent it). Counted per sender across all of this server's
   * users; refused over the limit, the sender's server told why.
   */
  readonly onInboundPresence = (event: StanzaEvent): HandlerResult => {
    const { from, stanza, origin } = event;
    if (stanza.attrs.type !== 'subscribe' || this.limits.remote_subscriptions === undefined) return undefined;
    if (origin.type === 'c2s' || from.local === '' || this.deps.server.serves(from.domain)) return undefined;
    const limit = this.limits.remote_subscriptions;
    return this.deps.store.take(`remote_subscriptions:${from.bare}`, limit).then((ok) => {
      if (ok) return false;
      this.deps.refused('remote_subscriptions');
      this.deps.log.info({ limit: 'remote_subscriptions', from: from.bare, to: event.to.bare }, 'subscription request from another server refused: over the per-sender limit');
      // As the local limits answer: a rate, so `wait` (RFC 6120 §8.3.2: retry after waiting).
      origin.send(errorReply(stanza, 'policy-violation', TEXTS.remote_subscriptions, 'wait'));
      return true;
    });
  };

  /** Take a token for the account; refuse the stanza when there is none. */
  private check(event: StanzaEvent, origin: BoundC2SSession, kind: AccountLimitKind): HandlerResult {
    const limit = this.limits[kind];
    if (limit === undefined || this.counted.has(event.stanza)) return undefined;
    this.counted.add(event.stanza);
    const account = `${origin.username}@${origin.host}`;
    return this.deps.store.take(`${kind}:${account}`, limit).then((ok) => {
      if (ok) return false;
      this.deps.refused(kind);
      origin.log.info({ limit: kind, to: event.to.full }, 'stanza refused: over a per-account limit');
      origin.send(errorReply(event.stanza, 'policy-violation', TEXTS[kind], 'wait'));
      return true;
    });
  }
}
