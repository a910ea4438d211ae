/**
 * Node operations: create (instant or named, with a config form), configure, delete (with
 * redirect), purge, affiliations, and what disco shows. XEP-0060 §8 and §5.
 */
import { stanzaError } from '../../../core/errors.js';
import type { Jid } from '../../../jid/index.js';
import { Element } from '../../../xml/element.js';
import { NS_PUBSUB_EVENT } from '../ns.js';
import { affiliationOf, checkAccess, checkOwner } from './access.js';
import { applyConfigForm, configForm, configResult, effectiveMaxItems, metadataForm } from './config.js';
import type { ServiceCore } from './core.js';
import { pubsubError, unsupported } from './errors.js';
import type { ParsedForm } from './forms.js';
import { trimTo } from './items.js';
import { AFFILIATIONS, type Affiliation, type NodeConfig, type NodeRecord } from './types.js';

/** Node names: non-empty, at most this many characters (they are store names and attributes). */
export const MAX_NODE_NAME = 1024;

function checkName(node: string): void {
  if (node === '' || node.length > MAX_NODE_NAME) throw pubsubError('CANTO_ERR_PUBSUB_NODEID_REQUIRED', `a node name has 1 to ${MAX_NODE_NAME} characters`);
}

export function newRecord(core: ServiceCore, creator: string, config: NodeConfig): NodeRecord {
  return { created: core.opts.now(), creator, config, affiliations: { [creator]: 'owner' }, subscriptions: {}, items: [] };
}

/** Refuse a new node of `owner` beyond the limits (XEP-0060 has max-nodes-exceeded for this). */
export async function checkNodeLimits(core: ServiceCore, owner: string): Promise<void> {
  const { maxNodes, maxNodesPerOwner } = core.opts.limits;
  const names = await core.opts.stores.nodes.keys(core.opts.scope);
  if (names.length >= maxNodes) throw pubsubError('CANTO_ERR_PUBSUB_MAX_NODES_EXCEEDED', `this service holds at most ${maxNodes} nodes`);
  if (maxNodesPerOwner >= maxNodes) return;
  let owned = 0;
  for (const rec of (await core.opts.stores.nodes.getAll(core.opts.scope)).values()) if (rec.affiliations[owner] === 'owner') owned++;
  if (owned >= maxNodesPerOwner) throw pubsubError('CANTO_ERR_PUBSUB_MAX_NODES_EXCEEDED', `one owner may have at most ${maxNodesPerOwner} nodes`);
}

/** Store a new node; conflict when it exists. */
export async function insertNode(core: ServiceCore, node: string, rec: NodeRecord): Promise<void> {
  await core.opts.stores.nodes.update(core.opts.scope, node, (cur) => {
    if (cur !== undefined) throw stanzaError('CANTO_ERR_CONFLICT', `the node ${node} exists`);
    return rec;
  });
  core.opts.observer?.nodeCreated?.(node, rec.creator);
}

/** §8.1: create a node (an instant node when `node` is undefined); returns its name. */
export async function createNode(core: ServiceCore, from: Jid, node: string | undefined, form: ParsedForm | undefined): Promise<string> {
  if (!core.opts.policy.mayCreate(from)) throw stanzaError('CANTO_ERR_FORBIDDEN', 'you may not create nodes here');
  const name = node ?? core.newId();
  checkName(name);
  let config = core.opts.defaultConfig;
  if (form !== undefined && form.type !== 'cancel') config = applyConfigForm(config, form, core.opts.limits);
  if (await core.load(name)) throw stanzaError('CANTO_ERR_CONFLICT', `the node ${name} exists`);
  await checkNodeLimits(core, from.bare);
  await insertNode(core, name, newRecord(core, from.bare, config));
  return name;
}

/** §8.2.1: the configuration form of a node, for an owner. */
export async function getConfigForm(core: ServiceCore, from: Jid, node: string): Promise<Element> {
  const rec = await core.require(node);
  checkOwner(rec, from.bare);
  return configForm(rec.config);
}

/** §8.3: the default node configuration. */
export function defaultConfigForm(core: ServiceCore): Element {
  return configForm(core.opts.defaultConfig);
}

/** §8.2.4: submit (or cancel) a node configuration; notifies with notify_config. */
export async function configureNode(core: ServiceCore, from: Jid, node: string, form: ParsedForm): Promise<void> {
  if (form.type === 'cancel') {
    checkOwner(await core.require(node), from.bare);
    return;
  }
  let evicted: string[] = [];
  const rec = await core.update(node, (stored, view) => {
    checkOwner(view, from.bare);
    stored.config = applyConfigForm(stored.config, form, core.opts.limits);
    // A node that no longer persists, or keeps fewer, drops what it no longer keeps.
    const keep = stored.config.persist_items ? effectiveMaxItems(stored.config, core.opts.limits) : 0;
    const trimmed = trimTo(stored.items, keep);
    stored.items = trimmed.items;
    evicted = trimmed.evicted;
  });
  await deleteItems(core, node, evicted);
  if (rec.config.notify_config) {
    await core.notify(node, rec, 'configuration', () => {
      const c = new Element('configuration', { xmlns: NS_PUBSUB_EVENT, node });
      if (rec.config.deliver_payloads) c.cnode(configResult(rec.config));
      return c;
    });
  }
}

export async function deleteItems(core: ServiceCore, node: string, ids: readonly string[]): Promise<void> {
  const store = core.opts.stores.items(node);
  for (const id of ids) await store.set(core.opts.scope, id, undefined);
}

/** §8.4: delete a node (its items too); subscribers are told, with the redirect URI if any. */
export async function deleteNode(core: ServiceCore, from: Jid, node: string, redirect: string | undefined): Promise<void> {
  let deleted: NodeRecord | undefined;
  await core.opts.stores.nodes.update(core.opts.scope, node, (rec) => {
    if (rec === undefined) throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', `no node ${node}`);
    checkOwner(core.view(rec), from.bare);
    deleted = rec;
    return undefined;
  });
  if (!deleted) return;
  const store = core.opts.stores.items(node);
  await deleteItems(core, node, await store.keys(core.opts.scope));
  core.opts.observer?.nodeDeleted?.(node, from.bare);
  const gone = deleted;
  if (gone.config.notify_delete) {
    await core.notify(node, gone, 'delete', () => {
      const d = new Element('delete', { xmlns: NS_PUBSUB_EVENT, node });
      if (redirect !== undefined) d.c('redirect', { uri: redirect });
      return d;
    });
  }
}

/** §8.5: purge every item of a node; subscribers get a purge notification. */
export async function purgeNode(core: ServiceCore, from: Jid, node: string): Promise<void> {
  let ids: string[] = [];
  const rec = await core.update(node, (stored, view) => {
    checkOwner(view, from.bare);
    if (!stored.config.persist_items) throw unsupported('persistent-items', 'the node does not keep items');
    ids = stored.items;
    stored.items = [];
  });
  const store = core.opts.stores.items(node);
  // Everything under the node, including items a crash left out of the list.
  await deleteItems(core, node, [...new Set([...ids, ...(await store.keys(core.opts.scope))])]);
  await core.notify(node, rec, 'purge', () => new Element('purge', { xmlns: NS_PUBSUB_EVENT, node }));
}

/** §5.7: the requester's affiliations, on one node or all. */
export async function entityAffiliations(core: ServiceCore, from: Jid, node: string | undefined): Promise<Array<{ node: string; affiliation: Affiliation }>> {
  const out: Array<{ node: string; affiliation: Affiliation }> = [];
  const records = node === undefined ? await core.opts.stores.nodes.getAll(core.opts.scope) : new Map([[node, await core.require(node)]]);
  for (const [name, rec] of records) {
    const aff = affiliationOf(core.view(rec), from.bare);
    if (aff !== 'none') out.push({ node: name, affiliation: aff });
  }
  return out;
}

/** §8.9.1: every affiliation of a node, for an owner. */
export async function ownerAffiliations(core: ServiceCore, from: Jid, node: string): Promise<Array<{ jid: string; affiliation: Affiliation }>> {
  const rec = await core.require(node);
  checkOwner(rec, from.bare);
  return Object.entries(rec.affiliations).map(([jid, affiliation]) => ({ jid, affiliation }));
}

/**
 * §8.9.2: change affiliations ('none' removes one). All or nothing; the node keeps an owner;
 * an outcast loses its subscriptions.
 */
export async function setAffiliations(core: ServiceCore, from: Jid, node: string, changes: Array<{ jid: string; affiliation: string }>): Promise<void> {
  for (const c of changes) {
    if (!(AFFILIATIONS as readonly string[]).includes(c.affiliation)) throw stanzaError('CANTO_ERR_BAD_REQUEST', `unknown affiliation ${c.affiliation}`);
  }
  await core.update(node, (stored, view) => {
    checkOwner(view, from.bare);
    for (const c of changes) {
      if (c.affiliation === 'none') delete stored.affiliations[c.jid];
      else stored.affiliations[c.jid] = c.affiliation as Affiliation;
      if (c.affiliation === 'outcast') {
        for (const [subid, sub] of Object.entries(stored.subscriptions)) if (sub.jid === c.jid || sub.jid.startsWith(`${c.jid}/`)) delete stored.subscriptions[subid];
      }
    }
    if (!Object.values(core.view(stored).affiliations).includes('owner')) {
      throw stanzaError('CANTO_ERR_NOT_ACCEPTABLE', 'a node must keep at least one owner');
    }
  });
}

/** The node names `from` may see in disco#items: all but whitelist and authorize nodes it has no affiliation with. */
export async function visibleNodes(core: ServiceCore, from: Jid): Promise<Array<{ node: string; title: string }>> {
  const out: Array<{ node: string; title: string }> = [];
  for (const [name, stored] of await core.opts.stores.nodes.getAll(core.opts.scope)) {
    const rec = core.view(stored);
    const hidden = rec.config.access_model === 'whitelist' && affiliationOf(rec, from.bare) === 'none';
    if (!hidden && affiliationOf(rec, from.bare) !== 'outcast') out.push({ node: name, title: rec.config.title });
  }
  return out;
}

/** §5.3–5.4: what node disco#info says: the node's existence, its meta-data form (for those who may see it). */
export async function nodeMetadata(core: ServiceCore, from: Jid, node: string): Promise<Element> {
  const rec = await core.require(node);
  const hidden = rec.config.access_model === 'whitelist' && affiliationOf(rec, from.bare) === 'none';
  if (hidden) throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', `no node ${node}`);
  const by = (a: Affiliation) => Object.entries(rec.affiliations).filter(([, x]) => x === a).map(([jid]) => jid);
  return metadataForm(rec.config, { owners: by('owner'), publishers: by('publisher'), created: rec.created });
}

/** The item ids of a node for its disco#items, for those who may retrieve its items. */
export async function nodeItemIds(core: ServiceCore, from: Jid, node: string): Promise<string[]> {
  const rec = await core.require(node);
  await checkAccess(rec, from.bare, 'items', core.opts.access);
  return rec.items.slice().reverse();
}
