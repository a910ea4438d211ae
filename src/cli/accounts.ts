/** `canto adduser`, `canto passwd`, `canto deluser`: account management on the configured storage. */
import { mkdirSync } from 'node:fs';
import type { CantoConfig } from '../core/config.js';
import { parseJid, JidError, type Jid } from '../jid/index.js';
import { openStorage, storageDriverEntry } from '../storage/registry.js';
import { silentLogger } from '../core/logging.js';
import type { StorageDriver } from '../storage/types.js';
import { makeCredentials } from '../sasl/scram-credentials.js';
import { readPassword } from './prompt.js';
import { CommandFailed, UsageError } from './errors.js';

export function accountJid(config: CantoConfig, text: string): Jid {
  let j: Jid;
  try {
    j = parseJid(text);
  } catch (err) {
    if (err instanceof JidError) throw new UsageError(`"${text}" is not a valid JID: ${err.message}`);
    throw err;
  }
  if (j.local === '' || j.resource !== '') throw new UsageError(`"${text}" is not an account address: expected user@domain`);
  if (!config.virtualhost.some((vh) => vh.domain === j.domain)) {
    const served = config.virtualhost.map((vh) => vh.domain).join(', ');
    throw new CommandFailed(`${j.domain} is not a virtual host of this server (served: ${served})`);
  }
  return j;
}

/**
 * Open the configured storage for one command and close it after; `nothing` ends the error for a
 * driver that keeps nothing between processes ("there are no accounts to manage").
 */
export async function withStorage<T>(config: CantoConfig, fn: (s: StorageDriver) => Promise<T>, nothing = 'there are no accounts to manage'): Promise<T> {
  if (!storageDriverEntry(config).persistent) {
    throw new CommandFailed(`storage driver "${config.storage.driver}" keeps nothing between processes; ${nothing}`);
  }
  mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
  const storage = await openStorage(config, silentLogger());
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

async function newPassword(given: string | undefined): Promise<string> {
  let password: string;
  try {
    password = given ?? (await readPassword('Password: ', true));
  } catch (err) {
    throw new CommandFailed((err as Error).message);
  }
  if (password.length === 0) throw new CommandFailed('the password must not be empty');
  return password;
}

function credentials(config: CantoConfig, password: string) {
  try {
    return makeCredentials(password, { iterations: config.auth.scram_iterations, hashes: config.auth.scram_hashes });
  } catch (err) {
    throw new CommandFailed(`unusable password: ${(err as Error).message}`);
  }
}

export async function runAdduser(config: CantoConfig, jidText: string, password: string | undefined): Promise<number> {
  const j = accountJid(config, jidText);
  const pw = await newPassword(password);
  const creds = credentials(config, pw);
  const created = await withStorage(config, (s) => s.accounts.create(j.domain, j.local, creds));
  if (!created) throw new CommandFailed(`the account ${j.bare} already exists`);
  process.stdout.write(`created ${j.bare}\n`);
  return 0;
}

export async function runPasswd(config: CantoConfig, jidText: string, password: string | undefined): Promise<number> {
  const j = accountJid(config, jidText);
  const exists = await withStorage(config, async (s) => s.accounts.exists(j.domain, j.local));
  if (!exists) throw new CommandFailed(`there is no account ${j.bare}`);
  const creds = credentials(config, await newPassword(password));
  const changed = await withStorage(config, (s) => s.accounts.setCredentials(j.domain, j.local, creds));
  if (!changed) throw new CommandFailed(`there is no account ${j.bare}`);
  process.stdout.write(`changed the password of ${j.bare}\n`);
  return 0;
}

export async function runDeluser(config: CantoConfig, jidText: string): Promise<number> {
  const j = accountJid(config, jidText);
  const deleted = await withStorage(config, (s) => s.accounts.delete(j.domain, j.local));
  if (!deleted) throw new CommandFailed(`there is no account ${j.bare}`);
  process.stdout.write(`deleted ${j.bare} and all its data\n`);
  return 0;
}
