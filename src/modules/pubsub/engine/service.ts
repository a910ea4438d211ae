/**
 * A publish-subscribe service: one owner scope's nodes, with every XEP-0060 operation as a
 * method. The standalone service (this module) makes one for its component domain; PEP makes one
 * per account. Methods take the requester's JID, return plain data (or Elements for forms), and
 * throw coded StanzaErrors with their pubsub#errors child; protocol/ turns requests and results
 * into stanzas. See README.md, "Engine API".
 */
import type { Jid } from '../../../jid/index.js';
import type { Element } from '../../../xml/element.js';
import { ServiceCore, type PubsubServiceOptions } from './core.js';
import type { ParsedForm } from './forms.js';
import * as nodes from './nodes.js';
import * as pub from './publish.js';
import * as subs from './subscriptions.js';
import type { Affiliation, NodeConfig, NodeRecord, PubsubItem, Subscription } from './types.js';
import { DEFAULT_SUBSCRIPTION_OPTIONS } from './types.js';

export class PubsubService {
  private readonly core: ServiceCore;

  constructor(readonly options: PubsubServiceOptions) {
    this.core = new ServiceCore(options);
  }

  get jid(): string {
    return this.options.jid;
  }

  /** A node's record (with service-wide owners overlaid), if it exists. */
  node(node: string): Promise<NodeRecord | undefined> {
    return this.core.load(node);
  }

  /** Every node name of the scope. */
  nodeNames(): Promise<string[]> {
    return this.options.stores.nodes.keys(this.options.scope);
  }

  create(from: Jid, node: string | undefined, config?: ParsedForm): Promise<string> {
    return nodes.createNode(this.core, from, node, config);
  }

  configForm(from: Jid, node: string): Promise<Element> {
    return nodes.getConfigForm(this.core, from, node);
  }

  defaultConfigForm(): Element {
    return nodes.defaultConfigForm(this.core);
  }

  configure(from: Jid, node: string, form: ParsedForm): Promise<void> {
    return nodes.configureNode(this.core, from, node, form);
  }

  delete(from: Jid, node: string, redirect?: string): Promise<void> {
    return nodes.deleteNode(this.core, from, node, redirect);
  }

  purge(from: Jid, node: string): Promise<void> {
    return nodes.purgeNode(this.core, from, node);
  }

  publish(from: Jid, node: string, input: pub.PublishInput): Promise<{ id: string }> {
    return pub.publishItem(this.core, from, node, input);
  }

  retract(from: Jid, node: string, ids: string[], notify = false): Promise<void> {
    return pub.retractItems(this.core, from, node, ids, notify);
  }

  items(from: Jid, node: string, query: { ids?: string[]; max?: number; subid?: string } = {}): Promise<PubsubItem[]> {
    return pub.getItems(this.core, from, node, query);
  }

  /** Send the node's newest item to `to` (XEP-0060 §6.1.7; PEP: a contact coming online). */
  sendLastItem(node: string, to: string): Promise<boolean> {
    return pub.sendLastItem(this.core, node, to);
  }

  subscribe(from: Jid, node: string, jid: string | undefined, options?: ParsedForm): Promise<Subscription> {
    return subs.subscribe(this.core, from, node, jid, options);
  }

  /** After the subscribe result was sent: the last published item, per send_last_published_item. */
  afterSubscribe(sub: Subscription): Promise<void> {
    return subs.afterSubscribe(this.core, sub);
  }

  unsubscribe(from: Jid, node: string, jid: string | undefined, subid?: string): Promise<void> {
    return subs.unsubscribe(this.core, from, node, jid, subid);
  }

  subscriptionOptions(from: Jid, node: string, jid: string | undefined, subid?: string): Promise<{ jid: string; subid: string; form: Element }> {
    return subs.getOptions(this.core, from, node, jid, subid);
  }

  setSubscriptionOptions(from: Jid, node: string, jid: string | undefined, subid: string | undefined, form: ParsedForm): Promise<void> {
    return subs.setOptions(this.core, from, node, jid, subid, form);
  }

  defaultSubscriptionOptionsForm(): Element {
    return subs.subscriptionOptionsForm(DEFAULT_SUBSCRIPTION_OPTIONS);
  }

  subscriptions(from: Jid, node?: string): Promise<Subscription[]> {
    return subs.entitySubscriptions(this.core, from, node);
  }

  affiliations(from: Jid, node?: string): Promise<Array<{ node: string; affiliation: Affiliation }>> {
    return nodes.entityAffiliations(this.core, from, node);
  }

  ownerSubscriptions(from: Jid, node: string): Promise<Subscription[]> {
    return subs.ownerSubscriptions(this.core, from, node);
  }

  setSubscriptions(from: Jid, node: string, changes: Array<{ jid?: string; subscription?: string; subid?: string }>): Promise<void> {
    return subs.setSubscriptions(this.core, from, node, changes);
  }

  ownerAffiliations(from: Jid, node: string): Promise<Array<{ jid: string; affiliation: Affiliation }>> {
    return nodes.ownerAffiliations(this.core, from, node);
  }

  setAffiliations(from: Jid, node: string, changes: Array<{ jid: string; affiliation: string }>): Promise<void> {
    return nodes.setAffiliations(this.core, from, node, changes);
  }

  /** An owner's answer to a subscribe_authorization form; false when the form is not one. */
  answerAuthorization(from: Jid, form: ParsedForm): Promise<boolean> {
    return subs.answerAuthorization(this.core, from, form);
  }

  /** Nodes `from` may see (disco#items of the service). */
  visibleNodes(from: Jid): Promise<Array<{ node: string; title: string }>> {
    return nodes.visibleNodes(this.core, from);
  }

  /** The pubsub#meta-data form of a node (disco#info of the node). */
  metadata(from: Jid, node: string): Promise<Element> {
    return nodes.nodeMetadata(this.core, from, node);
  }

  /** Item ids of a node, newest first, for those who may retrieve items (disco#items of a node). */
  itemIds(from: Jid, node: string): Promise<string[]> {
    return nodes.nodeItemIds(this.core, from, node);
  }

  /** The configuration a new node gets before forms apply. */
  get defaultConfig(): NodeConfig {
    return this.options.defaultConfig;
  }
}
