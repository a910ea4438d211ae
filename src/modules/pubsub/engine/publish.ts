/**
 * Publishing and reading items: publish (with publish-options and auto-create, XEP-0060 §7.1),
 * retract (§7.2), items retrieval (§6.5), and the last published item for new subscribers.
 */
import { stanzaError } from '../../../core/errors.js';
import type { Jid } from '../../../jid/index.js';
import { Element } from '../../../xml/element.js';
import { parseXmlFragment } from '../../../xml/parse-fragment.js';
import { FORM_PUBLISH_OPTIONS, NS_PUBSUB_EVENT } from '../ns.js';
import { bareOf, checkAccess, checkPublish, checkRetract } from './access.js';
import { applyConfigForm, effectiveMaxItems, unmetPrecondition } from './config.js';
import type { ServiceCore } from './core.js';
import { nodeNotFound, pubsubError, unsupported } from './errors.js';
import type { ParsedForm } from './forms.js';
import { newestFirst, placeItem } from './items.js';
import { checkNodeLimits, deleteItems, insertNode, newRecord } from './nodes.js';
import type { NodeConfig, NodeRecord, PubsubItem, StoredItem } from './types.js';

const NS_DELAY = 'urn:xmpp:delay';

/** What a publish request carries: an item (with an id and a payload, each optional) or none. */
export interface PublishInput {
  item?: { id?: string; payloads: Element[] };
  /** The `publish-options` form (§7.1.5), if given. */
  options?: ParsedForm;
}

/** The node to publish to: existing (preconditions checked) or auto-created with the publish-options. */
async function targetNode(core: ServiceCore, from: Jid, node: string, options: ParsedForm | undefined): Promise<NodeRecord> {
  const existing = await core.load(node);
  if (existing) {
    if (options) {
      const field = unmetPrecondition(existing.config, options, core.opts.limits);
      if (field !== undefined) throw pubsubError('CANTO_ERR_PUBSUB_PRECONDITION_NOT_MET', `the node's ${field} differs from the publish options`);
    }
    return existing;
  }
  const { policy } = core.opts;
  if (!policy.autoCreate || !policy.mayCreate(from)) throw nodeNotFound(node);
  let config = core.opts.defaultConfig;
  if (options) {
    try {
      config = applyConfigForm(config, options, core.opts.limits, FORM_PUBLISH_OPTIONS);
    } catch {
      // A node cannot be made as asked: the options are a precondition that cannot be met.
      throw pubsubError('CANTO_ERR_PUBSUB_PRECONDITION_NOT_MET', 'the publish options cannot be applied to a new node');
    }
  }
  await checkNodeLimits(core, from.bare);
  try {
    await insertNode(core, node, newRecord(core, from.bare, config));
  } catch (err) {
    // Created by someone else in between: publish there, preconditions checked.
    const raced = await core.load(node);
    if (!raced) throw err;
    return targetNode(core, from, node, options);
  }
  return core.require(node);
}

/** The payload rules of §7.1.3 for this node, and the payload's size limit. */
function checkItem(core: ServiceCore, config: NodeConfig, input: PublishInput): Element | undefined {
  const notificationOnly = !config.persist_items && !config.deliver_payloads;
  if (input.item === undefined) {
    if (!notificationOnly) throw pubsubError('CANTO_ERR_PUBSUB_ITEM_REQUIRED');
    return undefined;
  }
  if (notificationOnly) throw pubsubError('CANTO_ERR_PUBSUB_ITEM_FORBIDDEN');
  const { payloads } = input.item;
  if (payloads.length > 1) throw pubsubError('CANTO_ERR_PUBSUB_INVALID_PAYLOAD', 'an item holds one payload element');
  const payload = payloads[0];
  if (payload === undefined) {
    if (config.deliver_payloads) throw pubsubError('CANTO_ERR_PUBSUB_PAYLOAD_REQUIRED');
    return undefined;
  }
  if (config.type !== '' && payload.xmlns !== config.type) throw pubsubError('CANTO_ERR_PUBSUB_INVALID_PAYLOAD', `this node takes payloads in ${config.type}`);
  return payload;
}

/** §7.1: publish; returns the item id (generated when the item had none). */
export async function publishItem(core: ServiceCore, from: Jid, node: string, input: PublishInput): Promise<{ id: string }> {
  const rec = await targetNode(core, from, node, input.options);
  checkPublish(rec, from.bare);
  const payload = checkItem(core, rec.config, input);
  const xml = payload?.toString();
  if (xml !== undefined && Buffer.byteLength(xml, 'utf8') > core.opts.limits.maxItemBytes) {
    throw pubsubError('CANTO_ERR_PUBSUB_PAYLOAD_TOO_BIG', `an item may have at most ${core.opts.limits.maxItemBytes} bytes`);
  }
  const id = input.item?.id !== undefined && input.item.id !== '' ? input.item.id : core.newId();
  const stored: StoredItem = { publisher: from.full, published: core.opts.now() };
  if (xml !== undefined) stored.payload = xml;
  let current = rec;
  if (rec.config.persist_items) {
    const items = core.opts.stores.items(node);
    // The item first, then its place in the list: a failure in between leaves an item nobody
    // lists (removed again here, or with the node), never a listed item without content.
    await items.set(core.opts.scope, id, stored);
    let evicted: string[] = [];
    try {
      current = await core.update(node, (st, view) => {
        checkPublish(view, from.bare);
        const placed = placeItem(st.items, id, effectiveMaxItems(st.config, core.opts.limits));
        st.items = placed.items;
        evicted = placed.evicted;
      });
    } catch (err) {
      await items.set(core.opts.scope, id, undefined);
      throw err;
    }
    await deleteItems(core, node, evicted);
  }
  core.opts.observer?.published?.(node, id);
  const view = core.view(current);
  await core.notify(node, view, 'items', () => itemsEvent(node, view.config, { id, ...stored }), true);
  return { id };
}

/** `<items node='…'><item id='…' publisher?>payload?</item></items>` in the event namespace. */
export function itemsEvent(node: string, config: NodeConfig, item: PubsubItem): Element {
  const items = new Element('items', { xmlns: NS_PUBSUB_EVENT, node });
  const el = items.c('item', { id: item.id, publisher: config.itemreply === 'publisher' ? bareOf(item.publisher) : undefined });
  if (config.deliver_payloads && item.payload !== undefined) el.cnode(parseXmlFragment(item.payload));
  return items;
}

/** §7.2: retract items; subscribers are told with notify_retract or when the publisher asks. */
export async function retractItems(core: ServiceCore, from: Jid, node: string, ids: string[], notify: boolean): Promise<void> {
  if (ids.length === 0) throw pubsubError('CANTO_ERR_PUBSUB_ITEM_REQUIRED');
  const rec = await core.require(node);
  if (!rec.config.persist_items) throw unsupported('persistent-items', 'the node does not keep items');
  const items = core.opts.stores.items(node);
  for (const id of ids) {
    if (!rec.items.includes(id)) throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', `no item ${id}`);
    checkRetract(rec, from.bare, (await items.get(core.opts.scope, id))?.publisher);
  }
  const current = await core.update(node, (st) => {
    for (const id of ids) if (!st.items.includes(id)) throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', `no item ${id}`);
    st.items = st.items.filter((x) => !ids.includes(x));
  });
  await deleteItems(core, node, ids);
  if (!current.config.notify_retract && !notify) return;
  const view = core.view(current);
  await core.notify(
    node,
    view,
    'retract',
    () => {
      const el = new Element('items', { xmlns: NS_PUBSUB_EVENT, node });
      for (const id of ids) el.c('retract', { id });
      return el;
    },
    true,
  );
}

/** §6.5: items, newest first (all, `max` most recent, or by id). */
export async function getItems(core: ServiceCore, from: Jid, node: string, query: { ids?: string[]; max?: number; subid?: string }): Promise<PubsubItem[]> {
  const rec = await core.require(node);
  if (query.subid !== undefined) {
    const sub = rec.subscriptions[query.subid];
    if (!sub || bareOf(sub.jid) !== from.bare) throw pubsubError('CANTO_ERR_PUBSUB_INVALID_SUBID');
  }
  await checkAccess(rec, from.bare, 'items', core.opts.access);
  if (!rec.config.persist_items) throw unsupported('persistent-items', 'the node does not keep items');
  const wanted = query.ids !== undefined ? query.ids.filter((id) => rec.items.includes(id)) : newestFirst(rec.items, query.max);
  return readItems(core, node, wanted);
}

async function readItems(core: ServiceCore, node: string, ids: string[]): Promise<PubsubItem[]> {
  const store = core.opts.stores.items(node);
  const out: PubsubItem[] = [];
  for (const id of ids) {
    const item = await store.get(core.opts.scope, id);
    if (item) out.push({ id, ...item });
  }
  return out;
}

/** The newest item of a persistent node, if any. */
export async function lastItem(core: ServiceCore, node: string, rec: NodeRecord): Promise<PubsubItem | undefined> {
  if (!rec.config.persist_items) return undefined;
  return (await readItems(core, node, newestFirst(rec.items, 1)))[0];
}

/**
 * Send the last published item of a node to one JID (on subscription, and for PEP when a contact
 * comes online), with a XEP-0203 delay stamp of when it was published. False when there is none.
 */
export async function sendLastItem(core: ServiceCore, node: string, to: string): Promise<boolean> {
  const rec = await core.load(node);
  if (!rec) return false;
  const item = await lastItem(core, node, rec);
  if (!item) return false;
  const msg = core.eventMessage(to, rec.config, itemsEvent(node, rec.config, item));
  msg.c('delay', { xmlns: NS_DELAY, stamp: new Date(item.published).toISOString(), from: core.opts.jid });
  core.opts.send(msg);
  core.opts.observer?.notified?.(node, 'items', 1);
  return true;
}
