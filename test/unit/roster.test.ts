/** The roster module through fake clients: get, set, remove, every error case, pushes, versions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Element } from '../../src/xml/element.js';
import { iq } from '../../src/xml/stanza.js';
import { loadRoster, subscriptionOf } from '../../src/modules/roster/store.js';
import { sessionRoster } from '../../src/modules/roster/push.js';
import { HOST, NS_ROSTER, harness, errorConditionOf, pushes, clear, type Harness } from './roster-harness.js';
import type { FakeClient } from '../../src/testing/index.js';

let n = 0;
function rosterSet(...items: Element[]): Element {
  const el = iq({ type: 'set', id: `set${++n}` });
  const q = el.c('query', { xmlns: NS_ROSTER });
  for (const i of items) q.cnode(i);
  return el;
}
function item(attrs: Record<string, string | undefined>, ...groups: string[]): Element {
  const el = new Element('item', { xmlns: NS_ROSTER, ...attrs });
  for (const g of groups) el.c('group').t(g);
  return el;
}
async function answer(h: Harness, c: FakeClient, el: Element): Promise<Element> {
  h.send(c, el);
  await h.settle();
  const res = c.sent.find((s) => s.name === 'iq' && s.attrs.id === el.attrs.id);
  assert.ok(res, `an answer to ${el.attrs.id}`);
  return res;
}

test('roster get, set, update and remove with pushes to interested resources only', async () => {
  const h = await harness();
  try {
    const phone = h.connect('romeo', 'phone');
    const laptop = h.connect('romeo', 'laptop');
    const quiet = h.connect('romeo', 'quiet'); // never asks for the roster
    const empty = await h.rosterGet(phone);
    assert.equal(empty.attrs.type, 'result');
    const q0 = empty.getChild('query', NS_ROSTER);
    assert.ok(q0?.attrs.ver, 'a version is returned');
    assert.equal(q0.elements.length, 0);
    assert.equal(phone.session.interested, true);
    await h.rosterGet(laptop);
    clear(phone, laptop, quiet);

    const res = await answer(h, phone, rosterSet(item({ jid: 'Juliet@Localhost', name: 'Juliet' }, 'Friends', 'Capulets')));
    assert.equal(res.attrs.type, 'result');
    for (const c of [phone, laptop]) {
      const [push] = pushes(c);
      assert.ok(push, 'a push');
      assert.equal(push.attrs.to, c.session.fullJid);
      assert.equal(push.attrs.from, 'romeo@localhost');
      const q = push.getChild('query', NS_ROSTER);
      assert.notEqual(q?.attrs.ver, q0.attrs.ver, 'the push carries the new version');
      const it = q?.getChild('item', NS_ROSTER);
      assert.equal(it?.attrs.jid, 'juliet@localhost', 'the JID is prepared');
      assert.equal(it?.attrs.name, 'Juliet');
      assert.equal(it?.attrs.subscription, 'none');
      assert.deepEqual(it?.getChildren('group').map((g) => g.getText()), ['Friends', 'Capulets']);
    }
    assert.equal(pushes(quiet).length, 0, 'a resource that never asked for the roster gets no push');
    // The push precedes the result for the sender.
    const idxPush = phone.sent.findIndex((s) => s.attrs.type === 'set');
    const idxResult = phone.sent.indexOf(res);
    assert.ok(idxPush < idxResult);

    // The client's subscription/ask attributes are ignored; an update keeps the state.
    await answer(h, phone, rosterSet(item({ jid: 'juliet@localhost', subscription: 'both', ask: 'subscribe' }, 'Verona')));
    const stored = await loadRoster(h.server, HOST, 'romeo');
    assert.deepEqual(stored.getItem('juliet@localhost'), { jid: 'juliet@localhost', groups: ['Verona'], subscription: 'none', ask: false, approved: false });
    assert.equal(await subscriptionOf(h.server, HOST, 'romeo', 'juliet@localhost'), 'none');
    assert.equal(sessionRoster(quiet.session)?.getItem('juliet@localhost')?.groups[0], 'Verona', 'session.roster follows changes');

    const full = await h.rosterGet(laptop);
    const items = full.getChild('query', NS_ROSTER)?.getChildren('item') ?? [];
    assert.deepEqual(items.map((i) => i.attrs.jid), ['juliet@localhost']);

    clear(phone, laptop);
    const removed = await answer(h, laptop, rosterSet(item({ jid: 'juliet@localhost', subscription: 'remove' })));
    assert.equal(removed.attrs.type, 'result');
    const it = pushes(phone)[0]?.getChild('query', NS_ROSTER)?.getChild('item');
    assert.equal(it?.attrs.subscription, 'remove');
    assert.equal((await loadRoster(h.server, HOST, 'romeo')).size, 0);
  } finally {
    await h.stop();
  }
});

test('roster set errors (RFC 6121 §2.3.3, §2.5.3)', async () => {
  const h = await harness(['romeo'], (m) => {
    m.roster = { max_name_length: 10, max_group_length: 5, max_items: 2 };
  });
  try {
    const c = h.connect('romeo', 'r');
    const cases: Array<[string, Element, string]> = [
      ['two items', rosterSet(item({ jid: 'a@x' }), item({ jid: 'b@x' })), 'bad-request'],
      ['no item', rosterSet(), 'bad-request'],
      ['no jid', rosterSet(item({ name: 'x' })), 'bad-request'],
      ['bad jid', rosterSet(item({ jid: 'a@b@c' })), 'jid-malformed'],
      ['duplicate groups', rosterSet(item({ jid: 'a@x' }, 'g', 'g')), 'bad-request'],
      ['name too long', rosterSet(item({ jid: 'a@x', name: 'abcdefghijk' })), 'not-acceptable'],
      ['empty group', rosterSet(item({ jid: 'a@x' }, '')), 'not-acceptable'],
      ['group too long', rosterSet(item({ jid: 'a@x' }, 'abcdef')), 'not-acceptable'],
      ['remove unknown item', rosterSet(item({ jid: 'nobody@x', subscription: 'remove' })), 'item-not-found'],
      ['own JID', rosterSet(item({ jid: 'romeo@localhost' })), 'not-allowed'],
    ];
    for (const [label, el, condition] of cases) {
      const res = await answer(h, c, el);
      assert.equal(res.attrs.type, 'error', label);
      assert.equal(errorConditionOf(res), condition, label);
    }
    // Limits are inclusive: 10 characters (counted as characters, not bytes) is fine.
    assert.equal((await answer(h, c, rosterSet(item({ jid: 'a@x', name: 'ééééééééé€' }, 'abcde')))).attrs.type, 'result');
    assert.equal((await answer(h, c, rosterSet(item({ jid: 'b@x' })))).attrs.type, 'result');
    const over = await answer(h, c, rosterSet(item({ jid: 'c@x' })));
    assert.equal(errorConditionOf(over), 'policy-violation', 'max_items');
    assert.equal((await answer(h, c, rosterSet(item({ jid: 'b@x', name: 'upd' })))).attrs.type, 'result', 'updating is fine when full');
    assert.equal((await loadRoster(h.server, HOST, 'romeo')).size, 2);
  } finally {
    await h.stop();
  }
});

test("another entity may not read or change a user's roster", async () => {
  const h = await harness();
  try {
    const juliet = h.connect('juliet', 'j');
    const get = iq({ type: 'get', id: 'peek', to: 'romeo@localhost' });
    get.c('query', { xmlns: NS_ROSTER });
    assert.equal(errorConditionOf(await answer(h, juliet, get)), 'forbidden');
    const set = rosterSet(item({ jid: 'x@y' }));
    set.attrs.to = 'romeo@localhost';
    assert.equal(errorConditionOf(await answer(h, juliet, set)), 'forbidden');
    assert.equal((await loadRoster(h.server, HOST, 'romeo')).size, 0);
  } finally {
    await h.stop();
  }
});

test('roster versioning (XEP-0237): current version gives an empty result, stream feature offered', async () => {
  const h = await harness();
  try {
    const c = h.connect('romeo', 'r');
    const first = await h.rosterGet(c, '');
    const ver = first.getChild('query', NS_ROSTER)?.attrs.ver;
    assert.ok(ver);
    const same = await h.rosterGet(c, ver);
    assert.equal(same.attrs.type, 'result');
    assert.equal(same.elements.length, 0, 'no payload when the client is up to date');
    clear(c);
    await answer(h, c, rosterSet(item({ jid: 'juliet@localhost' })));
    const pushVer = pushes(c)[0]?.getChild('query', NS_ROSTER)?.attrs.ver;
    assert.ok(pushVer && pushVer !== ver);
    const stale = await h.rosterGet(c, ver);
    assert.equal(stale.getChild('query', NS_ROSTER)?.attrs.ver, pushVer);
    assert.equal(stale.getChild('query', NS_ROSTER)?.elements.length, 1, 'a stale version gets the whole roster');
    assert.equal((await h.rosterGet(c, pushVer)).elements.length, 0);

    // The stream feature is offered to authenticated streams that have not bound yet.
    const features = new Element('features');
    const session = { ...c.session, resource: undefined };
    h.server.hosts.get(HOST)?.events.fire('stream-features', { origin: session, features });
    assert.ok(features.getChild('ver', 'urn:xmpp:features:rosterver'));
    assert.ok(features.getChild('sub', 'urn:xmpp:features:pre-approval'));
  } finally {
    await h.stop();
  }
});

test('the roster is loaded into session.roster when the resource binds', async () => {
  const h = await harness();
  try {
    const a = h.connect('romeo', 'a');
    await answer(h, a, rosterSet(item({ jid: 'juliet@localhost', name: 'J' })));
    const b = h.connect('romeo', 'b');
    await h.settle();
    assert.equal(sessionRoster(b.session)?.getItem('juliet@localhost')?.name, 'J');
  } finally {
    await h.stop();
  }
});

test('with versioning off, results and pushes carry no ver', async () => {
  const h = await harness(['romeo'], (m) => {
    m.roster = { versioning: false };
  });
  try {
    const phone = h.connect('romeo', 'phone');
    const got = await h.rosterGet(phone);
    assert.equal(got.getChild('query', NS_ROSTER)?.attrs.ver, undefined);
    clear(phone);
    await answer(h, phone, rosterSet(item({ jid: 'juliet@localhost' })));
    const [push] = pushes(phone);
    assert.ok(push, 'a push');
    assert.equal(push.getChild('query', NS_ROSTER)?.attrs.ver, undefined);
  } finally {
    await h.stop();
  }
});
