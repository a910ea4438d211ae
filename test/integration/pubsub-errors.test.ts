/**
 * Every malformed or forbidden pubsub request gets its exact XEP-0060 error (§5–8): the stanza
 * error condition, its type, and the pubsub#errors child (with `feature` for <unsupported/>).
 * One table, driven through @xmpp/client against pubsub.localhost with small limits; nothing is
 * stored by a refused request (checked at the end for the limit rows).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loadXmppJs, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { ask, create, entry, errorType, form, makeContacts, NS, nodeConfig, outcome, psIq, publish, SERVICE } from '../helpers/pubsub.js';

// The table below is built with xmpp.js's xml() when the file loads.
await loadXmppJs();

let ts: TestServer;
let hamlet: LoggedInClient;
let bernardo: LoggedInClient;
let francisco: LoggedInClient;
let bernardoSubid = '';

before(async () => {
  ts = await startTestServer((c) => {
    c.component = [{ domain: SERVICE, module: 'pubsub' }];
    c.modules.pubsub = { max_item_size: 512, max_items_per_node: 5, max_subscriptions_per_node: 2, max_nodes_per_owner: 10 };
  });
  for (const u of ['hamlet', 'bernardo', 'francisco', 'horatio']) await createAccount(ts, u, 'pw');
  await makeContacts(ts, 'hamlet', 'horatio', ['friends']);
  hamlet = await loginClient(ts, 'hamlet', 'pw', 'elsinore');
  bernardo = await loginClient(ts, 'bernardo', 'pw', 'watch');
  francisco = await loginClient(ts, 'francisco', 'pw', 'post');
  await hamlet.iq(create('n'));
  await hamlet.iq(publish('n', 'i1', entry('one')));
  await hamlet.iq(create('wl', { 'pubsub#access_model': 'whitelist' }));
  await hamlet.iq(create('transient', { 'pubsub#persist_items': false, 'pubsub#deliver_payloads': false }));
  await hamlet.iq(create('typed', { 'pubsub#type': 'urn:test:typed' }));
  await hamlet.iq(create('auth', { 'pubsub#access_model': 'authorize' }));
  await hamlet.iq(create('pres', { 'pubsub#access_model': 'presence' }));
  await hamlet.iq(create('ros', { 'pubsub#access_model': 'roster', 'pubsub#roster_groups_allowed': ['friends'] }));
  await hamlet.iq(create('full'));
  await bernardo.iq(psIq('set', [xml('subscribe', { node: 'auth', jid: bernardo.jid })]));
  const sub = await bernardo.iq(psIq('set', [xml('subscribe', { node: 'n', jid: bernardo.jid })]));
  bernardoSubid = sub.getChild('pubsub', NS.pubsub)?.getChild('subscription')?.attrs.subid ?? '';
  await bernardo.iq(psIq('set', [xml('subscribe', { node: 'full', jid: bernardo.jid })]));
  await hamlet.iq(psIq('set', [xml('subscribe', { node: 'full', jid: hamlet.jid })]));
  for (let i = 0; i < 10; i++) await francisco.iq(create(`f${i}`));
});
after(async () => {
  for (const c of [hamlet, bernardo, francisco]) await (c as LoggedInClient | undefined)?.stop(); // unset when a login failed
  await (ts as TestServer | undefined)?.stop();
});

type Who = 'hamlet' | 'bernardo' | 'francisco';
interface Row {
  what: string;
  who: Who;
  iq: () => XElement;
  /** condition, or condition+pubsub-child[feature] */
  expect: string;
  type: 'auth' | 'cancel' | 'modify' | 'wait';
}

const ps = (type: 'get' | 'set', ...children: XElement[]) => () => psIq(type, children);
const owner = (type: 'get' | 'set', ...children: XElement[]) => () => psIq(type, children, true);
const big = () => xml('blob', { xmlns: 'urn:test:big' }, 'x'.repeat(600));

const rows: Row[] = [
  // Create (§8.1.3)
  { what: 'create an existing node', who: 'hamlet', iq: () => create('n'), expect: 'conflict', type: 'cancel' },
  { what: 'create beyond the nodes an owner may have', who: 'francisco', iq: () => create('f10'), expect: 'policy-violation+max-nodes-exceeded', type: 'modify' },
  { what: 'create with a bad config value', who: 'hamlet', iq: () => create('bad', { 'pubsub#access_model': 'everyone' }), expect: 'not-acceptable', type: 'modify' },
  // Publish (§7.1.3)
  { what: 'publish without a node', who: 'hamlet', iq: ps('set', xml('publish', {}, xml('item', {}, entry('x')))), expect: 'bad-request+nodeid-required', type: 'modify' },
  { what: 'publish without an item to a persistent node', who: 'hamlet', iq: ps('set', xml('publish', { node: 'n' })), expect: 'bad-request+item-required', type: 'modify' },
  { what: 'publish an item to a transient notification node', who: 'hamlet', iq: () => publish('transient', 'x', entry('x')), expect: 'bad-request+item-forbidden', type: 'modify' },
  { what: 'publish an item without payload to a payload node', who: 'hamlet', iq: () => publish('n', 'x', undefined), expect: 'bad-request+payload-required', type: 'modify' },
  { what: 'publish an item with two payloads', who: 'hamlet', iq: ps('set', xml('publish', { node: 'n' }, xml('item', { id: 'x' }, entry('a'), entry('b')))), expect: 'bad-request+invalid-payload', type: 'modify' },
  { what: 'publish two items at once', who: 'hamlet', iq: ps('set', xml('publish', { node: 'n' }, xml('item', { id: 'a' }, entry('a')), xml('item', { id: 'b' }, entry('b')))), expect: 'bad-request+invalid-payload', type: 'modify' },
  { what: 'publish a payload of another namespace than pubsub#type', who: 'hamlet', iq: () => publish('typed', 'x', entry('x')), expect: 'bad-request+invalid-payload', type: 'modify' },
  { what: 'publish a payload over max_item_size', who: 'hamlet', iq: () => publish('n', 'big', big()), expect: 'not-acceptable+payload-too-big', type: 'modify' },
  { what: 'publish without being a publisher', who: 'bernardo', iq: () => publish('n', 'x', entry('x')), expect: 'forbidden', type: 'auth' },
  { what: 'publish with publish-options the node does not meet', who: 'hamlet', iq: () => publish('n', 'x', entry('x'), { 'pubsub#access_model': 'whitelist' }), expect: 'conflict+precondition-not-met', type: 'cancel' },
  { what: 'publish with publish-options naming an unknown field', who: 'hamlet', iq: () => publish('n', 'x', entry('x'), { 'pubsub#no_such_field': '1' }), expect: 'conflict+precondition-not-met', type: 'cancel' },
  { what: 'publish in an iq of type get', who: 'hamlet', iq: ps('get', xml('publish', { node: 'n' }, xml('item', {}, entry('x')))), expect: 'bad-request', type: 'modify' },
  // Retract (§7.2.3)
  { what: 'retract without a node', who: 'hamlet', iq: ps('set', xml('retract', {}, xml('item', { id: 'i1' }))), expect: 'bad-request+nodeid-required', type: 'modify' },
  { what: 'retract without an item', who: 'hamlet', iq: ps('set', xml('retract', { node: 'n' })), expect: 'bad-request+item-required', type: 'modify' },
  { what: 'retract an item that does not exist', who: 'hamlet', iq: ps('set', xml('retract', { node: 'n' }, xml('item', { id: 'nope' }))), expect: 'item-not-found', type: 'cancel' },
  { what: 'retract from a node that does not exist', who: 'hamlet', iq: ps('set', xml('retract', { node: 'nope' }, xml('item', { id: 'i1' }))), expect: 'item-not-found', type: 'cancel' },
  { what: "retract another's item without privileges", who: 'bernardo', iq: ps('set', xml('retract', { node: 'n' }, xml('item', { id: 'i1' }))), expect: 'forbidden', type: 'auth' },
  { what: 'retract from a transient node', who: 'hamlet', iq: ps('set', xml('retract', { node: 'transient' }, xml('item', { id: 'x' }))), expect: 'feature-not-implemented+unsupported[persistent-items]', type: 'cancel' },
  // Items (§6.5.9)
  { what: 'items without a node', who: 'hamlet', iq: ps('get', xml('items')), expect: 'bad-request+nodeid-required', type: 'modify' },
  { what: 'items with a bad max_items', who: 'hamlet', iq: ps('get', xml('items', { node: 'n', max_items: 'ten' })), expect: 'bad-request', type: 'modify' },
  { what: 'items of a node that does not exist', who: 'hamlet', iq: ps('get', xml('items', { node: 'nope' })), expect: 'item-not-found', type: 'cancel' },
  { what: 'items of a whitelist node, not on the whitelist', who: 'bernardo', iq: ps('get', xml('items', { node: 'wl' })), expect: 'not-allowed+closed-node', type: 'cancel' },
  { what: 'items of a presence node without a presence subscription', who: 'bernardo', iq: ps('get', xml('items', { node: 'pres' })), expect: 'not-authorized+presence-subscription-required', type: 'auth' },
  { what: 'items of a roster node, not in an allowed group', who: 'bernardo', iq: ps('get', xml('items', { node: 'ros' })), expect: 'not-authorized+not-in-roster-group', type: 'auth' },
  { what: 'items of an authorize node with a pending subscription', who: 'bernardo', iq: ps('get', xml('items', { node: 'auth' })), expect: 'not-authorized+pending-subscription', type: 'auth' },
  { what: 'items of an authorize node without a subscription', who: 'francisco', iq: ps('get', xml('items', { node: 'auth' })), expect: 'not-authorized+not-subscribed', type: 'auth' },
  { what: 'items with a subid that is not the requester’s', who: 'bernardo', iq: ps('get', xml('items', { node: 'n', subid: 'not-a-subid' })), expect: 'not-acceptable+invalid-subid', type: 'modify' },
  { what: 'items of a transient node', who: 'hamlet', iq: ps('get', xml('items', { node: 'transient' })), expect: 'feature-not-implemented+unsupported[persistent-items]', type: 'cancel' },
  // Subscribe (§6.1.3)
  { what: 'subscribe another JID', who: 'bernardo', iq: ps('set', xml('subscribe', { node: 'n', jid: 'hamlet@localhost' })), expect: 'bad-request+invalid-jid', type: 'modify' },
  { what: 'subscribe without a JID', who: 'bernardo', iq: ps('set', xml('subscribe', { node: 'n' })), expect: 'bad-request+jid-required', type: 'modify' },
  { what: 'subscribe without a node', who: 'bernardo', iq: ps('set', xml('subscribe', { jid: 'bernardo@localhost' })), expect: 'bad-request+nodeid-required', type: 'modify' },
  { what: 'subscribe to a node that does not exist', who: 'bernardo', iq: ps('set', xml('subscribe', { node: 'nope', jid: 'bernardo@localhost' })), expect: 'item-not-found', type: 'cancel' },
  { what: 'subscribe to a whitelist node', who: 'bernardo', iq: ps('set', xml('subscribe', { node: 'wl', jid: 'bernardo@localhost' })), expect: 'not-allowed+closed-node', type: 'cancel' },
  { what: 'subscribe to a presence node without a presence subscription', who: 'bernardo', iq: ps('set', xml('subscribe', { node: 'pres', jid: 'bernardo@localhost' })), expect: 'not-authorized+presence-subscription-required', type: 'auth' },
  { what: 'subscribe to a roster node, not in an allowed group', who: 'bernardo', iq: ps('set', xml('subscribe', { node: 'ros', jid: 'bernardo@localhost' })), expect: 'not-authorized+not-in-roster-group', type: 'auth' },
  { what: 'subscribe to a node with all its subscriptions taken', who: 'francisco', iq: ps('set', xml('subscribe', { node: 'full', jid: 'francisco@localhost' })), expect: 'policy-violation+too-many-subscriptions', type: 'wait' },
  {
    what: 'subscribe with options that are not valid',
    who: 'francisco',
    iq: ps('set', xml('subscribe', { node: 'n', jid: 'francisco@localhost' }), xml('options', {}, form(undefined, { 'pubsub#deliver': 'maybe' }))),
    expect: 'bad-request+invalid-options',
    type: 'modify',
  },
  // Unsubscribe (§6.2.3)
  { what: 'unsubscribe when not subscribed', who: 'francisco', iq: ps('set', xml('unsubscribe', { node: 'n', jid: 'francisco@localhost' })), expect: 'unexpected-request+not-subscribed', type: 'cancel' },
  { what: 'unsubscribe with a wrong subid', who: 'bernardo', iq: () => psIq('set', [xml('unsubscribe', { node: 'n', jid: bernardo.jid, subid: 'wrong' })]), expect: 'not-acceptable+invalid-subid', type: 'modify' },
  { what: 'unsubscribe another JID', who: 'francisco', iq: () => psIq('set', [xml('unsubscribe', { node: 'n', jid: bernardo.jid })]), expect: 'forbidden', type: 'auth' },
  { what: 'unsubscribe without a JID', who: 'bernardo', iq: ps('set', xml('unsubscribe', { node: 'n' })), expect: 'bad-request+jid-required', type: 'modify' },
  // Subscription options (§6.3.4, §6.3.6)
  { what: 'options when not subscribed', who: 'francisco', iq: ps('get', xml('options', { node: 'n', jid: 'francisco@localhost' })), expect: 'unexpected-request+not-subscribed', type: 'cancel' },
  { what: "options of another's subscription", who: 'francisco', iq: () => psIq('get', [xml('options', { node: 'n', jid: bernardo.jid })]), expect: 'forbidden', type: 'auth' },
  { what: 'options with an invalid subid', who: 'bernardo', iq: () => psIq('get', [xml('options', { node: 'n', jid: bernardo.jid, subid: 'wrong' })]), expect: 'not-acceptable+invalid-subid', type: 'modify' },
  {
    what: 'options submitted with a bad value',
    who: 'bernardo',
    iq: () => psIq('set', [xml('options', { node: 'n', jid: bernardo.jid, subid: bernardoSubid }, form(undefined, { 'pubsub#deliver': 'sometimes' }))]),
    expect: 'bad-request+invalid-options',
    type: 'modify',
  },
  { what: 'options submitted without a form', who: 'bernardo', iq: () => psIq('set', [xml('options', { node: 'n', jid: bernardo.jid })]), expect: 'bad-request+invalid-options', type: 'modify' },
  // Owner: configure, delete, purge, subscriptions, affiliations (§8)
  { what: 'configure a node one does not own', who: 'bernardo', iq: owner('get', xml('configure', { node: 'n' })), expect: 'forbidden', type: 'auth' },
  { what: 'configure without a node', who: 'hamlet', iq: owner('get', xml('configure')), expect: 'bad-request+nodeid-required', type: 'modify' },
  { what: 'configure a node that does not exist', who: 'hamlet', iq: owner('get', xml('configure', { node: 'nope' })), expect: 'item-not-found', type: 'cancel' },
  { what: 'configure with a bad value', who: 'hamlet', iq: owner('set', xml('configure', { node: 'n' }, nodeConfig({ 'pubsub#persist_items': 'perhaps' }))), expect: 'not-acceptable', type: 'modify' },
  { what: 'configure max_items over the limit', who: 'hamlet', iq: owner('set', xml('configure', { node: 'n' }, nodeConfig({ 'pubsub#max_items': '1000' }))), expect: 'not-acceptable+max-items-exceeded', type: 'modify' },
  { what: 'configure with a form of another type', who: 'hamlet', iq: owner('set', xml('configure', { node: 'n' }, form('urn:other', { 'pubsub#title': 'x' }))), expect: 'not-acceptable', type: 'modify' },
  { what: 'configure set without a form', who: 'hamlet', iq: owner('set', xml('configure', { node: 'n' })), expect: 'bad-request', type: 'modify' },
  { what: 'delete a node one does not own', who: 'bernardo', iq: owner('set', xml('delete', { node: 'n' })), expect: 'forbidden', type: 'auth' },
  { what: 'delete a node that does not exist', who: 'hamlet', iq: owner('set', xml('delete', { node: 'nope' })), expect: 'item-not-found', type: 'cancel' },
  { what: 'delete without a node', who: 'hamlet', iq: owner('set', xml('delete')), expect: 'bad-request+nodeid-required', type: 'modify' },
  { what: 'purge a node one does not own', who: 'bernardo', iq: owner('set', xml('purge', { node: 'n' })), expect: 'forbidden', type: 'auth' },
  { what: 'purge a transient node', who: 'hamlet', iq: owner('set', xml('purge', { node: 'transient' })), expect: 'feature-not-implemented+unsupported[persistent-items]', type: 'cancel' },
  { what: 'subscriptions of a node one does not own', who: 'bernardo', iq: owner('get', xml('subscriptions', { node: 'n' })), expect: 'forbidden', type: 'auth' },
  { what: 'set a subscription to an unknown state', who: 'hamlet', iq: owner('set', xml('subscriptions', { node: 'n' }, xml('subscription', { jid: 'francisco@localhost', subscription: 'maybe' }))), expect: 'bad-request', type: 'modify' },
  { what: 'affiliations of a node one does not own', who: 'bernardo', iq: owner('get', xml('affiliations', { node: 'n' })), expect: 'forbidden', type: 'auth' },
  { what: 'set an unknown affiliation', who: 'hamlet', iq: owner('set', xml('affiliations', { node: 'n' }, xml('affiliation', { jid: 'francisco@localhost', affiliation: 'king' }))), expect: 'bad-request', type: 'modify' },
  { what: 'set an affiliation of a full JID', who: 'hamlet', iq: owner('set', xml('affiliations', { node: 'n' }, xml('affiliation', { jid: 'francisco@localhost/post', affiliation: 'member' }))), expect: 'jid-malformed', type: 'modify' },
  // Shapes
  { what: 'an unknown pubsub request', who: 'hamlet', iq: ps('get', xml('frobnicate', { node: 'n' })), expect: 'bad-request', type: 'modify' },
  { what: 'an empty pubsub element', who: 'hamlet', iq: ps('get'), expect: 'bad-request', type: 'modify' },
  { what: 'two actions in one request', who: 'hamlet', iq: ps('set', xml('retract', { node: 'n' }, xml('item', { id: 'i1' })), xml('purge', { node: 'n' })), expect: 'bad-request', type: 'modify' },
];

const clients = (): Record<Who, LoggedInClient> => ({ hamlet, bernardo, francisco });

test('every malformed or forbidden request gets its XEP-0060 error', async () => {
  const failures: string[] = [];
  for (const row of rows) {
    const reply = await ask(clients()[row.who], row.iq());
    const got = `${outcome(reply)} (${errorType(reply) ?? 'no type'})`;
    const want = `${row.expect} (${row.type})`;
    if (got !== want) failures.push(`${row.what}: got ${got}, want ${want}`);
  }
  assert.deepEqual(failures, []);
});

test('refused requests stored nothing', async () => {
  const items = await hamlet.iq(psIq('get', [xml('items', { node: 'n' })]));
  const ids = (items.getChild('pubsub', NS.pubsub)?.getChild('items')?.getChildren('item') ?? []).map((i) => i.attrs.id);
  assert.deepEqual(ids, ['i1']);
  const subs = await hamlet.iq(psIq('get', [xml('subscriptions', { node: 'full' })], true));
  assert.equal(subs.getChild('pubsub', NS.owner)?.getChild('subscriptions')?.getChildren('subscription').length, 2);
  assert.equal((await ts.server.storage.map(SERVICE, 'pubsub-nodes').keys('')).includes('f10'), false);
  assert.equal(await ts.server.storage.map(SERVICE, 'pubsub-items:n').get('', 'big'), undefined);
  const metrics = await ts.server.metrics.render();
  assert.match(metrics, /canto_pubsub_errors_total\{[^}]*condition="bad-request"[^}]*\} \d+/);
});
