/**
 * Reads an XEP-0227 document (`urn:xmpp:pie:0`, as `canto export`, Prosody and ejabberd write
 * it) into migration data, checking everything before anything is written: a malformed element
 * is a MigrationInputError naming it, its user and host.
 *
 * Accepted per `<user>`: `password` (plain: SCRAM credentials are derived from it) and/or
 * `<scram-credentials xmlns='urn:xmpp:pie:0#scram'>`; `jabber:iq:roster`; pending subscriptions
 * as `<presence type='subscribe'>` children; `vcard-temp`; `jabber:iq:private`;
 * `<offline-messages>`; `<blocklist xmlns='urn:xmpp:blocking'>` and ejabberd's privacy list
 * (`jabber:iq:privacy`, its default list's deny items on a JID); PEP (`pubsub#owner`, `pubsub`);
 * MAM (`<archive xmlns='urn:xmpp:pie:0#mam'>`); Canto's `<room>` elements. Unknown elements
 * are skipped (and counted, so the CLI can say so).
 *
 * ejabberd's `export_piefxis` writes an index file (`<server-data>` holding one `<xi:include
 * href='…'/>` per host) and a file per host whose root is `<host>`: both roots are read, and
 * `readXep0227Files` follows the includes (each file once, so a directory holding the index and
 * the host files is read once). ejabberd 23.01 base64-encodes the SCRAM salt and keys it already
 * keeps as base64, so `<scram-credentials>` whose keys are base64 twice are decoded once more.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseXmlFragment, XmlFragmentError } from '../xml/parse-fragment.js';
import type { Element } from '../xml/element.js';
import { parseForm, NS_DATA } from '../xml/data-forms.js';
import { parseJid, JidError, type Jid } from '../jid/index.js';
import { applyConfigForm } from '../modules/pubsub/engine/config.js';
import { applyOptionsForm } from '../modules/pubsub/engine/subscriptions.js';
import { AFFILIATIONS, DEFAULT_SUBSCRIPTION_OPTIONS, type Affiliation, type NodeConfig, type NodeRecord, type StoredItem, type StoredSubscription } from '../modules/pubsub/engine/types.js';
import { PEP_NODE_DEFAULTS } from '../modules/pep/options.js';
import { MIN_SCRAM_ITERATIONS, SCRAM_MECHANISM_NAMES, type AccountCredentials, type ScramMechanismName } from '../storage/types.js';
import type { StoredRoom } from '../modules/muc/persistence.js';
import { MigrationInputError, type ArchivedStanza, type MigrationData, type PepNodeData, type RosterItemData, type RoomData, type UserData, type SubscriptionState } from './model.js';
import { NS_BLOCKING, NS_CANTO_PIE, NS_DELAY, NS_FORWARD, NS_MAM, NS_PIE, NS_PIE_MAM, NS_PIE_SCRAM, NS_PRIVATE, NS_PUBSUB, NS_PUBSUB_OWNER, NS_ROSTER, NS_VCARD } from './xep0227-write.js';

/** The namespace of XEP-0227 before version 1.0 (ejabberd wrote it for years). */
const NS_PIE_OLD = 'http://www.xmpp.org/extensions/xep-0227.html#ns';
const NS_CLIENT = 'jabber:client';
const NS_PRIVACY = 'jabber:iq:privacy';
const NS_XINCLUDE = 'http://www.w3.org/2001/XInclude';
/** Far above any real node's max_items: the importer keeps what the source had. */
const IMPORT_LIMITS = { maxItems: 1_000_000_000 };

export interface ReadOptions {
  /** SCRAM credentials from a plain password (`password` attribute). */
  derive(password: string): AccountCredentials;
  /** Where the text came from, for error messages. */
  source: string;
}

export interface ReadResult extends MigrationData {
  /** Element names skipped because this reader does not know them (`{ns}name` → count). */
  skipped: Map<string, number>;
  /** The `href`s of the document's `<xi:include>`s (relative to its file), in order; `readXep0227Files` reads them. */
  includes: string[];
}

class Context {
  constructor(
    readonly source: string,
    readonly where: string,
    readonly skipped: Map<string, number>,
  ) {}
  fail(what: string): never {
    throw new MigrationInputError(`${this.source}: ${this.where}: ${what}`);
  }
  /** An element this reader does not know: counted in `skipped`, not imported. */
  unknown(el: Element): void {
    const key = `{${el.xmlns}}${el.name}`;
    this.skipped.set(key, (this.skipped.get(key) ?? 0) + 1);
  }
  jid(text: string | undefined, el: string): Jid {
    if (text === undefined || text === '') this.fail(`<${el}> has no jid`);
    try {
      return parseJid(text);
    } catch (err) {
      if (err instanceof JidError) this.fail(`<${el}> has an invalid jid '${text}': ${err.message}`);
      throw err;
    }
  }
  time(text: string | undefined, el: string): number {
    const ms = text === undefined ? NaN : Date.parse(text);
    if (!Number.isFinite(ms)) this.fail(`<${el}> has no valid timestamp (got '${text ?? ''}')`);
    return ms;
  }
}

function isPie(ns: string): boolean {
  return ns === NS_PIE || ns === NS_PIE_OLD;
}

/** Parses a whole document (an XML declaration is allowed). */
export function parseDocument(text: string, source: string): Element {
  const body = text.replace(/^\uFEFF?\s*<\?xml[^?]*\?>/, '');
  try {
    return parseXmlFragment(body, { maxBytes: Buffer.byteLength(body) + 1024, defaultNs: NS_PIE });
  } catch (err) {
    if (err instanceof XmlFragmentError) throw new MigrationInputError(`${source}: not well-formed XML (${err.message})`);
    throw err;
  }
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The base64 text that `b64` encodes, if it decodes to base64 text at all. */
function unwrapBase64(b64: string): string | undefined {
  const text = Buffer.from(b64, 'base64').toString('latin1');
  return BASE64.test(text) ? text : undefined;
}

function scram(ctx: Context, el: Element): [ScramMechanismName, AccountCredentials[ScramMechanismName]] {
  const mechanism = el.attrs.mechanism as ScramMechanismName | undefined;
  if (mechanism === undefined || !SCRAM_MECHANISM_NAMES.includes(mechanism)) ctx.fail(`<scram-credentials> has an unsupported mechanism '${el.attrs.mechanism ?? ''}'`);
  const text = (name: string): string => {
    const v = el.getChildText(name, NS_PIE_SCRAM)?.trim();
    if (v === undefined || v === '') ctx.fail(`<scram-credentials mechanism='${mechanism}'> lacks <${name}>`);
    if (name !== 'iter-count' && !BASE64.test(v)) ctx.fail(`<scram-credentials mechanism='${mechanism}'>: <${name}> is not base64`);
    return v;
  };
  const iterations = Number(text('iter-count'));
  if (!Number.isSafeInteger(iterations) || iterations < MIN_SCRAM_ITERATIONS) ctx.fail(`<scram-credentials mechanism='${mechanism}'>: <iter-count> must be an integer of at least ${MIN_SCRAM_ITERATIONS}`);
  let salt = text('salt');
  let storedKey = text('stored-key');
  let serverKey = text('server-key');
  // ejabberd 23.01 keeps salt and keys as base64 text and encodes that text again on export. A key
  // of the mechanism's size never decodes to base64 text of that size, so the keys tell which it is.
  const bytes = KEY_BYTES[mechanism];
  const decodedLength = (b64: string | undefined) => (b64 === undefined ? -1 : Buffer.from(b64, 'base64').length);
  const twice = [storedKey, serverKey].every((k) => decodedLength(k) !== bytes && decodedLength(unwrapBase64(k)) === bytes);
  if (twice) {
    const inner = unwrapBase64(salt);
    if (inner === undefined) ctx.fail(`<scram-credentials mechanism='${mechanism}'>: the keys are base64-encoded twice (as ejabberd writes them) but <salt> is not`);
    salt = inner;
    storedKey = unwrapBase64(storedKey) as string;
    serverKey = unwrapBase64(serverKey) as string;
  }
  return [mechanism, { salt, iterations, storedKey, serverKey }];
}

const SUBSCRIPTIONS: readonly SubscriptionState[] = ['none', 'to', 'from', 'both'];

function rosterItem(ctx: Context, el: Element): RosterItemData {
  const jid = ctx.jid(el.attrs.jid, 'item');
  const sub = el.attrs.subscription ?? 'none';
  if (sub === 'remove') ctx.fail(`<item jid='${jid.full}'> in the roster has subscription='remove'`);
  if (!SUBSCRIPTIONS.includes(sub as SubscriptionState)) ctx.fail(`<item jid='${jid.full}'> in the roster has an unknown subscription '${sub}'`);
  const item: RosterItemData = {
    jid: jid.full,
    groups: [...new Set(el.getChildren('group', el.xmlns).map((g) => g.getText()).filter((g) => g !== ''))],
    subscription: sub as SubscriptionState,
    ask: el.attrs.ask === 'subscribe',
    approved: el.attrs.approved === 'true' || el.attrs.approved === '1',
  };
  if (el.attrs.name !== undefined && el.attrs.name !== '') item.name = el.attrs.name;
  return item;
}

/** The `with` of an archived message: the other party (full JID), seen from `owner`. */
function otherParty(message: Element, owner: string): string {
  const from = message.attrs.from ?? '';
  const to = message.attrs.to ?? '';
  const bareOf = (s: string) => s.split('/')[0] ?? '';
  return bareOf(from) === owner ? to : from;
}

function archive(ctx: Context, el: Element, owner: string, withOf: (m: Element) => string): ArchivedStanza[] {
  const out: ArchivedStanza[] = [];
  const seen = new Set<string>();
  for (const result of el.elements) {
    if (!result.is('result', NS_MAM)) {
      ctx.unknown(result);
      continue;
    }
    const id = result.attrs.id;
    if (id === undefined || id === '') ctx.fail(`<result> in <archive> has no id`);
    if (seen.has(id)) ctx.fail(`<result id='${id}'> appears twice in <archive>`);
    seen.add(id);
    const fwd = result.getChild('forwarded', NS_FORWARD);
    const message = fwd?.getChild('message', NS_CLIENT);
    if (!fwd || !message) ctx.fail(`<result id='${id}'> has no <forwarded> message`);
    const when = ctx.time(fwd.getChild('delay', NS_DELAY)?.attrs.stamp, `result id='${id}'> <delay`);
    message.parent = undefined;
    out.push({ id, when, with: withOf(message) || owner, stanza: message.toString() });
  }
  return out;
}

function pep(ctx: Context, user: Element, owner: string): PepNodeData[] {
  const nodes = new Map<string, PepNodeData>();
  const node = (name: string | undefined, el: string): PepNodeData => {
    if (name === undefined || name === '') ctx.fail(`<${el}> in PEP data has no node`);
    let n = nodes.get(name);
    if (!n) {
      const record: NodeRecord = { created: 0, creator: owner, config: { ...PEP_NODE_DEFAULTS, roster_groups_allowed: [] }, affiliations: { [owner]: 'owner' }, subscriptions: {}, items: [] };
      n = { name, record, items: new Map() };
      nodes.set(name, n);
    }
    return n;
  };
  for (const ownerEl of user.getChildren('pubsub', NS_PUBSUB_OWNER)) {
    for (const el of ownerEl.elements) {
      const n = node(el.attrs.node, el.name);
      if (el.name === 'configure') {
        const x = el.getChild('x', NS_DATA);
        if (x) {
          try {
            n.record.config = applyConfigForm(n.record.config, parseForm(x), IMPORT_LIMITS) satisfies NodeConfig;
          } catch (err) {
            ctx.fail(`<configure node='${n.name}'>: ${(err as Error).message}`);
          }
        }
        const meta = el.getChild('node-meta', NS_CANTO_PIE);
        if (meta) {
          n.record.created = ctx.time(meta.attrs.created, `node-meta node='${n.name}'`);
          if (meta.attrs.creator) n.record.creator = meta.attrs.creator;
        }
      } else if (el.name === 'affiliations') {
        n.record.affiliations = {};
        for (const a of el.getChildren('affiliation')) {
          const jid = ctx.jid(a.attrs.jid, 'affiliation').bare;
          const aff = a.attrs.affiliation as Affiliation;
          if (!AFFILIATIONS.includes(aff)) ctx.fail(`<affiliation jid='${jid}'> of node '${n.name}' is unknown: '${a.attrs.affiliation ?? ''}'`);
          if (aff !== 'none') n.record.affiliations[jid] = aff;
        }
      } else if (el.name === 'subscriptions') {
        for (const s of el.getChildren('subscription')) {
          const jid = ctx.jid(s.attrs.jid, 'subscription').full;
          // Prosody writes the state as `subscribed='subscribed'` (sic); XEP-0060 names it `subscription`.
          const state = s.attrs.subscription ?? s.attrs.subscribed ?? 'subscribed';
          if (state !== 'subscribed' && state !== 'pending' && state !== 'unconfigured') ctx.fail(`<subscription jid='${jid}'> of node '${n.name}' has an unknown state '${state}'`);
          const form = s.getChild('options')?.getChild('x', NS_DATA);
          let options = { ...DEFAULT_SUBSCRIPTION_OPTIONS };
          if (form) {
            try {
              options = applyOptionsForm(options, parseForm(form));
            } catch (err) {
              ctx.fail(`<subscription jid='${jid}'> of node '${n.name}': ${(err as Error).message}`);
            }
          }
          const subid = s.attrs.subid ?? `imported-${jid}`;
          n.record.subscriptions[subid] = { jid, state, options } satisfies StoredSubscription;
        }
      } else ctx.unknown(el);
    }
  }
  for (const pubsubEl of user.getChildren('pubsub', NS_PUBSUB)) {
    for (const itemsEl of pubsubEl.getChildren('items', NS_PUBSUB)) {
      const n = node(itemsEl.attrs.node, 'items');
      for (const itemEl of itemsEl.getChildren('item', NS_PUBSUB)) {
        const id = itemEl.attrs.id;
        if (id === undefined || id === '') ctx.fail(`<item> of node '${n.name}' has no id`);
        const published = itemEl.getChild('published', NS_CANTO_PIE);
        const payloadEl = itemEl.elements.find((e) => e !== published);
        const item: StoredItem = { publisher: itemEl.attrs.publisher ?? owner, published: published ? ctx.time(published.attrs.stamp, `published in item '${id}'`) : 0 };
        if (payloadEl) {
          payloadEl.parent = undefined;
          item.payload = payloadEl.toString();
        }
        n.items.set(id, item);
        n.record.items = [...n.record.items.filter((i) => i !== id), id];
      }
    }
  }
  return [...nodes.values()];
}

function privacyBlocklist(ctx: Context, query: Element): string[] {
  // ejabberd exports privacy lists; the default (or only) list's `deny` items on a JID are a blocklist.
  const lists = query.getChildren('list', NS_PRIVACY);
  const name = query.getChild('default', NS_PRIVACY)?.attrs.name ?? (lists.length === 1 ? lists[0]?.attrs.name : undefined);
  const list = lists.find((l) => l.attrs.name === name);
  if (!list) return [];
  return list
    .getChildren('item', NS_PRIVACY)
    .filter((i) => i.attrs.type === 'jid' && i.attrs.action === 'deny' && i.elements.length === 0)
    .map((i) => ctx.jid(i.attrs.value, 'item').full);
}

const EJABBERD_HASHES: Record<string, ScramMechanismName> = { sha: 'SCRAM-SHA-1', sha1: 'SCRAM-SHA-1', sha256: 'SCRAM-SHA-256', sha512: 'SCRAM-SHA-512' };
const KEY_BYTES: Record<ScramMechanismName, number> = { 'SCRAM-SHA-1': 20, 'SCRAM-SHA-256': 32, 'SCRAM-SHA-512': 64 };

/**
 * ejabberd writes SCRAM-stored passwords into the `password` attribute:
 * `scram:StoredKey,ServerKey,Salt,IterationCount` (base64, SHA-1), and with a hash name first
 * (`scram:sha256:…`) where it keeps other hashes. Some versions base64-encode keys that were
 * already base64; a key whose decoding is base64 text of the right length is decoded twice.
 */
function ejabberdScram(ctx: Context, password: string): AccountCredentials {
  const parts = password.slice('scram:'.length).split(/[,:]/);
  let mechanism: ScramMechanismName = 'SCRAM-SHA-1';
  const named = parts[0] === undefined ? undefined : EJABBERD_HASHES[parts[0].toLowerCase()];
  if (parts.length === 5 && named !== undefined) {
    mechanism = named;
    parts.shift();
  }
  if (parts.length !== 4) ctx.fail(`its password attribute looks like ejabberd's SCRAM form but has ${parts.length} parts, not 4`);
  const [stored, server, salt, iter] = parts as [string, string, string, string];
  const key = (b64: string, what: string): string => {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) ctx.fail(`its SCRAM ${what} is not base64`);
    const once = Buffer.from(b64, 'base64');
    if (once.length === KEY_BYTES[mechanism]) return once.toString('base64');
    const text = once.toString('latin1');
    if (/^[A-Za-z0-9+/]+={0,2}$/.test(text) && Buffer.from(text, 'base64').length === KEY_BYTES[mechanism]) return text;
    ctx.fail(`its SCRAM ${what} is not a ${mechanism} key`);
  };
  const iterations = Number(iter);
  if (!Number.isSafeInteger(iterations) || iterations < MIN_SCRAM_ITERATIONS) ctx.fail(`its SCRAM iteration count must be an integer of at least ${MIN_SCRAM_ITERATIONS}`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(salt)) ctx.fail('its SCRAM salt is not base64');
  return { [mechanism]: { salt, iterations, storedKey: key(stored, 'StoredKey'), serverKey: key(server, 'ServerKey') } };
}

function readUser(ctx0: Context, host: string, el: Element, opts: ReadOptions): UserData {
  const name = el.attrs.name;
  if (name === undefined || name === '') ctx0.fail(`a <user> has no name`);
  let username: string;
  try {
    username = parseJid(`${name}@${host}`).local;
  } catch (err) {
    ctx0.fail(`<user name='${name}'>: not a valid username (${(err as Error).message})`);
  }
  const owner = `${username}@${host}`;
  const ctx: Context = new Context(ctx0.source, `<user name='${name}'> on ${host}`, ctx0.skipped);
  const user: UserData = { host, username, credentials: {} };
  const password = el.attrs.password;
  if (password?.startsWith('scram:')) {
    Object.assign(user.credentials, ejabberdScram(ctx, password));
  } else if (password !== undefined && password !== '') {
    try {
      user.credentials = opts.derive(password);
      user.plainPassword = password;
    } catch (err) {
      ctx.fail(`its password is unusable: ${(err as Error).message}`);
    }
  }
  for (const child of el.elements) {
    if (child.is('scram-credentials', NS_PIE_SCRAM)) {
      const [mechanism, credential] = scram(ctx, child);
      user.credentials[mechanism] = credential;
    } else if (child.is('query', NS_ROSTER)) {
      const items = new Map<string, RosterItemData>();
      for (const i of child.getChildren('item', NS_ROSTER)) {
        const item = rosterItem(ctx, i);
        if (item.jid !== owner) items.set(item.jid, item);
      }
      user.roster = { items: [...items.values()], pending: user.roster?.pending ?? new Map() };
    } else if (child.is('presence', NS_CLIENT) || child.is('presence', el.xmlns)) {
      if (child.attrs.type !== 'subscribe') {
        ctx.unknown(child);
        continue;
      }
      const from = ctx.jid(child.attrs.from, 'presence').bare;
      const p = child.clone();
      p.xmlns = NS_CLIENT;
      p.attrs.from = from;
      user.roster ??= { items: [], pending: new Map() };
      user.roster.pending.set(from, p.toString());
    } else if (child.is('vCard', NS_VCARD)) {
      child.parent = undefined;
      user.vcard = child.toString();
    } else if (child.is('query', NS_PRIVATE)) {
      const priv = new Map<string, string[]>();
      for (const e of child.elements) {
        e.parent = undefined;
        priv.set(e.xmlns, [...(priv.get(e.xmlns) ?? []), e.toString()]);
      }
      if (priv.size > 0) user.privateXml = priv;
    } else if (child.name === 'offline-messages' && isPie(child.xmlns)) {
      user.offline = [];
      for (const m of child.elements) {
        if (!m.is('message', NS_CLIENT) && !m.is('message', child.xmlns)) ctx.fail(`<offline-messages> holds a <${m.name}>, not a <message>`);
        const msg = m.clone();
        msg.xmlns = NS_CLIENT;
        const delay = msg.getChild('delay', NS_DELAY);
        const when = delay ? ctx.time(delay.attrs.stamp, 'delay in an offline message') : Date.now();
        if (!delay) msg.c('delay', { xmlns: NS_DELAY, from: host, stamp: new Date(when).toISOString() }).t('Offline storage');
        const from = msg.attrs.from ? ctx.jid(msg.attrs.from, 'message').bare : '';
        user.offline.push({ when, with: from, stanza: msg.toString() });
      }
    } else if (child.is('blocklist', NS_BLOCKING)) {
      user.blocklist = [...new Set(child.getChildren('item', NS_BLOCKING).map((i) => ctx.jid(i.attrs.jid, 'item').full))];
    } else if (child.is('query', NS_PRIVACY)) {
      const blocked = privacyBlocklist(ctx, child);
      if (blocked.length > 0) user.blocklist = [...new Set([...(user.blocklist ?? []), ...blocked])];
    } else if (child.is('pubsub', NS_PUBSUB_OWNER) || child.is('pubsub', NS_PUBSUB)) {
      // read together below
    } else if (child.is('archive', NS_PIE_MAM)) {
      user.mam = archive(ctx, child, owner, (m) => otherParty(m, owner));
    } else ctx.unknown(child);
  }
  if (Object.keys(user.credentials).length === 0) ctx.fail('it has neither a password nor <scram-credentials>');
  const nodes = pep(ctx, el, owner);
  if (nodes.length > 0) user.pep = nodes;
  return user;
}

function readRoom(ctx0: Context, host: string, el: Element): RoomData {
  const name = el.attrs.name;
  if (name === undefined || name === '') ctx0.fail(`a <room> has no name`);
  const ctx: Context = new Context(ctx0.source, `<room name='${name}'> on ${host}`, ctx0.skipped);
  let state: StoredRoom;
  try {
    state = JSON.parse(el.getChildText('state', NS_CANTO_PIE) ?? '') as StoredRoom;
  } catch {
    ctx.fail('<state> is not JSON');
  }
  if (typeof state !== 'object' || state === null || typeof state.config !== 'object' || typeof state.affiliations !== 'object' || typeof state.created !== 'number' || typeof state.creator !== 'string') {
    ctx.fail('<state> lacks config, affiliations, created or creator');
  }
  const room: RoomData = { host, name, state };
  const arch = el.getChild('archive', NS_PIE_MAM);
  if (arch) room.archive = archive(ctx, arch, `${name}@${host}`, (m) => m.attrs.from ?? '');
  return room;
}

/** An `<xi:include>`'s file name: relative, in the including file's directory or below it; whole XML files only. */
function includeHref(ctx: Context, el: Element): string {
  const href = el.attrs.href;
  if (href === undefined || href === '') ctx.fail('an <xi:include> has no href');
  if (el.attrs.parse !== undefined && el.attrs.parse !== 'xml') ctx.fail(`<xi:include href='${href}'> has parse='${el.attrs.parse}'; only XML is read`);
  if (el.attrs.xpointer !== undefined) ctx.fail(`<xi:include href='${href}'> has an xpointer; only whole files are read`);
  if (isAbsolute(href) || /^[a-z][a-z0-9+.-]*:/i.test(href) || href.split(/[\\/]/).includes('..')) ctx.fail(`<xi:include href='${href}'> must name a file next to this one (no absolute path, URL or '..')`);
  return href;
}

/**
 * Everything in one XEP-0227 document. Throws MigrationInputError on the first malformed element.
 * The root is `<server-data>`, or `<host>` (ejabberd's per-host files).
 */
export function readXep0227(text: string, opts: ReadOptions): ReadResult {
  const root = parseDocument(text, opts.source);
  const skipped = new Map<string, number>();
  const top: Context = new Context(opts.source, '<server-data>', skipped);
  const hostRoot = root.name === 'host' && isPie(root.xmlns);
  if (!hostRoot && (root.name !== 'server-data' || !isPie(root.xmlns))) top.fail(`the root element is <${root.name} xmlns='${root.xmlns}'>, not <server-data xmlns='${NS_PIE}'> (or ejabberd's <host>)`);
  const result: ReadResult = { users: [], rooms: [], skipped, includes: [] };
  for (const hostEl of hostRoot ? [root] : root.elements) {
    if (hostEl.is('include', NS_XINCLUDE)) {
      result.includes.push(includeHref(top, hostEl));
      continue;
    }
    if (hostEl.name !== 'host' || !isPie(hostEl.xmlns)) {
      top.unknown(hostEl);
      continue;
    }
    const hostJid = top.jid(hostEl.attrs.jid, 'host');
    if (hostJid.local !== '' || hostJid.resource !== '') top.fail(`<host jid='${hostJid.full}'> is not a domain`);
    const host = hostJid.domain;
    const ctx: Context = new Context(opts.source, `<host jid='${host}'>`, skipped);
    for (const el of hostEl.elements) {
      if (el.name === 'user' && isPie(el.xmlns)) result.users.push(readUser(ctx, host, el, opts));
      else if (el.is('room', NS_CANTO_PIE)) result.rooms.push(readRoom(ctx, host, el));
      else ctx.unknown(el);
    }
  }
  return result;
}

/**
 * A file, or every `*.xml` in a directory (in name order), with the files their `<xi:include>`s
 * name; each file is read once, so ejabberd's export directory (an index file including the
 * per-host files) gives every account once.
 */
export function readXep0227Files(path: string, opts: Omit<ReadOptions, 'source'>): ReadResult {
  const files = statSync(path).isDirectory()
    ? readdirSync(path)
        .filter((f) => f.endsWith('.xml'))
        .sort()
        .map((f) => join(path, f))
    : [path];
  const result: ReadResult = { users: [], rooms: [], skipped: new Map(), includes: [] };
  const done = new Set<string>();
  const readOne = (file: string, includedBy?: string): void => {
    const abs = resolve(file);
    if (done.has(abs)) return;
    done.add(abs);
    let text: string;
    try {
      text = readFileSync(abs, 'utf8');
    } catch (err) {
      throw new MigrationInputError(`${includedBy ?? file}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    const r = readXep0227(text, { ...opts, source: file });
    result.users.push(...r.users);
    result.rooms.push(...r.rooms);
    for (const [k, n] of r.skipped) result.skipped.set(k, (result.skipped.get(k) ?? 0) + n);
    for (const href of r.includes) readOne(join(dirname(file), href), `${file}: <xi:include href='${href}'>`);
  };
  for (const f of files) readOne(f);
  return result;
}
