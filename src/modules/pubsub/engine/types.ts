/**
 * The engine's data types: node configuration, affiliations, subscriptions, and what the store
 * keeps. Values here are JSON (they are stored as they are).
 */

export const ACCESS_MODELS = ['open', 'presence', 'roster', 'whitelist', 'authorize'] as const;
export type AccessModel = (typeof ACCESS_MODELS)[number];
export const PUBLISH_MODELS = ['publishers', 'subscribers', 'open'] as const;
export type PublishModel = (typeof PUBLISH_MODELS)[number];
export const SEND_LAST_MODES = ['never', 'on_sub', 'on_sub_and_presence'] as const;
export type SendLastPublished = (typeof SEND_LAST_MODES)[number];
export const ITEMREPLY_MODES = ['owner', 'publisher'] as const;
export type ItemReply = (typeof ITEMREPLY_MODES)[number];
export const NOTIFICATION_TYPES = ['headline', 'normal'] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

/** XEP-0060 §4.1 affiliations, most privileged first. */
export const AFFILIATIONS = ['owner', 'publisher', 'publish-only', 'member', 'none', 'outcast'] as const;
export type Affiliation = (typeof AFFILIATIONS)[number];

export type SubscriptionState = 'subscribed' | 'pending' | 'unconfigured' | 'none';

/** A node's configuration: the `pubsub#` fields of the node_config form, by their names. */
export interface NodeConfig {
  title: string;
  description: string;
  /** The payload type (namespace of the payload), `pubsub#type`. */
  type: string;
  /** Items kept; 'max' means the service's limit (`pubsub#max_items`, XEP-0060 §16.4.4 "max"). */
  max_items: number | 'max';
  access_model: AccessModel;
  /** Roster groups allowed with the `roster` access model. */
  roster_groups_allowed: string[];
  publish_model: PublishModel;
  persist_items: boolean;
  deliver_payloads: boolean;
  deliver_notifications: boolean;
  notify_retract: boolean;
  notify_delete: boolean;
  notify_config: boolean;
  notify_sub: boolean;
  send_last_published_item: SendLastPublished;
  itemreply: ItemReply;
  notification_type: NotificationType;
}

/** XEP-0060's leaf node defaults (§16.4.3), with persistent items as most clients expect. */
export const BASE_NODE_CONFIG: NodeConfig = {
  title: '',
  description: '',
  type: '',
  max_items: 10,
  access_model: 'open',
  roster_groups_allowed: [],
  publish_model: 'publishers',
  persist_items: true,
  deliver_payloads: true,
  deliver_notifications: true,
  notify_retract: true,
  notify_delete: true,
  notify_config: false,
  notify_sub: false,
  send_last_published_item: 'on_sub',
  itemreply: 'owner',
  notification_type: 'headline',
};

/** Subscription options (`pubsub#subscribe_options`) the engine honours. */
export interface SubscriptionOptions {
  /** `pubsub#deliver`: false pauses notifications without unsubscribing. */
  deliver: boolean;
  /** `pubsub#include_body` is accepted and ignored (no XSLT); kept so a form round-trips. */
  include_body: boolean;
}

export const DEFAULT_SUBSCRIPTION_OPTIONS: SubscriptionOptions = { deliver: true, include_body: false };

/** One stored subscription, keyed by its subid in the node record. */
export interface StoredSubscription {
  /** The subscribed JID, as given (bare or full). */
  jid: string;
  state: Exclude<SubscriptionState, 'none'>;
  options: SubscriptionOptions;
}

/** What the store keeps per node (map store `pubsub-nodes`, key = node name). */
export interface NodeRecord {
  created: number;
  creator: string;
  config: NodeConfig;
  /** Bare JID → affiliation ('none' is not stored). */
  affiliations: Record<string, Affiliation>;
  /** subid → subscription. */
  subscriptions: Record<string, StoredSubscription>;
  /** Item ids, oldest first (the newest is last): the order of items without reading them. */
  items: string[];
}

/** What the store keeps per item (map store `pubsub-items:<node>`, key = item id). */
export interface StoredItem {
  /** The payload element serialised, or absent for a notification-only item. */
  payload?: string;
  /** The publisher's JID (full, as it published). */
  publisher: string;
  /** ms since the epoch. */
  published: number;
}

/** An item as operations hand it out. */
export interface PubsubItem extends StoredItem {
  id: string;
}

/** A subscription as operations hand it out. */
export interface Subscription extends StoredSubscription {
  node: string;
  subid: string;
}
