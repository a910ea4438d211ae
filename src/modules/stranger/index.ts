/**
 * Stranger handling: messages from people an account does not know are delivered, held as
 * message requests or refused, per host policy; young accounts may write to few strangers a day.
 * See README.md and docs/abuse.md.
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { duration, oneOf } from '../../core/option-schemas.js';
import { BLOCKING_PRIORITY } from '../blocking/index.js';
import { requestActions, requestCommands, type RequestActions } from './commands.js';
import { StrangerGate } from './gate.js';
import { KNOWN_STORE, KnownContacts, type KnownDoc } from './known.js';
import { MessageRequests, REQUESTS_STORE, type HeldMessage, type MessageRequest } from './requests.js';

export { NODE_ACCEPT_REQUESTS, NODE_DISMISS_REQUESTS, NODE_LIST_REQUESTS } from './commands.js';

/** Below blocking (a blocked sender is refused, not held) and above MAM (500: a held message is not archived until accepted). */
export const STRANGER_PRIORITY = BLOCKING_PRIORITY - 100;

/** What the module offers other modules on its host (spam reports look up held messages). */
export interface StrangerService extends RequestActions {
  list(username: string): Promise<MessageRequest[]>;
  /** A held message of `username` with one of these ids (id, origin-id, stanza-id), optionally from `sender`. */
  findHeld(username: string, ids: readonly string[], sender?: string): Promise<HeldMessage | undefined>;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    stranger: StrangerService;
  }
}

export default defineModule({
  name: 'stranger',
  description: 'Message requests: messages from strangers held, dropped or delivered by policy',
  depends: ['roster', 'adhoc'],
  options: z.object({
    policy: oneOf(['allow', 'quarantine', 'drop'], 'quarantine'),
    local_senders: oneOf(['allow', 'policy'], 'allow'),
    notify: z.boolean().default(true),
    max_requests: z.number().int().min(1).max(100_000).default(100),
    max_requests_per_sender: z.number().int().min(1).max(10_000).default(10),
    request_expires_after: duration('14 days'),
    new_account_period: duration('7 days'),
    new_account_strangers_per_day: z.number().int().min(0).max(100_000).default(10),
    max_known: z.number().int().min(10).max(100_000).default(5000),
    cache_size: z.number().int().min(0).max(1_000_000).default(10_000),
  }),
  setup(mod) {
    const o = mod.options;
    const known = new KnownContacts(mod.keyval<KnownDoc>(KNOWN_STORE), o.max_known, o.cache_size);
    const requests = new MessageRequests(mod.archive<string>(REQUESTS_STORE), { maxMessages: o.max_requests, maxPerSender: o.max_requests_per_sender, expiresAfterMs: o.request_expires_after }, () => mod.now());
    const verdicts = mod.measure.counter('stranger_messages_total', 'Messages from strangers, by verdict (quarantined, dropped, discarded: no body or the request store full)', ['verdict']);
    const limited = mod.measure.counter('stranger_new_account_refused_total', 'Messages from new accounts to strangers refused over the daily limit');
    const outcomes = mod.measure.counter('stranger_requests_total', 'Message requests answered by their recipient, by outcome (accepted, dismissed)', ['outcome']);
    const gate = new StrangerGate(mod, known, requests, {
      policy: o.policy,
      localSenders: o.local_senders,
      notify: o.notify,
      newAccountPeriodMs: o.new_account_period,
      newAccountDailyLimit: o.new_account_strangers_per_day,
    }, verdicts, limited);
    const actions = requestActions(mod, requests, known, outcomes);

    for (const dest of ['bare', 'full'] as const) {
      mod.hook(`message/${dest}`, gate.onIncoming, STRANGER_PRIORITY);
      mod.hook(`pre-message/${dest}`, gate.onOutgoingMessage, STRANGER_PRIORITY);
      mod.hook(`pre-presence/${dest}`, gate.onOutgoingPresence, STRANGER_PRIORITY);
    }

    const adhoc = mod.require('adhoc');
    for (const command of requestCommands(requests, actions)) mod.onUnload(adhoc.register(command));

    mod.provides('stranger', {
      ...actions,
      list: (username) => requests.list(username),
      findHeld: (username, ids, sender) => requests.find(username, ids, sender),
    });

    mod.hook('user-deleted', ({ username }) => known.forget(username));
    mod.cachedStore(KNOWN_STORE, (username) => known.forget(username));
    mod.log.debug({ policy: o.policy, local_senders: o.local_senders }, 'stranger policy');
  },
});
