/**
 * Service discovery of a pubsub service (XEP-0060 §5.1–5.5): the service's identity and
 * features, a node's identity and meta-data form, the nodes, and a node's items.
 */
import { stanzaError } from '../../../core/errors.js';
import type { Jid } from '../../../jid/index.js';
import { Element } from '../../../xml/element.js';
import type { PubsubService } from '../engine/service.js';
import { NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PUBSUB, PUBSUB_FEATURES } from '../ns.js';

/** disco#info: of the service (no node), or of a node (leaf identity and meta-data). */
export async function discoInfo(service: PubsubService, from: Jid, node: string | undefined, identity: { type: string; name?: string }): Promise<Element> {
  const query = new Element('query', { xmlns: NS_DISCO_INFO, node });
  if (node === undefined) {
    query.c('identity', { category: 'pubsub', type: identity.type, name: identity.name });
    for (const f of [NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PUBSUB, ...PUBSUB_FEATURES.map((x) => `${NS_PUBSUB}#${x}`)]) query.c('feature', { var: f });
    return query;
  }
  const meta = await service.metadata(from, node);
  query.c('identity', { category: 'pubsub', type: 'leaf' });
  query.c('feature', { var: NS_PUBSUB });
  query.cnode(meta);
  return query;
}

/** disco#items: the nodes `from` may see (no node), or a node's item ids (item names, §5.5). */
export async function discoItems(service: PubsubService, from: Jid, node: string | undefined): Promise<Element> {
  const query = new Element('query', { xmlns: NS_DISCO_ITEMS, node });
  if (node === undefined) {
    for (const n of await service.visibleNodes(from)) query.c('item', { jid: service.jid, node: n.node, name: n.title === '' ? undefined : n.title });
    return query;
  }
  if (!(await service.node(node))) throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', `no node ${node}`);
  for (const id of await service.itemIds(from, node)) query.c('item', { jid: service.jid, name: id });
  return query;
}
