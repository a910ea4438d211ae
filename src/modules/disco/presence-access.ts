/**
 * Who may learn an account's availability (XEP-0030 §8, XEP-0012 §3): the user themself and
 * the contacts the account shares its presence with (roster subscription 'from' or 'both').
 * Used by disco (account info and items) and last activity.
 */
import type { ModuleApi } from '../../core/modules.js';
import type { Jid } from '../../jid/index.js';
import { loadRoster } from '../roster/store.js';

export async function maySeePresence(mod: ModuleApi, username: string, requester: Jid): Promise<boolean> {
  if (requester.local === username && requester.domain === mod.host) return true;
  const roster = await loadRoster(mod.server, mod.host, username);
  return roster.isSubscriber(requester.bare);
}
