/**
 * The standalone pubsub service (`[[component]] domain = "pubsub.localhost" module = "pubsub"`)
 * with real @xmpp/client clients over STARTTLS: a node's whole lifecycle (create, configure,
 * publish, notify, retract, purge, delete), instant nodes and generated ids, the last item on
 * subscription, publish-options and XEP-0223 private nodes, disco, and every access model with a
 * contact of the owner (horatio, group "friends"), a non-contact (bernardo) and a whitelisted
 * member (marcellus).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { ask, create, entry, errorType, isEvent, makeContacts, NS, nodeConfig, outcome, psIq, publish, SERVICE } from '../helpers/pubsub.js';

let ts: TestServer;
let hamlet: LoggedInClient;
let horatio: LoggedInClient;
let bernardo: LoggedInClient;
let marcellus: LoggedInClient;

before(async () => {
  ts = await startTestServer((c) => {
    c.component = [{ domain: SERVICE, module: 'pubsub' }];
  });
  for (const u of ['hamlet', 'horatio', 'bernardo', 'marcellus']) await createAccount(ts, u, 'pw');
  await makeContacts(ts, 'hamlet', 'horatio', ['friends']);
  hamlet = await loginClient(ts, 'hamlet', 'pw', 'elsinore');
  horatio = await loginClient(ts, 'horatio', 'pw', 'castle');
  bernardo = await loginClient(ts, 'bernardo', 'pw', 'watch');
  marcellus = await loginClient(ts, 'marcellus', 'pw', 'guard');
  // Available, so messages to the bare JID (authorization requests to the owner) are delivered.
  await hamlet.send(xml('presence'));
});
after(async () => {
  for (const c of [hamlet, horatio, bernardo, marcellus]) await (c as LoggedInClient | undefined)?.stop(); // unset when a login failed
  await (ts as TestServer | undefined)?.stop();
});

const items = (node: string, attrs: Record<string, string> = {}, ...ids: string[]) =>
  psIq('get', [xml('items', { node, ...attrs }, ...ids.map((id) => xml('item', { id })))]);
const itemIds = (r: XElement) => (r.getChild('pubsub', NS.pubsub)?.getChild('items')?.getChildren('item') ?? []).map((i) => i.attrs.id);
const subscribe = (c: LoggedInClient, node: string) => psIq('set', [xml('subscribe', { node, jid: c.jid })]);
const subState = (r: XElement) => r.getChild('pubsub', NS.pubsub)?.getChild('subscription')?.attrs.subscription;

test('the lifecycle of a node: create, configure, publish, notify, retract, purge, delete', async () => {
  const node = 'princely_musings';
  const created = await hamlet.iq(create(node, { 'pubsub#title': 'Princely Musings', 'pubsub#max_items': '2', 'pubsub#notify_retract': true }));
  assert.equal(created.getChild('pubsub', NS.pubsub)?.getChild('create')?.attrs.node, node);

  const conf = await hamlet.iq(psIq('get', [xml('configure', { node })], true));
  const fields = conf.getChild('pubsub', NS.owner)?.getChild('configure')?.getChild('x', NS.data)?.getChildren('field') ?? [];
  const value = (v: string) => fields.find((f) => f.attrs.var === v)?.getChildText('value');
  assert.equal(value('pubsub#title'), 'Princely Musings');
  assert.equal(value('pubsub#max_items'), '2');
  assert.equal(value('pubsub#access_model'), 'open');

  assert.equal(subState(await horatio.iq(subscribe(horatio, node))), 'subscribed');

  const pub1 = await hamlet.iq(publish(node, 'ae890ac52d0df67ed7cfdf51b644e901', entry('Soliloquy')));
  assert.equal(pub1.getChild('pubsub', NS.pubsub)?.getChild('publish')?.getChild('item')?.attrs.id, 'ae890ac52d0df67ed7cfdf51b644e901');
  const ev = await horatio.waitFor((s) => isEvent(s, node, 'items'));
  const evItem = ev.getChild('event', NS.event)?.getChild('items')?.getChild('item');
  assert.equal(evItem?.attrs.id, 'ae890ac52d0df67ed7cfdf51b644e901');
  assert.equal(evItem?.getChild('entry', 'http://www.w3.org/2005/Atom')?.getChildText('title'), 'Soliloquy');
  assert.equal(ev.attrs.type, 'headline');

  await hamlet.iq(publish(node, 'two', entry('Two')));
  await hamlet.iq(publish(node, 'three', entry('Three')));
  await horatio.waitFor((s) => isEvent(s, node, 'items') && s.getChild('event', NS.event)?.getChild('items')?.getChild('item')?.attrs.id === 'three');
  // max_items = 2: the oldest went; newest first.
  assert.deepEqual(itemIds(await horatio.iq(items(node))), ['three', 'two']);
  assert.deepEqual(itemIds(await horatio.iq(items(node, { max_items: '1' }))), ['three']);
  assert.deepEqual(itemIds(await horatio.iq(items(node, {}, 'two', 'gone'))), ['two']);

  // Overwrite by id: the item becomes the newest, with the new payload.
  await hamlet.iq(publish(node, 'two', entry('Two again')));
  const again = await horatio.iq(items(node, { max_items: '1' }));
  assert.equal(again.getChild('pubsub', NS.pubsub)?.getChild('items')?.getChild('item')?.getChild('entry')?.getChildText('title'), 'Two again');

  await hamlet.iq(psIq('set', [xml('retract', { node }, xml('item', { id: 'three' }))]));
  const retract = await horatio.waitFor((s) => isEvent(s, node, 'items') && s.getChild('event', NS.event)?.getChild('items')?.getChild('retract') !== undefined);
  assert.equal(retract.getChild('event', NS.event)?.getChild('items')?.getChild('retract')?.attrs.id, 'three');
  assert.deepEqual(itemIds(await horatio.iq(items(node))), ['two']);

  await hamlet.iq(psIq('set', [xml('purge', { node })], true));
  await horatio.waitFor((s) => isEvent(s, node, 'purge'));
  assert.deepEqual(itemIds(await horatio.iq(items(node))), []);

  await hamlet.iq(psIq('set', [xml('configure', { node }, nodeConfig({ 'pubsub#notify_config': true, 'pubsub#title': 'Musings' }))], true));
  const cfg = await horatio.waitFor((s) => isEvent(s, node, 'configuration'));
  const cfgFields = cfg.getChild('event', NS.event)?.getChild('configuration')?.getChild('x', NS.data)?.getChildren('field') ?? [];
  assert.equal(cfgFields.find((f) => f.attrs.var === 'pubsub#title')?.getChildText('value'), 'Musings');

  await hamlet.iq(psIq('set', [xml('delete', { node }, xml('redirect', { uri: `xmpp:${SERVICE}?;node=elsewhere` }))], true));
  const del = await horatio.waitFor((s) => isEvent(s, node, 'delete'));
  assert.equal(del.getChild('event', NS.event)?.getChild('delete')?.getChild('redirect')?.attrs.uri, `xmpp:${SERVICE}?;node=elsewhere`);
  assert.equal(outcome(await ask(horatio, items(node))), 'item-not-found');
});

test('instant nodes, generated item ids, the last item on subscription, unsubscribe', async () => {
  const r = await hamlet.iq(psIq('set', [xml('create')]));
  const node = r.getChild('pubsub', NS.pubsub)?.getChild('create')?.attrs.node ?? '';
  assert.ok(node.length >= 8, 'the service names an instant node');
  const pub = await hamlet.iq(publish(node, undefined, entry('no id')));
  const id = pub.getChild('pubsub', NS.pubsub)?.getChild('publish')?.getChild('item')?.attrs.id ?? '';
  assert.ok(id.length >= 8, 'the service made an item id');

  const sub = await bernardo.iq(subscribe(bernardo, node));
  const subid = sub.getChild('pubsub', NS.pubsub)?.getChild('subscription')?.attrs.subid;
  assert.ok(subid);
  const last = await bernardo.waitFor((s) => isEvent(s, node, 'items'));
  assert.equal(last.getChild('event', NS.event)?.getChild('items')?.getChild('item')?.attrs.id, id);
  assert.ok(last.getChild('delay', 'urn:xmpp:delay')?.attrs.stamp, 'the last item carries its publication time');

  const subs = await bernardo.iq(psIq('get', [xml('subscriptions')]));
  const mine = subs.getChild('pubsub', NS.pubsub)?.getChild('subscriptions')?.getChildren('subscription') ?? [];
  assert.deepEqual(mine.map((s) => [s.attrs.node, s.attrs.subscription, s.attrs.subid]), [[node, 'subscribed', subid]]);
  const affs = await hamlet.iq(psIq('get', [xml('affiliations')]));
  assert.ok((affs.getChild('pubsub', NS.pubsub)?.getChild('affiliations')?.getChildren('affiliation') ?? []).some((a) => a.attrs.node === node && a.attrs.affiliation === 'owner'));

  await bernardo.iq(psIq('set', [xml('unsubscribe', { node, jid: bernardo.jid, subid })]));
  await hamlet.iq(publish(node, 'after', entry('after unsubscribe')));
  assert.equal(await bernardo.nothing((s) => isEvent(s, node, 'items')), true, 'no notification after unsubscribing');
});

test('subscription options: delivery off pauses notifications', async () => {
  const node = 'options-node';
  await hamlet.iq(create(node));
  const sub = await horatio.iq(subscribe(horatio, node));
  const subid = sub.getChild('pubsub', NS.pubsub)?.getChild('subscription')?.attrs.subid ?? '';
  const got = await horatio.iq(psIq('get', [xml('options', { node, jid: horatio.jid, subid })]));
  const opts = got.getChild('pubsub', NS.pubsub)?.getChild('options')?.getChild('x', NS.data);
  assert.equal(opts?.getChildren('field').find((f) => f.attrs.var === 'pubsub#deliver')?.getChildText('value'), 'true');
  const off = xml('x', { xmlns: NS.data, type: 'submit' }, xml('field', { var: 'pubsub#deliver' }, xml('value', {}, '0')));
  await horatio.iq(psIq('set', [xml('options', { node, jid: horatio.jid, subid }, off)]));
  await hamlet.iq(publish(node, 'quiet', entry('quiet')));
  assert.equal(await horatio.nothing((s) => isEvent(s, node, 'items')), true);
});

test('publish-options: auto-create with them (XEP-0223 private storage), precondition-not-met when they differ', async () => {
  const node = 'storage:bookmarks';
  const options = { 'pubsub#persist_items': true, 'pubsub#access_model': 'whitelist' };
  const payload = xml('storage', { xmlns: 'storage:bookmarks' }, xml('conference', { jid: 'council@conference.localhost', autojoin: 'true' }));
  await hamlet.iq(publish(node, 'current', payload, options));
  await hamlet.iq(publish(node, 'current', payload, options)); // the same preconditions hold
  const conflict = await ask(hamlet, publish(node, 'current', payload, { 'pubsub#access_model': 'open' }));
  assert.equal(outcome(conflict), 'conflict+precondition-not-met');
  assert.equal(errorType(conflict), 'cancel');

  // Private: only the owner reads it, and others do not see the node.
  assert.deepEqual(itemIds(await hamlet.iq(items(node))), ['current']);
  assert.equal(outcome(await ask(horatio, items(node))), 'not-allowed+closed-node');
  const visible = await horatio.iq(xml('iq', { type: 'get', to: SERVICE }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items' })));
  assert.equal((visible.getChild('query')?.getChildren('item') ?? []).some((i) => i.attrs.node === node), false);
});

test('disco: the service identity and features, a node with its meta-data, the nodes', async () => {
  const info = await horatio.iq(xml('iq', { type: 'get', to: SERVICE }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
  const q = info.getChild('query');
  assert.equal(q?.getChild('identity')?.attrs.category, 'pubsub');
  assert.equal(q?.getChild('identity')?.attrs.type, 'service');
  const features = (q?.getChildren('feature') ?? []).map((f) => f.attrs.var);
  for (const f of ['publish', 'subscribe', 'publish-options', 'access-whitelist', 'config-node-max', 'retract-items', 'purge-nodes']) {
    assert.ok(features.includes(`${NS.pubsub}#${f}`), f);
  }
  await hamlet.iq(create('discoverable', { 'pubsub#title': 'Discoverable' }));
  const nodeInfo = await horatio.iq(xml('iq', { type: 'get', to: SERVICE }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info', node: 'discoverable' })));
  assert.equal(nodeInfo.getChild('query')?.getChild('identity')?.attrs.type, 'leaf');
  const meta = nodeInfo.getChild('query')?.getChild('x', NS.data);
  const metaValue = (v: string) => meta?.getChildren('field').find((f) => f.attrs.var === v)?.getChildText('value');
  assert.equal(metaValue('FORM_TYPE'), 'http://jabber.org/protocol/pubsub#meta-data');
  assert.equal(metaValue('pubsub#title'), 'Discoverable');
  assert.equal(metaValue('pubsub#owner'), 'hamlet@localhost');
  const list = await horatio.iq(xml('iq', { type: 'get', to: SERVICE }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items' })));
  const named = (list.getChild('query')?.getChildren('item') ?? []).find((i) => i.attrs.node === 'discoverable');
  assert.equal(named?.attrs.name, 'Discoverable');
  assert.equal(named?.attrs.jid, SERVICE);
});

/** A node of hamlet's with one item, with this access model; marcellus is a member. */
async function accessNode(model: string): Promise<string> {
  const node = `access-${model}`;
  const config: Record<string, string | string[]> = { 'pubsub#access_model': model };
  if (model === 'roster') config['pubsub#roster_groups_allowed'] = ['friends'];
  await hamlet.iq(create(node, config));
  await hamlet.iq(psIq('set', [xml('affiliations', { node }, xml('affiliation', { jid: 'marcellus@localhost', affiliation: 'member' }))], true));
  await hamlet.iq(publish(node, 'only', entry(model)));
  return node;
}

const expectations: Record<string, { horatio: string; bernardo: string; marcellus: string }> = {
  open: { horatio: 'result', bernardo: 'result', marcellus: 'result' },
  presence: { horatio: 'result', bernardo: 'not-authorized+presence-subscription-required', marcellus: 'result' },
  roster: { horatio: 'result', bernardo: 'not-authorized+not-in-roster-group', marcellus: 'result' },
  whitelist: { horatio: 'not-allowed+closed-node', bernardo: 'not-allowed+closed-node', marcellus: 'result' },
  authorize: { horatio: 'not-authorized+not-subscribed', bernardo: 'not-authorized+not-subscribed', marcellus: 'result' },
};

for (const [model, expect] of Object.entries(expectations)) {
  test(`access model ${model}: contact, non-contact and whitelisted member retrieve and subscribe as XEP-0060 §4.5 says`, async () => {
    const node = await accessNode(model);
    for (const [name, c] of [['horatio', horatio], ['bernardo', bernardo], ['marcellus', marcellus]] as const) {
      const got = await ask(c, items(node));
      assert.equal(outcome(got), expect[name], `${name} retrieves items`);
      if (got.attrs.type === 'result') assert.deepEqual(itemIds(got), ['only']);
      const sub = await ask(c, subscribe(c, node));
      if (expect[name] === 'result') assert.equal(subState(sub), 'subscribed', `${name} subscribes`);
      else if (model === 'authorize') assert.equal(subState(sub), 'pending', `${name}'s subscription waits for approval`);
      else assert.equal(outcome(sub), expect[name], `${name} subscribes`);
    }
  });
}

test('access model authorize: the owner is asked, approves, and the subscriber is told and may read', async () => {
  const node = 'access-authorize';
  // From the access model test above: bernardo's subscription is pending and hamlet was asked.
  const ask1 = await hamlet.waitFor((s) => {
    const x = s.getChild('x', NS.data);
    return s.is('message') && x?.getChildren('field').some((f) => f.attrs.var === 'pubsub#subscriber_jid' && f.getChildText('value') === bernardo.jid) === true;
  });
  assert.equal(ask1.attrs.from, SERVICE);
  assert.equal(outcome(await ask(bernardo, items(node))), 'not-authorized+pending-subscription');
  const x = ask1.getChild('x', NS.data);
  const field = (v: string) => x?.getChildren('field').find((f) => f.attrs.var === v)?.getChildText('value') ?? '';
  // The owner answers with the form, allow = true (§8.6.2).
  const answer = xml(
    'x',
    { xmlns: NS.data, type: 'submit' },
    xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, 'http://jabber.org/protocol/pubsub#subscribe_authorization')),
    xml('field', { var: 'pubsub#subid' }, xml('value', {}, field('pubsub#subid'))),
    xml('field', { var: 'pubsub#node' }, xml('value', {}, node)),
    xml('field', { var: 'pubsub#subscriber_jid' }, xml('value', {}, bernardo.jid)),
    xml('field', { var: 'pubsub#allow' }, xml('value', {}, 'true')),
  );
  await hamlet.send(xml('message', { to: SERVICE }, answer));
  const told = await bernardo.waitFor((s) => isEvent(s, node, 'subscription'));
  assert.equal(told.getChild('event', NS.event)?.getChild('subscription')?.attrs.subscription, 'subscribed');
  assert.deepEqual(itemIds(await bernardo.iq(items(node))), ['only']);

  // Owner management: the subscriptions list, and removing one.
  const list = await hamlet.iq(psIq('get', [xml('subscriptions', { node })], true));
  const states = (list.getChild('pubsub', NS.owner)?.getChild('subscriptions')?.getChildren('subscription') ?? []).map((s) => `${s.attrs.jid}=${s.attrs.subscription}`).sort();
  assert.deepEqual(states, [`${bernardo.jid}=subscribed`, `${horatio.jid}=pending`, `${marcellus.jid}=subscribed`]);
  await hamlet.iq(psIq('set', [xml('subscriptions', { node }, xml('subscription', { jid: horatio.jid, subscription: 'none' }))], true));
  const removed = await horatio.waitFor((s) => isEvent(s, node, 'subscription'));
  assert.equal(removed.getChild('event', NS.event)?.getChild('subscription')?.attrs.subscription, 'none');
});

test('owner affiliations: list, publisher may publish, outcast is banned, the last owner stays', async () => {
  const node = 'affiliated';
  await hamlet.iq(create(node));
  assert.equal(outcome(await ask(horatio, publish(node, 'x', entry('not yet')))), 'forbidden');
  await hamlet.iq(
    psIq(
      'set',
      [xml('affiliations', { node }, xml('affiliation', { jid: 'horatio@localhost', affiliation: 'publisher' }), xml('affiliation', { jid: 'bernardo@localhost', affiliation: 'outcast' }))],
      true,
    ),
  );
  await horatio.iq(publish(node, 'x', entry('now')));
  assert.equal(outcome(await ask(bernardo, items(node))), 'forbidden');
  const list = await hamlet.iq(psIq('get', [xml('affiliations', { node })], true));
  const affs = (list.getChild('pubsub', NS.owner)?.getChild('affiliations')?.getChildren('affiliation') ?? []).map((a) => `${a.attrs.jid}=${a.attrs.affiliation}`).sort();
  assert.deepEqual(affs, ['bernardo@localhost=outcast', 'hamlet@localhost=owner', 'horatio@localhost=publisher']);
  const lastOwner = await ask(hamlet, psIq('set', [xml('affiliations', { node }, xml('affiliation', { jid: 'hamlet@localhost', affiliation: 'none' }))], true));
  assert.equal(outcome(lastOwner), 'not-acceptable');
});
