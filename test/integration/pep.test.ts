/**
 * XEP-0163 PEP on the booted server with real @xmpp/client clients: the whole lifecycle of a node
 * on an account (create, configure, publish, notify, retract, purge, delete), every access model
 * with a contact in an allowed group (romeo, "friends"), a contact in another group (benvolio,
 * "family") and a non-contact (nurse), +notify notifications learned from entity capabilities
 * (a client without +notify gets none, nothing twice for a subscriber with +notify), the last
 * item for a resource coming online, and disco of the account.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient } from '../helpers/xmpp-client.js';
import { ask, makeContacts, outcome } from '../helpers/pubsub.js';
import { announceCaps, clientInfo, isPepEvent, itemIds, NS, pep, pepCreate, pepItems, pepPublish } from '../helpers/pep.js';

const JULIET = 'juliet@localhost';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';

let ts: TestServer;
const clients: LoggedInClient[] = [];

before(async () => {
  ts = await startTestServer();
  for (const u of ['juliet', 'romeo', 'benvolio', 'nurse']) await createAccount(ts, u, 'pw');
  await makeContacts(ts, 'juliet', 'romeo', ['friends']);
  await makeContacts(ts, 'juliet', 'benvolio', ['family']);
});
after(async () => {
  for (const c of clients) await c.stop();
  await (ts as TestServer | undefined)?.stop();
});

async function login(user: string, resource: string): Promise<LoggedInClient> {
  const c = await loginClient(ts, user, 'pw', resource);
  clients.push(c);
  return c;
}

const note = (text: string) => xml('note', { xmlns: 'urn:example:note' }, text);
const mood = (value: string) => xml('mood', { xmlns: 'http://jabber.org/protocol/mood' }, xml(value));

test('the lifecycle of a PEP node: create, configure, publish, notify, retract, purge, delete', async () => {
  const juliet = await login('juliet', 'lifecycle');
  const romeo = await login('romeo', 'lifecycle');
  const node = 'urn:example:diary';
  const created = await juliet.iq(pepCreate(node, { 'pubsub#max_items': '2', 'pubsub#notify_retract': true, 'pubsub#title': 'Diary' }));
  assert.equal(created.getChild('pubsub', NS.pubsub)?.getChild('create')?.attrs.node, node);

  const conf = await juliet.iq(pep('get', [xml('configure', { node })], { owner: true }));
  const fields = conf.getChild('pubsub', NS.owner)?.getChild('configure')?.getChild('x', NS.data)?.getChildren('field') ?? [];
  const value = (v: string) => fields.find((f) => f.attrs.var === v)?.getChildText('value');
  assert.equal(value('pubsub#access_model'), 'presence', 'the PEP default');
  assert.equal(value('pubsub#max_items'), '2');
  assert.equal(value('pubsub#send_last_published_item'), 'on_sub_and_presence');
  await juliet.iq(pep('set', [xml('configure', { node }, xml('x', { xmlns: NS.data, type: 'submit' }, xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, 'http://jabber.org/protocol/pubsub#node_config')), xml('field', { var: 'pubsub#title' }, xml('value', {}, 'My diary'))))], { owner: true }));

  const sub = await romeo.iq(pep('set', [xml('subscribe', { node, jid: romeo.jid })], { to: JULIET }));
  assert.equal(sub.getChild('pubsub', NS.pubsub)?.getChild('subscription')?.attrs.subscription, 'subscribed');

  await juliet.iq(pepPublish(node, 'd1', note('first')));
  const ev = await romeo.waitFor((s) => isPepEvent(s, JULIET, node));
  assert.equal(ev.attrs.type, 'headline');
  assert.equal(ev.getChild('event', NS.event)?.getChild('items')?.getChild('item')?.getChildText('note', 'urn:example:note'), 'first');
  assert.ok(await romeo.nothing((s) => isPepEvent(s, JULIET, node)), 'notified once');

  await juliet.iq(pep('set', [xml('retract', { node }, xml('item', { id: 'd1' }))]));
  const retracted = await romeo.waitFor((s) => isPepEvent(s, JULIET, node));
  assert.equal(retracted.getChild('event', NS.event)?.getChild('items')?.getChild('retract')?.attrs.id, 'd1');

  for (const id of ['d2', 'd3', 'd4']) await juliet.iq(pepPublish(node, id, note(id)));
  assert.deepEqual(itemIds(await romeo.iq(pepItems(JULIET, node))), ['d4', 'd3'], 'max_items 2, newest first');
  await juliet.iq(pep('set', [xml('purge', { node })], { owner: true }));
  await romeo.waitFor((s) => isPepEvent(s, JULIET, node, 'purge'));
  assert.deepEqual(itemIds(await juliet.iq(pepItems(undefined, node))), []);

  await juliet.iq(pep('set', [xml('delete', { node })], { owner: true }));
  await romeo.waitFor((s) => isPepEvent(s, JULIET, node, 'delete'));
  assert.equal(outcome(await ask(juliet, pepItems(undefined, node))), 'item-not-found');
});

test('access models: presence, roster, whitelist and open, for a contact, a contact in another group and a non-contact', async () => {
  const juliet = await login('juliet', 'access');
  const romeo = await login('romeo', 'access');
  const benvolio = await login('benvolio', 'access');
  const nurse = await login('nurse', 'access');
  const publish = (node: string, options: Record<string, string | string[]>) => juliet.iq(pepPublish(node, 'x', note(node), options));
  await publish('urn:example:presence', {});
  await publish('urn:example:roster', { 'pubsub#access_model': 'roster', 'pubsub#roster_groups_allowed': ['friends'] });
  await publish('urn:example:whitelist', { 'pubsub#access_model': 'whitelist' });
  await publish('urn:example:open', { 'pubsub#access_model': 'open' });
  const read = async (c: LoggedInClient, node: string) => outcome(await ask(c, pepItems(JULIET, node)));

  const table: Array<[string, LoggedInClient, string]> = [
    ['urn:example:presence', romeo, 'result'],
    ['urn:example:presence', benvolio, 'result'],
    ['urn:example:presence', nurse, 'not-authorized+presence-subscription-required'],
    ['urn:example:roster', romeo, 'result'],
    ['urn:example:roster', benvolio, 'not-authorized+not-in-roster-group'],
    ['urn:example:roster', nurse, 'not-authorized+not-in-roster-group'],
    ['urn:example:whitelist', juliet, 'result'],
    ['urn:example:whitelist', romeo, 'not-allowed+closed-node'],
    ['urn:example:whitelist', nurse, 'not-allowed+closed-node'],
    ['urn:example:open', nurse, 'result'],
    ['urn:example:open', romeo, 'result'],
  ];
  for (const [node, c, expected] of table) assert.equal(await read(c, node), expected, `${c.jid} reading ${node}`);

  // Whitelisting: the owner makes romeo a member.
  await juliet.iq(pep('set', [xml('affiliations', { node: 'urn:example:whitelist' }, xml('affiliation', { jid: 'romeo@localhost', affiliation: 'member' }))], { owner: true }));
  assert.equal(await read(romeo, 'urn:example:whitelist'), 'result');
  assert.equal(await read(nurse, 'urn:example:whitelist'), 'not-allowed+closed-node');

  // disco#items of the account: the nodes the requester may read.
  const nodesFor = async (c: LoggedInClient) =>
    ((await c.iq(xml('iq', { type: 'get', to: JULIET }, xml('query', { xmlns: NS_DISCO_ITEMS })))).getChild('query', NS_DISCO_ITEMS)?.getChildren('item') ?? [])
      .map((i) => i.attrs.node)
      .filter((n): n is string => n !== undefined && n.startsWith('urn:example:') && ['presence', 'roster', 'whitelist', 'open'].some((m) => n.endsWith(m)))
      .sort();
  assert.deepEqual(await nodesFor(juliet), ['urn:example:open', 'urn:example:presence', 'urn:example:roster', 'urn:example:whitelist']);
  assert.deepEqual(await nodesFor(benvolio), ['urn:example:open', 'urn:example:presence']);
  assert.deepEqual(await nodesFor(nurse), ['urn:example:open']);
});

test('disco#info of the account: pubsub/pep identity and the PEP features, publish-options included', async () => {
  const juliet = await login('juliet', 'disco');
  const info = (await juliet.iq(xml('iq', { type: 'get', to: JULIET }, xml('query', { xmlns: NS_DISCO_INFO })))).getChild('query', NS_DISCO_INFO);
  assert.ok(info?.getChildren('identity').some((i) => i.attrs.category === 'pubsub' && i.attrs.type === 'pep'));
  const features = info?.getChildren('feature').map((f) => f.attrs.var) ?? [];
  for (const f of ['publish', 'publish-options', 'auto-create', 'access-presence', 'last-published', 'filtered-notifications', 'retrieve-items']) {
    assert.ok(features.includes(`${NS.pubsub}#${f}`), f);
  }
  await juliet.iq(pepPublish('urn:example:meta', 'm', note('meta')));
  const node = (await juliet.iq(xml('iq', { type: 'get', to: JULIET }, xml('query', { xmlns: NS_DISCO_INFO, node: 'urn:example:meta' })))).getChild('query', NS_DISCO_INFO);
  assert.ok(node?.getChildren('identity').some((i) => i.attrs.category === 'pubsub' && i.attrs.type === 'leaf'));
  assert.ok(node?.getChild('x', NS.data));
});

test('+notify: contacts and own resources with the feature are notified, others not; nothing twice; the last item for a resource coming online', async () => {
  const node = 'http://jabber.org/protocol/mood';
  const withNotify = () => clientInfo('Notify Client', [`${node}+notify`, 'urn:xmpp:ping']);
  const juliet = await login('juliet', 'publisher');
  const julietOther = await login('juliet', 'tablet');
  const romeo = await login('romeo', 'notify');
  const benvolio = await login('benvolio', 'plain');
  const nurse = await login('nurse', 'stranger');
  await announceCaps(ts, romeo, withNotify());
  await announceCaps(ts, julietOther, withNotify(), true);
  await announceCaps(ts, benvolio, clientInfo('Plain Client', ['urn:xmpp:ping']));
  await announceCaps(ts, nurse, withNotify(), true);
  await juliet.send(xml('presence'));

  // romeo also subscribes explicitly with his bare JID: still one notification.
  await juliet.iq(pepCreate(node));
  await romeo.iq(pep('set', [xml('subscribe', { node, jid: 'romeo@localhost' })], { to: JULIET }));

  await juliet.iq(pepPublish(node, 'current', mood('happy')));
  const got = await romeo.waitFor((s) => isPepEvent(s, JULIET, node));
  assert.ok(got.getChild('event', NS.event)?.getChild('items')?.getChild('item')?.getChild('mood', node)?.getChild('happy'));
  await julietOther.waitFor((s) => isPepEvent(s, JULIET, node));
  assert.ok(await romeo.nothing((s) => isPepEvent(s, JULIET, node)), 'romeo notified once');
  assert.ok(await benvolio.nothing((s) => isPepEvent(s, JULIET, node)), 'no +notify, no notification');
  assert.ok(await nurse.nothing((s) => isPepEvent(s, JULIET, node)), 'not a contact');
  assert.ok(await juliet.nothing((s) => isPepEvent(s, JULIET, node)), "the publisher's resource did not ask for it");

  // A contact's resource coming online with +notify gets the last item, with a delay stamp.
  const late = await login('romeo', 'late');
  await announceCaps(ts, late, withNotify(), true);
  const last = await late.waitFor((s) => isPepEvent(s, JULIET, node));
  assert.equal(last.getChild('event', NS.event)?.getChild('items')?.getChild('item')?.attrs.id, 'current');
  assert.ok(last.getChild('delay', 'urn:xmpp:delay'));
  const lateBenvolio = await login('benvolio', 'late');
  await announceCaps(ts, lateBenvolio, clientInfo('Plain Client', ['urn:xmpp:ping']), true);
  assert.ok(await lateBenvolio.nothing((s) => isPepEvent(s, JULIET, node)));

  // Retraction goes the same way.
  await juliet.iq(pep('set', [xml('retract', { node, notify: 'true' }, xml('item', { id: 'current' }))]));
  const r = await late.waitFor((s) => isPepEvent(s, JULIET, node));
  assert.equal(r.getChild('event', NS.event)?.getChild('items')?.getChild('retract')?.attrs.id, 'current');
});

