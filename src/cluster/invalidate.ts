/**
 * What a worker does when another worker wrote a user's data that this worker may hold in
 * memory (see storage-watch.ts): tell the modules that cache the store (`store-changed` on the
 * host, ModuleApi.cachedStore), or end the local sessions of a deleted account.
 */
import type { Server } from '../core/server.js';
import type { C2SSession, CloseReason } from '../core/session.js';
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
    case ACCOUNT_DELETED: {
      for (const session of localSessions(server, host, username)) {
        session.close(ACCOUNT_REMOVED);
        server.sessions.destroySession(session, ACCOUNT_REMOVED, { final: true });
      }
      server.hosts.get(host)?.events.fire('user-deleted', { host, username });
      return;
    }
    default: {
      const bus = server.hosts.get(host)?.events;
      if (bus) await bus.dispatch('store-changed', { host, store: msg.store, username });
    }
  }
}
