/**
 * Prosody's SQL storage (`storage = "sql"`) in an SQLite database, opened read-only:
 * keyval stores in the `prosody` table (`host, user, store, key, type, value`: one row per
 * top-level key of a store's value, `type` `string` | `number` | `boolean` | `json` | `xml`;
 * keys that are not strings, such as the roster's `[false]`, are kept in a row with key '' as
 * JSON `{"__hash": [k, v, …]}`) and archives in `prosodyarchive` (`key, when, with, type,
 * value`, stanzas as XML text). The values become the same shapes the file storage reader
 * produces, so prosody-common.ts reads both. (PostgreSQL or MySQL: dump the two tables into an
 * SQLite file first; docs/migration.md.)
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { parseXmlFragment, XmlFragmentError } from '../xml/parse-fragment.js';
import type { AccountCredentials } from '../storage/types.js';
import { LuaTable, type LuaKey, type LuaValue } from './lua-data.js';
import { MigrationInputError, type MigrationData } from './model.js';
import { prosodyRoom, prosodyUser, type ProsodyArchiveItem, type ProsodyUserStores } from './prosody-common.js';

/** Lua strings are bytes: text from the database becomes one char per UTF-8 byte, as the file reader's strings are. */
function luaString(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

const MAX_DEPTH = 64;

/** util.json's encoding of a Lua table back to a LuaTable (`__array`, `__hash` for non-string keys). */
function fromJson(v: unknown, where: string, depth = 0): LuaValue {
  if (depth > MAX_DEPTH) throw new MigrationInputError(`${where}: JSON nested too deeply`);
  if (v === null) return null;
  if (typeof v === 'string') return luaString(v);
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  const t = new LuaTable();
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      const value = fromJson(x, where, depth + 1);
      if (value !== null) t.entries.set(i + 1, value);
    });
    return t;
  }
  if (typeof v !== 'object') throw new MigrationInputError(`${where}: unexpected JSON value`);
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (k === '__array' && Array.isArray(x)) {
      x.forEach((y, i) => {
        const value = fromJson(y, where, depth + 1);
        if (value !== null) t.entries.set(i + 1, value);
      });
    } else if (k === '__hash' && Array.isArray(x)) {
      for (let i = 0; i + 1 < x.length; i += 2) {
        const key = fromJson(x[i], where, depth + 1);
        const value = fromJson(x[i + 1], where, depth + 1);
        if (key !== null && !(key instanceof LuaTable) && value !== null) t.entries.set(key as LuaKey, value);
      }
    } else {
      const value = fromJson(x, where, depth + 1);
      if (value !== null) t.entries.set(luaString(k), value);
    }
  }
  return t;
}

function deserialize(type: string, value: string, where: string): LuaValue {
  switch (type) {
    case 'string':
      return luaString(value);
    case 'number': {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new MigrationInputError(`${where}: '${value}' is not a number`);
      return n;
    }
    case 'boolean':
      if (value !== 'true' && value !== 'false') throw new MigrationInputError(`${where}: '${value}' is not a boolean`);
      return value === 'true';
    case 'json':
      try {
        return fromJson(JSON.parse(value), where);
      } catch (err) {
        if (err instanceof SyntaxError) throw new MigrationInputError(`${where}: not JSON (${err.message})`);
        throw err;
      }
    default:
      throw new MigrationInputError(`${where}: value type '${type}' is not one Prosody writes`);
  }
}

function xml(text: string, ns: string, where: string) {
  try {
    return parseXmlFragment(text, { defaultNs: ns });
  } catch (err) {
    if (err instanceof XmlFragmentError) throw new MigrationInputError(`${where}: not well-formed XML (${err.message})`);
    throw err;
  }
}

interface KeyvalRow {
  key: string;
  type: string;
  value: string;
}

interface ArchiveRow {
  key: string;
  when: number;
  with: string;
  type: string;
  value: string;
}

/** Every account and persistent room in a Prosody SQLite database. */
export function readProsodySql(file: string, opts: { derive(password: string): AccountCredentials }): MigrationData {
  if (!existsSync(file)) throw new MigrationInputError(`${file}: no such file (expected Prosody's SQLite database)`);
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new MigrationInputError(`${file}: cannot open it as SQLite (${(err as Error).message})`);
  }
  try {
    const tables = new Set((db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as Array<{ name: string }>).map((r) => r.name));
    if (!tables.has('prosody')) throw new MigrationInputError(`${file}: has no "prosody" table; is it Prosody's SQL storage?`);
    const keyvalRows = db.prepare(`SELECT "key", "type", "value" FROM "prosody" WHERE "host" = ? AND "user" = ? AND "store" = ?`);
    const archiveRows = tables.has('prosodyarchive')
      ? db.prepare(`SELECT "key", "when", "with", "type", "value" FROM "prosodyarchive" WHERE "host" = ? AND "user" = ? AND "store" = ? ORDER BY "sort_id"`)
      : undefined;
    const archiveStoreNames = tables.has('prosodyarchive') ? db.prepare(`SELECT DISTINCT "store" FROM "prosodyarchive" WHERE "host" = ? AND "user" = ?`) : undefined;

    const keyval = (host: string, user: string, store: string): LuaValue | undefined => {
      const rows = keyvalRows.all(host, user, store) as KeyvalRow[];
      if (rows.length === 0) return undefined;
      const where = `${file}: prosody table, ${store} of ${user === '' ? host : `${user}@${host}`}`;
      const t = new LuaTable();
      for (const row of rows) {
        const value = deserialize(row.type, row.value, `${where}, key '${row.key}'`);
        if (row.key === '' && value instanceof LuaTable) for (const [k, v] of value.entries) t.entries.set(k, v);
        else if (value !== null) t.entries.set(luaString(row.key), value);
      }
      return t;
    };
    const archive = (host: string, user: string, store: string): ProsodyArchiveItem[] => {
      const where = `${file}: prosodyarchive table, ${store} of ${user}@${host}`;
      return ((archiveRows?.all(host, user, store) ?? []) as ArchiveRow[]).map((row) => {
        if (row.type !== 'xml') throw new MigrationInputError(`${where}, item '${row.key}': value type '${row.type}' is not a stanza`);
        return { key: luaString(row.key), when: Number(row.when), with: luaString(row.with), value: xml(row.value, store.startsWith('pep_') ? 'http://jabber.org/protocol/pubsub' : 'jabber:client', `${where}, item '${row.key}'`) };
      });
    };

    const data: MigrationData = { users: [], rooms: [] };
    const accounts = db.prepare(`SELECT DISTINCT "host", "user" FROM "prosody" WHERE "store" = 'accounts' ORDER BY "host", "user"`).all() as Array<{ host: string; user: string }>;
    for (const { host, user } of accounts) {
      const stores: ProsodyUserStores = {
        keyval: (store) => keyval(host, user, store),
        archive: (store) => archive(host, user, store),
        archiveStores: () => ((archiveStoreNames?.all(host, user) ?? []) as Array<{ store: string }>).map((r) => r.store),
        where: (store) => `${file}: ${store} of ${user}@${host}`,
      };
      data.users.push(prosodyUser(host.toLowerCase(), user, stores, opts.derive));
    }
    const rooms = db.prepare(`SELECT "host", "key" FROM "prosody" WHERE "store" = 'persistent' AND "user" = '' AND "type" = 'boolean' AND "value" = 'true' ORDER BY "host", "key"`).all() as Array<{ host: string; key: string }>;
    for (const { host, key } of rooms) {
      const name = key.split('@')[0] ?? '';
      if (name === '' || key !== `${name}@${host}`) continue;
      const config = keyval(host, name, 'config');
      if (config === undefined) continue; // listed but never configured: nothing to move
      const where = `${file}: config of room ${key}`;
      data.rooms.push(prosodyRoom(host.toLowerCase(), name, config, archive(host, name, 'muc_log'), where, `${file}: muc_log of room ${key}`));
    }
    return data;
  } finally {
    db.close();
  }
}
