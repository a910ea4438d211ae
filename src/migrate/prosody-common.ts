/**
 * What Prosody keeps, store by store, turned into migration data. The two readers
 * (`prosody-files.ts` for its internal file storage, `prosody-sql.ts` for its SQL storage) only
 * find the values; this file knows what each store means (Prosody 0.12's modules):
 *
 * | store | shape | becomes |
 * |---|---|---|
 * | `accounts` | `{ salt, iteration_count, stored_key, server_key }` (hex keys) or `{ password }` | SCRAM credentials |
 * | `roster` | contact → `{ name, groups = {g = true}, subscription, ask }`, `[false]` = `{ version, pending }` | roster |
 * | `vcard` | preserialized vCard (mod_vcard) | vCard |
 * | `pep` | node → `{ config, affiliations, subscribers }`; items in archive store `pep_<node>` | PEP nodes and items |
 * | (PEP `urn:xmpp:vcard4`) | mod_vcard_legacy's vCard | also a vcard-temp when no `vcard` store |
 * | `private` | `name:ns` → element | private XML |
 * | `offline` | archive of messages | offline messages |
 * | `blocklist` | jid → time, `[false]` = metadata | blocklist |
 * | `archive` | archive of messages (mod_mam) | MAM |
 * | MUC host `config` | room → `{ _data = config, jid = affiliation, _affiliation_data }` (persistent rooms) | rooms |
 * | MUC host `muc_log` | archive of room messages (mod_muc_mam) | room archives |
 */
import { Element } from '../xml/element.js';
import { parseXmlFragment } from '../xml/parse-fragment.js';
import { parseJid } from '../jid/index.js';
import { applyConfigForm } from '../modules/pubsub/engine/config.js';
import { PEP_NODE_DEFAULTS } from '../modules/pep/options.js';
import { AFFILIATIONS, type Affiliation, type NodeRecord, type StoredItem } from '../modules/pubsub/engine/types.js';
import type { RoomConfig, AffiliationRecord } from '../modules/muc/room.js';
import type { AccountCredentials, ScramMechanismName } from '../storage/types.js';
import { LuaTable, bytes, utf8, type LuaValue } from './lua-data.js';
import { stanzaFromLua, vcardTempFromVcard4 } from './prosody-stanza.js';
import { MigrationInputError, type ArchivedStanza, type PepNodeData, type RoomData, type RosterItemData, type SubscriptionState, type UserData } from './model.js';

const NS_CLIENT = 'jabber:client';
const NS_DELAY = 'urn:xmpp:delay';
/** What Prosody's storage adds to an archived stanza's attributes. */
const ARCHIVE_ATTRS = ['stamp', 'stamp_legacy'];

/** One archive item as Prosody stores it: the stanza plus `key`, `when` (seconds), `with`. */
export interface ProsodyArchiveItem {
  key: string;
  when: number;
  with: string;
  /** Preserialized (file storage) or already parsed (SQL storage keeps XML text). */
  value: LuaTable | Element;
}

/** An archive item's stanza, without Prosody's bookkeeping attributes. */
function itemElement(item: ProsodyArchiveItem, ns: string, fail: Fail): Element {
  if (item.value instanceof LuaTable) return stanzaFromLua(item.value, ns, fail, ARCHIVE_ATTRS);
  const el = item.value.clone();
  for (const a of ARCHIVE_ATTRS) delete el.attrs[a];
  return el;
}

/** Where a value came from, for errors: the file, or the SQL row. */
export type Fail = (what: string) => never;

export function failIn(where: string): Fail {
  return (what: string) => {
    throw new MigrationInputError(`${where}: ${what}`);
  };
}

/** The reader's view of one user's stores. */
export interface ProsodyUserStores {
  keyval(store: string): LuaValue | undefined;
  archive(store: string): ProsodyArchiveItem[];
  /** Names of archive stores that exist for this user (for `pep_<node>`). */
  archiveStores(): string[];
  /** Where a store of this user lives, for error messages. */
  where(store: string): string;
}

const HASH_BY_KEY_BYTES: Record<number, ScramMechanismName> = { 20: 'SCRAM-SHA-1', 32: 'SCRAM-SHA-256', 64: 'SCRAM-SHA-512' };

function credentials(t: LuaTable, fail: Fail, derive: (password: string) => AccountCredentials): AccountCredentials {
  const stored = t.string('stored_key');
  const server = t.string('server_key');
  const salt = t.string('salt');
  const iterations = t.number('iteration_count');
  if (stored !== undefined && server !== undefined && salt !== undefined && iterations !== undefined) {
    if (!/^([0-9a-f]{2})+$/i.test(stored) || !/^([0-9a-f]{2})+$/i.test(server)) fail('stored_key / server_key are not hex');
    const mechanism = HASH_BY_KEY_BYTES[stored.length / 2];
    if (mechanism === undefined || server.length !== stored.length) fail(`stored_key of ${stored.length / 2} bytes matches no SCRAM hash`);
    if (!Number.isSafeInteger(iterations) || iterations < 4096) fail(`iteration_count ${iterations} is below 4096, which Canto refuses`);
    // Prosody keeps the salt as the bytes it salted with (a UUID string by default).
    return { [mechanism]: { salt: bytes(salt).toString('base64'), iterations, storedKey: Buffer.from(stored, 'hex').toString('base64'), serverKey: Buffer.from(server, 'hex').toString('base64') } };
  }
  const password = t.string('password');
  if (password !== undefined) {
    try {
      return derive(utf8(password));
    } catch (err) {
      fail(`the password is unusable: ${(err as Error).message}`);
    }
  }
  fail('neither SCRAM keys nor a password');
}

const SUBSCRIPTIONS: readonly SubscriptionState[] = ['none', 'to', 'from', 'both'];

function roster(t: LuaTable, owner: string, host: string, fail: Fail): NonNullable<UserData['roster']> {
  const items: RosterItemData[] = [];
  const pending = new Map<string, string>();
  for (const [key, value] of t.entries) {
    if (key === false) {
      const p = value instanceof LuaTable ? value.table('pending') : undefined;
      for (const [from, stanza] of p?.entries ?? []) {
        if (typeof from !== 'string') continue;
        const jid = bareJid(utf8(from), fail);
        // Prosody 0.12 keeps the request stanza; older versions only `true`.
        const el = stanza instanceof LuaTable ? stanzaFromLua(stanza, NS_CLIENT, fail) : new Element('presence', { xmlns: NS_CLIENT });
        el.attrs.from = jid;
        el.attrs.type = 'subscribe';
        pending.set(jid, el.toString());
      }
      continue;
    }
    if (typeof key !== 'string' || !(value instanceof LuaTable)) continue;
    const jid = bareJid(utf8(key), fail);
    if (jid === owner || jid === host) continue; // Prosody keeps self and server entries; they are not contacts
    const sub = value.string('subscription') ?? 'none';
    if (!SUBSCRIPTIONS.includes(sub as SubscriptionState)) fail(`roster item ${jid}: unknown subscription '${sub}'`);
    const groups = [...(value.table('groups')?.entries.keys() ?? [])].filter((g): g is string => typeof g === 'string').map(utf8);
    const name = value.string('name');
    items.push({ jid, groups, subscription: sub as SubscriptionState, ask: value.string('ask') === 'subscribe', approved: value.get('approved') === true, ...(name ? { name: utf8(name) } : {}) });
  }
  return { items, pending };
}

function bareJid(text: string, fail: Fail): string {
  try {
    return parseJid(text).bare;
  } catch (err) {
    fail(`'${text}' is not a valid JID (${(err as Error).message})`);
  }
}

function otherParty(message: Element, owner: string): string {
  const bareOf = (s: string) => s.split('/')[0] ?? '';
  const from = message.attrs.from ?? '';
  return bareOf(from) === owner ? (message.attrs.to ?? '') : from;
}

function archived(items: ProsodyArchiveItem[], fail: Fail, withOf: (m: Element, item: ProsodyArchiveItem) => string): ArchivedStanza[] {
  return items.map((item) => {
    const message = itemElement(item, NS_CLIENT, fail);
    return { id: item.key, when: Math.round(item.when * 1000), with: withOf(message, item), stanza: message.toString() };
  });
}

/** A Prosody PEP node config (its `node_config_form` names without `pubsub#`) checked through Canto's own form reader. */
function nodeConfig(config: LuaTable | undefined, fail: Fail, node: string): NodeRecord['config'] {
  const fields = new Map<string, string[]>();
  for (const [k, v] of config?.entries ?? []) {
    if (typeof k !== 'string' || k.startsWith('_')) continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') fields.set(`pubsub#${k}`, [typeof v === 'string' ? utf8(v) : String(v)]);
    else if (v instanceof LuaTable) fields.set(`pubsub#${k}`, v.array().filter((x): x is string => typeof x === 'string').map(utf8));
  }
  try {
    return applyConfigForm({ ...PEP_NODE_DEFAULTS, roster_groups_allowed: [] }, { type: 'submit', formType: undefined, fields }, { maxItems: 1_000_000_000 });
  } catch (err) {
    fail(`PEP node '${node}': ${(err as Error).message}`);
  }
}

function pep(stores: ProsodyUserStores, owner: string): PepNodeData[] {
  const nodesValue = stores.keyval('pep');
  const fail: Fail = failIn(stores.where('pep'));
  const nodes = new Map<string, PepNodeData>();
  const node = (name: string, info?: LuaTable): PepNodeData => {
    let n = nodes.get(name);
    if (!n) {
      const affiliations: Record<string, Affiliation> = { [owner]: 'owner' };
      for (const [jid, aff] of info?.table('affiliations')?.entries ?? []) {
        if (typeof jid === 'string' && typeof aff === 'string' && AFFILIATIONS.includes(aff as Affiliation) && aff !== 'none') affiliations[bareJid(utf8(jid), fail)] = aff as Affiliation;
      }
      const record: NodeRecord = { created: 0, creator: owner, config: nodeConfig(info?.table('config'), fail, name), affiliations, subscriptions: {}, items: [] };
      n = { name, record, items: new Map() };
      nodes.set(name, n);
    }
    return n;
  };
  if (nodesValue instanceof LuaTable) {
    for (const [name, info] of nodesValue.entries) if (typeof name === 'string' && info instanceof LuaTable) node(utf8(name), info);
  }
  for (const store of stores.archiveStores()) {
    if (!store.startsWith('pep_')) continue;
    const name = store.slice('pep_'.length);
    const n = node(name);
    const itemFail: Fail = failIn(stores.where(store));
    for (const item of stores.archive(store)) {
      const payload = itemElement(item, 'http://jabber.org/protocol/pubsub', itemFail);
      const stored: StoredItem = { payload: payload.toString(), publisher: item.with || owner, published: Math.round(item.when * 1000) };
      n.items.set(item.key, stored);
      n.record.items = [...n.record.items.filter((i) => i !== item.key), item.key];
      if (n.record.created === 0 || stored.published < n.record.created) n.record.created = stored.published;
    }
  }
  return [...nodes.values()];
}

/** One Prosody account and its data. */
export function prosodyUser(host: string, username: string, stores: ProsodyUserStores, derive: (password: string) => AccountCredentials): UserData {
  const owner = `${username}@${host}`;
  const account = stores.keyval('accounts');
  const accountFail: Fail = failIn(stores.where('accounts'));
  if (!(account instanceof LuaTable)) accountFail('not a table');
  const user: UserData = { host, username, credentials: credentials(account, accountFail, derive) };
  const r = stores.keyval('roster');
  if (r instanceof LuaTable) user.roster = roster(r, owner, host, failIn(stores.where('roster')));
  const vcard = stores.keyval('vcard');
  if (vcard instanceof LuaTable) user.vcard = stanzaFromLua(vcard, 'vcard-temp', failIn(stores.where('vcard'))).toString();
  const priv = stores.keyval('private');
  if (priv instanceof LuaTable) {
    const map = new Map<string, string[]>();
    for (const value of priv.entries.values()) {
      if (!(value instanceof LuaTable)) continue;
      const el = stanzaFromLua(value, 'jabber:iq:private', failIn(stores.where('private')));
      map.set(el.xmlns, [...(map.get(el.xmlns) ?? []), el.toString()]);
    }
    if (map.size > 0) user.privateXml = map;
  }
  const offline = stores.archive('offline');
  if (offline.length > 0) {
    const fail: Fail = failIn(stores.where('offline'));
    user.offline = offline.map((item) => {
      const m = itemElement(item, NS_CLIENT, fail);
      const when = Math.round(item.when * 1000);
      if (!m.getChild('delay', NS_DELAY)) m.c('delay', { xmlns: NS_DELAY, from: host, stamp: new Date(when).toISOString() }).t('Offline storage');
      const from = m.attrs.from;
      return { when, with: from ? bareJid(from, fail) : '', stanza: m.toString() };
    });
  }
  const blocklist = stores.keyval('blocklist');
  if (blocklist instanceof LuaTable) {
    const jids = [...blocklist.entries.keys()].filter((k): k is string => typeof k === 'string').map(utf8);
    if (jids.length > 0) user.blocklist = jids;
  }
  const nodes = pep(stores, owner);
  if (nodes.length > 0) user.pep = nodes;
  // mod_vcard_legacy keeps the vCard in PEP only; Canto's vcard-temp is a store of its own.
  const v4 = nodes.find((n) => n.name === 'urn:xmpp:vcard4')?.items.get('current')?.payload;
  if (user.vcard === undefined && v4 !== undefined) {
    const el = stanzaFromLuaText(v4);
    if (el) user.vcard = vcardTempFromVcard4(el).toString();
  }
  const mam = stores.archive('archive');
  if (mam.length > 0) user.mam = archived(mam, failIn(stores.where('archive')), (m) => otherParty(m, owner) || owner);
  return user;
}

function stanzaFromLuaText(xml: string): Element | undefined {
  try {
    return parseXmlFragment(xml);
  } catch {
    return undefined;
  }
}

/** Prosody's room config keys (`_data`) → Canto's; absent ones get the service's defaults when the room loads. */
function roomConfig(data: LuaTable | undefined): Partial<RoomConfig> {
  const c: Partial<RoomConfig> = { persistent: true };
  if (!data) return c;
  const str = (k: string) => (typeof data.get(k) === 'string' ? utf8(data.get(k) as string) : undefined);
  const bool = (k: string) => (typeof data.get(k) === 'boolean' ? (data.get(k) as boolean) : undefined);
  const set = <K extends keyof RoomConfig>(key: K, value: RoomConfig[K] | undefined) => {
    if (value !== undefined) c[key] = value;
  };
  set('name', str('name'));
  set('description', str('description'));
  set('lang', str('language'));
  set('password', str('password'));
  const hidden = bool('hidden');
  set('public', hidden === undefined ? undefined : !hidden);
  set('membersOnly', bool('members_only'));
  set('moderated', bool('moderated'));
  set('changeSubject', bool('changesubject'));
  set('allowInvites', bool('allow_member_invites'));
  const whois = str('whois');
  if (whois === 'anyone' || whois === 'moderators') c.whois = whois;
  const history = data.get('history_length');
  if (typeof history === 'number' && history >= 0) c.historyLength = history;
  set('archiving', bool('archiving'));
  return c;
}

/** One persistent Prosody room (its `config` store value) and its `muc_log` archive. */
export function prosodyRoom(host: string, name: string, config: LuaValue | undefined, log: ProsodyArchiveItem[], where: string, logWhere: string, logByDefault = true): RoomData {
  const fail: Fail = failIn(where);
  if (!(config instanceof LuaTable)) fail('not a table');
  const affiliations: Record<string, AffiliationRecord> = {};
  const affData = config.table('_affiliation_data');
  let creator = '';
  for (const [jid, aff] of config.entries) {
    if (typeof jid !== 'string' || jid.startsWith('_') || typeof aff !== 'string') continue;
    if (!AFFILIATIONS.includes(aff as Affiliation) || aff === 'none' || aff === 'publisher' || aff === 'publish-only') continue;
    const bare = bareJid(utf8(jid), fail);
    const record: AffiliationRecord = { affiliation: aff as AffiliationRecord['affiliation'] };
    const nick = affData?.table(jid)?.string('reserved_nickname');
    if (nick !== undefined) record.nick = utf8(nick);
    affiliations[bare] = record;
    if (aff === 'owner' && creator === '') creator = bare;
  }
  const data = config.table('_data');
  const rc = roomConfig(data);
  // mod_muc_mam archives rooms unless told not to (muc_log_by_default); its per-room switch is `archiving`.
  rc.archiving ??= logByDefault;
  const room: RoomData = {
    host,
    name,
    // Partial on purpose: the muc module fills what is absent from its room defaults when it loads the room.
    state: { config: rc as RoomConfig, affiliations, created: 0, creator },
  };
  const subject = data?.string('subject');
  if (subject !== undefined) room.state.subject = { text: utf8(subject), nick: '', when: 0 };
  if (log.length > 0) room.archive = archived(log, failIn(logWhere), (m) => m.attrs.from ?? '');
  return room;
}
