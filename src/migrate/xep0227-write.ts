/**
 * Writes XEP-0227 (Portable Import/Export Format, `urn:xmpp:pie:0`) from migration data.
 *
 * Per user, inside `<host jid><user name>`: `<scram-credentials xmlns='urn:xmpp:pie:0#scram'>`
 * per mechanism (the extension Prosody's mod_storage_xep0227 reads and writes: base64
 * `server-key`, `stored-key`, `salt`, decimal `iter-count`), the roster (`jabber:iq:roster`, with
 * RFC 6121 `approved`), pending inbound subscriptions as `<presence type='subscribe'>` children
 * of `<user>`, `vcard-temp`, `jabber:iq:private`, `<offline-messages>`, the blocklist as
 * `<blocklist xmlns='urn:xmpp:blocking'>`, PEP nodes (`pubsub#owner`: configure form,
 * affiliations, subscriptions) and items (`pubsub`), and the MAM archive
 * (`<archive xmlns='urn:xmpp:pie:0#mam'>` of MAM results, as Prosody does). What XEP-0227 has no
 * place for (a node's creation time and creator, an item's publication time, MUC rooms) is in
 * Canto's namespace `urn:xmpp:canto:pie:0`, which other importers ignore.
 */
import { Element } from '../xml/element.js';
import { escapeAttr } from '../xml/escape.js';
import { parseXmlFragment } from '../xml/parse-fragment.js';
import { buildForm, NS_DATA, type FieldType } from '../xml/data-forms.js';
import { configForm } from '../modules/pubsub/engine/config.js';
import { subscriptionOptionsForm } from '../modules/pubsub/engine/subscriptions.js';
import { SCRAM_MECHANISM_NAMES } from '../storage/types.js';
import type { ArchivedStanza, PepNodeData, RoomData, UserData } from './model.js';

export const NS_PIE = 'urn:xmpp:pie:0';
export const NS_PIE_SCRAM = 'urn:xmpp:pie:0#scram';
export const NS_PIE_MAM = 'urn:xmpp:pie:0#mam';
export const NS_CANTO_PIE = 'urn:xmpp:canto:pie:0';
export const NS_ROSTER = 'jabber:iq:roster';
export const NS_VCARD = 'vcard-temp';
export const NS_PRIVATE = 'jabber:iq:private';
export const NS_BLOCKING = 'urn:xmpp:blocking';
export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
export const NS_PUBSUB_OWNER = 'http://jabber.org/protocol/pubsub#owner';
export const NS_MAM = 'urn:xmpp:mam:2';
export const NS_FORWARD = 'urn:xmpp:forward:0';
export const NS_DELAY = 'urn:xmpp:delay';

function stamp(ms: number): string {
  return new Date(ms).toISOString();
}

/** A stored stanza (Canto wrote it, so it parses) as an element to nest. */
function stored(text: string, defaultNs = 'jabber:client'): Element {
  return parseXmlFragment(text, { defaultNs });
}

function archiveElement(items: ArchivedStanza[]): Element {
  const archive = new Element('archive', { xmlns: NS_PIE_MAM });
  for (const item of items) {
    const fwd = archive.c('result', { xmlns: NS_MAM, id: item.id }).c('forwarded', { xmlns: NS_FORWARD });
    fwd.c('delay', { xmlns: NS_DELAY, stamp: stamp(item.when) });
    fwd.cnode(stored(item.stanza));
  }
  return archive;
}

/** `configForm` as a submitted form (what an importer reads), without labels and options. */
function submittedConfig(node: PepNodeData): Element {
  const form = configForm(node.record.config);
  const fields = form.getChildren('field', NS_DATA).filter((f) => f.attrs.var !== 'FORM_TYPE' && f.attrs.var !== undefined);
  return buildForm(
    'submit',
    form.getChildren('field', NS_DATA).find((f) => f.attrs.var === 'FORM_TYPE')?.getChildText('value', NS_DATA) ?? '',
    fields.map((f) => ({ var: f.attrs.var as string, type: (f.attrs.type ?? 'text-single') as FieldType, values: f.getChildren('value', NS_DATA).map((v) => v.getText()) })),
  );
}

function pepElements(user: UserData, nodes: PepNodeData[]): Element[] {
  const owner = new Element('pubsub', { xmlns: NS_PUBSUB_OWNER });
  const pubsub = new Element('pubsub', { xmlns: NS_PUBSUB });
  for (const node of nodes) {
    const configure = owner.c('configure', { node: node.name });
    configure.cnode(submittedConfig(node));
    configure.c('node-meta', { xmlns: NS_CANTO_PIE, created: stamp(node.record.created), creator: node.record.creator });
    const affs = Object.entries(node.record.affiliations);
    if (affs.length > 0) {
      const el = owner.c('affiliations', { node: node.name });
      for (const [jid, affiliation] of affs) el.c('affiliation', { jid, affiliation });
    }
    const subs = Object.entries(node.record.subscriptions);
    if (subs.length > 0) {
      const el = owner.c('subscriptions', { node: node.name });
      for (const [subid, s] of subs) {
        const form = subscriptionOptionsForm(s.options);
        form.attrs.type = 'submit';
        el.c('subscription', { jid: s.jid, subscription: s.state, subid }).c('options').cnode(form);
      }
    }
    const items = pubsub.c('items', { node: node.name });
    const order = [...node.record.items.filter((id) => node.items.has(id)), ...[...node.items.keys()].filter((id) => !node.record.items.includes(id))];
    for (const id of order) {
      const item = node.items.get(id);
      if (!item) continue;
      const el = items.c('item', { id, publisher: item.publisher });
      if (item.payload !== undefined) el.cnode(stored(item.payload, NS_PUBSUB));
      el.c('published', { xmlns: NS_CANTO_PIE, stamp: stamp(item.published) });
    }
  }
  return [owner, pubsub];
}

/** `<user name>` with everything of one account. */
export function userElement(user: UserData): Element {
  const el = new Element('user', { xmlns: NS_PIE, name: user.username });
  for (const mechanism of SCRAM_MECHANISM_NAMES) {
    const c = user.credentials[mechanism];
    if (!c) continue;
    const scram = el.c('scram-credentials', { xmlns: NS_PIE_SCRAM, mechanism });
    scram.c('iter-count').t(String(c.iterations));
    scram.c('salt').t(c.salt);
    scram.c('server-key').t(c.serverKey);
    scram.c('stored-key').t(c.storedKey);
  }
  if (user.roster) {
    const q = el.c('query', { xmlns: NS_ROSTER });
    for (const item of user.roster.items) {
      const i = q.c('item', { jid: item.jid, name: item.name, subscription: item.subscription, ask: item.ask ? 'subscribe' : undefined, approved: item.approved ? 'true' : undefined });
      for (const g of item.groups) i.c('group').t(g);
    }
    for (const [from, text] of user.roster.pending) {
      const p = stored(text);
      p.attrs.from ??= from;
      el.cnode(p);
    }
  }
  if (user.vcard !== undefined) el.cnode(stored(user.vcard, NS_VCARD));
  if (user.privateXml) {
    const q = el.c('query', { xmlns: NS_PRIVATE });
    for (const [ns, texts] of user.privateXml) for (const t of texts) q.cnode(stored(t, ns));
  }
  if (user.offline) {
    const o = el.c('offline-messages');
    for (const m of user.offline) {
      const msg = stored(m.stanza);
      if (!msg.getChild('delay', NS_DELAY)) msg.c('delay', { xmlns: NS_DELAY, stamp: stamp(m.when) });
      o.cnode(msg);
    }
  }
  if (user.blocklist) {
    const b = el.c('blocklist', { xmlns: NS_BLOCKING });
    for (const jid of user.blocklist) b.c('item', { jid });
  }
  if (user.pep && user.pep.length > 0) for (const e of pepElements(user, user.pep)) el.cnode(e);
  if (user.mam) el.cnode(archiveElement(user.mam));
  return el;
}

/** A persistent MUC room, in Canto's namespace (XEP-0227 has no place for rooms). */
export function roomElement(room: RoomData): Element {
  const el = new Element('room', { xmlns: NS_CANTO_PIE, name: room.name });
  el.c('state').t(JSON.stringify(room.state));
  if (room.archive) el.cnode(archiveElement(room.archive));
  return el;
}

/** One XEP-0227 document: hosts in the order given, one element per line. */
export function serverData(hosts: Array<{ host: string; elements: Element[] }>): string {
  const lines = [`<?xml version='1.0' encoding='UTF-8'?>`, `<server-data xmlns='${NS_PIE}'>`];
  for (const { host, elements } of hosts) {
    lines.push(`<host jid='${escapeAttr(host)}'>`);
    for (const e of elements) lines.push(e.toString());
    lines.push('</host>');
  }
  lines.push('</server-data>', '');
  return lines.join('\n');
}
