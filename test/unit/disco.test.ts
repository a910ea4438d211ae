/** XEP-0030 disco module: host and account info/items, nodes, extension API, error cases. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import disco, { addDiscoItem, NS_DISCO_INFO, NS_DISCO_ITEMS } from '../../src/modules/disco/index.js';
import { defineModule } from '../../src/core/modules.js';
import { Element } from '../../src/xml/element.js';
import { iq } from '../../src/xml/stanza.js';
import { modifyRoster } from '../../src/modules/roster/store.js';
import { errorCondition, startHarness } from '../../src/testing/index.js';

const HOST = 'localhost';

const infoGet = (id: string, to?: string, node?: string) => iq({ type: 'get', id, to }).c('query', { xmlns: NS_DISCO_INFO, node }).up();
const itemsGet = (id: string, to?: string, node?: string) => iq({ type: 'get', id, to }).c('query', { xmlns: NS_DISCO_ITEMS, node }).up();
const identities = (r: Element) => r.getChild('query', NS_DISCO_INFO)?.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}/${i.attrs.name ?? ''}`);
const features = (r: Element) => r.getChild('query', NS_DISCO_INFO)?.getChildren('feature').map((f) => f.attrs.var);
const items = (r: Element) => r.getChild('query', NS_DISCO_ITEMS)?.getChildren('item').map((i) => (i.attrs.node ? `${i.attrs.jid}#${i.attrs.node}` : i.attrs.jid));

/** A module that extends disco the ways other modules will. */
const probe = defineModule({
  name: 'probe',
  setup(mod) {
    mod.addFeature('urn:example:probe');
    mod.addFeature('urn:example:probe'); // twice: still listed once
    mod.addIdentity({ category: 'pubsub', type: 'pep' });
    mod.addIdentity({ category: 'pubsub', type: 'pep' }); // a duplicate identity: listed once
    mod.addDiscoExtension(new Element('x', { xmlns: 'jabber:x:data', type: 'result' }).c('field', { var: 'FORM_TYPE', type: 'hidden' }).c('value').t('urn:example:form').root());
    addDiscoItem(mod, { jid: 'proxy.localhost', name: 'Proxy' });
    mod.hook('disco-items', ({ to, items, from }) => {
      if (to.local === '') items.push({ jid: HOST, node: `for-${from.local}` });
    });
    mod.hook('disco-info-node', ({ node, query }) => {
      if (node !== 'urn:example:node') return false;
      query.c('identity', { category: 'automation', type: 'command-list' });
      return true;
    });
    mod.hook('disco-items-node', ({ node, items, to, trusted }) => {
      if (node !== 'urn:example:node') return false;
      items.push({ jid: to.bare, node: trusted ? 'secret' : 'public' });
      return true;
    });
  },
});

test('host disco#info: server/im identity, every feature and form modules added, no duplicates', async () => {
  const h = await startHarness({ modules: [disco, probe], config: (c) => {
    c.modules.disco = { name: 'Test Server' };
  } });
  try {
    const romeo = await h.client('romeo@localhost/phone');
    const r = await romeo.ask(infoGet('i1', HOST));
    assert.equal(r.attrs.type, 'result', r.toString());
    assert.equal(r.attrs.from, HOST);
    assert.equal(r.attrs.to, 'romeo@localhost/phone');
    assert.deepEqual(identities(r), ['server/im/Test Server', 'pubsub/pep/']);
    assert.deepEqual(features(r), [NS_DISCO_INFO, NS_DISCO_ITEMS, 'urn:example:probe'].sort());
    const form = r.getChild('query', NS_DISCO_INFO)?.getChild('x', 'jabber:x:data');
    assert.equal(form?.getChild('field')?.getChildText('value'), 'urn:example:form');
    // The registered form is copied into each reply, not moved.
    assert.equal(h.context.discoExtensions[0]?.parent, undefined);
    const again = await romeo.ask(infoGet('i2', HOST));
    assert.ok(again.getChild('query', NS_DISCO_INFO)?.getChild('x', 'jabber:x:data'));
  } finally {
    await h.stop();
  }
});

test('host disco#items: components, items modules added and dynamic items; gone after unload', async () => {
  const h = await startHarness({ modules: [disco, probe], config: (c) => {
    c.component = [{ domain: 'muc.localhost', module: 'muc' }, { domain: 'a.localhost', secret: 's' }];
  } });
  try {
    const romeo = await h.client('romeo@localhost');
    const r = await romeo.ask(itemsGet('it1', HOST));
    assert.equal(r.attrs.type, 'result', r.toString());
    assert.deepEqual(items(r), ['a.localhost', 'muc.localhost', 'proxy.localhost', 'localhost#for-romeo']);
    assert.equal(r.getChild('query', NS_DISCO_ITEMS)?.getChildren('item')[2]?.attrs.name, 'Proxy');
    await h.context.modules.get('probe')?.unload();
    const after = await romeo.ask(itemsGet('it2', HOST));
    assert.deepEqual(items(after), ['a.localhost', 'muc.localhost']);
  } finally {
    await h.stop();
  }
});

test('host nodes: a claimed node is answered, an unknown node is item-not-found', async () => {
  const h = await startHarness({ modules: [disco, probe] });
  try {
    const romeo = await h.client('romeo@localhost');
    const known = await romeo.ask(infoGet('n1', HOST, 'urn:example:node'));
    assert.equal(known.getChild('query', NS_DISCO_INFO)?.attrs.node, 'urn:example:node');
    assert.deepEqual(identities(known), ['automation/command-list/']);
    for (const req of [infoGet('n2', HOST, 'urn:nope'), itemsGet('n3', HOST, 'urn:nope')]) {
      const r = await romeo.ask(req);
      assert.equal(r.attrs.type, 'error');
      assert.equal(errorCondition(r), 'cancel/item-not-found');
    }
    // An empty node is the same as none.
    const root = await romeo.ask(infoGet('n4', HOST, ''));
    assert.equal(root.attrs.type, 'result');
  } finally {
    await h.stop();
  }
});

test('account disco#info: the user themself gets account/registered (also with no to)', async () => {
  const h = await startHarness({ modules: [disco] });
  try {
    const juliet = await h.client('juliet@localhost/balcony');
    for (const to of ['juliet@localhost', undefined]) {
      const r = await juliet.ask(infoGet(`a-${to ?? 'none'}`, to));
      assert.equal(r.attrs.type, 'result', r.toString());
      assert.deepEqual(identities(r), ['account/registered/']);
      assert.deepEqual(features(r), [NS_DISCO_INFO, NS_DISCO_ITEMS]);
    }
    const node = await juliet.ask(infoGet('a-node', 'juliet@localhost', 'urn:nope'));
    assert.equal(errorCondition(node), 'cancel/item-not-found');
  } finally {
    await h.stop();
  }
});

test('account disco#info: service-unavailable for strangers and for accounts that do not exist', async () => {
  const h = await startHarness({ modules: [disco] });
  try {
    await h.client('juliet@localhost');
    const romeo = await h.client('romeo@localhost');
    const stranger = await romeo.ask(infoGet('s1', 'juliet@localhost'));
    assert.equal(errorCondition(stranger), 'cancel/service-unavailable');
    const missing = await romeo.ask(infoGet('s2', 'nobody@localhost'));
    assert.equal(errorCondition(missing), 'cancel/service-unavailable');
    // A node changes nothing (XEP-0030 §8: "no matter if the request specifies a node").
    const missingNode = await romeo.ask(infoGet('s3', 'nobody@localhost', 'urn:x'));
    assert.equal(errorCondition(missingNode), 'cancel/service-unavailable');
  } finally {
    await h.stop();
  }
});

test("account disco#info: a contact with a 'from'/'both' subscription is answered, 'to' is not", async () => {
  const h = await startHarness({ modules: [disco] });
  try {
    await h.client('juliet@localhost');
    const romeo = await h.client('romeo@localhost');
    const nurse = await h.client('nurse@localhost');
    await modifyRoster(h.server, HOST, 'juliet', (r) => {
      r.setItem({ jid: 'romeo@localhost', groups: [], subscription: 'from', ask: false, approved: false });
      r.setItem({ jid: 'nurse@localhost', groups: [], subscription: 'to', ask: false, approved: false });
    });
    const ok = await romeo.ask(infoGet('c1', 'juliet@localhost'));
    assert.deepEqual(identities(ok), ['account/registered/']);
    const refused = await nurse.ask(infoGet('c2', 'juliet@localhost'));
    assert.equal(errorCondition(refused), 'cancel/service-unavailable');
  } finally {
    await h.stop();
  }
});

test('account disco#items: empty for strangers and missing accounts, nodes per trust', async () => {
  const h = await startHarness({ modules: [disco, probe] });
  try {
    const juliet = await h.client('juliet@localhost');
    const romeo = await h.client('romeo@localhost');
    const own = await juliet.ask(itemsGet('m1', 'juliet@localhost'));
    assert.deepEqual(items(own), []);
    const missing = await romeo.ask(itemsGet('m2', 'nobody@localhost', 'urn:example:node'));
    assert.equal(missing.attrs.type, 'result');
    assert.deepEqual(items(missing), []);
    assert.equal(missing.getChild('query', NS_DISCO_ITEMS)?.attrs.node, 'urn:example:node');
    // A stranger sees what a node handler shows untrusted requesters; unknown nodes look empty.
    const strangerNode = await romeo.ask(itemsGet('m3', 'juliet@localhost', 'urn:example:node'));
    assert.deepEqual(items(strangerNode), ['juliet@localhost#public']);
    const strangerUnknown = await romeo.ask(itemsGet('m4', 'juliet@localhost', 'urn:nope'));
    assert.equal(strangerUnknown.attrs.type, 'result');
    assert.deepEqual(items(strangerUnknown), []);
    // The user sees the trusted view, and learns that an unknown node does not exist.
    const ownNode = await juliet.ask(itemsGet('m5', 'juliet@localhost', 'urn:example:node'));
    assert.deepEqual(items(ownNode), ['juliet@localhost#secret']);
    const ownUnknown = await juliet.ask(itemsGet('m6', 'juliet@localhost', 'urn:nope'));
    assert.equal(errorCondition(ownUnknown), 'cancel/item-not-found');
  } finally {
    await h.stop();
  }
});

test('a disco set is not answered by the module (the router says service-unavailable)', async () => {
  const h = await startHarness({ modules: [disco] });
  try {
    const romeo = await h.client('romeo@localhost');
    const r = await romeo.ask(iq({ type: 'set', id: 'set1', to: HOST }).c('query', { xmlns: NS_DISCO_INFO }).up());
    assert.equal(errorCondition(r), 'cancel/service-unavailable');
  } finally {
    await h.stop();
  }
});

test('addDiscoItem needs a host', () => {
  assert.throws(() => addDiscoItem({ name: 'g', context: undefined } as never, { jid: 'x' }), /needs a host/);
});
