/**
 * Answering a pubsub iq with a service: parse the request, run it, send the result, then do what
 * comes after the result (the last published item to a new subscriber, XEP-0060 §6.1.7).
 * Both the standalone service and PEP hook their iqs to `answerPubsubIq`.
 */
import { StanzaError, stanzaError } from '../../../core/errors.js';
import type { StanzaEvent } from '../../../core/event-map.js';
import type { Logger } from '../../../core/logging.js';
import { tryParseJid } from '../../../jid/index.js';
import type { Element } from '../../../xml/element.js';
import { errorReply, reply } from '../../../xml/stanza.js';
import type { PubsubService } from '../engine/service.js';
import type { Subscription } from '../engine/types.js';
import { parsePubsubRequest, type PubsubRequest } from './parse.js';
import * as r from './results.js';

interface Outcome {
  payload?: Element;
  subscribed?: Subscription;
}

/** Run one parsed request against the service; the payload of the result, if any. */
export async function runRequest(service: PubsubService, from: StanzaEvent['from'], req: PubsubRequest): Promise<Outcome> {
  switch (req.op) {
    case 'create': {
      const node = await service.create(from, req.node, req.config);
      const root = r.pubsub();
      root.c('create', { node });
      return { payload: root };
    }
    case 'publish': {
      const { id } = await service.publish(from, req.node, { item: req.item, options: req.options });
      const root = r.pubsub();
      root.c('publish', { node: req.node }).c('item', { id });
      return { payload: root };
    }
    case 'retract':
      await service.retract(from, req.node, req.ids, req.notify);
      return {};
    case 'items': {
      const items = await service.items(from, req.node, { ids: req.ids, max: req.max, subid: req.subid });
      const rec = await service.node(req.node);
      return { payload: r.itemsResult(req.node, items, rec?.config.itemreply === 'publisher') };
    }
    case 'subscribe': {
      const sub = await service.subscribe(from, req.node, req.jid, req.options);
      const root = r.pubsub();
      root.cnode(r.subscriptionElement(sub, root.xmlns, true));
      return { payload: root, subscribed: sub };
    }
    case 'unsubscribe':
      await service.unsubscribe(from, req.node, req.jid, req.subid);
      return {};
    case 'options-get': {
      const o = await service.subscriptionOptions(from, req.node, req.jid, req.subid);
      return { payload: r.formResult(false, 'options', { node: req.node, jid: o.jid, subid: o.subid }, o.form) };
    }
    case 'options-set':
      await service.setSubscriptionOptions(from, req.node, req.jid, req.subid, req.form);
      return {};
    case 'subscriptions':
      return { payload: r.subscriptionsResult(await service.subscriptions(from, req.node), req.node) };
    case 'affiliations':
      return { payload: r.affiliationsResult(await service.affiliations(from, req.node), req.node) };
    case 'default-sub':
      return { payload: r.formResult(false, 'default', {}, service.defaultSubscriptionOptionsForm()) };
    case 'configure-get':
      return { payload: r.formResult(true, 'configure', { node: req.node }, await service.configForm(from, req.node)) };
    case 'configure-set':
      await service.configure(from, req.node, req.form);
      return {};
    case 'default':
      return { payload: r.formResult(true, 'default', {}, service.defaultConfigForm()) };
    case 'delete':
      await service.delete(from, req.node, req.redirect);
      return {};
    case 'purge':
      await service.purge(from, req.node);
      return {};
    case 'owner-subscriptions-get':
      return { payload: r.ownerSubscriptionsResult(req.node, await service.ownerSubscriptions(from, req.node)) };
    case 'owner-subscriptions-set':
      await service.setSubscriptions(from, req.node, req.changes);
      return {};
    case 'owner-affiliations-get':
      return { payload: r.ownerAffiliationsResult(req.node, await service.ownerAffiliations(from, req.node)) };
    case 'owner-affiliations-set': {
      const changes = req.changes.map((c) => {
        const jid = tryParseJid(c.jid);
        if (!jid || jid.resource !== '') throw stanzaError('CANTO_ERR_JID_MALFORMED', `not a bare JID: ${c.jid}`);
        return { jid: jid.bare, affiliation: c.affiliation };
      });
      await service.setAffiliations(from, req.node, changes);
      return {};
    }
  }
}

export interface AnswerHooks {
  log: Logger;
  /** A request was refused with this error (for metrics). */
  refused?(err: StanzaError, op: string | undefined): void;
  /** A request succeeded. */
  done?(op: string): void;
}

/**
 * Answer a pubsub iq (get or set, either namespace) from `event` with `service`. Resolves once the
 * answer and what follows it were sent (return it from the handler so the stanza is held until then).
 */
export async function answerPubsubIq(service: PubsubService, event: StanzaEvent, hooks: AnswerHooks): Promise<void> {
  const { origin, stanza, from } = event;
  let op: string | undefined;
  try {
    const payloadEl = stanza.elements[0];
    const type = stanza.attrs.type;
    if (!payloadEl || (type !== 'get' && type !== 'set')) throw stanzaError('CANTO_ERR_BAD_REQUEST');
    const req = parsePubsubRequest(type, payloadEl);
    op = req.op;
    const out = await runRequest(service, from, req);
    const res = reply(stanza);
    if (out.payload) res.cnode(out.payload);
    origin.send(res);
    hooks.done?.(req.op);
    if (out.subscribed) await service.afterSubscribe(out.subscribed);
  } catch (err) {
    if (err instanceof StanzaError) {
      hooks.refused?.(err, op);
      hooks.log.debug({ from: from.full, op, condition: err.condition, text: err.message }, 'pubsub request refused');
      origin.send(err.replyTo(stanza));
      return;
    }
    hooks.log.error({ err, from: from.full, op }, 'pubsub request failed');
    origin.send(errorReply(stanza, 'internal-server-error'));
  }
}
