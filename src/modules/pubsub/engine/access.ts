/**
 * Who may do what on a node: the affiliation table of XEP-0060 §4.1, the publish models, and the
 * access models (§4.5) for subscribing and retrieving items. Presence and roster decisions are
 * delegated to an AccessResolver the service is given (the standalone service reads the rosters
 * of local node owners; PEP passes its own).
 */
import { stanzaError } from '../../../core/errors.js';
import { pubsubError } from './errors.js';
import type { Affiliation, NodeConfig, NodeRecord, SubscriptionState } from './types.js';

/** How presence and roster access models are decided. JIDs are bare. */
export interface AccessResolver {
  /** Whether `requester` has a presence subscription to `owner` ('from' or 'both' on the owner's roster). */
  hasPresenceSubscription(owner: string, requester: string): Promise<boolean>;
  /** The groups `requester` is in on `owner`'s roster (empty when not a contact). */
  rosterGroups(owner: string, requester: string): Promise<string[]>;
}

/** Nobody is a contact of anybody: presence and roster nodes are then open to their affiliates only. */
export const NO_ROSTERS: AccessResolver = {
  hasPresenceSubscription: () => Promise.resolve(false),
  rosterGroups: () => Promise.resolve([]),
};

/** The affiliation of a bare JID (`none` when it has none). */
export function affiliationOf(node: NodeRecord, bare: string): Affiliation {
  return node.affiliations[bare] ?? 'none';
}

/** The bare JIDs affiliated as owners. */
export function ownersOf(node: NodeRecord): string[] {
  return Object.entries(node.affiliations)
    .filter(([, a]) => a === 'owner')
    .map(([jid]) => jid);
}

/** The state of `bare`'s subscription (any of its JIDs): subscribed wins over pending. */
export function subscriptionStateOf(node: NodeRecord, bare: string): SubscriptionState {
  let state: SubscriptionState = 'none';
  for (const sub of Object.values(node.subscriptions)) {
    if (bareOf(sub.jid) !== bare) continue;
    if (sub.state === 'subscribed') return 'subscribed';
    state = sub.state;
  }
  return state;
}

export function bareOf(jid: string): string {
  const slash = jid.indexOf('/');
  return slash < 0 ? jid : jid.slice(0, slash);
}

/** Whether `bare` may publish (§4.1 and `pubsub#publish_model`); throws forbidden when not. */
export function checkPublish(node: NodeRecord, bare: string): void {
  const aff = affiliationOf(node, bare);
  if (aff === 'owner' || aff === 'publisher' || aff === 'publish-only') return;
  if (aff !== 'outcast') {
    if (node.config.publish_model === 'open') return;
    if (node.config.publish_model === 'subscribers' && subscriptionStateOf(node, bare) === 'subscribed') return;
  }
  throw stanzaError('CANTO_ERR_FORBIDDEN', 'you may not publish to this node');
}

/** Whether `bare` may retract an item published by `publisher`: owners and publishers any; others their own. */
export function checkRetract(node: NodeRecord, bare: string, publisher: string | undefined): void {
  const aff = affiliationOf(node, bare);
  if (aff === 'owner' || aff === 'publisher') return;
  if (publisher !== undefined && bareOf(publisher) === bare) {
    checkPublish(node, bare);
    return;
  }
  throw stanzaError('CANTO_ERR_FORBIDDEN', 'you may not retract this item');
}

/** Only owners configure, delete, purge, and manage subscriptions and affiliations. */
export function checkOwner(node: NodeRecord, bare: string): void {
  if (affiliationOf(node, bare) !== 'owner') throw stanzaError('CANTO_ERR_FORBIDDEN', 'only an owner of the node may do this');
}

/**
 * What the access model says for a would-be subscriber or reader: 'allow', 'pending' (authorize:
 * a subscription waits for an owner) or a thrown error with the XEP-0060 condition.
 * `op` 'items' is retrieval (§6.5.9–§6.5.12), 'subscribe' a subscription request (§6.1.3).
 */
export async function checkAccess(
  node: NodeRecord,
  bare: string,
  op: 'items' | 'subscribe',
  resolver: AccessResolver,
): Promise<'allow' | 'pending'> {
  const aff = affiliationOf(node, bare);
  if (aff === 'outcast') throw stanzaError('CANTO_ERR_FORBIDDEN', 'you are banned from this node');
  if (aff === 'owner' || aff === 'publisher') return 'allow';
  if (aff === 'publish-only') throw stanzaError('CANTO_ERR_FORBIDDEN', 'publish-only affiliates may not subscribe or retrieve items');
  const config: NodeConfig = node.config;
  switch (config.access_model) {
    case 'open':
      return 'allow';
    case 'whitelist':
      if (aff === 'member') return 'allow';
      throw pubsubError('CANTO_ERR_PUBSUB_CLOSED_NODE');
    case 'presence': {
      if (aff === 'member') return 'allow';
      for (const owner of ownersOf(node)) if (await resolver.hasPresenceSubscription(owner, bare)) return 'allow';
      throw pubsubError('CANTO_ERR_PUBSUB_PRESENCE_REQUIRED');
    }
    case 'roster': {
      if (aff === 'member') return 'allow';
      const allowed = new Set(config.roster_groups_allowed);
      for (const owner of ownersOf(node)) {
        for (const g of await resolver.rosterGroups(owner, bare)) if (allowed.has(g)) return 'allow';
      }
      throw pubsubError('CANTO_ERR_PUBSUB_NOT_IN_ROSTER_GROUP');
    }
    case 'authorize': {
      if (aff === 'member') return 'allow';
      if (op === 'subscribe') return 'pending';
      const state = subscriptionStateOf(node, bare);
      if (state === 'subscribed') return 'allow';
      if (state === 'pending') throw pubsubError('CANTO_ERR_PUBSUB_PENDING_SUBSCRIPTION');
      throw pubsubError('CANTO_ERR_PUBSUB_SUBSCRIPTION_REQUIRED');
    }
  }
}
