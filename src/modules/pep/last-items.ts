/**
 * The last published item when a resource comes online with `+notify` (XEP-0163 §4.3.2,
 * `send_last_published_item = on_sub_and_presence`), driven by the caps module's
 * `caps/features-known` `{ jid, username, features }`: `username` now sees `jid` available with
 * these verified features.
 *
 * - `jid` is a resource of `username` itself: it gets the newest item of each of its own nodes
 *   it has `+notify` for, and of the nodes of the local accounts (this host) whose presence
 *   `username` is subscribed to (roster `to`/`both`): those accounts may be offline, so no event
 *   of theirs would fire for it.
 * - `jid` is another entity seen by `username` (a remote contact, or a local one of another
 *   host): it gets `username`'s items. A local contact of this host is skipped here: its own
 *   resource's event has done it (so nothing is sent twice).
 *
 * Each node once per event (the caps module fires once per user, JID and ver), only when the
 * access model lets the JID's bare JID read the items, and not for `never`.
 */
import type { ModuleApi } from '../../core/modules.js';
import { checkAccess, bareOf } from '../pubsub/engine/access.js';
import type { PepServices } from './service.js';
import { currentRoster } from './rosters.js';

const NOTIFY = '+notify';

/** The node names `features` asks notifications for. */
export function notifyNodes(features: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const f of features) if (f.endsWith(NOTIFY) && f.length > NOTIFY.length) out.push(f.slice(0, -NOTIFY.length));
  return out;
}

/** The local accounts whose last items go to `jid` (see above); empty when none. */
async function ownersFor(mod: ModuleApi, jid: string, username: string): Promise<string[]> {
  const bare = bareOf(jid);
  const hostSuffix = `@${mod.host}`;
  if (bare === `${username}${hostSuffix}`) {
    const owners = [username];
    for (const item of (await currentRoster(mod, username)).items()) {
      if ((item.subscription === 'to' || item.subscription === 'both') && item.jid.endsWith(hostSuffix) && !item.jid.includes('/')) {
        owners.push(item.jid.slice(0, -hostSuffix.length));
      }
    }
    return owners;
  }
  if (bare.endsWith(hostSuffix)) return [];
  return [username];
}

/** Send `jid` the last items it should get; resolves with how many were sent. */
export async function sendLastItems(mod: ModuleApi, services: PepServices, jid: string, username: string, features: ReadonlySet<string>): Promise<number> {
  const wanted = notifyNodes(features);
  if (wanted.length === 0) return 0;
  const bare = bareOf(jid);
  let sent = 0;
  for (const owner of await ownersFor(mod, jid, username)) {
    const svc = services.serviceFor(owner);
    const existing = new Set(await svc.nodeNames());
    for (const node of wanted) {
      if (!existing.has(node)) continue;
      const rec = await svc.node(node);
      if (!rec || rec.config.send_last_published_item === 'never' || !rec.config.deliver_notifications) continue;
      try {
        await checkAccess(rec, bare, 'items', svc.options.access);
      } catch {
        continue; // not allowed to see it: nothing, and nothing said
      }
      if (await svc.sendLastItem(node, jid)) sent++;
    }
  }
  return sent;
}
