/**
 * XEP-0163 Personal Eventing Protocol: every account's bare JID is a publish-subscribe service
 * (the XEP-0060 engine of ../pubsub, one service per account), with PEP's defaults, +notify
 * notifications to the account's and its contacts' resources learned from entity capabilities
 * (the caps module), the last published item when such a resource comes online, disco, and the
 * `pep` service other modules (avatars, bookmarks, nickname) publish through. See README.md.
 */
import { defineModule } from '../../core/modules.js';
import { stanzaError } from '../../core/errors.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { answerPubsubIq } from '../pubsub/protocol/answer.js';
import { parsePubsubRequest, type PubsubOp } from '../pubsub/protocol/parse.js';
import { NS_PUBSUB, NS_PUBSUB_OWNER } from '../pubsub/ns.js';
import { hookDisco } from './disco.js';
import { sendLastItems } from './last-items.js';
import { pepLimits, pepOptions } from './options.js';
import { PepServices } from './service.js';

export type { PepService, PepItem, PepPublishOptions } from './api.js';
export { PEP_NODE_DEFAULTS } from './options.js';
export { PEP_FEATURES } from './disco.js';

/** What other entities may ask of an account's PEP service: read and subscribe, never change it. */
const OTHERS_MAY: ReadonlySet<PubsubOp> = new Set<PubsubOp>(['items', 'subscribe', 'unsubscribe', 'options-get', 'options-set', 'subscriptions', 'affiliations', 'default-sub']);

/** The operation of a pubsub iq, or undefined when it does not parse (the engine answers that). */
function opOf(event: StanzaEvent): PubsubOp | undefined {
  const type = event.stanza.attrs.type;
  const payload = event.stanza.elements[0];
  if (!payload || (type !== 'get' && type !== 'set')) return undefined;
  try {
    return parsePubsubRequest(type, payload).op;
  } catch {
    return undefined;
  }
}

export default defineModule({
  name: 'pep',
  description: 'XEP-0163 Personal Eventing Protocol (PEP on every account)',
  depends: ['disco', 'roster', 'caps'],
  options: pepOptions,
  setup(mod) {
    if (!mod.context) throw new Error('pep is a host module');
    const publishes = mod.measure.counter('pep_publishes_total', 'Items published to PEP nodes (by clients and by modules)');
    const notifications = mod.measure.counter('pep_notifications_total', 'PEP event notifications sent, by kind (items includes last items)', ['kind']);
    const lastItems = mod.measure.counter('pep_last_items_sent_total', 'Last published items sent to resources coming online with +notify');
    const requests = mod.measure.counter('pep_requests_total', 'PEP pubsub requests answered with a result');
    const errors = mod.measure.counter('pep_errors_total', 'PEP pubsub requests refused, by stanza error condition', ['condition']);

    const caps = mod.optional('caps');
    const services = new PepServices(mod, pepLimits(mod.options), caps, {
      published: () => publishes.inc(),
      notified: (_node, kind, n) => notifications.inc({ kind }, n),
      nodeCreated: (node, by) => mod.log.debug({ node, by }, 'pep node created'),
      nodeDeleted: (node, by) => mod.log.debug({ node, by }, 'pep node deleted'),
    });
    mod.provides('pep', services.api());

    const hooks = {
      log: mod.log,
      refused: (err: { condition: string }) => errors.inc({ condition: err.condition }),
      done: () => requests.inc(),
    };
    const answer = async (event: StanzaEvent): Promise<true> => {
      const { stanza, from, to, origin } = event;
      if (from.bare !== to.bare) {
        // RFC 6121 §8.5.1: an iq to an account that does not exist is service-unavailable.
        if (!(await mod.accountExists(to.local))) {
          errors.inc({ condition: 'service-unavailable' });
          origin.send(stanzaError('CANTO_ERR_SERVICE_UNAVAILABLE', '').replyTo(stanza));
          return true;
        }
        const op = opOf(event);
        if (op !== undefined && !OTHERS_MAY.has(op)) {
          errors.inc({ condition: 'forbidden' });
          origin.send(stanzaError('CANTO_ERR_FORBIDDEN', 'only the account itself may change its PEP nodes').replyTo(stanza));
          return true;
        }
      }
      await answerPubsubIq(services.serviceFor(to.local), event, hooks);
      return true;
    };
    for (const type of ['get', 'set'] as const) {
      mod.hookIq(type, 'bare', NS_PUBSUB, 'pubsub', answer);
      mod.hookIq(type, 'bare', NS_PUBSUB_OWNER, 'pubsub', answer);
    }

    hookDisco(mod, services);
    // Clients that look for PEP at the server (as Prosody and ejabberd also answer there).
    mod.addIdentity({ category: 'pubsub', type: 'pep' });
    mod.addFeature(`${NS_PUBSUB}#publish`);

    // Not a promise: these events are fired, and a promise would claim them from other modules.
    mod.hook('caps/features-known', ({ jid, username, features }) => {
      sendLastItems(mod, services, jid, username, features).then(
        (n) => {
          if (n > 0) lastItems.inc(undefined, n);
        },
        (err: unknown) => mod.log.error({ err, jid, username }, 'could not send the last PEP items'),
      );
      return false;
    });
    mod.hook('user-deleted', ({ username }) => {
      // The storage deleted the account's nodes and items with its data (their rows have the
      // account as username); nothing is left to delete or to tell.
      mod.log.debug({ username }, 'pep nodes deleted with the account');
      return false;
    });
  },
});
