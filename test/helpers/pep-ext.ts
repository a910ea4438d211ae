/**
 * PEP for the @xmpp/client tests of the modules built on it (avatar, bookmarks, nickname), next
 * to pep.ts (the PEP module's own helpers):
 * announcing `+notify` through entity capabilities and waiting until the server verified it,
 * and pubsub requests to an account's bare JID.
 */
import assert from 'node:assert/strict';
import type { TestServer } from './server.js';
import { xml, type LoggedInClient, type XElement } from './xmpp-client.js';
import { waitFor } from '../../src/testing/index.js';
import { parseXmlFragment } from '../../src/xml/parse-fragment.js';
import { computeVer, parseDiscoInfo } from '../../src/modules/caps/verification.js';

export const NS_CAPS = 'http://jabber.org/protocol/caps';
export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
export const NS_PUBSUB_EVENT = 'http://jabber.org/protocol/pubsub#event';
const CAPS_NODE = 'https://canto.example/test-client';

/**
 * The client announces caps with `<node>+notify` for each node, answers the server's disco#info
 * query, and resolves once the server knows the features (the caps service says so). Its
 * presence (with `extra` children) is broadcast on the way.
 */
export async function announceNotify(ts: TestServer, client: LoggedInClient, nodes: string[], extra: XElement[] = []): Promise<void> {
  const features = [NS_CAPS, NS_DISCO_INFO, ...nodes.map((n) => `${n}+notify`)];
  const query = () => xml('query', { xmlns: NS_DISCO_INFO }, xml('identity', { category: 'client', type: 'pc', name: 'canto-test' }), ...features.map((f) => xml('feature', { var: f })));
  const ver = computeVer(parseDiscoInfo(parseXmlFragment(query().toString())), 'sha-1');
  await client.send(xml('presence', {}, xml('c', { xmlns: NS_CAPS, hash: 'sha-1', node: CAPS_NODE, ver }), ...extra));
  const caps = ts.server.hosts.get('localhost')?.services.get('caps');
  assert.ok(caps, 'caps is loaded');
  const feature = `${nodes[0]}+notify`;
  // Another client may have announced the same ver already: then no query comes.
  if (!caps.hasFeature(client.jid, feature)) {
    const get = await client.waitFor((s) => s.is('iq') && s.attrs.type === 'get' && s.getChild('query', NS_DISCO_INFO)?.attrs.node === `${CAPS_NODE}#${ver}`);
    const answer = query();
    answer.attrs.node = `${CAPS_NODE}#${ver}`;
    await client.send(xml('iq', { type: 'result', id: get.attrs.id, to: get.attrs.from }, answer));
  }
  await waitFor(() => caps.hasFeature(client.jid, feature), { timeoutMs: 5000, message: `${client.jid} +notify not known` });
}

/** `<iq type to><pubsub xmlns=…pubsub>children</pubsub></iq>`; no `to`: the account itself. */
export function pepIq(type: 'get' | 'set', children: XElement[], to?: string): XElement {
  return xml('iq', { type, to }, xml('pubsub', { xmlns: NS_PUBSUB }, ...children));
}

/** The items of a node (newest first), as the client reads them; `ids` narrows. */
export async function pepItems(client: LoggedInClient, node: string, to?: string, ids: string[] = []): Promise<XElement[]> {
  const result = await client.iq(pepIq('get', [xml('items', { node }, ...ids.map((id) => xml('item', { id })))], to));
  return result.getChild('pubsub', NS_PUBSUB)?.getChild('items')?.getChildren('item') ?? [];
}

/** Whether `s` is a PEP notification from `from` about `node` whose `<items/>` has a child named `kind` (item or retract). */
export function isPepEvent(s: XElement, from: string, node: string, kind: 'item' | 'retract' = 'item'): boolean {
  if (!s.is('message') || s.attrs.from !== from) return false;
  const items = s.getChild('event', NS_PUBSUB_EVENT)?.getChild('items');
  return items?.attrs.node === node && items.getChild(kind) !== undefined;
}
