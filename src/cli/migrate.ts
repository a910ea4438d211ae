/**
 * `canto export` and `canto import`: move accounts and their data in and out of Canto
 * (docs/migration.md). Formats and sources live in src/migrate/; this file picks hosts, reads
 * and writes files and prints what happened.
 */
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CantoConfig } from '../core/config.js';
import { withStorage } from './accounts.js';
import type { StorageDriver } from '../storage/types.js';
import { makeCredentials } from '../sasl/scram-credentials.js';
import { readUser, readRooms, importUser, importRoom } from '../migrate/canto-store.js';
import { roomElement, serverData, userElement } from '../migrate/xep0227-write.js';
import { readXep0227Files } from '../migrate/xep0227-read.js';
import { readProsodyDataDir } from '../migrate/prosody-files.js';
import { readProsodySql } from '../migrate/prosody-sql.js';
import { ImportReport, MigrationInputError, type MigrationData } from '../migrate/model.js';
import { CommandFailed, UsageError } from './errors.js';

/** The MUC services of this configuration (internal components run by the muc module). */
function mucHosts(config: CantoConfig): string[] {
  return config.component.filter((c) => c.module === 'muc').map((c) => c.domain);
}

function userHosts(config: CantoConfig): string[] {
  return config.virtualhost.map((vh) => vh.domain);
}

const withStore = <T>(config: CantoConfig, fn: (s: StorageDriver) => Promise<T>): Promise<T> => withStorage(config, fn, 'there is nothing to export or import');

export interface ExportOptions {
  host?: string;
  /** A file, or a directory (existing, or named with a trailing '/'): one file per account. */
  out?: string;
}

/** `canto export`: XEP-0227 to stdout, a file, or a directory with a file per account (Prosody's mod_storage_xep0227 layout). */
export async function runExport(config: CantoConfig, opts: ExportOptions): Promise<number> {
  const known = [...userHosts(config), ...mucHosts(config)];
  if (opts.host !== undefined && !known.includes(opts.host)) throw new CommandFailed(`${opts.host} is not a virtual host or MUC service of this server (known: ${known.join(', ')})`);
  const hosts = opts.host === undefined ? known : [opts.host];
  const toDir = opts.out !== undefined && (opts.out.endsWith('/') || (statSafe(opts.out)?.isDirectory() ?? false));
  const docs: Array<{ name: string; text: string }> = [];
  const all: Array<{ host: string; elements: ReturnType<typeof userElement>[] }> = [];
  let users = 0;
  let rooms = 0;
  await withStore(config, async (storage) => {
    for (const host of hosts) {
      const elements = [];
      if (userHosts(config).includes(host)) {
        for (const username of await storage.accounts.list(host)) {
          const user = await readUser(storage, host, username);
          if (!user) continue; // deleted meanwhile
          const el = userElement(user);
          users++;
          if (toDir) docs.push({ name: `${username}@${host}.xml`, text: serverData([{ host, elements: [el] }]) });
          else elements.push(el);
        }
      }
      if (mucHosts(config).includes(host)) {
        const roomEls = (await readRooms(storage, host)).map(roomElement);
        rooms += roomEls.length;
        if (toDir && roomEls.length > 0) docs.push({ name: `${host}.rooms.xml`, text: serverData([{ host, elements: roomEls }]) });
        else elements.push(...roomEls);
      }
      if (!toDir) all.push({ host, elements });
    }
  });
  // The files hold password verifiers: readable by the owner only.
  if (toDir) {
    const dir = opts.out as string;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const d of docs) writeSecret(join(dir, d.name), d.text);
  } else if (opts.out !== undefined) writeSecret(opts.out, serverData(all));
  else process.stdout.write(serverData(all));
  if (opts.out !== undefined) process.stdout.write(`exported ${users} account(s) and ${rooms} room(s) to ${opts.out}\n`);
  return 0;
}

/** Writes a file only its owner may read (`mode` applies only when the file is created, so an existing one is chmod-ed first). */
function writeSecret(path: string, text: string): void {
  if (statSafe(path)) chmodSync(path, 0o600);
  writeFileSync(path, text, { mode: 0o600 });
}

function statSafe(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

export type ImportSource = 'xep0227' | 'prosody' | 'prosody-sql';

export interface ImportOptions {
  from?: string;
  dryRun: boolean;
}

function readSource(config: CantoConfig, path: string, from: ImportSource): MigrationData & { skipped?: Map<string, number> } {
  const derive = (password: string) => makeCredentials(password, { iterations: config.auth.scram_iterations, hashes: config.auth.scram_hashes });
  if (from === 'prosody') return readProsodyDataDir(path, { derive });
  if (from === 'prosody-sql') return readProsodySql(path, { derive });
  if (!statSafe(path)) throw new CommandFailed(`cannot read ${path}: no such file or directory`);
  // A file or a directory of them; `<xi:include>`s (ejabberd's export index) are followed, each file read once.
  return readXep0227Files(path, { derive });
}

/** `canto import`: everything is read and checked first; then each account is written in turn. */
export async function runImport(config: CantoConfig, path: string, opts: ImportOptions): Promise<number> {
  const from = (opts.from ?? 'xep0227') as ImportSource;
  if (!['xep0227', 'prosody', 'prosody-sql'].includes(from)) throw new UsageError(`--from must be xep0227, prosody or prosody-sql (got "${opts.from ?? ''}")`);
  let data: ReturnType<typeof readSource>;
  try {
    data = readSource(config, path, from);
  } catch (err) {
    if (err instanceof MigrationInputError) throw new CommandFailed(`nothing imported: ${err.message}`);
    throw err;
  }
  const vhosts = userHosts(config);
  const mucs = mucHosts(config);
  const foreign = [...new Set([...data.users.filter((u) => !vhosts.includes(u.host)).map((u) => u.host), ...data.rooms.filter((r) => !mucs.includes(r.host)).map((r) => r.host)])];
  if (foreign.length > 0) {
    throw new CommandFailed(`nothing imported: the input holds data for ${foreign.join(', ')}, which this configuration does not serve (virtual hosts: ${vhosts.join(', ')}; MUC services: ${mucs.join(', ') || 'none'})`);
  }
  const report = new ImportReport();
  await withStore(config, async (storage) => {
    for (const user of data.users) await importUser(storage, user, { dryRun: opts.dryRun, report });
    for (const room of data.rooms) await importRoom(storage, room, { dryRun: opts.dryRun, report });
  });
  const out = [opts.dryRun ? `dry run: nothing written; an import would do this (${data.users.length} account(s), ${data.rooms.length} room(s)):` : `imported ${data.users.length} account(s) and ${data.rooms.length} room(s):`];
  out.push(...report.lines().map((l) => `  ${l}`));
  for (const [what, n] of data.skipped ?? []) out.push(`  skipped (not understood): ${what} ×${n}`);
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}
