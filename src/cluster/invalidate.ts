/**
 * What a worker does when another worker wrote a user's data that this worker may hold in
 * memory (see storage-watch.ts): reload the roster of the user's local sessions, drop the
 * user's cached blocklist, or end the local sessions of a deleted account.
 */
import type { Server } from '../core/server.js';
import type { C2SSession, CloseReason } from '../core/session.js';
import { ROSTER_STORE, loadRoster } from '../modules/roster/store.js';
import { cacheForHost } from '../modules/blocking/registry.js';
import { BLOCKLIST_STORE } from '../modules/blocking/index.js';
import { ProxySession } from './proxy-session.js';
import { ACCOUNT_DELETED } from './storage-watch.js';
import type { InvalidateMessage } from './protocol.js';

/** As the register module closes the sessions of an account removed in-band. */
const ACCOUNT_REMOVED: CloseReason = { condition: 'not-authorized', text: 'account removed' };

function localSessions(server: Server, host: string, username: string): C2SSession[] {
  return server.sessions.getUserSessions(host, username).filter((s) => !(s instanceof ProxySession));
}

export async function applyInvalidation(server: Server, msg: InvalidateMessage): Promise<void> {
  const { host, username } = msg;
  switch (msg.store) {
    case ROSTER_STORE: {
      const sessions = localSessions(server, host, username).filter((s) => s.roster !== undefined);
      if (sessions.length === 0) return;
      const roster = await loadRoster(server, host, username);
      for (const s of sessions) s.roster = roster;
      return;
    }
    case BLOCKLIST_STORE: {
      const cache = cacheForHost(server, host);
      if (!cache) return;
      cache.forget(username);
      if (localSessions(server, host, username).length > 0) {
        cache.userOnline(username);
        await cache.load(username);
      }
      return;
    }
    case ACCOUNT_DELETED: {
      for (const session of localSessions(server, host, username)) {
        session.close(ACCOUNT_REMOVED);
        server.sessions.destroySession(session, ACCOUNT_REMOVED);
      }
      server.hosts.get(host)?.events.fire('user-deleted', { host, username });
      return;
    }
  }
}
