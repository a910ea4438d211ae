/**
 * The plumbing every operation of a service shares: its options, reading and atomically updating
 * node records (with the service-wide owners overlaid), and sending notifications. The operations
 * themselves are in nodes.ts, publish.ts and subscriptions.ts; service.ts puts them together.
 */
import { randomBytes } from 'node:crypto';
import type { Jid } from '../../../jid/index.js';
import type { Element } from '../../../xml/element.js';
import { message } from '../../../xml/stanza.js';
import { NS_PUBSUB_EVENT } from '../ns.js';
import { bareOf, type AccessResolver } from './access.js';
import { nodeNotFound } from './errors.js';
import type { PubsubStores } from './store.js';
import type { NodeConfig, NodeRecord } from './types.js';

/** Who may create nodes, and service-wide owners. */
export interface PubsubPolicy {
  /** Whether the requester may create nodes (standalone: local accounts; PEP: the account itself). */
  mayCreate(requester: Jid): boolean;
  /** Publishing to a missing node creates it (with publish-options, if any) when the publisher may create. */
  autoCreate: boolean;
  /** Bare JIDs that are owners of every node, stored or not (PEP: the account; standalone: admins). */
  superOwners?: readonly string[];
}

/** The limits of one service; each breach is refused with nothing stored. */
export interface PubsubLimits {
  /** Items a node keeps at most; also what `max_items = max` means. */
  maxItems: number;
  /** Bytes of one item's serialised payload. */
  maxItemBytes: number;
  /** Nodes in the service (the owner scope). */
  maxNodes: number;
  /** Nodes one bare JID may own. */
  maxNodesPerOwner: number;
  /** Subscriptions (any state) of one node. */
  maxSubscriptions: number;
}

/** What a service reports as it works (metrics, logs); every member is optional. */
export interface PubsubObserver {
  published?(node: string, itemId: string): void;
  notified?(node: string, kind: NotificationKind, recipients: number): void;
  nodeCreated?(node: string, by: string): void;
  nodeDeleted?(node: string, by: string): void;
}

export type NotificationKind = 'items' | 'retract' | 'purge' | 'delete' | 'configuration' | 'subscription';

export interface PubsubServiceOptions {
  /** The service's address: notifications and results come from it (standalone: the component domain; PEP: the account's bare JID). */
  jid: string;
  /** The owner scope: the `username` of every store row (standalone: ''; PEP: the account's username). */
  scope: string;
  stores: PubsubStores;
  /** The configuration of a new node before the creator's form or publish-options apply. */
  defaultConfig: NodeConfig;
  policy: PubsubPolicy;
  /** How the presence and roster access models are decided. */
  access: AccessResolver;
  limits: PubsubLimits;
  /** Send a stanza from the service (notifications, authorization requests). */
  send(stanza: Element): void;
  /** The time (ms since the epoch). */
  now(): number;
  /**
   * Recipients of a node's notifications besides its subscribers (PEP: the resources of contacts
   * that announced `<node>+notify`). Full or bare JIDs; duplicates of subscribers are dropped.
   * Called for item publish and retract notifications only.
   */
  extraRecipients?(node: string, config: NodeConfig): readonly string[] | Promise<readonly string[]>;
  observer?: PubsubObserver;
}

/**
 * Notification ids only have to be unique (nobody answers an event): a process-wide counter
 * after a random prefix, not 12 CSPRNG bytes per recipient (a publish to 500 contacts spent 9 %
 * of its CPU in randomFillSync).
 */
const ID_PREFIX = `${randomBytes(6).toString('base64url')}-`;
let notificationCounter = 0;
const notificationId = (): string => ID_PREFIX + (++notificationCounter).toString(36);

export class ServiceCore {
  constructor(readonly opts: PubsubServiceOptions) {}

  /** The record with the service-wide owners overlaid (for decisions; never stored that way). */
  view(rec: NodeRecord): NodeRecord {
    const supers = this.opts.policy.superOwners ?? [];
    if (supers.length === 0) return rec;
    const affiliations = { ...rec.affiliations };
    for (const jid of supers) affiliations[jid] = 'owner';
    return { ...rec, affiliations };
  }

  async load(node: string): Promise<NodeRecord | undefined> {
    const rec = await this.opts.stores.nodes.get(this.opts.scope, node);
    return rec && this.view(rec);
  }

  /** The node's record (viewed), or item-not-found. */
  async require(node: string): Promise<NodeRecord> {
    const rec = await this.load(node);
    if (!rec) throw nodeNotFound(node);
    return rec;
  }

  /**
   * Change a node's record atomically. `fn` gets the stored record and its view; it changes the
   * stored one in place and may throw a coded error (then nothing changes). It may run more than
   * once (the store's update contract): keep it free of side effects. A missing node is item-not-found.
   */
  async update(node: string, fn: (rec: NodeRecord, view: NodeRecord) => void): Promise<NodeRecord> {
    const next = await this.opts.stores.nodes.update(this.opts.scope, node, (rec) => {
      if (rec === undefined) throw nodeNotFound(node);
      fn(rec, this.view(rec));
      return rec;
    });
    if (next === undefined) throw nodeNotFound(node);
    return next;
  }

  /** A fresh id for items, subscriptions and instant nodes: unguessable, attribute-safe. */
  newId(): string {
    return randomBytes(12).toString('base64url');
  }

  /** `<message from=service to=jid type=…><event xmlns=#event>…</event></message>` */
  eventMessage(to: string, config: NodeConfig, content: Element): Element {
    const msg = message({ from: this.opts.jid, to, type: config.notification_type, id: notificationId() });
    msg.c('event', { xmlns: NS_PUBSUB_EVENT }).cnode(content);
    return msg;
  }

  /**
   * Send `content` in an event to the node's subscribers (subscribed, delivery on), and to the
   * extra recipients when `extra` is set; each JID once. Returns how many were sent.
   */
  async notify(node: string, rec: NodeRecord, kind: NotificationKind, content: () => Element, extra = false): Promise<number> {
    if (!rec.config.deliver_notifications && kind !== 'subscription') return 0;
    const to = new Set<string>();
    for (const sub of Object.values(rec.subscriptions)) if (sub.state === 'subscribed' && sub.options.deliver) to.add(sub.jid);
    if (extra && this.opts.extraRecipients) {
      const extras = await this.opts.extraRecipients(node, rec.config);
      // A bare JID subscription already reaches every resource of that JID (the message is
      // delivered to the bare JID): an extra full JID of it would get the event twice.
      const bareSubscribed = new Set<string>();
      for (const jid of to) if (!jid.includes('/')) bareSubscribed.add(jid);
      for (const jid of extras) if (bareSubscribed.size === 0 || !bareSubscribed.has(bareOf(jid))) to.add(jid);
    }
    if (to.size === 0) return 0;
    // Built once (an items event parses the stored payload) and copied per recipient: a publish
    // to hundreds of contacts costs one parse, not hundreds.
    const built = content();
    let first = true;
    for (const jid of to) {
      this.opts.send(this.eventMessage(jid, rec.config, first ? built : built.clone()));
      first = false;
    }
    this.opts.observer?.notified?.(node, kind, to.size);
    return to.size;
  }
}
