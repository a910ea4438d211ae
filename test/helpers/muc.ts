/**
 * Multi-user chat for the @xmpp/client tests (test/integration/muc-*.test.ts): joining, the
 * muc#user payload of presences, admin and owner queries, forms.
 */
import type { CantoConfig } from '../../src/core/config.js';
import { xml, type LoggedInClient, type XElement } from './xmpp-client.js';

export const MUC = 'conference.localhost';

/** Serve the chat room component (test configs start without the built-in default's components). */
export function withMuc(c: CantoConfig): void {
  c.component.push({ domain: MUC, module: 'muc' });
}
export const NS = {
  muc: 'http://jabber.org/protocol/muc',
  user: 'http://jabber.org/protocol/muc#user',
  admin: 'http://jabber.org/protocol/muc#admin',
  owner: 'http://jabber.org/protocol/muc#owner',
  data: 'jabber:x:data',
  register: 'jabber:iq:register',
  delay: 'urn:xmpp:delay',
  stanzas: 'urn:ietf:params:xml:ns:xmpp-stanzas',
  discoInfo: 'http://jabber.org/protocol/disco#info',
  discoItems: 'http://jabber.org/protocol/disco#items',
} as const;

export const roomJid = (room: string) => `${room}@${MUC}`;

/** The status codes of a stanza's muc#user payload. */
export function codes(s: XElement): number[] {
  return (s.getChild('x', NS.user)?.getChildren('status') ?? []).map((c) => Number(c.attrs.code)).sort((a, b) => a - b);
}

/** The <item/> of a stanza's muc#user payload. */
export function item(s: XElement): Record<string, string | undefined> {
  return s.getChild('x', NS.user)?.getChild('item')?.attrs ?? {};
}

export const isPresenceFrom = (from: string, type?: string) => (s: XElement) => s.is('presence') && s.attrs.from === from && s.attrs.type === type;
export const isSelfPresence = (from: string, type?: string) => (s: XElement) => isPresenceFrom(from, type)(s) && codes(s).includes(110);
export const isSubject = (room: string) => (s: XElement) => s.is('message') && s.getChild('subject') !== undefined && !s.getChild('body') && s.attrs.from?.startsWith(roomJid(room)) === true;
export const isGroupchat = (from: string, body?: string) => (s: XElement) =>
  s.is('message') && s.attrs.type === 'groupchat' && s.attrs.from === from && (body === undefined || s.getChildText('body') === body);

export interface JoinOptions {
  password?: string;
  history?: Record<string, string>;
  /** Leave out the MUC payload (an old groupchat 1.0 join). */
  bare?: boolean;
}

export function joinPresence(room: string, nick: string, o: JoinOptions = {}): XElement {
  const children: XElement[] = [];
  if (o.password !== undefined) children.push(xml('password', {}, o.password));
  if (o.history) children.push(xml('history', o.history));
  return o.bare ? xml('presence', { to: `${roomJid(room)}/${nick}` }) : xml('presence', { to: `${roomJid(room)}/${nick}` }, xml('x', { xmlns: NS.muc }, ...children));
}

/** Join and wait for the self-presence and the subject; returns the self-presence. */
export async function join(c: LoggedInClient, room: string, nick: string, o: JoinOptions = {}): Promise<XElement> {
  await c.send(joinPresence(room, nick, o));
  const self = await c.waitFor((s) => (isSelfPresence(`${roomJid(room)}/${nick}`)(s) || (s.is('presence') && s.attrs.type === 'error' && s.attrs.from === `${roomJid(room)}/${nick}`)));
  if (self.attrs.type === 'error') throw Object.assign(new Error(`join refused: ${self.toString()}`), { stanza: self });
  await c.waitFor(isSubject(room));
  return self;
}

/** Join a new room and make it an instant room (empty submission). */
export async function createInstant(c: LoggedInClient, room: string, nick: string): Promise<XElement> {
  const self = await join(c, room, nick);
  await c.iq(ownerSubmit(room, {}));
  return self;
}

/** A submitted data form; values: a string, a list or a boolean. */
export function form(formType: string | undefined, fields: Record<string, string | string[] | boolean>, type = 'submit'): XElement {
  const out: XElement[] = [];
  if (formType !== undefined) out.push(xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, formType)));
  for (const [name, v] of Object.entries(fields)) {
    const values = typeof v === 'boolean' ? [v ? '1' : '0'] : typeof v === 'string' ? [v] : v;
    out.push(xml('field', { var: name }, ...values.map((x) => xml('value', {}, x))));
  }
  return xml('x', { xmlns: NS.data, type }, ...out);
}

export function ownerSubmit(room: string, fields: Record<string, string | string[] | boolean>): XElement {
  const x = Object.keys(fields).length === 0 ? xml('x', { xmlns: NS.data, type: 'submit' }) : form('http://jabber.org/protocol/muc#roomconfig', fields);
  return xml('iq', { type: 'set', to: roomJid(room) }, xml('query', { xmlns: NS.owner }, x));
}

export function adminSet(room: string, ...items: Array<Record<string, string> & { reason?: string }>): XElement {
  return xml('iq', { type: 'set', to: roomJid(room) }, xml('query', { xmlns: NS.admin }, ...items.map(({ reason, ...attrs }) => xml('item', attrs, ...(reason !== undefined ? [xml('reason', {}, reason)] : [])))));
}

export function adminGet(room: string, attrs: Record<string, string>): XElement {
  return xml('iq', { type: 'get', to: roomJid(room) }, xml('query', { xmlns: NS.admin }, xml('item', attrs)));
}

export function groupchat(room: string, body: string, id?: string): XElement {
  return xml('message', { to: roomJid(room), type: 'groupchat', id }, xml('body', {}, body));
}

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

/** 'result', or the error condition of an error reply. */
export function outcome(reply: XElement): string {
  if (reply.attrs.type !== 'error') return reply.attrs.type ?? '?';
  const kids = (reply.getChild('error')?.children ?? []).filter((x): x is XElement => typeof x !== 'string');
  return kids.find((x) => x.attrs.xmlns === NS.stanzas && x.name !== 'text')?.name ?? '?';
}

/** The jids of an admin list answer. */
export function listJids(reply: XElement): string[] {
  return (reply.getChild('query', NS.admin)?.getChildren('item') ?? []).map((i) => i.attrs.jid ?? '').sort();
}
