/**
 * PEP (XEP-0163) for the @xmpp/client tests: pubsub requests to an account's bare JID (no `to`:
 * the sender's own), announcing entity capabilities with `+notify` features and answering the
 * server's disco#info query for them, and reading PEP event notifications.
 */
import assert from 'node:assert/strict';
import { xml, type LoggedInClient, type XElement } from './xmpp-client.js';
import { NS, publishOptions, nodeConfig } from './pubsub.js';
import { computeVer, parseDiscoInfo } from '../../src/modules/caps/verification.js';
import { parseXmlFragment } from '../../src/xml/parse-fragment.js';
import type { TestServer } from './server.js';
import type { CapsService } from '../../src/modules/caps/index.js';
import { waitFor } from '../../src/testing/index.js';

export { NS };
const NS_CAPS = 'http://jabber.org/protocol/caps';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const CAPS_NODE = 'https://example.org/pep-test-client';

type Fields = Record<string, string | string[] | boolean>;

/** `<iq type to?><pubsub xmlns>children</pubsub></iq>`; without `to` the sender's own PEP service. */
export function pep(type: 'get' | 'set', children: XElement[], opts: { to?: string; owner?: boolean } = {}): XElement {
  return xml('iq', { type, to: opts.to }, xml('pubsub', { xmlns: opts.owner === true ? NS.owner : NS.pubsub }, ...children));
}

export function pepPublish(node: string, id: string | undefined, payload: XElement | undefined, options?: Fields, to?: string): XElement {
  const children = [xml('publish', { node }, xml('item', { id }, ...(payload ? [payload] : [])))];
  if (options) children.push(xml('publish-options', {}, publishOptions(options)));
  return pep('set', children, { to });
}

export function pepCreate(node: string, config?: Fields, to?: string): XElement {
  return pep('set', config ? [xml('create', { node }), xml('configure', {}, nodeConfig(config))] : [xml('create', { node })], { to });
}

export const pepItems = (to: string | undefined, node: string, max?: number) => pep('get', [xml('items', { node, max_items: max === undefined ? undefined : String(max) })], { to });

/** The item ids (newest first) of an items result. */
export const itemIds = (r: XElement) => (r.getChild('pubsub', NS.pubsub)?.getChild('items')?.getChildren('item') ?? []).map((i) => i.attrs.id);

/** Whether `s` is a PEP event from `owner` (bare JID) about `node` with a child `kind` (items, purge, delete…). */
export function isPepEvent(s: XElement, owner: string, node: string, kind = 'items'): boolean {
  if (!s.is('message') || s.attrs.from !== owner) return false;
  const child = s.getChild('event', NS.event)?.getChild(kind);
  return child !== undefined && child.attrs.node === node;
}

/** The caps service of localhost. */
export function capsOf(ts: TestServer): CapsService {
  const caps = ts.server.hosts.get('localhost')?.services.get('caps');
  assert.ok(caps, 'caps is on by default');
  return caps;
}

/** A client's disco#info: its identity (named so each test's client has its own ver) and features. */
export function clientInfo(name: string, features: string[]): XElement {
  return xml(
    'query',
    { xmlns: NS_DISCO_INFO },
    xml('identity', { category: 'client', type: 'phone', name }),
    ...[NS_CAPS, NS_DISCO_INFO, ...features].map((f) => xml('feature', { var: f })),
  );
}

/**
 * Send available presence with the caps of `info` and, unless the ver is already known to the
 * server (`cached`), answer its disco#info query with `info`; resolves once the server knows the
 * resource's features.
 */
export async function announceCaps(ts: TestServer, client: LoggedInClient, info: XElement, cached = false): Promise<void> {
  const ver = computeVer(parseDiscoInfo(parseXmlFragment(info.toString())), 'sha-1');
  await client.send(xml('presence', {}, xml('c', { xmlns: NS_CAPS, hash: 'sha-1', node: CAPS_NODE, ver })));
  if (!cached) {
    const get = await client.waitFor((s) => s.is('iq') && s.attrs.type === 'get' && s.getChild('query', NS_DISCO_INFO)?.attrs.node === `${CAPS_NODE}#${ver}`);
    info.attrs.node = `${CAPS_NODE}#${ver}`;
    await client.send(xml('iq', { type: 'result', id: get.attrs.id, to: get.attrs.from }, info));
  }
  const caps = capsOf(ts);
  await waitFor(() => caps.featuresOf(client.jid), { message: `${client.jid}: features known` });
}
