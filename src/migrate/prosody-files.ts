/**
 * Prosody's internal file storage (`storage = "internal"`, its `data_path`): one directory per
 * host (`conference%2eexample%2ecom`: names are %-encoded), in it one directory per store, in
 * that one file per user: `<user>.dat` (`return { … };`, a keyval value) or `<user>.list`
 * (`item({ … });` per archive item). Files are parsed as data (lua-data.ts), never run.
 * What each store means is in prosody-common.ts.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AccountCredentials } from '../storage/types.js';
import { LuaSyntaxError, LuaTable, MAX_LUA_FILE_BYTES, parseLuaItems, parseLuaReturn, utf8, type LuaValue } from './lua-data.js';
import { MigrationInputError, type MigrationData } from './model.js';
import { failIn, type Fail, prosodyRoom, prosodyUser, type ProsodyArchiveItem, type ProsodyUserStores } from './prosody-common.js';

/** Prosody's datamanager encoding of names: every byte outside [a-zA-Z0-9] may be %xx. */
function decode(name: string): string {
  return utf8(name.replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))));
}

function readLua<T>(file: string, parse: (text: string) => T): T {
  const size = statSync(file).size;
  if (size > MAX_LUA_FILE_BYTES) throw new MigrationInputError(`${file}: larger than ${MAX_LUA_FILE_BYTES} bytes`);
  try {
    return parse(readFileSync(file, 'latin1'));
  } catch (err) {
    if (err instanceof LuaSyntaxError) throw new MigrationInputError(`${file}: not Prosody data (${err.message})`);
    throw err;
  }
}

function dirs(path: string): string[] {
  return readdirSync(path, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

function archiveItems(file: string): ProsodyArchiveItem[] {
  if (!existsSync(file)) return [];
  const fail: Fail = failIn(file);
  return readLua(file, parseLuaItems).map((v, i) => {
    if (!(v instanceof LuaTable)) fail(`item ${i + 1} is not a table`);
    const key = v.string('key');
    const when = v.number('when');
    if (key === undefined || when === undefined) fail(`item ${i + 1} lacks its key or time`);
    return { key: utf8(key), when, with: utf8(v.string('with') ?? ''), value: v };
  });
}

/** Every account and persistent room in a Prosody data directory. */
export function readProsodyDataDir(dataPath: string, opts: { derive(password: string): AccountCredentials }): MigrationData {
  if (!existsSync(dataPath) || !statSync(dataPath).isDirectory()) throw new MigrationInputError(`${dataPath} is not a directory (expected Prosody's data_path)`);
  const data: MigrationData = { users: [], rooms: [] };
  for (const hostDir of dirs(dataPath)) {
    const host = decode(hostDir).toLowerCase();
    const base = join(dataPath, hostDir);
    const storeDirs = dirs(base);
    if (storeDirs.includes('accounts')) {
      for (const file of readdirSync(join(base, 'accounts')).filter((f) => f.endsWith('.dat')).sort()) {
        const encodedUser = file.slice(0, -'.dat'.length);
        const username = decode(encodedUser);
        const keyvalFile = (store: string) => join(base, encodeStore(storeDirs, store), `${encodedUser}.dat`);
        const archiveFile = (store: string) => join(base, encodeStore(storeDirs, store), `${encodedUser}.list`);
        const stores: ProsodyUserStores = {
          keyval: (store) => {
            const f = keyvalFile(store);
            return existsSync(f) ? readLua<LuaValue>(f, parseLuaReturn) : undefined;
          },
          archive: (store) => archiveItems(archiveFile(store)),
          archiveStores: () => storeDirs.filter((d) => existsSync(join(base, d, `${encodedUser}.list`))).map(decode),
          where: (store) => (existsSync(keyvalFile(store)) ? keyvalFile(store) : archiveFile(store)),
        };
        data.users.push(prosodyUser(host, username, stores, opts.derive));
      }
    }
    if (storeDirs.includes('config')) {
      const persistentFile = join(base, 'persistent.dat');
      const persistent = existsSync(persistentFile) ? readLua(persistentFile, parseLuaReturn) : undefined;
      for (const file of readdirSync(join(base, 'config')).filter((f) => f.endsWith('.dat')).sort()) {
        const encodedRoom = file.slice(0, -'.dat'.length);
        const name = decode(encodedRoom);
        if (persistent instanceof LuaTable && persistent.get(`${name}@${host}`) !== true) continue;
        const configFile = join(base, 'config', file);
        const logFile = join(base, 'muc_log', `${encodedRoom}.list`);
        data.rooms.push(prosodyRoom(host, name, readLua(configFile, parseLuaReturn), archiveItems(logFile), configFile, logFile));
      }
    }
  }
  return data;
}

/** The directory of a store: its name as Prosody encodes it, whichever case it used for %xx. */
function encodeStore(existing: string[], store: string): string {
  return existing.find((d) => decode(d) === store) ?? store;
}
