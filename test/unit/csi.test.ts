/** XEP-0352 Client State Indication: the stream feature, what is held and what flushes, the bound. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { settle, startHarness, type FakeClient, type Harness } from '../../src/testing/index.js';
import messageModule from '../../src/modules/message/index.js';
import csi, { NS_CSI } from '../../src/modules/csi/index.js';
import { classify } from '../../src/modules/csi/classify.js';
import { Element } from '../../src/xml/element.js';
import { iq, message, presence } from '../../src/xml/stanza.js';

const NS_CHATSTATES = 'http://jabber.org/protocol/chatstates';

const chatState = (from: string, state = 'composing') => message({ from, to: 'romeo@localhost/a', type: 'chat' }).c(state, { xmlns: NS_CHATSTATES }).root();
const withBody = (from: string, body: string) => message({ from, to: 'romeo@localhost/a', type: 'chat' }).c('body').t(body).root();

test('classify: presence and chat states wait, important stanzas flush, the rest passes', () => {
  const kind = (el: Element) => classify(el).kind;
  assert.equal(kind(presence({ from: 'juliet@x/r' })), 'hold');
  assert.equal(kind(presence({ from: 'juliet@x/r', type: 'unavailable' })), 'hold');
  assert.equal(kind(presence({ from: 'juliet@x', type: 'subscribe' })), 'important');
  assert.equal(kind(presence({ from: 'juliet@x', type: 'subscribed' })), 'important');
  const mucSelf = presence({ from: 'room@muc.x/romeo' });
  mucSelf.c('x', { xmlns: 'http://jabber.org/protocol/muc#user' }).c('status', { code: '110' });
  assert.equal(kind(mucSelf), 'important', 'the own presence in a MUC room (a join answered)');
  assert.equal(kind(presence({ from: 'room@muc.x/nurse' }).c('x', { xmlns: 'http://jabber.org/protocol/muc#user' }).root()), 'hold', 'other occupants wait');
  assert.equal(kind(chatState('juliet@x/r')), 'hold');
  assert.equal(kind(chatState('juliet@x/r').c('thread').t('t').root()), 'hold', 'a thread does not make it more than a chat state');
  assert.equal(kind(withBody('juliet@x/r', 'hi').c('active', { xmlns: NS_CHATSTATES }).root()), 'important');
  assert.equal(kind(message({ from: 'juliet@x/r', type: 'chat' }).c('encrypted', { xmlns: 'eu.siacs.conversations.axolotl' }).root()), 'important', 'OMEMO');
  assert.equal(kind(message({ from: 'juliet@x/r', type: 'chat' }).c('openpgp', { xmlns: 'urn:xmpp:openpgp:0' }).root()), 'important', 'OpenPGP');
  assert.equal(kind(message({ from: 'juliet@x/r' }).c('x', { xmlns: 'jabber:x:encrypted' }).root()), 'important', 'legacy OpenPGP');
  assert.equal(kind(message({ from: 'juliet@x/r' }).c('store', { xmlns: 'urn:xmpp:hints' }).root()), 'important', '<store/> hint');
  assert.equal(kind(message({ from: 'juliet@x/r' }).c('received', { xmlns: 'urn:xmpp:receipts', id: 'x' }).root()), 'pass', 'a receipt is never delayed');
  assert.equal(kind(message({ from: 'x', type: 'headline' }).c('event', { xmlns: 'http://jabber.org/protocol/pubsub#event' }).root()), 'pass');
  assert.equal(kind(iq({ type: 'result', id: '1' })), 'pass');
  // Carbons are judged by what they carry, held per conversation.
  const carbon = (dir: string, inner: Element) => {
    const m = message({ from: 'romeo@localhost', to: 'romeo@localhost/a', type: 'chat' });
    m.c(dir, { xmlns: 'urn:xmpp:carbons:2' }).c('forwarded', { xmlns: 'urn:xmpp:forward:0' }).cnode(inner);
    return m;
  };
  const held = classify(carbon('received', chatState('juliet@x/r')));
  assert.deepEqual(held, { kind: 'hold', key: 'carbon received juliet@x/r' });
  assert.notDeepEqual(classify(carbon('sent', message({ from: 'romeo@localhost/b', to: 'nurse@x', type: 'chat' }).c('paused', { xmlns: NS_CHATSTATES }).root())), held);
  assert.equal(classify(carbon('sent', withBody('romeo@localhost/b', 'hi'))).kind, 'important');
});

async function withClient(maxHeld: number | undefined, fn: (h: Harness, romeo: FakeClient, say: (name: 'active' | 'inactive') => boolean | undefined) => Promise<void>): Promise<void> {
  const h = await startHarness({
    modules: [messageModule, csi],
    config: (c) => {
      if (maxHeld !== undefined) c.modules.csi = { max_held: maxHeld };
    },
  });
  try {
    const romeo = await h.client('romeo@localhost/a');
    const say = (name: 'active' | 'inactive') => h.context.events.fire('stream-element', { origin: romeo.session, element: new Element(name, { xmlns: NS_CSI }) });
    await fn(h, romeo, say);
  } finally {
    await h.stop();
  }
}

test('the csi stream feature is offered to authenticated client streams', async () => {
  await withClient(undefined, async (h, romeo) => {
    const features = new Element('features', { xmlns: 'http://etherx.jabber.org/streams' });
    h.context.events.fire('stream-features', { origin: romeo.session, features });
    assert.ok(features.getChild('csi', NS_CSI));
  });
});

test('inactive: presence from contacts is held, the latest per contact, and sent in order on <active/>', async () => {
  await withClient(undefined, async (h, romeo, say) => {
    assert.equal(say('inactive'), true, 'the element is claimed');
    const contacts = Array.from({ length: 20 }, (_, i) => `c${i}@remote.example/r`);
    // 500 changes: 25 rounds over 20 contacts, each with a new status.
    for (let round = 0; round < 25; round++) {
      for (const from of contacts) romeo.session.send(presence({ from, to: romeo.jid }).c('status').t(`round ${round}`).root());
    }
    assert.equal(romeo.sent.length, 0, 'nothing reached the client while inactive');
    assert.equal(say('active'), true);
    const got = romeo.sent.filter((e) => e.name === 'presence');
    assert.equal(got.length, 20, 'one per contact');
    assert.deepEqual(got.map((e) => e.attrs.from), contacts, 'in the order of their latest change');
    assert.ok(got.every((e) => e.getChildText('status') === 'round 24'), 'the latest of each');
    // Active again: nothing held.
    romeo.session.send(presence({ from: contacts[0], to: romeo.jid }));
    assert.equal(romeo.sent.length, 21);
    const text = await h.server.metrics.render();
    assert.match(text, /canto_csi_held_total\{[^}]*\} 500/);
    assert.match(text, /canto_csi_superseded_total\{[^}]*\} 480/);
    assert.match(text, /canto_csi_flushes_total\{[^}]*reason="active"[^}]*\} 1/);
  });
});

test('inactive: a message with a body is delivered at once, after what was held; chat states are held per sender', async () => {
  await withClient(undefined, async (h, romeo, say) => {
    const juliet = await h.client('juliet@localhost/x');
    say('inactive');
    romeo.session.send(presence({ from: 'nurse@localhost/n', to: romeo.jid }));
    juliet.send(message({ to: romeo.jid, type: 'chat' }).c('composing', { xmlns: NS_CHATSTATES }).root());
    juliet.send(message({ to: romeo.jid, type: 'chat' }).c('paused', { xmlns: NS_CHATSTATES }).root());
    await settle();
    assert.equal(romeo.sent.length, 0);
    juliet.send(message({ to: romeo.jid, type: 'chat', id: 'b1' }).c('body').t('art thou there').root());
    const m = await romeo.receives((e) => e.attrs.id === 'b1', { timeoutMs: 1000 });
    assert.ok(m);
    assert.deepEqual(romeo.sent.map((e) => e.name + ':' + (e.elements[0]?.name ?? '')), ['presence:', 'message:paused', 'message:body'], 'held ones first, only the latest chat state');
  });
});

test('inactive: subscription requests, <store/> and encrypted messages flush; receipts pass without flushing', async () => {
  await withClient(undefined, async (h, romeo, say) => {
    say('inactive');
    const held = () => romeo.session.send(presence({ from: 'nurse@localhost/n', to: romeo.jid }));
    const count = () => romeo.sent.length;
    held();
    romeo.session.send(message({ from: 'juliet@localhost/x', to: romeo.jid }).c('received', { xmlns: 'urn:xmpp:receipts', id: 'm' }).root());
    assert.equal(count(), 1, 'the receipt went out, the presence still waits');
    romeo.session.send(iq({ type: 'result', id: 'q', to: romeo.jid }));
    assert.equal(count(), 2, 'an iq went out, the presence still waits');
    romeo.session.send(presence({ from: 'juliet@localhost', to: romeo.jid, type: 'subscribe' }));
    assert.deepEqual(romeo.sent.slice(2).map((e) => e.attrs.type ?? 'available'), ['available', 'subscribe']);
    held();
    romeo.session.send(message({ from: 'juliet@localhost/x', to: romeo.jid, type: 'chat' }).c('encrypted', { xmlns: 'eu.siacs.conversations.axolotl' }).root());
    assert.equal(count(), 6);
    held();
    romeo.session.send(message({ from: 'juliet@localhost/x', to: romeo.jid }).c('store', { xmlns: 'urn:xmpp:hints' }).root());
    assert.equal(count(), 8);
  });
});

test('the held queue is bounded: past max_held everything held is sent', async () => {
  await withClient(5, async (h, romeo, say) => {
    say('inactive');
    for (let i = 0; i < 5; i++) romeo.session.send(presence({ from: `c${i}@localhost/r`, to: romeo.jid }));
    romeo.session.send(presence({ from: 'c0@localhost/r', to: romeo.jid }).c('show').t('away').root());
    assert.equal(romeo.sent.length, 0, 'a newer one from the same contact takes no more room');
    romeo.session.send(presence({ from: 'c5@localhost/r', to: romeo.jid }));
    assert.equal(romeo.sent.length, 6, 'the sixth contact flushed all');
    assert.deepEqual(romeo.sent.map((e) => e.attrs.from), ['c1@localhost/r', 'c2@localhost/r', 'c3@localhost/r', 'c4@localhost/r', 'c0@localhost/r', 'c5@localhost/r']);
    romeo.session.send(presence({ from: 'c9@localhost/r', to: romeo.jid }));
    assert.equal(romeo.sent.length, 6, 'still inactive: holding again');
  });
});

test('<active/> while active and a second <inactive/> are harmless', async () => {
  await withClient(undefined, async (h, romeo, say) => {
    assert.equal(say('active'), true);
    say('inactive');
    romeo.session.send(presence({ from: 'nurse@localhost/n', to: romeo.jid }));
    say('inactive');
    assert.equal(romeo.session.filters.out.size, 1, 'one filter');
    say('active');
    assert.equal(romeo.sent.length, 1);
    assert.equal(romeo.session.filters.out.size, 0, 'removed when active');
  });
});
