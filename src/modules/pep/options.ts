/**
 * `[modules.pep]`: the limits of every account's PEP service. The same shape as the standalone
 * service's `[modules.pubsub]` limits where they mean the same; node defaults are XEP-0163's
 * (see README.md) and not configurable: clients rely on them.
 */
import { z } from 'zod';
import { size } from '../../core/option-schemas.js';
import { BASE_NODE_CONFIG, type NodeConfig } from '../pubsub/engine/types.js';
import type { PubsubLimits } from '../pubsub/engine/core.js';

export const pepOptions = z
  .object({
    /**
     * Items one node keeps at most; also what `pubsub#max_items = max` means (XEP-0402 bookmarks,
     * OMEMO 2 bundles keep one item per room or device).
     */
    max_items_per_node: z.number().int().min(1).max(100_000).default(256),
    /** Bytes of one item's payload (an avatar's data node is the biggest usual item). */
    max_item_size: size('256 KiB', { min: 1 }),
    /** Nodes one account may have (OMEMO 0.3 makes one bundle node per device). */
    max_nodes_per_account: z.number().int().min(1).max(100_000).default(256),
    /** Explicit XEP-0060 subscriptions of one node (+notify contacts need none). */
    max_subscriptions_per_node: z.number().int().min(1).default(1000),
  })
  .strict();

export type PepOptions = z.infer<typeof pepOptions>;

export function pepLimits(o: PepOptions): PubsubLimits {
  return {
    maxItems: o.max_items_per_node,
    maxItemBytes: o.max_item_size,
    // One owner per service: the node count of the service is the account's.
    maxNodes: o.max_nodes_per_account,
    maxNodesPerOwner: o.max_nodes_per_account,
    maxSubscriptions: o.max_subscriptions_per_node,
  };
}

/**
 * XEP-0163 §4.3 / §7 defaults of a PEP node: presence access (contacts with a `from`/`both`
 * subscription), one item, the last item sent on subscription and when a contact comes online,
 * headline notifications with payloads.
 */
export const PEP_NODE_DEFAULTS: NodeConfig = {
  ...BASE_NODE_CONFIG,
  roster_groups_allowed: [],
  max_items: 1,
  access_model: 'presence',
  send_last_published_item: 'on_sub_and_presence',
  notification_type: 'headline',
  deliver_payloads: true,
  persist_items: true,
};
