/**
 * The pubsub engine's pure parts: the node_config form and its validation against limits, the
 * publish-options preconditions, item order and max_items eviction, the access decisions of every
 * access model and affiliation, the request parser, and the `[modules.pubsub]` options.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StanzaError } from '../../src/core/errors.js';
import { Element } from '../../src/xml/element.js';
import { applyConfigForm, configForm, effectiveMaxItems, unmetPrecondition } from '../../src/modules/pubsub/engine/config.js';
import { parseForm, type ParsedForm } from '../../src/modules/pubsub/engine/forms.js';
import { newestFirst, placeItem, trimTo } from '../../src/modules/pubsub/engine/items.js';
import { checkAccess, checkPublish, checkRetract, type AccessResolver } from '../../src/modules/pubsub/engine/access.js';
import { BASE_NODE_CONFIG, type NodeConfig, type NodeRecord } from '../../src/modules/pubsub/engine/types.js';
import { parsePubsubRequest } from '../../src/modules/pubsub/protocol/parse.js';
import { NS_PUBSUB, NS_PUBSUB_OWNER, NS_PUBSUB_ERRORS } from '../../src/modules/pubsub/ns.js';
import { checkModuleConfig } from '../../src/core/module-config.js';
import { builtinModules } from '../../src/modules/index.js';
import { testConfig } from '../../src/testing/index.js';

const LIMITS = { maxItems: 50 };

function submitted(fields: Record<string, string | string[]>, formType = 'http://jabber.org/protocol/pubsub#node_config'): ParsedForm {
  return { type: 'submit', formType, fields: new Map(Object.entries(fields).map(([k, v]) => [k, typeof v === 'string' ? [v] : v])) };
}

/** 'condition+child' of a thrown StanzaError. */
function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StanzaError, String(err));
    const child = err.appCondition;
    return child && child.xmlns === NS_PUBSUB_ERRORS ? `${err.condition}+${child.name}` : err.condition;
  }
  return 'no error';
}

async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return failure(() => {
      throw err;
    });
  }
  return 'no error';
}

test('the config form round-trips: a form filled with a config reads back as that config', () => {
  const config: NodeConfig = { ...BASE_NODE_CONFIG, title: 'T', max_items: 'max', access_model: 'roster', roster_groups_allowed: ['a', 'b'], notify_config: true };
  const form = parseForm(configForm(config));
  assert.equal(form.formType, 'http://jabber.org/protocol/pubsub#node_config');
  assert.deepEqual(applyConfigForm(BASE_NODE_CONFIG, { ...form, type: 'submit' }, LIMITS), config);
});

test('config values are validated: booleans, choices, max_items against the limit; unknown fields ignored', () => {
  const next = applyConfigForm(BASE_NODE_CONFIG, submitted({ 'pubsub#persist_items': '0', 'pubsub#max_items': '7', 'pubsub#unknown': 'x' }), LIMITS);
  assert.equal(next.persist_items, false);
  assert.equal(next.max_items, 7);
  assert.equal(failure(() => applyConfigForm(BASE_NODE_CONFIG, submitted({ 'pubsub#persist_items': 'yes' }), LIMITS)), 'not-acceptable');
  assert.equal(failure(() => applyConfigForm(BASE_NODE_CONFIG, submitted({ 'pubsub#access_model': 'everyone' }), LIMITS)), 'not-acceptable');
  assert.equal(failure(() => applyConfigForm(BASE_NODE_CONFIG, submitted({ 'pubsub#max_items': '0' }), LIMITS)), 'not-acceptable');
  assert.equal(failure(() => applyConfigForm(BASE_NODE_CONFIG, submitted({ 'pubsub#max_items': '51' }), LIMITS)), 'not-acceptable+max-items-exceeded');
  assert.equal(failure(() => applyConfigForm(BASE_NODE_CONFIG, submitted({}, 'urn:other'), LIMITS)), 'not-acceptable');
  assert.equal(effectiveMaxItems({ ...BASE_NODE_CONFIG, max_items: 'max' }, LIMITS), 50);
});

test('publish-options preconditions: equal values pass, different or unknown fields name the field', () => {
  const config: NodeConfig = { ...BASE_NODE_CONFIG, access_model: 'whitelist', max_items: 'max' };
  const po = (f: Record<string, string | string[]>) => submitted(f, 'http://jabber.org/protocol/pubsub#publish-options');
  assert.equal(unmetPrecondition(config, po({ 'pubsub#access_model': 'whitelist', 'pubsub#persist_items': '1' }), LIMITS), undefined);
  assert.equal(unmetPrecondition(config, po({ 'pubsub#max_items': 'max' }), LIMITS), undefined);
  assert.equal(unmetPrecondition(config, po({ 'pubsub#max_items': '50' }), LIMITS), undefined, "'max' is the limit");
  assert.equal(unmetPrecondition(config, po({ 'pubsub#max_items': '10' }), LIMITS), 'pubsub#max_items');
  assert.equal(unmetPrecondition(config, po({ 'pubsub#access_model': 'open' }), LIMITS), 'pubsub#access_model');
  assert.equal(unmetPrecondition(config, po({ 'pubsub#persist_items': 'false' }), LIMITS), 'pubsub#persist_items');
  assert.equal(unmetPrecondition(config, po({ 'pubsub#whatever': 'x' }), LIMITS), 'pubsub#whatever');
});

test('items: an overwrite becomes the newest, max_items evicts the oldest, reads are newest first', () => {
  assert.deepEqual(placeItem(['a', 'b', 'c'], 'd', 3), { items: ['b', 'c', 'd'], evicted: ['a'] });
  assert.deepEqual(placeItem(['a', 'b', 'c'], 'a', 3), { items: ['b', 'c', 'a'], evicted: [] });
  assert.deepEqual(placeItem([], 'a', 1), { items: ['a'], evicted: [] });
  assert.deepEqual(placeItem(['a'], 'b', 1), { items: ['b'], evicted: ['a'] });
  assert.deepEqual(newestFirst(['a', 'b', 'c'], 2), ['c', 'b']);
  assert.deepEqual(newestFirst(['a', 'b', 'c']), ['c', 'b', 'a']);
  assert.deepEqual(trimTo(['a', 'b', 'c'], 1), { items: ['c'], evicted: ['a', 'b'] });
});

function node(config: Partial<NodeConfig>, affiliations: NodeRecord['affiliations'] = {}, subscriptions: NodeRecord['subscriptions'] = {}): NodeRecord {
  return { created: 0, creator: 'owner@x', config: { ...BASE_NODE_CONFIG, ...config }, affiliations: { 'owner@x': 'owner', ...affiliations }, subscriptions, items: [] };
}

const resolver: AccessResolver = {
  hasPresenceSubscription: (owner, requester) => Promise.resolve(owner === 'owner@x' && requester === 'friend@x'),
  rosterGroups: (owner, requester) => Promise.resolve(owner === 'owner@x' && requester === 'friend@x' ? ['friends'] : []),
};

test('access decisions for every access model, by affiliation and roster', async () => {
  const cases: Array<[string, Partial<NodeConfig>, string, string]> = [
    ['open', { access_model: 'open' }, 'stranger@x', 'allow'],
    ['presence contact', { access_model: 'presence' }, 'friend@x', 'allow'],
    ['presence stranger', { access_model: 'presence' }, 'stranger@x', 'not-authorized+presence-subscription-required'],
    ['presence member', { access_model: 'presence' }, 'member@x', 'allow'],
    ['roster in group', { access_model: 'roster', roster_groups_allowed: ['friends'] }, 'friend@x', 'allow'],
    ['roster other group', { access_model: 'roster', roster_groups_allowed: ['family'] }, 'friend@x', 'not-authorized+not-in-roster-group'],
    ['whitelist member', { access_model: 'whitelist' }, 'member@x', 'allow'],
    ['whitelist contact', { access_model: 'whitelist' }, 'friend@x', 'not-allowed+closed-node'],
    ['authorize stranger', { access_model: 'authorize' }, 'stranger@x', 'not-authorized+not-subscribed'],
    ['authorize subscriber', { access_model: 'authorize' }, 'sub@x', 'allow'],
    ['authorize pending', { access_model: 'authorize' }, 'pending@x', 'not-authorized+pending-subscription'],
    ['outcast on open', { access_model: 'open' }, 'outcast@x', 'forbidden'],
    ['publisher on whitelist', { access_model: 'whitelist' }, 'pub@x', 'allow'],
    ['publish-only on open', { access_model: 'open' }, 'po@x', 'forbidden'],
  ];
  const subs: NodeRecord['subscriptions'] = {
    s1: { jid: 'sub@x/r', state: 'subscribed', options: { deliver: true, include_body: false } },
    s2: { jid: 'pending@x', state: 'pending', options: { deliver: true, include_body: false } },
  };
  const affs: NodeRecord['affiliations'] = { 'member@x': 'member', 'outcast@x': 'outcast', 'pub@x': 'publisher', 'po@x': 'publish-only' };
  for (const [what, config, who, want] of cases) {
    const got = await checkAccess(node(config, affs, subs), who, 'items', resolver).then((v) => v, (err: unknown) => rejection(Promise.reject(err)));
    assert.equal(got, want, what);
  }
  assert.equal(await checkAccess(node({ access_model: 'authorize' }), 'stranger@x', 'subscribe', resolver), 'pending');
});

test('publish and retract permissions: publish models and affiliations', () => {
  const subs: NodeRecord['subscriptions'] = { s1: { jid: 'sub@x', state: 'subscribed', options: { deliver: true, include_body: false } } };
  assert.equal(failure(() => checkPublish(node({}), 'stranger@x')), 'forbidden');
  assert.equal(failure(() => checkPublish(node({}, { 'pub@x': 'publisher' }), 'pub@x')), 'no error');
  assert.equal(failure(() => checkPublish(node({ publish_model: 'subscribers' }, {}, subs), 'sub@x')), 'no error');
  assert.equal(failure(() => checkPublish(node({ publish_model: 'subscribers' }, {}, subs), 'stranger@x')), 'forbidden');
  assert.equal(failure(() => checkPublish(node({ publish_model: 'open' }), 'stranger@x')), 'no error');
  assert.equal(failure(() => checkPublish(node({ publish_model: 'open' }, { 'bad@x': 'outcast' }), 'bad@x')), 'forbidden');
  assert.equal(failure(() => checkRetract(node({}, { 'po@x': 'publish-only' }), 'po@x', 'po@x/res')), 'no error', 'own item');
  assert.equal(failure(() => checkRetract(node({}, { 'po@x': 'publish-only' }), 'po@x', 'owner@x/res')), 'forbidden', "another's item");
  assert.equal(failure(() => checkRetract(node({}, { 'pub@x': 'publisher' }), 'pub@x', 'owner@x/res')), 'no error');
});

function pubsub(owner: boolean, ...children: Element[]): Element {
  const p = new Element('pubsub', { xmlns: owner ? NS_PUBSUB_OWNER : NS_PUBSUB });
  for (const c of children) p.cnode(c);
  return p;
}
const e = (name: string, attrs: Record<string, string> = {}, ...children: Element[]) => {
  const x = new Element(name, attrs, NS_PUBSUB);
  for (const c of children) x.cnode(c);
  return x;
};
const o = (name: string, attrs: Record<string, string> = {}, ...children: Element[]) => {
  const x = new Element(name, attrs, NS_PUBSUB_OWNER);
  for (const c of children) x.cnode(c);
  return x;
};

test('the request parser: typed requests and shape errors', () => {
  const payload = new Element('entry', { xmlns: 'urn:x' });
  assert.deepEqual(parsePubsubRequest('set', pubsub(false, e('publish', { node: 'n' }, e('item', { id: 'i' }, payload)))), {
    op: 'publish',
    node: 'n',
    item: { id: 'i', payloads: [payload] },
    options: undefined,
  });
  assert.deepEqual(parsePubsubRequest('set', pubsub(false, e('create'))), { op: 'create', node: undefined, config: undefined });
  assert.deepEqual(parsePubsubRequest('get', pubsub(false, e('items', { node: 'n', max_items: '3' }))), { op: 'items', node: 'n', ids: undefined, max: 3, subid: undefined });
  assert.deepEqual(parsePubsubRequest('set', pubsub(false, e('retract', { node: 'n', notify: 'true' }, e('item', { id: 'a' })))), { op: 'retract', node: 'n', ids: ['a'], notify: true });
  assert.deepEqual(parsePubsubRequest('set', pubsub(true, o('delete', { node: 'n' }, o('redirect', { uri: 'xmpp:x' })))), { op: 'delete', node: 'n', redirect: 'xmpp:x' });
  assert.deepEqual(parsePubsubRequest('get', pubsub(true, o('default'))), { op: 'default' });
  const shapes: Array<[string, () => unknown, string]> = [
    ['no action', () => parsePubsubRequest('get', pubsub(false)), 'bad-request'],
    ['publish without node', () => parsePubsubRequest('set', pubsub(false, e('publish'))), 'bad-request+nodeid-required'],
    ['retract without item', () => parsePubsubRequest('set', pubsub(false, e('retract', { node: 'n' }))), 'bad-request+item-required'],
    ['items get as set', () => parsePubsubRequest('set', pubsub(false, e('items', { node: 'n' }))), 'bad-request'],
    ['max_items 0', () => parsePubsubRequest('get', pubsub(false, e('items', { node: 'n', max_items: '0' }))), 'bad-request'],
    ['configure next to publish', () => parsePubsubRequest('set', pubsub(false, e('publish', { node: 'n' }), e('configure'))), 'bad-request'],
    ['owner purge without node', () => parsePubsubRequest('set', pubsub(true, o('purge'))), 'bad-request+nodeid-required'],
    ['unknown owner action', () => parsePubsubRequest('get', pubsub(true, o('frob', { node: 'n' }))), 'bad-request'],
    ['not pubsub', () => parsePubsubRequest('get', new Element('query', { xmlns: 'urn:x' })), 'bad-request'],
  ];
  for (const [what, fn, want] of shapes) assert.equal(failure(fn), want, what);
});

test('[modules.pubsub] options: defaults, and errors naming the key', () => {
  const config = testConfig();
  const check = () => checkModuleConfig(config, builtinModules);
  config.modules.pubsub = { max_items_per_node: 10, node_defaults: { max_items: 20 } };
  assert.throws(check, /modules\.pubsub\.node_defaults\.max_items: node_defaults\.max_items cannot be more than max_items_per_node/);
  config.modules.pubsub = { max_item_sise: '1 KiB' };
  assert.throws(check, /max_item_sise.*did you mean/);
  config.modules.pubsub = { node_defaults: { access_model: 'everyone' } };
  assert.throws(check, /modules\.pubsub\.node_defaults\.access_model/);
  config.modules.pubsub = { max_item_size: '1 KiB', creators: 'anyone', node_defaults: { access_model: 'presence', max_items: 'max' } };
  assert.deepEqual(checkModuleConfig(config, builtinModules), []);
});
