/**
 * Canto's own storage as a migration source and target: `readUser` / `readRooms` collect what
 * `canto export` writes; `importUser` / `importRoom` write what `canto import` read, comparing
 * with what is stored so a second import of the same data changes nothing (and `--dry-run`
 * can say what would change without writing).
 *
 * Import semantics, per kind present in the input: the roster, vCard, blocklist and each PEP
 * node (with its items) and each private-XML namespace are replaced by the imported value;
 * archives (offline messages, MAM, room archives) only gain the items they lack (MAM and room
 * archive items by id, offline messages by time and content). Kinds absent from the input are
 * left alone. Stores and value shapes are the modules' own (see each module's README).
 */
import { randomBytes } from 'node:crypto';
import type { StorageDriver, AccountCredentials } from '../storage/types.js';
import { SCRAM_MECHANISM_NAMES } from '../storage/types.js';
import { verifyPassword } from '../sasl/scram-credentials.js';
import type { RosterDoc } from '../modules/roster/store.js';
import type { NodeRecord, StoredItem } from '../modules/pubsub/engine/types.js';
import type { StoredRoom } from '../modules/muc/persistence.js';
import { ImportReport, MigrationInputError, type ArchivedStanza, type PepNodeData, type RoomData, type UserData, type Kind } from './model.js';

// The modules' store names (each module's README lists its own).
export const STORES = {
  roster: 'roster',
  vcard: 'vcard',
  private: 'private',
  offline: 'offline',
  blocklist: 'blocklist',
  pepNodes: 'pubsub-nodes',
  pepItemsPrefix: 'pubsub-items:',
  mam: 'mam',
  rooms: 'muc_rooms',
  roomArchive: 'muc_archive',
} as const;

type StoredRosterItem = RosterDoc['items'][string];

/** JSON with object keys sorted, to compare values whatever order their keys were written in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Map)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

function same(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function credentialsOnly(c: AccountCredentials): AccountCredentials {
  const out: AccountCredentials = {};
  for (const m of SCRAM_MECHANISM_NAMES) if (c[m]) out[m] = c[m];
  return out;
}

/** Everything exportable of one account, or undefined when there is no such account. */
export async function readUser(storage: StorageDriver, host: string, username: string): Promise<UserData | undefined> {
  const account = await storage.accounts.get(host, username);
  if (!account) return undefined;
  const user: UserData = { host, username, credentials: credentialsOnly(account.credentials) };
  const roster = await storage.keyval<RosterDoc>(host, STORES.roster).get(username);
  if (roster && (Object.keys(roster.items).length > 0 || Object.keys(roster.pending).length > 0)) {
    user.roster = {
      items: Object.entries(roster.items).map(([jid, s]) => {
        const item = { jid, groups: [...s.groups], subscription: s.subscription, ask: s.ask === true, approved: s.approved === true };
        return s.name === undefined ? item : { ...item, name: s.name };
      }),
      pending: new Map(Object.entries(roster.pending)),
    };
  }
  const vcard = await storage.keyval<string>(host, STORES.vcard).get(username);
  if (vcard !== undefined) user.vcard = vcard;
  const priv = await storage.map<string[]>(host, STORES.private).getAll(username);
  if (priv.size > 0) user.privateXml = priv;
  const offline = await storage.archive<string>(host, STORES.offline).find(username);
  if (offline.length > 0) user.offline = offline.map((i) => ({ when: i.when, with: i.with, stanza: i.value }));
  const blocklist = await storage.keyval<string[]>(host, STORES.blocklist).get(username);
  if (blocklist && blocklist.length > 0) user.blocklist = blocklist;
  const nodes = await storage.map<NodeRecord>(host, STORES.pepNodes).getAll(username);
  if (nodes.size > 0) {
    user.pep = [];
    for (const [name, record] of nodes) {
      const items = await storage.map<StoredItem>(host, STORES.pepItemsPrefix + name).getAll(username);
      user.pep.push({ name, record, items });
    }
  }
  const mam = await storage.archive<string>(host, STORES.mam).find(username);
  if (mam.length > 0) user.mam = mam.map((i) => ({ id: i.id, when: i.when, with: i.with, stanza: i.value }));
  return user;
}

/** Every persistent room of a MUC service, with its archive. */
export async function readRooms(storage: StorageDriver, host: string): Promise<RoomData[]> {
  const rooms = await storage.map<StoredRoom>(host, STORES.rooms).getAll('');
  const out: RoomData[] = [];
  for (const [name, state] of rooms) {
    const archive = await storage.archive<string>(host, STORES.roomArchive).find(name);
    const room: RoomData = { host, name, state };
    if (archive.length > 0) room.archive = archive.map((i) => ({ id: i.id, when: i.when, with: i.with, stanza: i.value }));
    out.push(room);
  }
  return out;
}

/** Writes go through this, so a dry run compares exactly as a real run and writes nothing. */
interface Target {
  storage: StorageDriver;
  dryRun: boolean;
  report: ImportReport;
}

async function replaceKeyval<T>(t: Target, kind: Kind, host: string, store: string, username: string, next: T): Promise<void> {
  const kv = t.storage.keyval<T>(host, store);
  const current = await kv.get(username);
  if (current !== undefined && same(current, next)) return t.report.add(kind, 'unchanged');
  t.report.add(kind, current === undefined ? 'created' : 'updated');
  if (!t.dryRun) await kv.set(username, next);
}

/** Appends the items the archive lacks: by id when the item has one, else by time and content. */
async function mergeArchive(t: Target, kind: Kind, host: string, store: string, username: string, items: ArchivedStanza[]): Promise<void> {
  const archive = t.storage.archive<string>(host, store);
  for (const item of items) {
    let present: boolean;
    if (item.id !== undefined) {
      present = (await archive.count(username, { ids: [item.id] })) > 0;
    } else {
      const atThatTime = await archive.find(username, { start: item.when, end: item.when });
      present = atThatTime.some((i) => i.value === item.stanza);
    }
    if (present) {
      t.report.add(kind, 'unchanged');
      continue;
    }
    t.report.add(kind, 'created');
    if (!t.dryRun) await archive.append(username, { when: item.when, with: item.with, value: item.stanza, ...(item.id === undefined ? {} : { id: item.id }) });
  }
}

/** `have` holds the same SCRAM mechanisms as `want` and each of them verifies `password` (credentials derived again from it differ only in salt). */
function verifiesAll(have: AccountCredentials, want: AccountCredentials, password: string): boolean {
  const mechanisms = SCRAM_MECHANISM_NAMES.filter((m) => want[m] !== undefined);
  if (mechanisms.length !== SCRAM_MECHANISM_NAMES.filter((m) => have[m] !== undefined).length) return false;
  return mechanisms.every((m) => {
    const cred = have[m];
    return cred !== undefined && cred.iterations === want[m]?.iterations && verifyPassword({ [m]: cred }, password);
  });
}

async function importAccount(t: Target, user: UserData): Promise<void> {
  const existing = await t.storage.accounts.get(user.host, user.username);
  if (existing && same(credentialsOnly(existing.credentials), user.credentials)) return t.report.add('account', 'unchanged');
  if (existing && user.plainPassword !== undefined && verifiesAll(credentialsOnly(existing.credentials), user.credentials, user.plainPassword)) return t.report.add('account', 'unchanged');
  t.report.add('account', existing ? 'updated' : 'created');
  if (t.dryRun) return;
  if (existing) await t.storage.accounts.setCredentials(user.host, user.username, user.credentials);
  else if (!(await t.storage.accounts.create(user.host, user.username, user.credentials))) {
    // Created between our read and now (another import?): set the credentials instead.
    await t.storage.accounts.setCredentials(user.host, user.username, user.credentials);
  }
}

async function importRoster(t: Target, user: UserData, roster: NonNullable<UserData['roster']>): Promise<void> {
  const items: Record<string, StoredRosterItem> = {};
  for (const i of roster.items) {
    const s: StoredRosterItem = { groups: [...i.groups], subscription: i.subscription };
    if (i.name !== undefined && i.name !== '') s.name = i.name;
    if (i.ask) s.ask = true;
    if (i.approved) s.approved = true;
    items[i.jid] = s;
  }
  const pending = Object.fromEntries(roster.pending);
  const kv = t.storage.keyval<RosterDoc>(user.host, STORES.roster);
  const current = await kv.get(user.username);
  if (current && same(current.items, items) && same(current.pending, pending)) return t.report.add('roster', 'unchanged');
  t.report.add('roster', current ? 'updated' : 'created');
  if (t.dryRun) return;
  // A new version (and, for a new document, a new epoch) so clients caching the roster refetch it.
  await kv.set(user.username, { epoch: current?.epoch ?? randomBytes(8).toString('hex'), version: (current?.version ?? 0) + 1, items, pending });
}

async function importPrivate(t: Target, user: UserData, priv: Map<string, string[]>): Promise<void> {
  const map = t.storage.map<string[]>(user.host, STORES.private);
  for (const [ns, texts] of priv) {
    const current = await map.get(user.username, ns);
    if (current !== undefined && same(current, texts)) {
      t.report.add('private', 'unchanged');
      continue;
    }
    t.report.add('private', current === undefined ? 'created' : 'updated');
    if (!t.dryRun) await map.set(user.username, ns, texts);
  }
}

async function importPepNode(t: Target, user: UserData, node: PepNodeData): Promise<void> {
  const nodes = t.storage.map<NodeRecord>(user.host, STORES.pepNodes);
  const items = t.storage.map<StoredItem>(user.host, STORES.pepItemsPrefix + node.name);
  const current = await nodes.get(user.username, node.name);
  const currentItems = await items.getAll(user.username);
  if (current !== undefined && same(current, node.record) && same(Object.fromEntries(currentItems), Object.fromEntries(node.items))) {
    return t.report.add('pep', 'unchanged');
  }
  t.report.add('pep', current === undefined ? 'created' : 'updated');
  if (t.dryRun) return;
  for (const id of currentItems.keys()) if (!node.items.has(id)) await items.set(user.username, id, undefined);
  for (const [id, item] of node.items) await items.set(user.username, id, item);
  await nodes.set(user.username, node.name, node.record);
}

/** Writes one account and its data (see the file comment for what replaces and what merges). */
export async function importUser(storage: StorageDriver, user: UserData, opts: { dryRun: boolean; report: ImportReport }): Promise<void> {
  if (Object.keys(user.credentials).length === 0) {
    throw new MigrationInputError(`<user name='${user.username}'> on ${user.host} has neither a password nor SCRAM credentials`);
  }
  const t: Target = { storage, dryRun: opts.dryRun, report: opts.report };
  await importAccount(t, user);
  if (user.roster) await importRoster(t, user, user.roster);
  if (user.vcard !== undefined) await replaceKeyval(t, 'vcard', user.host, STORES.vcard, user.username, user.vcard);
  if (user.privateXml) await importPrivate(t, user, user.privateXml);
  if (user.offline) await mergeArchive(t, 'offline', user.host, STORES.offline, user.username, user.offline);
  if (user.blocklist) await replaceKeyval(t, 'blocklist', user.host, STORES.blocklist, user.username, user.blocklist);
  for (const node of user.pep ?? []) await importPepNode(t, user, node);
  if (user.mam) await mergeArchive(t, 'mam', user.host, STORES.mam, user.username, user.mam);
}

/** Writes one persistent room (its state replaces the stored one) and merges its archive. */
export async function importRoom(storage: StorageDriver, room: RoomData, opts: { dryRun: boolean; report: ImportReport }): Promise<void> {
  const t: Target = { storage, dryRun: opts.dryRun, report: opts.report };
  const map = storage.map<StoredRoom>(room.host, STORES.rooms);
  const current = await map.get('', room.name);
  if (current !== undefined && same(current, room.state)) t.report.add('room', 'unchanged');
  else {
    t.report.add('room', current === undefined ? 'created' : 'updated');
    if (!t.dryRun) await map.set('', room.name, room.state);
  }
  if (room.archive) await mergeArchive(t, 'room-archive', room.host, STORES.roomArchive, room.name, room.archive);
}
