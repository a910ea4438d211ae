/**
 * What an administrator does to a host's accounts, written once for both ways of asking: the
 * XEP-0133 ad-hoc commands (src/modules/adhoc/admin-commands.ts) and the admin HTTP API
 * (src/modules/admin_api). The callers check who asks and turn refusals into their own errors
 * (a stanza error, a problem+json response); these functions only do the work.
 */
import type { ModuleApi } from '../../core/modules.js';
import type { Element } from '../../xml/element.js';
import { message } from '../../xml/stanza.js';
import { makeCredentialsAsync } from '../../sasl/scram-credentials.js';
import { loadRoster } from '../roster/store.js';
import type { AccountsState } from './index.js';

/** What the operations need of the server: a host module's `mod.server`, or a global module's. */
export type AdminServer = ModuleApi['server'];

/** SCRAM credentials for `password` with the server's settings ([auth]). */
async function credentialsFor(server: AdminServer, password: string) {
  const { scram_iterations: iterations, scram_hashes: hashes } = server.config.auth;
  return makeCredentialsAsync(password, { iterations, hashes });
}

/** Create an account; false when it exists. The password is already checked (checkNewAccount). */
export async function addAccount(server: AdminServer, host: string, username: string, password: string): Promise<boolean> {
  return server.storage.accounts.create(host, username, await credentialsFor(server, password));
}

/** Replace an account's credentials; false when there is no such account. */
export async function changePassword(server: AdminServer, host: string, username: string, password: string): Promise<boolean> {
  return server.storage.accounts.setCredentials(host, username, await credentialsFor(server, password));
}

/** The bare JIDs with at least one bound session on `host`, sorted. */
export function onlineUsers(server: AdminServer, host: string): string[] {
  const users = new Set<string>();
  for (const s of server.sessions.all) if (s.type === 'c2s' && s.host === host) users.add(`${s.username}@${host}`);
  return [...users].sort();
}

/** A headline message from the host to every bound session of `host`; how many got it. */
export function announce(server: AdminServer, host: string, send: (stanza: Element) => void, text: string, subject?: string): number {
  let sent = 0;
  for (const s of server.sessions.all) {
    if (s.type !== 'c2s' || s.host !== host || s.resource === undefined || s.fullJid === undefined) continue;
    const m = message({ type: 'headline', from: host, to: s.fullJid });
    if (subject) m.c('subject').t(subject);
    m.c('body').t(text);
    send(m);
    sent++;
  }
  return sent;
}

export type AccountStatus = 'active' | 'disabled' | 'deletion pending';

export function accountStatus(state: AccountsState, username: string): AccountStatus {
  return state.isDisabled(username) ? 'disabled' : state.deletionDue(username) !== undefined ? 'deletion pending' : 'active';
}

export interface AccountStatistics {
  jid: string;
  status: AccountStatus;
  rosterSize: number;
  resources: string[];
  ips: string[];
}

/** XEP-0133 §4.18's user statistics (of an existing account). */
export async function accountStatistics(server: AdminServer, host: string, state: AccountsState, username: string): Promise<AccountStatistics> {
  const sessions = server.sessions.getUserSessions(host, username);
  const roster = await loadRoster(server, host, username);
  return {
    jid: `${username}@${host}`,
    status: accountStatus(state, username),
    rosterSize: roster.items().length,
    resources: sessions.map((s) => s.resource),
    ips: [...new Set(sessions.map((s) => s.ip))],
  };
}
