/** `[modules.pubsub]`: the standalone service's limits, who may create nodes, and node defaults. */
import { z } from 'zod';
import { jidList, oneOf, size } from '../../core/option-schemas.js';
import { publishRateOptions } from './rate.js';
import { ACCESS_MODELS, BASE_NODE_CONFIG, NOTIFICATION_TYPES, PUBLISH_MODELS, SEND_LAST_MODES, type NodeConfig } from './engine/types.js';

const maxItems = z.union([z.number().int().min(1), z.literal('max')]);

export const pubsubOptions = z
  .object({
    /** Items one node keeps at most (also what max_items = "max" means). */
    max_items_per_node: z.number().int().min(1).max(1_000_000).default(1000),
    /** Bytes of one item's payload. */
    max_item_size: size('64 KiB', { min: 1 }),
    /** Nodes in the service. */
    max_nodes: z.number().int().min(1).default(10_000),
    /** Nodes one account may own. */
    max_nodes_per_owner: z.number().int().min(1).default(100),
    /** Subscriptions of one node. */
    max_subscriptions_per_node: z.number().int().min(1).default(1000),
    /** Per requester (bare JID): publish, retract, purge and delete requests (they notify subscribers). */
    ...publishRateOptions,
    /** Who may create nodes: accounts of this server's hosts, or any JID (also remote). */
    creators: oneOf(['local', 'anyone'], 'local'),
    /** Bare JIDs that own every node (moderation). */
    admins: jidList(),
    /** Publishing to a missing node creates it (with the publish-options), as XEP-0060 auto-create. */
    auto_create: z.boolean().default(true),
    /** The configuration of new nodes, before the creator's form or publish-options. */
    node_defaults: z
      .object({
        max_items: maxItems,
        access_model: z.enum(ACCESS_MODELS),
        publish_model: z.enum(PUBLISH_MODELS),
        persist_items: z.boolean(),
        deliver_payloads: z.boolean(),
        send_last_published_item: z.enum(SEND_LAST_MODES),
        notification_type: z.enum(NOTIFICATION_TYPES),
      })
      .partial()
      .strict()
      .default({}),
  })
  .strict()
  .refine((o) => o.node_defaults.max_items === undefined || o.node_defaults.max_items === 'max' || o.node_defaults.max_items <= o.max_items_per_node, {
    message: 'node_defaults.max_items cannot be more than max_items_per_node',
    path: ['node_defaults', 'max_items'],
  })
  .refine((o) => o.max_nodes_per_owner <= o.max_nodes, { message: 'max_nodes_per_owner cannot be more than max_nodes', path: ['max_nodes_per_owner'] });

export type PubsubOptions = z.infer<typeof pubsubOptions>;

/** The configuration of a new node with the operator's defaults. */
export function nodeDefaults(o: PubsubOptions): NodeConfig {
  const d = o.node_defaults;
  const config: NodeConfig = { ...BASE_NODE_CONFIG, roster_groups_allowed: [] };
  if (d.max_items !== undefined) config.max_items = d.max_items;
  if (d.access_model !== undefined) config.access_model = d.access_model;
  if (d.publish_model !== undefined) config.publish_model = d.publish_model;
  if (d.persist_items !== undefined) config.persist_items = d.persist_items;
  if (d.deliver_payloads !== undefined) config.deliver_payloads = d.deliver_payloads;
  if (d.send_last_published_item !== undefined) config.send_last_published_item = d.send_last_published_item;
  if (d.notification_type !== undefined) config.notification_type = d.notification_type;
  return config;
}
