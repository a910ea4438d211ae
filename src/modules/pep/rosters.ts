/**
 * The account's roster as PEP reads it: the copy an online session of the account holds (loaded
 * at bind, replaced by every roster push) or, with no session here, the stored one. The access
 * models `presence` and `roster` are decided on it (AccessResolver), and the +notify fan-out
 * reads it once per publish.
 */
import type { ModuleApi } from '../../core/modules.js';
import { sessionRoster } from '../roster/push.js';
import { loadRoster, type Roster } from '../roster/store.js';
import type { AccessResolver } from '../pubsub/engine/access.js';

/** The roster of `username` on `mod`'s host (a session's copy when there is one). */
export function currentRoster(mod: ModuleApi, username: string): Roster | Promise<Roster> {
  for (const s of mod.server.sessions.getLocalUserSessions(mod.host, username)) {
    const r = sessionRoster(s);
    if (r) return r;
  }
  return loadRoster(mod.server, mod.host, username);
}

/**
 * The AccessResolver of one account's PEP service. The only owner of its nodes is the account
 * (superOwners), so `owner` is its bare JID; the roster is read at most once per resolver (a
 * resolver lives for one request).
 */
export function accountAccess(mod: ModuleApi, username: string): AccessResolver {
  const own = `${username}@${mod.host}`;
  let roster: Promise<Roster> | undefined;
  const rosterOf = async (owner: string): Promise<Roster | undefined> => {
    if (owner !== own) return undefined; // a node affiliated to someone else as owner: not PEP's business
    roster ??= Promise.resolve(currentRoster(mod, username));
    return roster;
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
