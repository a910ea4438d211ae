/**
 * The standalone service's AccessResolver: presence and roster access models are decided by the
 * roster of the node owner when the owner is an account of this server (RFC 6121 subscription
 * 'from'/'both' for presence; roster groups for roster). A remote owner's roster cannot be read:
 * such nodes are then open only to their affiliates.
 */
import type { ModuleServer } from '../../core/server.js';
import { tryParseJid } from '../../jid/index.js';
import { loadRoster, type Roster } from '../roster/store.js';
import type { AccessResolver } from './engine/access.js';

export function rosterAccess(server: ModuleServer): AccessResolver {
  const rosterOf = async (owner: string): Promise<Roster | undefined> => {
    const jid = tryParseJid(owner);
    if (!jid || jid.local === '' || !server.hosts.has(jid.domain)) return undefined;
    return loadRoster(server, jid.domain, jid.local);
  };
  return {
    async hasPresenceSubscription(owner, requester) {
      return (await rosterOf(owner))?.isSubscriber(requester) ?? false;
    },
    async rosterGroups(owner, requester) {
      return (await rosterOf(owner))?.getItem(requester)?.groups ?? [];
    },
  };
}
