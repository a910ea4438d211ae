/**
 * PEP in service discovery (XEP-0163 §6.1, XEP-0060 §5): the account's bare JID is a pubsub
 * service of type `pep`, its nodes are its disco#items and each node answers disco#info with its
 * meta-data. Hooks the disco module's account events (api.ts there), which are dispatched for
 * accounts (a handler may hold them while it reads storage) and fired for the host: the handlers
 * return false at once for the host (a promise would claim a fired event). The account's
 * disco#info is only answered to the account and its `from`/`both` contacts (XEP-0030 §8).
 */
import type { ModuleApi } from '../../core/modules.js';
import type { Jid } from '../../jid/index.js';
import { checkAccess } from '../pubsub/engine/access.js';
import type { NodeRecord } from '../pubsub/engine/types.js';
import { NS_PUBSUB, PUBSUB_FEATURES } from '../pubsub/ns.js';
import type { AccountPubsub, PepServices } from './service.js';

/** What the account's disco#info advertises: the engine's pubsub# features and PEP's own. */
export const PEP_FEATURES: readonly string[] = [
  NS_PUBSUB,
  ...PUBSUB_FEATURES.map((f) => `${NS_PUBSUB}#${f}`),
  `${NS_PUBSUB}#filtered-notifications`,
  `${NS_PUBSUB}#presence-notifications`,
];

/** Whether `from` may read the node's items (what disco shows it of the node). */
async function mayRead(svc: AccountPubsub, rec: NodeRecord, from: Jid): Promise<boolean> {
  try {
    await checkAccess(rec, from.bare, 'items', svc.options.access);
    return true;
  } catch {
    return false;
  }
}

export function hookDisco(mod: ModuleApi, services: PepServices): void {
  mod.hook('disco-info', ({ to, query }) => {
    if (to.local === '') return false;
    query.c('identity', { category: 'pubsub', type: 'pep' });
    for (const f of PEP_FEATURES) query.c('feature', { var: f });
    return false;
  });

  // The account's nodes: those the requester may read items of (the account itself: all).
  mod.hook('disco-items', ({ to, from, items }) => {
    if (to.local === '') return false;
    return (async () => {
      const svc = services.serviceFor(to.local);
      for (const [node, stored] of await services.stores.nodes.getAll(to.local)) {
        if (!(await mayRead(svc, stored, from))) continue;
        items.push({ jid: to.bare, node, name: stored.config.title === '' ? undefined : stored.config.title });
      }
      return false;
    })();
  });

  // A node the requester may not read is answered as if it did not exist.
  mod.hook('disco-info-node', ({ to, from, node, query }) => {
    if (to.local === '') return false;
    return (async () => {
      const svc = services.serviceFor(to.local);
      const rec = await svc.node(node);
      if (!rec || !(await mayRead(svc, rec, from))) return false;
      query.c('identity', { category: 'pubsub', type: 'leaf' });
      query.c('feature', { var: NS_PUBSUB });
      query.cnode(await svc.metadata(from, node));
      return true;
    })();
  });

  mod.hook('disco-items-node', ({ to, from, node, items }) => {
    if (to.local === '') return false;
    return (async () => {
      const svc = services.serviceFor(to.local);
      const rec = await svc.node(node);
      if (!rec || !(await mayRead(svc, rec, from))) return false;
      for (const id of rec.items.slice().reverse()) items.push({ jid: to.bare, name: id });
      return true;
    })();
  });
}
