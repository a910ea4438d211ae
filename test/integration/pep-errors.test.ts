/**
 * PEP-specific refusals (XEP-0163 on top of XEP-0060 §7–8): what another entity may not do to an
 * account's PEP service, an account that does not exist, access to presence nodes, publish-options
 * preconditions, and the `[modules.pep]` limits (small here), each with its stanza error and
 * pubsub#errors child. A refused request stores nothing (checked after the limit rows).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loadXmppJs, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { ask, nodeConfig, outcome } from '../helpers/pubsub.js';
import { itemIds, pep, pepCreate, pepItems, pepPublish } from '../helpers/pep.js';

// The table is built with xmpp.js's xml() when the file loads.
await loadXmppJs();

const OWNER = 'hamlet@localhost';
let ts: TestServer;
let hamlet: LoggedInClient;
let ophelia: LoggedInClient;

before(async () => {
  ts = await startTestServer((c) => {
    c.modules.pep = { max_item_size: 512, max_items_per_node: 5, max_nodes_per_account: 3 };
  });
  for (const u of ['hamlet', 'ophelia']) await createAccount(ts, u, 'pw');
  hamlet = await loginClient(ts, 'hamlet', 'pw', 'elsinore');
  ophelia = await loginClient(ts, 'ophelia', 'pw', 'river');
  await hamlet.iq(pepPublish('diary', 'd1', xml('entry', { xmlns: 'urn:example:diary' }, 'one')));
  await hamlet.iq(pepPublish('open', 'o1', xml('entry', { xmlns: 'urn:example:diary' }, 'one'), { 'pubsub#access_model': 'open' }));
});
after(async () => {
  await (hamlet as LoggedInClient | undefined)?.stop();
  await (ophelia as LoggedInClient | undefined)?.stop();
  await (ts as TestServer | undefined)?.stop();
});

const payload = (text: string) => xml('entry', { xmlns: 'urn:example:diary' }, text);

/** [what, who asks, request, expected outcome] */
const table: Array<[string, () => LoggedInClient, () => XElement, string]> = [
  ['publish to another account', () => ophelia, () => pepPublish('diary', 'x', payload('x'), undefined, OWNER), 'forbidden'],
  ['publish to a new node of another account', () => ophelia, () => pepPublish('new', 'x', payload('x'), undefined, OWNER), 'forbidden'],
  ['create on another account', () => ophelia, () => pepCreate('mine', undefined, OWNER), 'forbidden'],
  ['retract from another account', () => ophelia, () => pep('set', [xml('retract', { node: 'open' }, xml('item', { id: 'o1' }))], { to: OWNER }), 'forbidden'],
  ['configure another account\'s node', () => ophelia, () => pep('get', [xml('configure', { node: 'open' })], { to: OWNER, owner: true }), 'forbidden'],
  ['delete another account\'s node', () => ophelia, () => pep('set', [xml('delete', { node: 'open' })], { to: OWNER, owner: true }), 'forbidden'],
  ['purge another account\'s node', () => ophelia, () => pep('set', [xml('purge', { node: 'open' })], { to: OWNER, owner: true }), 'forbidden'],
  ['affiliations of another account\'s node', () => ophelia, () => pep('set', [xml('affiliations', { node: 'open' }, xml('affiliation', { jid: 'ophelia@localhost', affiliation: 'owner' }))], { to: OWNER, owner: true }), 'forbidden'],
  ['items of an account that does not exist', () => ophelia, () => pepItems('nobody@localhost', 'diary'), 'service-unavailable'],
  ['publish to an account that does not exist', () => ophelia, () => pepPublish('diary', 'x', payload('x'), undefined, 'nobody@localhost'), 'service-unavailable'],
  ['items of a presence node by a non-contact', () => ophelia, () => pepItems(OWNER, 'diary'), 'not-authorized+presence-subscription-required'],
  ['subscribe to a presence node by a non-contact', () => ophelia, () => pep('set', [xml('subscribe', { node: 'diary', jid: 'ophelia@localhost' })], { to: OWNER }), 'not-authorized+presence-subscription-required'],
  ['items of a missing node', () => ophelia, () => pepItems(OWNER, 'missing'), 'item-not-found'],
  ['subscribe for another JID', () => ophelia, () => pep('set', [xml('subscribe', { node: 'open', jid: 'hamlet@localhost' })], { to: OWNER }), 'bad-request+invalid-jid'],
  ['publish without a node', () => hamlet, () => pep('set', [xml('publish', {}, xml('item', {}, payload('x')))]), 'bad-request+nodeid-required'],
  ['publish-options that differ from the node', () => hamlet, () => pepPublish('diary', 'x', payload('x'), { 'pubsub#access_model': 'open' }), 'conflict+precondition-not-met'],
  ['publish-options the service cannot meet', () => hamlet, () => pepPublish('big', 'x', payload('x'), { 'pubsub#max_items': '50' }), 'conflict+precondition-not-met'],
  ['an item bigger than max_item_size', () => hamlet, () => pepPublish('diary', 'big', payload('y'.repeat(600))), 'not-acceptable+payload-too-big'],
  ['max_items above max_items_per_node', () => hamlet, () => pep('set', [xml('configure', { node: 'diary' }, nodeConfig({ 'pubsub#max_items': '6' }))], { owner: true }), 'not-acceptable+max-items-exceeded'],
  ['a node beyond max_nodes_per_account (3)', () => hamlet, () => pepPublish('fourth', 'x', payload('x')), 'policy-violation+max-nodes-exceeded'],
];

test('PEP refusals: each with its error', async () => {
  // The third node: the limit row then has the account at its limit.
  await hamlet.iq(pepPublish('third', 't1', payload('t')));
  for (const [what, who, request, expected] of table) {
    assert.equal(outcome(await ask(who(), request())), expected, what);
  }
});

test('nothing refused was stored', async () => {
  assert.deepEqual(itemIds(await hamlet.iq(pepItems(undefined, 'diary'))), ['d1']);
  assert.deepEqual(itemIds(await ophelia.iq(pepItems(OWNER, 'open'))), ['o1']);
  const service = ts.server.hosts.get('localhost')?.services.get('pep');
  assert.ok(service);
  assert.deepEqual(await service.nodes('hamlet'), ['diary', 'open', 'third']);
  assert.deepEqual(await service.nodes('ophelia'), []);
});
