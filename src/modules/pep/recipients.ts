/**
 * Who gets a PEP node's item and retract notifications besides its explicit subscribers
 * (XEP-0163 §4.3.1, "filtered notifications" of XEP-0060 §9.2): the available resources that
 * announced `<node>+notify` in their entity capabilities (XEP-0115) among
 *
 * - the account's own resources;
 * - the resources of the contacts the account shares its presence with (roster subscription
 *   `from` or `both`), as far as the node's access model lets them see it: `presence` and `open`
 *   all of them, `roster` those in an allowed group, `whitelist` the affiliated ones, `authorize`
 *   none (only approved subscribers).
 *
 * Local contacts (this host) are found in the session manager, remote ones (and local ones of
 * other hosts) through the caps service: the resources whose presence the account received.
 * Cost: the roster once (in memory when the account is online), then in-memory lookups per
 * contact; no storage read per contact.
 */
import type { ModuleApi } from '../../core/modules.js';
import type { CapsService } from '../caps/api.js';
import type { NodeConfig, NodeRecord } from '../pubsub/engine/types.js';
import { currentRoster } from './rosters.js';

export interface RecipientsInput {
  username: string;
  node: string;
  config: NodeConfig;
  /** The node's record, read only when the access model needs affiliations (whitelist). */
  record(): Promise<NodeRecord | undefined>;
}

/** The available full JIDs of local `username` whose verified features include `feature`. */
export function localResourcesWith(mod: ModuleApi, caps: CapsService, username: string, feature: string, out: string[]): void {
  for (const s of mod.server.sessions.getUserSessions(mod.host, username)) {
    if (s.presence !== undefined && caps.hasFeature(s.fullJid, feature)) out.push(s.fullJid);
  }
}

export async function notifyRecipients(mod: ModuleApi, caps: CapsService | undefined, input: RecipientsInput): Promise<string[]> {
  if (!caps) return [];
  const { username, config } = input;
  const feature = `${input.node}+notify`;
  const out: string[] = [];
  localResourcesWith(mod, caps, username, feature, out);
  if (config.access_model === 'authorize') return out;

  let allowed: (jid: string, groups: readonly string[]) => boolean = () => true;
  if (config.access_model === 'roster') {
    const groups = new Set(config.roster_groups_allowed);
    allowed = (_jid, g) => g.some((x) => groups.has(x));
  } else if (config.access_model === 'whitelist') {
    const affiliations = (await input.record())?.affiliations ?? {};
    allowed = (jid) => {
      const a = affiliations[jid];
      return a === 'owner' || a === 'publisher' || a === 'member';
    };
  }
  const hostSuffix = `@${mod.host}`;
  const roster = await currentRoster(mod, username);
  for (const item of roster.items()) {
    if (item.subscription !== 'from' && item.subscription !== 'both') continue;
    if (!allowed(item.jid, item.groups)) continue;
    if (item.jid.endsWith(hostSuffix) && !item.jid.includes('/')) {
      localResourcesWith(mod, caps, item.jid.slice(0, -hostSuffix.length), feature, out);
    } else {
      for (const jid of caps.resourcesOf(item.jid, username)) if (caps.hasFeature(jid, feature)) out.push(jid);
    }
  }
  return out;
}
