/**
 * `canto user disable JID [--reason R]` and `canto user enable JID`: the account_state module's
 * disabled flag. When a server runs with this data directory the command goes through its
 * admin socket(s) (src/modules/adminsocket): the server refuses the account's logins at once,
 * closes its sessions and revokes its FAST tokens; each cluster worker is asked, since each
 * holds its own sessions. With no server running, the state is written to storage directly
 * (the same document the module reads at start, src/modules/account_state/state.ts) and the
 * FAST tokens are deleted there.
 */
import { mkdirSync } from 'node:fs';
import type { CantoConfig } from '../core/config.js';
import { silentLogger } from '../core/logging.js';
import { openStorage, storageDriverEntry } from '../storage/registry.js';
import { askAdmin, findAdminSockets } from '../modules/adminsocket/protocol.js';
import { emptyState, HOST_KEY, normalise, STATE_STORE, type AccountStateDoc } from '../modules/account_state/state.js';
import { accountJid } from './accounts.js';
import { CommandFailed, UsageError } from './errors.js';

/** The map store the fast module keeps token records in (src/modules/fast/index.ts). */
const FAST_TOKENS_STORE = 'fast_tokens';

type Action = 'disable' | 'enable';

/** Ask every running worker; undefined when no server answered (none is running). */
async function viaServer(config: CantoConfig, action: Action, host: string, user: string, reason: string | undefined): Promise<Array<Record<string, unknown>> | undefined> {
  const answers: Array<Record<string, unknown>> = [];
  for (const path of findAdminSockets(config.data_dir)) {
    let answer;
    try {
      answer = await askAdmin(path, { command: `account-${action}`, host, args: { user, reason } });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED' || code === 'ENOENT') continue; // left by a server that is gone
      throw new CommandFailed(`${path}: ${(err as Error).message}`);
    }
    if (!answer.ok) throw new CommandFailed(answer.error);
    answers.push(answer.result as Record<string, unknown>);
  }
  return answers.length > 0 ? answers : undefined;
}

/** No server running: change the stored state (and, disabling, delete the FAST tokens). */
async function inStorage(config: CantoConfig, action: Action, host: string, user: string, reason: string | undefined): Promise<{ exists: boolean; changed: boolean }> {
  if (!storageDriverEntry(config).persistent) throw new CommandFailed(`storage driver "${config.storage.driver}" keeps nothing between processes`);
  mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
  const storage = await openStorage(config, silentLogger());
  try {
    if (!(await storage.accounts.exists(host, user))) return { exists: false, changed: false };
    let changed = false;
    await storage.keyval<AccountStateDoc>(host, STATE_STORE).update(HOST_KEY, (current) => {
      const doc = normalise(current ?? emptyState());
      changed = action === 'disable' ? doc.disabled[user] === undefined : doc.disabled[user] !== undefined;
      if (action === 'disable') doc.disabled[user] = { since: Date.now(), by: 'canto user disable', ...(reason === undefined ? {} : { reason }) };
      else delete doc.disabled[user];
      return doc;
    });
    if (action === 'disable') {
      const tokens = storage.map<unknown>(host, FAST_TOKENS_STORE);
      for (const id of await tokens.keys(user)) await tokens.set(user, id, undefined);
    }
    return { exists: true, changed };
  } finally {
    await storage.close();
  }
}

export async function runUserState(config: CantoConfig, action: string | undefined, rest: string[], opts: { reason?: string }, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  if (action !== 'disable' && action !== 'enable') throw new UsageError('user takes "disable JID" or "enable JID"');
  if (rest.length !== 1) throw new UsageError(`user ${action} takes one JID`);
  if (action === 'enable' && opts.reason !== undefined) throw new UsageError('--reason goes with user disable');
  const jid = accountJid(config, rest[0] as string);
  const account = `${jid.local}@${jid.domain}`;
  const answers = await viaServer(config, action, jid.domain, jid.local, opts.reason);
  if (answers !== undefined) {
    if (!answers.some((a) => a.exists === true)) throw new CommandFailed(`${account}: no such account`);
    if (action === 'disable') {
      const closed = answers.reduce((n, a) => n + (typeof a.closedSessions === 'number' ? a.closedSessions : 0), 0);
      out(`${account} disabled on the running server: ${closed} session(s) closed, FAST tokens revoked\n`);
    } else {
      out(answers.some((a) => a.changed === true) ? `${account} enabled\n` : `${account} was not disabled\n`);
    }
    return 0;
  }
  const r = await inStorage(config, action, jid.domain, jid.local, opts.reason);
  if (!r.exists) throw new CommandFailed(`${account}: no such account`);
  if (action === 'disable') out(r.changed ? `${account} disabled (no server running: stored for its next start)\n` : `${account} was already disabled\n`);
  else out(r.changed ? `${account} enabled\n` : `${account} was not disabled\n`);
  return 0;
}
