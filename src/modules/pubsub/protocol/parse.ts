/**
 * Reading pubsub iqs (`http://jabber.org/protocol/pubsub` and `#owner`) into typed requests,
 * before any node is looked at: the shape errors of XEP-0060 (`bad-request`, `nodeid-required`,
 * `item-required`, …) come from here. Pure: an Element in, a request out, or a thrown StanzaError.
 */
import { stanzaError } from '../../../core/errors.js';
import type { Element } from '../../../xml/element.js';
import { pubsubError } from '../engine/errors.js';
import { findForm, parseForm, type ParsedForm } from '../engine/forms.js';
import { NS_PUBSUB, NS_PUBSUB_OWNER } from '../ns.js';

export type PubsubRequest =
  | { op: 'create'; node?: string; config?: ParsedForm }
  | { op: 'publish'; node: string; item?: { id?: string; payloads: Element[] }; options?: ParsedForm }
  | { op: 'retract'; node: string; ids: string[]; notify: boolean }
  | { op: 'items'; node: string; ids?: string[]; max?: number; subid?: string }
  | { op: 'subscribe'; node: string; jid?: string; options?: ParsedForm }
  | { op: 'unsubscribe'; node: string; jid?: string; subid?: string }
  | { op: 'options-get'; node: string; jid?: string; subid?: string }
  | { op: 'options-set'; node: string; jid?: string; subid?: string; form: ParsedForm }
  | { op: 'subscriptions'; node?: string }
  | { op: 'affiliations'; node?: string }
  | { op: 'default-sub' }
  | { op: 'configure-get'; node: string }
  | { op: 'configure-set'; node: string; form: ParsedForm }
  | { op: 'default' }
  | { op: 'delete'; node: string; redirect?: string }
  | { op: 'purge'; node: string }
  | { op: 'owner-subscriptions-get'; node: string }
  | { op: 'owner-subscriptions-set'; node: string; changes: Array<{ jid?: string; subscription?: string; subid?: string }> }
  | { op: 'owner-affiliations-get'; node: string }
  | { op: 'owner-affiliations-set'; node: string; changes: Array<{ jid: string; affiliation: string }> };

export type PubsubOp = PubsubRequest['op'];

const bad = (text: string) => stanzaError('CANTO_ERR_BAD_REQUEST', text);

/** The node attribute, required: nodeid-required when missing or empty. */
function nodeOf(el: Element): string {
  const node = el.attrs.node;
  if (node === undefined || node === '') throw pubsubError('CANTO_ERR_PUBSUB_NODEID_REQUIRED');
  return node;
}

/** The node attribute where it may be left out (create, subscriptions, affiliations). */
function optionalNode(el: Element): string | undefined {
  const node = el.attrs.node;
  return node === undefined || node === '' ? undefined : node;
}

function formOf(el: Element | undefined): ParsedForm | undefined {
  const x = findForm(el);
  return x && parseForm(x);
}

/** The one element naming the action, and the optional companions XEP-0060 allows next to it. */
function split(pubsub: Element, companions: readonly string[]): { action: Element; extra: Map<string, Element> } {
  const extra = new Map<string, Element>();
  let action: Element | undefined;
  for (const child of pubsub.elements) {
    if (child.xmlns !== pubsub.xmlns) continue; // foreign extensions (e.g. RSM) are ignored
    if (action === undefined) {
      action = child;
      continue;
    }
    if (!companions.includes(child.name) || extra.has(child.name)) throw bad(`unexpected <${child.name}/> in the request`);
    extra.set(child.name, child);
  }
  if (action === undefined) throw bad('the request names no action');
  return { action, extra };
}

function parseUser(type: 'get' | 'set', pubsub: Element): PubsubRequest {
  const { action, extra } = split(pubsub, ['configure', 'publish-options', 'options']);
  const only = (...allowed: string[]) => {
    for (const name of extra.keys()) if (!allowed.includes(name)) throw bad(`unexpected <${name}/> with <${action.name}/>`);
  };
  const want = (t: 'get' | 'set') => {
    if (type !== t) throw bad(`<${action.name}/> is sent in an iq of type ${t}`);
  };
  switch (action.name) {
    case 'create': {
      want('set');
      only('configure');
      return { op: 'create', node: optionalNode(action), config: formOf(extra.get('configure')) };
    }
    case 'publish': {
      want('set');
      only('publish-options');
      const node = nodeOf(action);
      const items = action.getChildren('item', NS_PUBSUB);
      if (items.length > 1) throw pubsubError('CANTO_ERR_PUBSUB_INVALID_PAYLOAD', 'publish one item per request');
      const item = items[0];
      const options = extra.has('publish-options') ? formOf(extra.get('publish-options')) : undefined;
      if (extra.has('publish-options') && options === undefined) throw bad('<publish-options/> must contain a data form');
      return { op: 'publish', node, item: item && { id: item.attrs.id, payloads: item.elements }, options };
    }
    case 'retract': {
      want('set');
      only();
      const node = nodeOf(action);
      const ids = action.getChildren('item', NS_PUBSUB).map((i) => i.attrs.id);
      if (ids.length === 0 || ids.some((id) => id === undefined || id === '')) throw pubsubError('CANTO_ERR_PUBSUB_ITEM_REQUIRED');
      const notify = action.attrs.notify === 'true' || action.attrs.notify === '1';
      return { op: 'retract', node, ids: ids as string[], notify };
    }
    case 'items': {
      want('get');
      only();
      const node = nodeOf(action);
      const ids = action.getChildren('item', NS_PUBSUB).map((i) => i.attrs.id);
      if (ids.some((id) => id === undefined || id === '')) throw bad('an <item/> asked for needs an id');
      let max: number | undefined;
      if (action.attrs.max_items !== undefined) {
        if (!/^[0-9]{1,9}$/.test(action.attrs.max_items) || Number(action.attrs.max_items) < 1) throw bad('max_items must be a positive integer');
        max = Number(action.attrs.max_items);
      }
      return { op: 'items', node, ids: ids.length > 0 ? (ids as string[]) : undefined, max, subid: action.attrs.subid };
    }
    case 'subscribe': {
      want('set');
      only('options');
      return { op: 'subscribe', node: nodeOf(action), jid: action.attrs.jid, options: formOf(extra.get('options')) };
    }
    case 'unsubscribe':
      want('set');
      only();
      return { op: 'unsubscribe', node: nodeOf(action), jid: action.attrs.jid, subid: action.attrs.subid };
    case 'options': {
      only();
      const node = nodeOf(action);
      if (type === 'get') return { op: 'options-get', node, jid: action.attrs.jid, subid: action.attrs.subid };
      const form = formOf(action);
      if (!form) throw pubsubError('CANTO_ERR_PUBSUB_INVALID_OPTIONS', 'the options must be a data form');
      return { op: 'options-set', node, jid: action.attrs.jid, subid: action.attrs.subid, form };
    }
    case 'subscriptions':
      want('get');
      only();
      return { op: 'subscriptions', node: optionalNode(action) };
    case 'affiliations':
      want('get');
      only();
      return { op: 'affiliations', node: optionalNode(action) };
    case 'default':
      want('get');
      only();
      return { op: 'default-sub' };
    default:
      throw bad(`unknown pubsub request <${action.name}/>`);
  }
}

function parseOwner(type: 'get' | 'set', pubsub: Element): PubsubRequest {
  const { action } = split(pubsub, []);
  const want = (t: 'get' | 'set') => {
    if (type !== t) throw bad(`<${action.name}/> is sent in an iq of type ${t}`);
  };
  switch (action.name) {
    case 'configure': {
      const node = nodeOf(action);
      if (type === 'get') return { op: 'configure-get', node };
      const form = formOf(action);
      if (!form) throw bad('<configure/> needs a data form');
      return { op: 'configure-set', node, form };
    }
    case 'default':
      want('get');
      return { op: 'default' };
    case 'delete': {
      want('set');
      const uri = action.getChild('redirect', NS_PUBSUB_OWNER)?.attrs.uri;
      return { op: 'delete', node: nodeOf(action), redirect: uri === '' ? undefined : uri };
    }
    case 'purge':
      want('set');
      return { op: 'purge', node: nodeOf(action) };
    case 'subscriptions': {
      const node = nodeOf(action);
      if (type === 'get') return { op: 'owner-subscriptions-get', node };
      const changes = action.getChildren('subscription', NS_PUBSUB_OWNER).map((s) => ({ jid: s.attrs.jid, subscription: s.attrs.subscription, subid: s.attrs.subid }));
      if (changes.length === 0) throw bad('no <subscription/> to change');
      return { op: 'owner-subscriptions-set', node, changes };
    }
    case 'affiliations': {
      const node = nodeOf(action);
      if (type === 'get') return { op: 'owner-affiliations-get', node };
      const changes = action.getChildren('affiliation', NS_PUBSUB_OWNER).map((a) => ({ jid: a.attrs.jid ?? '', affiliation: a.attrs.affiliation ?? '' }));
      if (changes.length === 0) throw bad('no <affiliation/> to change');
      if (changes.some((c) => c.jid === '' || c.jid.includes('/'))) throw stanzaError('CANTO_ERR_JID_MALFORMED', 'affiliations are for bare JIDs');
      return { op: 'owner-affiliations-set', node, changes };
    }
    default:
      throw bad(`unknown pubsub owner request <${action.name}/>`);
  }
}

/** The request in an iq's `<pubsub/>` payload (either namespace). */
export function parsePubsubRequest(type: 'get' | 'set', pubsub: Element): PubsubRequest {
  if (pubsub.name !== 'pubsub') throw bad('not a pubsub request');
  if (pubsub.xmlns === NS_PUBSUB) return parseUser(type, pubsub);
  if (pubsub.xmlns === NS_PUBSUB_OWNER) return parseOwner(type, pubsub);
  throw bad('not a pubsub request');
}
