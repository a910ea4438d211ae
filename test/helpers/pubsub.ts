/**
 * Pubsub requests for the @xmpp/client tests (test/integration/pubsub-*.test.ts), built with
 * xmpp.js's `xml`, and the reading of pubsub errors and events.
 */
import type { TestServer } from './server.js';
import { xml, type LoggedInClient, type XElement } from './xmpp-client.js';
import { modifyRoster } from '../../src/modules/roster/store.js';

export const SERVICE = 'pubsub.localhost';
export const NS = {
  pubsub: 'http://jabber.org/protocol/pubsub',
  owner: 'http://jabber.org/protocol/pubsub#owner',
  event: 'http://jabber.org/protocol/pubsub#event',
  errors: 'http://jabber.org/protocol/pubsub#errors',
  data: 'jabber:x:data',
  stanzas: 'urn:ietf:params:xml:ns:xmpp-stanzas',
} as const;

/** `<iq type to=SERVICE><pubsub xmlns=ns>children</pubsub></iq>` */
export function psIq(type: 'get' | 'set', children: XElement[], owner = false, to = SERVICE): XElement {
  return xml('iq', { type, to }, xml('pubsub', { xmlns: owner ? NS.owner : NS.pubsub }, ...children));
}

/** A submitted data form. Values: a string, a list, or a boolean. */
export function form(formType: string | undefined, fields: Record<string, string | string[] | boolean>, type = 'submit'): XElement {
  const out: XElement[] = [];
  if (formType !== undefined) out.push(xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, formType)));
  for (const [name, v] of Object.entries(fields)) {
    const values = typeof v === 'boolean' ? [v ? 'true' : 'false'] : typeof v === 'string' ? [v] : v;
    out.push(xml('field', { var: name }, ...values.map((x) => xml('value', {}, x))));
  }
  return xml('x', { xmlns: NS.data, type }, ...out);
}

export const nodeConfig = (fields: Record<string, string | string[] | boolean>) => form('http://jabber.org/protocol/pubsub#node_config', fields);
export const publishOptions = (fields: Record<string, string | string[] | boolean>) => form('http://jabber.org/protocol/pubsub#publish-options', fields);

export function create(node: string | undefined, config?: Record<string, string | string[] | boolean>): XElement {
  return psIq('set', config ? [xml('create', { node }), xml('configure', {}, nodeConfig(config))] : [xml('create', { node })]);
}

export function publish(node: string, id: string | undefined, payload: XElement | undefined, options?: Record<string, string | string[] | boolean>): XElement {
  const children = [xml('publish', { node }, xml('item', { id }, ...(payload ? [payload] : [])))];
  if (options) children.push(xml('publish-options', {}, publishOptions(options)));
  return psIq('set', children);
}

export const entry = (text: string) => xml('entry', { xmlns: 'http://www.w3.org/2005/Atom' }, xml('title', {}, text));

/** Send and get the reply, result or error (never throws for an error reply). */
export async function ask(c: LoggedInClient, iq: XElement): Promise<XElement> {
  try {
    return await c.iq(iq);
  } catch (err) {
    const stanza = (err as { stanza?: XElement }).stanza;
    if (stanza) return stanza;
    throw err;
  }
}

/** 'condition' or 'condition+pubsub-child' (and '[feature]') of an error reply; 'result' for a result. */
export function outcome(reply: XElement): string {
  if (reply.attrs.type !== 'error') return reply.attrs.type ?? '?';
  const err = reply.getChild('error');
  const kids = (err?.children ?? []).filter((x): x is XElement => typeof x !== 'string');
  const cond = kids.find((x) => x.attrs.xmlns === NS.stanzas && x.name !== 'text')?.name ?? '?';
  const app = kids.find((x) => x.attrs.xmlns === NS.errors);
  if (!app) return cond;
  return `${cond}+${app.name}${app.attrs.feature ? `[${app.attrs.feature}]` : ''}`;
}

/** The error type of an error reply. */
export const errorType = (reply: XElement) => reply.getChild('error')?.attrs.type;

/** Whether `s` is an event message from the service about `node` with a child named `kind`. */
export function isEvent(s: XElement, node: string, kind: string): boolean {
  if (!s.is('message') || s.attrs.from !== SERVICE) return false;
  const ev = s.getChild('event', NS.event);
  const child = ev?.getChild(kind);
  return child !== undefined && child.attrs.node === node;
}

/** Make `owner@localhost` and `contact@localhost` mutual contacts (both subscriptions), the contact in `groups`. */
export async function makeContacts(ts: TestServer, owner: string, contact: string, groups: string[]): Promise<void> {
  const item = (jid: string, g: string[]) => ({ jid, groups: g, subscription: 'both' as const, ask: false, approved: false });
  await modifyRoster(ts.server, 'localhost', owner, (r) => r.setItem(item(`${contact}@localhost`, groups)));
  await modifyRoster(ts.server, 'localhost', contact, (r) => r.setItem(item(`${owner}@localhost`, [])));
}
