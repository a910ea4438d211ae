/** The result payloads of pubsub requests (XEP-0060 examples), from the engine's plain data. */
import { Element } from '../../../xml/element.js';
import { parseXmlFragment } from '../../../xml/parse-fragment.js';
import type { Affiliation, PubsubItem, Subscription } from '../engine/types.js';
import { NS_PUBSUB, NS_PUBSUB_OWNER } from '../ns.js';

export function pubsub(owner = false): Element {
  return new Element('pubsub', { xmlns: owner ? NS_PUBSUB_OWNER : NS_PUBSUB });
}

/** `<item id publisher?>payload</item>` in the pubsub namespace. */
export function itemElement(item: PubsubItem, withPublisher: boolean): Element {
  const el = new Element('item', { xmlns: NS_PUBSUB, id: item.id, publisher: withPublisher ? item.publisher : undefined });
  if (item.payload !== undefined) el.cnode(parseXmlFragment(item.payload));
  return el;
}

export function itemsResult(node: string, items: PubsubItem[], withPublisher: boolean): Element {
  const root = pubsub();
  const list = root.c('items', { node });
  for (const item of items) list.cnode(itemElement(item, withPublisher));
  return root;
}

export function subscriptionElement(sub: Subscription, ns: string, withNode: boolean): Element {
  return new Element('subscription', { xmlns: ns, node: withNode ? sub.node : undefined, jid: sub.jid, subid: sub.subid, subscription: sub.state });
}

export function subscriptionsResult(subs: Subscription[], node: string | undefined): Element {
  const root = pubsub();
  const list = root.c('subscriptions', { node });
  for (const s of subs) list.cnode(subscriptionElement(s, NS_PUBSUB, true));
  return root;
}

export function ownerSubscriptionsResult(node: string, subs: Subscription[]): Element {
  const root = pubsub(true);
  const list = root.c('subscriptions', { node });
  for (const s of subs) list.cnode(subscriptionElement(s, NS_PUBSUB_OWNER, false));
  return root;
}

export function affiliationsResult(affs: Array<{ node: string; affiliation: Affiliation }>, node: string | undefined): Element {
  const root = pubsub();
  const list = root.c('affiliations', { node });
  for (const a of affs) list.c('affiliation', { node: a.node, affiliation: a.affiliation });
  return root;
}

export function ownerAffiliationsResult(node: string, affs: Array<{ jid: string; affiliation: Affiliation }>): Element {
  const root = pubsub(true);
  const list = root.c('affiliations', { node });
  for (const a of affs) list.c('affiliation', { jid: a.jid, affiliation: a.affiliation });
  return root;
}

/** `<pubsub><wrapper attrs>form</wrapper></pubsub>` (configure, default, options). */
export function formResult(owner: boolean, wrapper: string, attrs: Record<string, string | undefined>, form: Element): Element {
  const root = pubsub(owner);
  root.c(wrapper, attrs).cnode(form);
  return root;
}
