/** XEP-0280 Message Carbons: eligibility, enable/disable, copies on both sides, <private/>, hints, forged wrappers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorCondition, settle, startHarness, type FakeClient, type Harness } from '../../src/testing/index.js';
import messageModule from '../../src/modules/message/index.js';
import carbons, { carbonVerdict, NS_CARBONS, NS_FORWARD } from '../../src/modules/carbons/index.js';
import { iq, message, presence } from '../../src/xml/stanza.js';
import type { Element } from '../../src/xml/element.js';

const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';

// ---- eligibility (pure) ----

function msg(type: string | undefined, ...children: Array<[string, string?]>): Element {
  const m = message({ type, from: 'juliet@capulet.lit/balcony', to: 'romeo@montague.lit' });
  for (const [name, xmlns] of children) m.c(name, xmlns ? { xmlns } : undefined).up();
  return m;
}

test('eligibility follows XEP-0280 §6', () => {
  const v = (m: Element, dir: 'sent' | 'received' = 'received', toFull = false) => carbonVerdict(m, dir, toFull).copy;
  assert.ok(v(msg('chat')), 'chat');
  assert.ok(v(msg('chat', ['active', 'http://jabber.org/protocol/chatstates'])), 'a chat state in a chat message');
  assert.ok(v(msg(undefined, ['body'])), 'normal (no type) with a body');
  assert.ok(v(msg('normal', ['body'])), 'normal with a body');
  assert.ok(!v(msg('normal')), 'normal without a body');
  assert.ok(v(msg('normal', ['received', 'urn:xmpp:receipts'])), 'a receipt');
  assert.ok(v(msg(undefined, ['displayed', 'urn:xmpp:chat-markers:0'])), 'a chat marker');
  assert.ok(!v(msg('headline', ['body'])), 'headline');
  assert.ok(!v(msg('groupchat', ['body'])), 'groupchat, received');
  assert.ok(!v(msg('groupchat', ['body']), 'sent'), 'groupchat, sent');
  assert.ok(!v(msg('error', ['body'])), 'errors are not tracked');
  assert.ok(!v(msg('chat', ['body'], ['private', NS_CARBONS])), 'private');
  assert.ok(!v(msg('chat', ['body'], ['no-copy', 'urn:xmpp:hints'])), 'no-copy hint');
  assert.ok(v(msg('chat', ['body'], ['no-store', 'urn:xmpp:hints'])), 'other hints do not matter');
  assert.ok(!v(msg('chat', ['sent', NS_CARBONS])), 'already a carbon');
  assert.ok(!v(msg('chat', ['body'], ['x', NS_MUC_USER]), 'received', true), 'a MUC private message received at a full JID');
  assert.ok(v(msg('chat', ['body'], ['x', NS_MUC_USER]), 'sent', true), 'a MUC private message the user sends');
  const invite = msg(undefined);
  invite.c('x', { xmlns: NS_MUC_USER }).c('invite', { from: 'juliet@capulet.lit' });
  assert.ok(v(invite, 'received', false), 'a mediated MUC invitation to the bare JID');
});

// ---- in the server ----


async function withHarness(fn: (h: Harness, join: (jid: string, opts?: { carbons?: boolean; priority?: number; available?: boolean }) => Promise<FakeClient>) => Promise<void>): Promise<void> {
  const h = await startHarness({ modules: [messageModule, carbons] });
  let n = 0;
  const join = async (jid: string, opts: { carbons?: boolean; priority?: number; available?: boolean } = {}): Promise<FakeClient> => {
    const c = await h.client(jid);
    if (opts.available !== false) h.server.sessions.setPresence(c.session, presence(), opts.priority ?? 0);
    if (opts.carbons !== false) {
      const r = await c.ask(iq({ type: 'set', id: `en${n++}` }).c('enable', { xmlns: NS_CARBONS }).root());
      assert.equal(r.attrs.type, 'result', String(r));
    }
    return c;
  };
  try {
    await fn(h, join);
  } finally {
    await h.stop();
  }
}

const carbonsOf = (c: FakeClient, dir: 'sent' | 'received') => c.sent.filter((e) => e.name === 'message' && e.getChild(dir, NS_CARBONS));
const originals = (c: FakeClient) => c.sent.filter((e) => e.name === 'message' && !e.getChild('sent', NS_CARBONS) && !e.getChild('received', NS_CARBONS));
const inner = (carbon: Element | undefined) => carbon?.elements[0]?.getChild('forwarded', NS_FORWARD)?.getChild('message');
const chat = (to: string, body: string, id = body) => message({ to, type: 'chat', id }).c('body').t(body).root();

test('enable and disable: per resource, answered with a result; carbons advertised; not for another account', async () => {
  await withHarness(async (h, join) => {
    assert.ok(h.context.features.includes(NS_CARBONS));
    const a = await join('romeo@localhost/a');
    const b = await join('romeo@localhost/b', { carbons: false });
    const juliet = await join('juliet@localhost/x', { carbons: false });
    // Enabling twice is no error (§10.1); to the server's address too.
    const again = await a.ask(iq({ type: 'set', id: 'e2', to: 'localhost' }).c('enable', { xmlns: NS_CARBONS }).root());
    assert.equal(again.attrs.type, 'result');
    const other = await juliet.ask(iq({ type: 'set', id: 'e3', to: 'romeo@localhost' }).c('disable', { xmlns: NS_CARBONS }).root());
    assert.equal(errorCondition(other), 'cancel/not-allowed');

    juliet.send(chat('romeo@localhost/b', 'one'));
    await settle();
    assert.equal(carbonsOf(a, 'received').length, 1, 'a enabled: copied');
    assert.equal(carbonsOf(b, 'received').length, 0);

    const off = await a.ask(iq({ type: 'set', id: 'd1' }).c('disable', { xmlns: NS_CARBONS }).root());
    assert.equal(off.attrs.type, 'result');
    juliet.send(chat('romeo@localhost/b', 'two'));
    await settle();
    assert.equal(carbonsOf(a, 'received').length, 1, 'disabled: no more copies');
  });
});

test('received: a message to one resource is copied, wrapped as §7 says, to the other enabled available resources only', async () => {
  await withHarness(async (h, join) => {
    const a = await join('romeo@localhost/a');
    const b = await join('romeo@localhost/b');
    const c = await join('romeo@localhost/c', { carbons: false });
    const away = await join('romeo@localhost/d', { available: false });
    const juliet = await join('juliet@localhost/x', { carbons: false });
    juliet.send(message({ to: 'romeo@localhost/a', type: 'chat', id: 'm1' }).c('body').t('wherefore').up().c('thread').t('t1').root());
    const copy = await b.receives((e) => e.getChild('received', NS_CARBONS) !== undefined);
    assert.deepEqual(copy.attrs, { from: 'romeo@localhost', to: 'romeo@localhost/b', type: 'chat' });
    const orig = inner(copy);
    assert.equal(orig?.attrs.from, 'juliet@localhost/x');
    assert.equal(orig?.attrs.to, 'romeo@localhost/a');
    assert.equal(orig?.getChildText('body'), 'wherefore');
    assert.equal(orig?.getChildText('thread'), 't1');
    assert.equal(originals(a).length, 1);
    assert.equal(carbonsOf(a, 'received').length, 0, 'not to the addressed resource');
    assert.equal(c.sent.filter((e) => e.name === 'message').length, 0, 'not enabled');
    assert.equal(away.sent.filter((e) => e.name === 'message').length, 0, 'not available');
  });
});

test('received at the bare JID: no copy for the resources that get the original, a copy for the others', async () => {
  await withHarness(async (h, join) => {
    const a = await join('romeo@localhost/a', { priority: 5 });
    const b = await join('romeo@localhost/b', { priority: 5 });
    const c = await join('romeo@localhost/c', { priority: 1 });
    const juliet = await join('juliet@localhost/x', { carbons: false });
    juliet.send(chat('romeo@localhost', 'to the bare JID'));
    await c.receives((e) => e.getChild('received', NS_CARBONS) !== undefined);
    await settle();
    for (const top of [a, b]) {
      assert.equal(originals(top).length, 1);
      assert.equal(carbonsOf(top, 'received').length, 0);
    }
    assert.equal(originals(c).length, 0);
  });
});

test('sent: what a resource sends, to a local user or another domain, is copied to its other enabled resources', async () => {
  await withHarness(async (h, join) => {
    const a = await join('romeo@localhost/a');
    const b = await join('romeo@localhost/b');
    const juliet = await join('juliet@localhost/x', { carbons: false });
    a.send(chat('juliet@localhost/x', 'local'));
    a.send(chat('mercutio@remote.example', 'remote'));
    a.send(message({ to: 'room@conference.remote.example', type: 'groupchat', id: 'gc' }).c('body').t('all').root());
    await settle();
    const sent = carbonsOf(b, 'sent');
    assert.deepEqual(sent.map((e) => inner(e)?.getChildText('body')), ['local', 'remote'], 'groupchat is not copied');
    assert.equal(sent[0]?.attrs.from, 'romeo@localhost');
    assert.equal(inner(sent[0])?.attrs.from, 'romeo@localhost/a');
    assert.equal(carbonsOf(a, 'sent').length, 0, 'never to the sender');
    assert.equal(originals(juliet).length, 1);
    assert.equal(h.remote.filter((e) => e.name === 'message').length, 2, 'the originals went on to the other domain');
  });
});

test('within one account: the addressed resource gets the original, the others a received copy, the sender nothing', async () => {
  await withHarness(async (h, join) => {
    const a = await join('romeo@localhost/a');
    const b = await join('romeo@localhost/b');
    const c = await join('romeo@localhost/c');
    a.send(chat('romeo@localhost/b', 'note to self'));
    await settle();
    assert.equal(originals(b).length, 1);
    assert.equal(carbonsOf(c, 'received').length, 1);
    assert.equal(carbonsOf(c, 'sent').length, 0);
    assert.equal(a.sent.filter((e) => e.name === 'message').length, 0);
  });
});

test('<private/>: not copied on either side; removed by the receiving server, kept on the way to another domain', async () => {
  await withHarness(async (h, join) => {
    const a = await join('romeo@localhost/a');
    const b = await join('romeo@localhost/b');
    const j1 = await join('juliet@localhost/x');
    const j2 = await join('juliet@localhost/y');
    const priv = (to: string, id: string) => message({ to, type: 'chat', id }).c('body').t('secret').up().c('private', { xmlns: NS_CARBONS }).root();
    j1.send(priv('romeo@localhost/a', 'p1'));
    a.send(priv('mercutio@remote.example', 'p2'));
    await settle();
    const got = originals(a);
    assert.equal(got.length, 1);
    assert.equal(got[0]?.getChild('private', NS_CARBONS), undefined, 'removed before delivery');
    assert.equal(carbonsOf(b, 'received').length + carbonsOf(b, 'sent').length, 0);
    assert.equal(carbonsOf(j2, 'sent').length, 0);
    const out = h.remote.find((e) => e.attrs.id === 'p2');
    assert.ok(out?.getChild('private', NS_CARBONS), 'the receiving server removes it, not the sending one');
  });
});

test('XEP-0334 <no-copy/>: not copied, and the hint stays', async () => {
  await withHarness(async (h, join) => {
    const a = await join('romeo@localhost/a');
    const b = await join('romeo@localhost/b');
    const juliet = await join('juliet@localhost/x');
    juliet.send(message({ to: 'romeo@localhost/a', type: 'chat', id: 'n1' }).c('body').t('x').up().c('no-copy', { xmlns: 'urn:xmpp:hints' }).root());
    a.send(message({ to: 'juliet@localhost/x', type: 'chat', id: 'n2' }).c('body').t('y').up().c('no-copy', { xmlns: 'urn:xmpp:hints' }).root());
    await settle();
    assert.equal(b.sent.filter((e) => e.name === 'message').length, 0);
    assert.ok(originals(a)[0]?.getChild('no-copy', 'urn:xmpp:hints'));
  });
});

test('messages from another domain to a full JID are copied; MUC private messages to a full JID are not', async () => {
  await withHarness(async (h, join) => {
    await join('romeo@localhost/a');
    const b = await join('romeo@localhost/b');
    // As the s2s module routes what a remote server sends (origin: not a local client; no sender-side events).
    const fromRemote = (m: Element) => h.server.router.route(h.context.session, m);
    fromRemote(message({ from: 'mercutio@remote.example/r', to: 'romeo@localhost/a', type: 'chat', id: 'r1' }).c('body').t('hi').root());
    fromRemote(message({ from: 'room@muc.remote.example/nurse', to: 'romeo@localhost/a', type: 'chat', id: 'r2' }).c('body').t('pm').up().c('x', { xmlns: NS_MUC_USER }).root());
    await settle();
    assert.deepEqual(carbonsOf(b, 'received').map((e) => inner(e)?.attrs.id), ['r1']);
  });
});

test('forged carbons: wrappers in a message from another account are removed before delivery and never copied as carbons', async () => {
  await withHarness(async (h, join) => {
    const a = await join('romeo@localhost/a');
    const b = await join('romeo@localhost/b');
    const mallory = await join('mallory@localhost/x', { carbons: false });
    const forged = (id: string, from?: string) => {
      const m = message({ to: 'romeo@localhost/a', type: 'chat', id, from });
      m.c('received', { xmlns: NS_CARBONS }).c('forwarded', { xmlns: NS_FORWARD }).c('message', { xmlns: 'jabber:client', from: 'juliet@localhost/x', to: 'romeo@localhost/a', type: 'chat' }).c('body').t('forged');
      return m;
    };
    mallory.send(forged('f1'));
    h.server.router.route(h.context.session, forged('f2', 'eve@remote.example/x'));
    await settle();
    const got = originals(a);
    assert.deepEqual(got.map((e) => e.attrs.id), ['f1', 'f2'], 'delivered with the wrapper removed');
    assert.equal(b.sent.filter((e) => inner(e)?.getChildText('body') === 'forged').length, 0, 'the forged content reached no other resource');
    for (const e of [...a.sent, ...b.sent]) {
      const wrapper = e.getChild('received', NS_CARBONS) ?? e.getChild('sent', NS_CARBONS);
      if (wrapper) assert.equal(e.attrs.from, 'romeo@localhost', `a carbon only from the own bare JID: ${String(e)}`);
      assert.ok(!(e.attrs.from !== 'romeo@localhost' && wrapper), 'no forged wrapper passes');
    }
    // The outbound side strips too: a client cannot send a forged wrapper to another account.
    a.send(forged('f3').setAttr('to', 'mercutio@remote.example'));
    await settle();
    const out = h.remote.find((e) => e.attrs.id === 'f3');
    assert.ok(out && !out.getChild('received', NS_CARBONS));
  });
});

test('counts copies in canto_carbons_copies_total', async () => {
  await withHarness(async (h, join) => {
    const a = await join('romeo@localhost/a');
    await join('romeo@localhost/b');
    await join('romeo@localhost/c');
    a.send(chat('juliet@localhost', 'x'));
    await settle();
    const text = await h.server.metrics.render();
    assert.match(text, /canto_carbons_copies_total\{[^}]*direction="sent"[^}]*\} 2/);
  });
});
