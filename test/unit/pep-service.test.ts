/** The `pep` service (src/modules/pep/api.ts) on the test kit: publish, items, retract, deleteNode, nodes as the account, and the pep/* events, also for a client's publish. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Element } from '../../src/xml/element.js';
import { iq } from '../../src/xml/stanza.js';
import disco from '../../src/modules/disco/index.js';
import roster from '../../src/modules/roster/index.js';
import presence from '../../src/modules/presence/index.js';
import caps from '../../src/modules/caps/index.js';
import pep from '../../src/modules/pep/index.js';
import type { EventMap } from '../../src/core/event-map.js';
import { errorCondition, startHarness } from '../../src/testing/index.js';

const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const tune = (artist: string) => new Element('tune', { xmlns: 'http://jabber.org/protocol/tune' }).c('artist').t(artist).root();

async function harness() {
  const h = await startHarness({ modules: [disco, roster, presence, caps, pep] });
  const events: Array<[string, unknown]> = [];
  const bus = h.context.events;
  for (const name of ['pep/published', 'pep/retracted', 'pep/node-deleted'] as const) {
    bus.on(name, (p: EventMap[typeof name]) => void events.push([name, p]));
  }
  const service = h.context.services.get('pep');
  if (!service) throw new Error('pep service missing');
  return { h, events, service };
}

test('pep service: publish creates the node with PEP defaults, items reads it back, events fire', async () => {
  const { h, events, service } = await harness();
  try {
    await h.createAccount('juliet');
    const id = await service.publish('juliet', 'http://jabber.org/protocol/tune', tune('Yes'), 'current');
    assert.equal(id, 'current');
    assert.deepEqual(await service.nodes('juliet'), ['http://jabber.org/protocol/tune']);
    const items = await service.items('juliet', 'http://jabber.org/protocol/tune');
    assert.equal(items.length, 1);
    assert.equal(items[0]?.id, 'current');
    assert.equal(items[0]?.publisher, 'juliet@localhost');
    assert.equal(items[0]?.payload?.getChildText('artist'), 'Yes');
    // max_items 1 (the PEP default): a second publish replaces the first.
    const id2 = await service.publish('juliet', 'http://jabber.org/protocol/tune', tune('Genesis'));
    assert.notEqual(id2, 'current');
    const after = await service.items('juliet', 'http://jabber.org/protocol/tune');
    assert.deepEqual(after.map((i) => i.id), [id2]);
    const published = events.filter(([n]) => n === 'pep/published').map(([, p]) => p as EventMap['pep/published']);
    assert.equal(published.length, 2);
    assert.equal(published[0]?.username, 'juliet');
    assert.equal(published[0]?.publisher, 'juliet@localhost');
    assert.equal(published[0]?.payload?.getChildText('artist'), 'Yes');

    await service.retract('juliet', 'http://jabber.org/protocol/tune', [id2, 'unknown']);
    assert.deepEqual(await service.items('juliet', 'http://jabber.org/protocol/tune'), []);
    assert.deepEqual(events.at(-1), ['pep/retracted', { username: 'juliet', node: 'http://jabber.org/protocol/tune', ids: [id2], publisher: 'juliet@localhost' }]);
    await service.retract('juliet', 'nope', ['x']); // no node: nothing

    await service.deleteNode('juliet', 'http://jabber.org/protocol/tune');
    assert.deepEqual(events.at(-1), ['pep/node-deleted', { username: 'juliet', node: 'http://jabber.org/protocol/tune' }]);
    assert.deepEqual(await service.nodes('juliet'), []);
    assert.deepEqual(await service.items('juliet', 'http://jabber.org/protocol/tune'), []);
    await service.deleteNode('juliet', 'http://jabber.org/protocol/tune'); // again: nothing
  } finally {
    await h.stop();
  }
});

test('pep service: publish options are preconditions, reconfigure changes the node first', async () => {
  const { h, service } = await harness();
  try {
    await h.createAccount('juliet');
    const node = 'urn:xmpp:bookmarks:1';
    const conf = new Element('conference', { xmlns: node, name: 'Room' });
    await service.publish('juliet', node, conf, 'room@muc.localhost', { config: { max_items: 'max', access_model: 'whitelist' } });
    await service.publish('juliet', node, conf.clone(), 'other@muc.localhost', { config: { max_items: 'max', access_model: 'whitelist' } });
    assert.equal((await service.items('juliet', node)).length, 2);
    await assert.rejects(service.publish('juliet', node, conf.clone(), 'x', { config: { access_model: 'open' } }), (err: Error & { condition?: string }) => err.condition === 'conflict');
    await service.publish('juliet', node, conf.clone(), 'x', { config: { access_model: 'open' }, reconfigure: true });
    assert.equal((await service.items('juliet', node)).length, 3);
  } finally {
    await h.stop();
  }
});

test('pep: a client publish fires pep/published with its full JID; others may not publish', async () => {
  const { h, events } = await harness();
  try {
    const juliet = await h.client('juliet@localhost/balcony');
    const romeo = await h.client('romeo@localhost/garden');
    const publish = (id: string, to?: string) =>
      iq({ type: 'set', id, to }).c('pubsub', { xmlns: NS_PUBSUB }).c('publish', { node: 'urn:example:n' }).c('item', { id: 'a' }).cnode(tune('X')).root();
    const ok = await juliet.ask(publish('p1'));
    assert.equal(ok.attrs.type, 'result');
    assert.equal(ok.getChild('pubsub', NS_PUBSUB)?.getChild('publish')?.getChild('item')?.attrs.id, 'a');
    const ev = events.find(([n]) => n === 'pep/published')?.[1] as EventMap['pep/published'];
    assert.equal(ev.publisher, 'juliet@localhost/balcony');
    const refused = await romeo.ask(publish('p2', 'juliet@localhost'));
    assert.equal(errorCondition(refused), 'auth/forbidden');
    const missing = await romeo.ask(publish('p3', 'nobody@localhost'));
    assert.equal(errorCondition(missing), 'cancel/service-unavailable');
  } finally {
    await h.stop();
  }
});

test('pep: deleting the account deletes its nodes and items', async () => {
  const { h, service } = await harness();
  try {
    await h.createAccount('juliet');
    await h.createAccount('romeo');
    await service.publish('juliet', 'urn:example:a', tune('A'));
    await service.publish('romeo', 'urn:example:a', tune('R'));
    assert.equal(await h.server.storage.accounts.delete(h.host, 'juliet'), true);
    assert.deepEqual(await service.nodes('juliet'), []);
    assert.deepEqual(await service.items('juliet', 'urn:example:a'), []);
    assert.equal((await service.items('romeo', 'urn:example:a')).length, 1, "other accounts' nodes stay");
  } finally {
    await h.stop();
  }
});
