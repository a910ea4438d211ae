/**
 * Subscriptions: subscribe and unsubscribe (XEP-0060 §6.1, §6.2), subscription options (§6.3,
 * §6.4), the requester's subscriptions (§5.6), owner management (§8.8) and the authorization of
 * pending subscriptions with the subscribe_authorization form (§8.6). One subscription per JID
 * (no multi-subscribe): each has a subid all the same, which requests may name.
 */
import { stanzaError } from '../../../core/errors.js';
import { tryParseJid, type Jid } from '../../../jid/index.js';
import { Element } from '../../../xml/element.js';
import { message } from '../../../xml/stanza.js';
import { FORM_SUBSCRIBE_AUTHORIZATION, FORM_SUBSCRIBE_OPTIONS, NS_PUBSUB_EVENT } from '../ns.js';
import { bareOf, checkAccess, checkOwner, ownersOf } from './access.js';
import type { ServiceCore } from './core.js';
import { pubsubError } from './errors.js';
import { buildForm, parseBoolean, type ParsedForm } from './forms.js';
import { sendLastItem } from './publish.js';
import { DEFAULT_SUBSCRIPTION_OPTIONS, type NodeRecord, type StoredSubscription, type Subscription, type SubscriptionOptions, type SubscriptionState } from './types.js';

/** The subscription options form (§6.3.2), filled with `options`. */
export function subscriptionOptionsForm(options: SubscriptionOptions): Element {
  return buildForm('form', FORM_SUBSCRIBE_OPTIONS, [
    { var: 'pubsub#deliver', type: 'boolean', label: 'Enable delivery?', values: [options.deliver ? 'true' : 'false'] },
    { var: 'pubsub#include_body', type: 'boolean', label: 'Receive message body in addition to payload?', values: [options.include_body ? 'true' : 'false'] },
  ]);
}

/** Options from a submitted form on top of `base`; bad values are bad-request + invalid-options. */
export function applyOptionsForm(base: SubscriptionOptions, form: ParsedForm): SubscriptionOptions {
  if (form.formType !== undefined && form.formType !== FORM_SUBSCRIBE_OPTIONS) throw pubsubError('CANTO_ERR_PUBSUB_INVALID_OPTIONS', `the form is of type ${form.formType}`);
  const next = { ...base };
  for (const key of ['deliver', 'include_body'] as const) {
    const raw = form.fields.get(`pubsub#${key}`);
    if (raw === undefined) continue;
    const b = parseBoolean(raw[0]);
    if (b === undefined) throw pubsubError('CANTO_ERR_PUBSUB_INVALID_OPTIONS', `pubsub#${key}: expected a boolean`);
    next[key] = b;
  }
  return next;
}

/** The JID a request names, normalised; jid-required when absent, jid-malformed when invalid. */
function requestedJid(raw: string | undefined): Jid {
  if (raw === undefined || raw === '') throw pubsubError('CANTO_ERR_PUBSUB_JID_REQUIRED');
  const jid = tryParseJid(raw);
  if (!jid) throw stanzaError('CANTO_ERR_JID_MALFORMED', `not a JID: ${raw}`);
  return jid;
}

/** The subscription of `jid` a request means (with or without subid), or the §6.2.3 errors. */
function findSubscription(rec: NodeRecord, jid: string, subid: string | undefined): [string, StoredSubscription] {
  const mine = Object.entries(rec.subscriptions).filter(([, s]) => s.jid === jid);
  if (subid !== undefined) {
    const hit = rec.subscriptions[subid];
    if (!hit || hit.jid !== jid) {
      if (mine.length === 0) throw pubsubError('CANTO_ERR_PUBSUB_NOT_SUBSCRIBED');
      throw pubsubError('CANTO_ERR_PUBSUB_INVALID_SUBID');
    }
    return [subid, hit];
  }
  const [first] = mine;
  if (!first) throw pubsubError('CANTO_ERR_PUBSUB_NOT_SUBSCRIBED');
  if (mine.length > 1) throw pubsubError('CANTO_ERR_PUBSUB_SUBID_REQUIRED');
  return first;
}

function subscriptionEvent(node: string, jid: string, state: SubscriptionState, subid?: string): Element {
  return new Element('subscription', { xmlns: NS_PUBSUB_EVENT, node, jid, subscription: state, subid });
}

/** Tell one JID its subscription changed (§8.8.4, subscription-notifications). */
function tellSubscriber(core: ServiceCore, rec: NodeRecord, node: string, jid: string, state: SubscriptionState, subid?: string): void {
  core.opts.send(core.eventMessage(jid, rec.config, subscriptionEvent(node, jid, state, subid)));
  core.opts.observer?.notified?.(node, 'subscription', 1);
}

/** §8.6.1: ask each owner to approve a pending subscription, with the subscribe_authorization form. */
function askOwners(core: ServiceCore, rec: NodeRecord, node: string, jid: string, subid: string): void {
  for (const owner of ownersOf(rec)) {
    const form = buildForm('form', FORM_SUBSCRIBE_AUTHORIZATION, [
      { var: 'pubsub#subid', type: 'hidden', values: [subid] },
      { var: 'pubsub#node', type: 'text-single', label: 'Node ID', values: [node] },
      { var: 'pubsub#subscriber_jid', type: 'jid-single', label: 'Subscriber Address', values: [jid] },
      { var: 'pubsub#allow', type: 'boolean', label: 'Allow this JID to subscribe to this pubsub node?', values: ['false'] },
    ]);
    form.c('title').t('PubSub subscriber request');
    core.opts.send(message({ from: core.opts.jid, to: owner, id: core.newId() }).cnode(form));
  }
}

/** §6.1: subscribe `jid` (which must be the requester's); pending on authorize nodes. */
export async function subscribe(core: ServiceCore, from: Jid, node: string, rawJid: string | undefined, options: ParsedForm | undefined): Promise<Subscription> {
  const jid = requestedJid(rawJid);
  if (jid.bare !== from.bare) throw pubsubError('CANTO_ERR_PUBSUB_INVALID_JID');
  const rec = await core.require(node);
  const verdict = await checkAccess(rec, from.bare, 'subscribe', core.opts.access);
  const opts = options ? applyOptionsForm(DEFAULT_SUBSCRIPTION_OPTIONS, options) : DEFAULT_SUBSCRIPTION_OPTIONS;
  const fresh = core.newId();
  let result: Subscription | undefined;
  let created = false;
  const after = await core.update(node, (st) => {
    const existing = Object.entries(st.subscriptions).find(([, s]) => s.jid === jid.full);
    if (existing) {
      // Subscribing again is no error: the subscription as it is (options updated if given).
      const [subid, sub] = existing;
      if (options) sub.options = opts;
      result = { node, subid, ...sub };
      created = false;
      return;
    }
    if (Object.keys(st.subscriptions).length >= core.opts.limits.maxSubscriptions) throw pubsubError('CANTO_ERR_PUBSUB_TOO_MANY_SUBSCRIPTIONS');
    const sub: StoredSubscription = { jid: jid.full, state: verdict === 'pending' ? 'pending' : 'subscribed', options: opts };
    st.subscriptions[fresh] = sub;
    result = { node, subid: fresh, ...sub };
    created = true;
  });
  if (!result) throw new Error('subscription update did not run');
  const sub: Subscription = result;
  if (created) {
    const view = core.view(after);
    if (sub.state === 'pending') askOwners(core, view, node, sub.jid, sub.subid);
    else if (view.config.notify_sub) for (const owner of ownersOf(view)) tellSubscriber(core, view, node, owner, 'subscribed');
  }
  return sub;
}

/** What to do right after a subscription result was sent: the last item (§6.1.7). */
export async function afterSubscribe(core: ServiceCore, sub: Subscription): Promise<void> {
  if (sub.state !== 'subscribed') return;
  const rec = await core.load(sub.node);
  if (!rec || rec.config.send_last_published_item === 'never') return;
  await sendLastItem(core, sub.node, sub.jid);
}

/** §6.2: unsubscribe. Only the subscriber itself (forbidden for another JID) or an owner. */
export async function unsubscribe(core: ServiceCore, from: Jid, node: string, rawJid: string | undefined, subid: string | undefined): Promise<void> {
  const jid = requestedJid(rawJid);
  const rec = await core.require(node);
  const owner = rec.affiliations[from.bare] === 'owner';
  if (jid.bare !== from.bare && !owner) throw stanzaError('CANTO_ERR_FORBIDDEN', 'you may only unsubscribe yourself');
  const [id] = findSubscription(rec, jid.full, subid);
  await core.update(node, (st) => {
    if (!st.subscriptions[id]) throw pubsubError('CANTO_ERR_PUBSUB_NOT_SUBSCRIBED');
    delete st.subscriptions[id];
  });
}

/** §6.3: the options of a subscription, as a form. */
export async function getOptions(core: ServiceCore, from: Jid, node: string, rawJid: string | undefined, subid: string | undefined): Promise<{ jid: string; subid: string; form: Element }> {
  const jid = requestedJid(rawJid);
  const rec = await core.require(node);
  if (jid.bare !== from.bare && rec.affiliations[from.bare] !== 'owner') throw stanzaError('CANTO_ERR_FORBIDDEN', 'you may only read your own options');
  const [id, sub] = findSubscription(rec, jid.full, subid);
  return { jid: sub.jid, subid: id, form: subscriptionOptionsForm(sub.options) };
}

/** §6.3.5: submit the options of a subscription. */
export async function setOptions(core: ServiceCore, from: Jid, node: string, rawJid: string | undefined, subid: string | undefined, form: ParsedForm): Promise<void> {
  const jid = requestedJid(rawJid);
  const rec = await core.require(node);
  if (jid.bare !== from.bare && rec.affiliations[from.bare] !== 'owner') throw stanzaError('CANTO_ERR_FORBIDDEN', 'you may only change your own options');
  const [id, sub] = findSubscription(rec, jid.full, subid);
  const options = applyOptionsForm(sub.options, form);
  await core.update(node, (st) => {
    const s = st.subscriptions[id];
    if (!s) throw pubsubError('CANTO_ERR_PUBSUB_NOT_SUBSCRIBED');
    s.options = options;
  });
}

/** §5.6: the requester's subscriptions (any of its resources), on one node or all. */
export async function entitySubscriptions(core: ServiceCore, from: Jid, node: string | undefined): Promise<Subscription[]> {
  const records = node === undefined ? await core.opts.stores.nodes.getAll(core.opts.scope) : new Map([[node, await core.require(node)]]);
  const out: Subscription[] = [];
  for (const [name, rec] of records) {
    for (const [subid, sub] of Object.entries(rec.subscriptions)) if (bareOf(sub.jid) === from.bare) out.push({ node: name, subid, ...sub });
  }
  return out;
}

/** §8.8.1: every subscription of a node, for an owner. */
export async function ownerSubscriptions(core: ServiceCore, from: Jid, node: string): Promise<Subscription[]> {
  const rec = await core.require(node);
  checkOwner(rec, from.bare);
  return Object.entries(rec.subscriptions).map(([subid, sub]) => ({ node, subid, ...sub }));
}

const STATES: readonly SubscriptionState[] = ['none', 'subscribed', 'pending', 'unconfigured'];

/**
 * §8.8.2: an owner sets subscription states ('none' removes, 'subscribed' approves or adds,
 * 'pending'/'unconfigured' as given). All or nothing; changed subscribers are told.
 */
export async function setSubscriptions(core: ServiceCore, from: Jid, node: string, changes: Array<{ jid?: string; subscription?: string; subid?: string }>): Promise<void> {
  const parsed = changes.map((c) => {
    const state = STATES.find((s) => s === c.subscription);
    if (state === undefined) throw stanzaError('CANTO_ERR_BAD_REQUEST', `unknown subscription state ${c.subscription ?? '(none)'}`);
    return { jid: requestedJid(c.jid).full, state, subid: c.subid };
  });
  const told: Array<{ jid: string; state: SubscriptionState; subid?: string }> = [];
  const fresh = parsed.map(() => core.newId());
  const rec = await core.update(node, (st, view) => {
    checkOwner(view, from.bare);
    told.length = 0;
    for (const [i, c] of parsed.entries()) {
      const found = Object.entries(st.subscriptions).find(([id, s]) => s.jid === c.jid && (c.subid === undefined || c.subid === id));
      if (c.state === 'none') {
        if (found) {
          delete st.subscriptions[found[0]];
          told.push({ jid: c.jid, state: 'none', subid: found[0] });
        }
        continue;
      }
      if (found) {
        if (found[1].state !== c.state) told.push({ jid: c.jid, state: c.state, subid: found[0] });
        found[1].state = c.state;
        continue;
      }
      if (Object.keys(st.subscriptions).length >= core.opts.limits.maxSubscriptions) throw pubsubError('CANTO_ERR_PUBSUB_TOO_MANY_SUBSCRIPTIONS');
      const subid = c.subid ?? fresh[i] ?? core.newId();
      st.subscriptions[subid] = { jid: c.jid, state: c.state, options: { ...DEFAULT_SUBSCRIPTION_OPTIONS } };
      told.push({ jid: c.jid, state: c.state, subid });
    }
  });
  for (const t of told) tellSubscriber(core, rec, node, t.jid, t.state, t.subid);
  for (const t of told) if (t.state === 'subscribed' && rec.config.send_last_published_item !== 'never') await sendLastItem(core, node, t.jid);
}

/**
 * §8.6.2: an owner's answer to a subscribe_authorization form (a message to the service).
 * Returns false when the form is not one (the caller ignores the message).
 */
export async function answerAuthorization(core: ServiceCore, from: Jid, form: ParsedForm): Promise<boolean> {
  if (form.formType !== FORM_SUBSCRIBE_AUTHORIZATION || form.type !== 'submit') return false;
  const node = form.fields.get('pubsub#node')?.[0];
  const jid = form.fields.get('pubsub#subscriber_jid')?.[0];
  const allow = parseBoolean(form.fields.get('pubsub#allow')?.[0]);
  if (node === undefined || jid === undefined || allow === undefined) return false;
  const subid = form.fields.get('pubsub#subid')?.[0];
  await setSubscriptions(core, from, node, [{ jid, subscription: allow ? 'subscribed' : 'none', subid }]);
  return true;
}
