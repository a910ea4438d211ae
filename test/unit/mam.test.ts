/** XEP-0313 MAM and XEP-0359 stanza ids: archiving rules, stamps, offline interplay, prefs, errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorCondition, settle, waitFor } from '../../src/testing/index.js';
import { Element, RawElement } from '../../src/xml/element.js';
import { iq, message, presence } from '../../src/xml/stanza.js';
import { archivable } from '../../src/modules/mam/index.js';
import { ask, chat, mamIq, NS_MAM, NS_SID, online, startMam } from './mam-harness.js';

const msg = (type: string | undefined, ...children: Element[]): Element => {
  const m = message({ to: 'juliet@localhost', type });
  for (const c of children) m.cnode(c);
  return m;
};
const el = (name: string, xmlns: string, text?: string): Element => {
  const e = new Element(name, { xmlns });
  if (text !== undefined) e.t(text);
  return e;
};
const body = (t = 'hi') => el('body', 'jabber:client', t);
const hint = (name: string) => el(name, 'urn:xmpp:hints');

test('archivable follows XEP-0313 §5.1.1 and the XEP-0334 hints', () => {
  assert.ok(archivable(msg('chat', body())));
  assert.ok(archivable(msg(undefined, body())), 'normal (no type) with a body');
  assert.ok(!archivable(msg('groupchat', body())), 'groupchat is the MUC archive’s');
  assert.ok(!archivable(msg('error', body())));
  assert.ok(!archivable(msg('headline', body())));
  assert.ok(!archivable(msg('chat', el('active', 'http://jabber.org/protocol/chatstates'))), 'a bare chat state');
  assert.ok(!archivable(msg('chat', el('active', 'http://jabber.org/protocol/chatstates'), el('origin-id', NS_SID))), 'a chat state with an origin-id');
  assert.ok(archivable(msg('chat', el('received', 'urn:xmpp:receipts'))), 'a receipt');
  assert.ok(archivable(msg('chat', el('encrypted', 'eu.siacs.conversations.axolotl'))), 'OMEMO without a body');
  assert.ok(archivable(msg('chat', el('displayed', 'urn:xmpp:chat-markers:0'))));
  assert.ok(!archivable(msg('chat', body(), hint('no-store'))));
  assert.ok(!archivable(msg('chat', body(), hint('no-permanent-store'))));
  assert.ok(archivable(msg('chat', el('active', 'http://jabber.org/protocol/chatstates'), hint('store'))), 'store archives what would not be');
  assert.ok(archivable(msg('headline', body(), hint('store'))));
  assert.ok(!archivable(msg('chat', body(), hint('store'), hint('no-store'))), 'no-store wins over store');
  assert.ok(!archivable(msg('error', body(), hint('store'))));
  assert.ok(!archivable(presence()));
});

test('a chat message is archived once in each account and the live copy carries the recipient’s stanza-id', async () => {
  const h = await startMam();
  try {
    const romeo = online(await h.client('romeo@localhost/phone'));
    const juliet = online(await h.client('juliet@localhost/balcony'));
    const sent = chat('juliet@localhost', 'hello');
    sent.c('origin-id', { xmlns: NS_SID, id: 'origin-1' });
    romeo.send(sent);
    const got = await juliet.receives('message');
    const jq = await ask(juliet, mamIq());
    assert.equal(jq.ids.length, 1, 'one item in juliet’s archive');
    const stamps = got.getChildren('stanza-id', NS_SID);
    const own = stamps.filter((s) => s.attrs.by === 'juliet@localhost');
    assert.equal(own.length, 1);
    assert.equal(own[0]?.attrs.id, jq.ids[0], 'the stanza-id is the recipient’s archive id');
    assert.equal(got.getChild('origin-id', NS_SID)?.attrs.id, 'origin-1', 'origin-id preserved');
    assert.equal(jq.messages[0]?.getChildText('body'), 'hello');
    assert.equal(jq.messages[0]?.attrs.from, 'romeo@localhost/phone');

    const rq = await ask(romeo, mamIq());
    assert.equal(rq.ids.length, 1, 'one item in romeo’s archive');
    assert.equal(rq.messages[0]?.attrs.to, 'juliet@localhost');
    const senderStamp = stamps.find((s) => s.attrs.by === 'romeo@localhost');
    assert.equal(senderStamp?.attrs.id, rq.ids[0], 'the sender-side stamp names the sender’s archive id');
    assert.equal(rq.complete, true);
    assert.equal(rq.count, 1);

    // The result message shape (XEP-0313 §4.2).
    const result = romeo.sent.find((s) => s.getChild('result', NS_MAM));
    assert.equal(result?.attrs.to, 'romeo@localhost/phone');
    const fwd = result?.getChild('result', NS_MAM)?.getChild('forwarded', 'urn:xmpp:forward:0');
    assert.match(fwd?.getChild('delay', 'urn:xmpp:delay')?.attrs.stamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);

    // Messages to oneself are archived once.
    romeo.send(chat('romeo@localhost', 'note to self'));
    await romeo.receives((s) => s.getChildText('body') === 'note to self');
    assert.equal((await ask(romeo, mamIq())).ids.length, 2);
  } finally {
    await h.stop();
  }
});

test('results carry the stored text as it is (RawElement); what a client reads is the parsed message', async () => {
  const h = await startMam();
  try {
    const romeo = online(await h.client('romeo@localhost/phone'));
    const juliet = online(await h.client('juliet@localhost/balcony'));
    romeo.send(chat('juliet@localhost', 'Grüße & <tags>'));
    await juliet.receives('message');
    // What the module hands the session, before the framing (and the test kit) see it.
    const results: Element[] = [];
    juliet.session.filters.out.add((stanza) => {
      const r = stanza.getChild('result', NS_MAM);
      if (r) results.push(r);
      return stanza;
    });
    const answer = await ask(juliet, mamIq());
    assert.equal(results.length, 1);
    // The <result><forwarded><delay/> wrapping is written as text around the stored message.
    const raw = results[0];
    assert.ok(raw instanceof RawElement, 'sent without a parse and re-serialize, wrapping included');
    assert.match(raw.xml, /^<result xmlns="urn:xmpp:mam:2" queryid="[^"]+" id="[^"]+"><forwarded xmlns="urn:xmpp:forward:0"><delay xmlns="urn:xmpp:delay" stamp="[^"]+"\/><message xmlns="jabber:client" /);
    assert.equal(answer.messages[0]?.getChildText('body'), 'Grüße & <tags>');
    assert.equal(answer.ids.length, 1, 'the client reads the result with its id');
  } finally {
    await h.stop();
  }
});

test('what is not archivable is delivered but not archived', async () => {
  const h = await startMam();
  try {
    const romeo = online(await h.client('romeo@localhost/phone'));
    const juliet = online(await h.client('juliet@localhost/balcony'));
    const state = message({ to: 'juliet@localhost', type: 'chat' }).c('composing', { xmlns: 'http://jabber.org/protocol/chatstates' }).root();
    romeo.send(state);
    romeo.send(chat('juliet@localhost', 'secret').c('no-permanent-store', { xmlns: 'urn:xmpp:hints' }).root());
    romeo.send(chat('juliet@localhost', 'flash', 'headline'));
    romeo.send(chat('juliet@localhost', 'keep').c('store', { xmlns: 'urn:xmpp:hints' }).root());
    await juliet.receives((s) => s.getChildText('body') === 'keep');
    const stored = (await ask(juliet, mamIq())).messages.map((m) => m.getChildText('body'));
    assert.deepEqual(stored, ['keep']);
    assert.ok(juliet.sent.some((s) => s.getChildText('body') === 'secret'), 'hinted messages are still delivered');
    assert.equal(juliet.sent.find((s) => s.getChildText('body') === 'secret')?.getChild('stanza-id', NS_SID), undefined, 'no stanza-id on an unarchived message');
  } finally {
    await h.stop();
  }
});

test('a stanza-id claiming to be by the recipient is stripped; others are kept', async () => {
  const h = await startMam();
  try {
    const romeo = online(await h.client('romeo@localhost/phone'));
    const juliet = online(await h.client('juliet@localhost/balcony'));
    const forged = chat('juliet@localhost', 'forged');
    forged.c('stanza-id', { xmlns: NS_SID, by: 'juliet@localhost', id: 'FAKE' });
    forged.c('stanza-id', { xmlns: NS_SID, by: 'romeo@localhost', id: 'FAKE-R' });
    forged.c('stanza-id', { xmlns: NS_SID, by: 'room@muc.example', id: 'OTHER' });
    romeo.send(forged);
    const got = await juliet.receives('message');
    const ids = got.getChildren('stanza-id', NS_SID).map((s) => `${s.attrs.by}=${s.attrs.id}`);
    assert.ok(!ids.includes('juliet@localhost=FAKE'), 'the forged recipient stamp is gone');
    assert.ok(!ids.includes('romeo@localhost=FAKE-R'), 'a forged sender stamp is gone');
    assert.ok(ids.includes('room@muc.example=OTHER'), 'stamps by others stay');
    assert.equal(ids.filter((i) => i.startsWith('juliet@localhost=')).length, 1);

    // Even a message that is not archived loses the forged stamp.
    const state = message({ to: 'juliet@localhost', type: 'chat', id: 'st' }).c('gone', { xmlns: 'http://jabber.org/protocol/chatstates' }).up();
    state.c('stanza-id', { xmlns: NS_SID, by: 'juliet@localhost', id: 'FAKE2' });
    romeo.send(state);
    const got2 = await juliet.receives((s) => s.attrs.id === 'st');
    assert.equal(got2.getChildren('stanza-id', NS_SID).length, 0);
  } finally {
    await h.stop();
  }
});

test('messages to remote domains are archived on the sender side', async () => {
  const h = await startMam();
  try {
    const romeo = online(await h.client('romeo@localhost/phone'));
    romeo.send(chat('mercutio@verona.example/x', 'far away'));
    await waitFor(() => h.remote.length > 0);
    const out = h.remote[0];
    const r = await ask(romeo, mamIq({ with: 'mercutio@verona.example' }));
    assert.deepEqual(r.messages.map((m) => m.getChildText('body')), ['far away']);
    assert.equal(out?.getChild('stanza-id', NS_SID)?.attrs.id, r.ids[0]);
    assert.equal(out?.getChild('stanza-id', NS_SID)?.attrs.by, 'romeo@localhost');
  } finally {
    await h.stop();
  }
});

test('a message from another server (jabber:server) is archived and returned as jabber:client', async () => {
  const h = await startMam();
  try {
    const romeo = online(await h.client('romeo@localhost/phone'));
    // As an incoming server stream hands it over: the stanza and its children in jabber:server.
    const incoming = new Element('message', { xmlns: 'jabber:server', from: 'mercutio@verona.example/x', to: 'romeo@localhost/phone', type: 'chat', id: 'far' });
    incoming.c('body').t('from afar');
    h.server.router.route(h.context.session, incoming);
    await romeo.receives((e) => e.attrs.id === 'far');
    const r = await ask(romeo, mamIq({ with: 'mercutio@verona.example' }));
    const archived = r.messages[0];
    assert.ok(archived, 'archived');
    assert.equal(archived.xmlns, 'jabber:client');
    assert.equal(archived.getChild('body')?.xmlns, 'jabber:client');
    assert.equal(archived.getChildText('body'), 'from afar');
    const result = romeo.sent.find((e) => e.getChild('result', NS_MAM) !== undefined);
    assert.ok(result && !result.toString().includes('jabber:server'), 'nothing in the result is written as jabber:server');
  } finally {
    await h.stop();
  }
});

test('offline messages carry the stanza-id; a session that synced from MAM before presence does not get them again', async () => {
  const h = await startMam();
  try {
    const romeo = online(await h.client('romeo@localhost/phone'));
    await h.createAccount('juliet');
    romeo.send(chat('juliet@localhost', 'while you were away'));
    await settle();
    await waitFor(async () => (await h.server.storage.archive('localhost', 'offline').count('juliet')) === 1);
    const archived = await h.server.storage.archive<string>('localhost', 'mam').find('juliet');
    assert.equal(archived.length, 1, 'an offline message is archived too');

    // A client without MAM: initial presence flushes the offline copy, with the archive id.
    const plain = await h.client('juliet@localhost/plain');
    plain.send(presence());
    const flushed = await plain.receives('message');
    assert.equal(flushed.getChildText('body'), 'while you were away');
    const sid = flushed.getChildren('stanza-id', NS_SID).find((s) => s.attrs.by === 'juliet@localhost');
    assert.equal(sid?.attrs.id, archived[0]?.id, 'the offline copy carries the archive id (clients dedupe on it)');

    // A MAM client: queries the archive before its initial presence, so the offline copy is not re-sent.
    plain.send(presence({ type: 'unavailable' }));
    await settle();
    romeo.send(chat('juliet@localhost', 'second'));
    await waitFor(async () => (await h.server.storage.archive('localhost', 'offline').count('juliet')) === 1);
    const modern = await h.client('juliet@localhost/modern');
    const synced = await ask(modern, mamIq());
    assert.deepEqual(synced.messages.map((m) => m.getChildText('body')), ['while you were away', 'second']);
    modern.sent.length = 0;
    modern.send(presence());
    await waitFor(async () => (await h.server.storage.archive('localhost', 'offline').count('juliet')) === 0, { message: 'the offline store is emptied' });
    await settle();
    assert.equal(modern.sent.filter((s) => s.name === 'message' && s.getChildText('body') === 'second').length, 0, 'not sent twice');
  } finally {
    await h.stop();
  }
});

test('preferences: get/set, honoured when archiving, roster default, errors', async () => {
  const h = await startMam();
  try {
    const juliet = online(await h.client('juliet@localhost/balcony'));
    const romeo = online(await h.client('romeo@localhost/phone'));
    const nurse = online(await h.client('nurse@localhost/n'));
    const tybalt = online(await h.client('tybalt@localhost/t'));

    const got = await juliet.ask(iq({ type: 'get', id: 'p0' }).c('prefs', { xmlns: NS_MAM }).root());
    assert.equal(got.getChild('prefs', NS_MAM)?.attrs.default, 'always');

    const set = iq({ type: 'set', id: 'p1' }).c('prefs', { xmlns: NS_MAM, default: 'roster' });
    set.c('always').c('jid').t('Nurse@localhost/ignored-resource');
    set.c('never').c('jid').t('tybalt@localhost');
    const answer = await juliet.ask(set.root());
    assert.equal(answer.attrs.type, 'result');
    const stored = answer.getChild('prefs', NS_MAM);
    assert.equal(stored?.attrs.default, 'roster');
    assert.deepEqual(stored?.getChild('always')?.getChildren('jid').map((j) => j.getText()), ['nurse@localhost']);
    assert.deepEqual(stored?.getChild('never')?.getChildren('jid').map((j) => j.getText()), ['tybalt@localhost']);

    // romeo is not in juliet's roster yet: not archived; then added: archived.
    romeo.send(chat('juliet@localhost', 'not a contact'));
    nurse.send(chat('juliet@localhost', 'always'));
    tybalt.send(chat('juliet@localhost', 'never'));
    await juliet.receives((s) => s.getChildText('body') === 'never');
    await juliet.receives((s) => s.getChildText('body') === 'always');
    await juliet.receives((s) => s.getChildText('body') === 'not a contact');
    const add = await juliet.ask(iq({ type: 'set', id: 'r1' }).c('query', { xmlns: 'jabber:iq:roster' }).c('item', { jid: 'romeo@localhost' }).root());
    assert.equal(add.attrs.type, 'result');
    romeo.send(chat('juliet@localhost', 'contact now'));
    await juliet.receives((s) => s.getChildText('body') === 'contact now');
    const bodies = (await ask(juliet, mamIq())).messages.map((m) => m.getChildText('body')).sort();
    assert.deepEqual(bodies, ['always', 'contact now']);
    // The sender's own prefs are separate: tybalt archives what he sent.
    assert.equal((await ask(tybalt, mamIq())).ids.length, 1);

    const bad = await juliet.ask(iq({ type: 'set', id: 'p2' }).c('prefs', { xmlns: NS_MAM, default: 'sometimes' }).root());
    assert.equal(errorCondition(bad), 'modify/bad-request');
    const badJid = iq({ type: 'set', id: 'p3' }).c('prefs', { xmlns: NS_MAM, default: 'always' });
    badJid.c('always').c('jid').t('@@bad');
    assert.equal(errorCondition(await juliet.ask(badJid.root())), 'modify/jid-malformed');
  } finally {
    await h.stop();
  }
});

test('query errors: forms, RSM, unknown ids, someone else’s archive', async () => {
  const h = await startMam({ mam: { max_page_size: 5, default_page_size: 3 } });
  try {
    const romeo = online(await h.client('romeo@localhost/phone'));
    const juliet = online(await h.client('juliet@localhost/balcony'));
    for (let i = 0; i < 8; i++) romeo.send(chat('juliet@localhost', `m${i}`));
    await waitFor(() => juliet.sent.filter((s) => s.name === 'message').length === 8);
    const cond = async (q: Element) => errorCondition(await juliet.ask(q));

    assert.equal((await ask(juliet, mamIq())).ids.length, 3, 'default page size');
    const capped = await ask(juliet, mamIq({}, { max: 100000 }));
    assert.equal(capped.ids.length, 5, 'a large max is capped to max_page_size');
    assert.equal(capped.complete, false);
    assert.equal(await cond(mamIq({}, { max: '1e3' })), 'modify/bad-request');
    assert.equal(await cond(mamIq({}, { max: '-1' })), 'modify/bad-request');
    assert.equal(await cond(mamIq({}, { max: '99999999999999999999' })), 'modify/bad-request', 'a huge max is malformed');
    assert.equal(await cond(mamIq({}, { after: 'no-such-id' })), 'cancel/item-not-found');
    assert.equal(await cond(mamIq({}, { before: 'no-such-id' })), 'cancel/item-not-found');
    assert.equal(await cond(mamIq({ 'after-id': 'no-such-id' })), 'cancel/item-not-found');
    assert.equal(await cond(mamIq({ 'before-id': 'no-such-id' })), 'cancel/item-not-found');
    assert.equal(await cond(mamIq({ start: 'yesterday' })), 'modify/bad-request');
    assert.equal(await cond(mamIq({ end: '2020-01-01' })), 'modify/bad-request', 'a date without time');
    assert.equal(await cond(mamIq({ with: 'bad@@jid' })), 'modify/bad-request');

    const unknownField = iq({ type: 'set', id: 'u1' }).c('query', { xmlns: NS_MAM }).c('x', { xmlns: 'jabber:x:data', type: 'submit' });
    unknownField.c('field', { var: 'colour' }).c('value').t('red');
    assert.equal(await cond(unknownField.root()), 'modify/bad-request');
    const wrongType = iq({ type: 'set', id: 'u2' }).c('query', { xmlns: NS_MAM }).c('x', { xmlns: 'jabber:x:data', type: 'submit' });
    wrongType.c('field', { var: 'FORM_TYPE' }).c('value').t('urn:xmpp:mam:1');
    assert.equal(await cond(wrongType.root()), 'modify/bad-request');
    const index = iq({ type: 'set', id: 'u3' }).c('query', { xmlns: NS_MAM }).c('set', { xmlns: 'http://jabber.org/protocol/rsm' }).c('index').t('3').root();
    assert.equal(await cond(index), 'cancel/feature-not-implemented');

    const other = iq({ type: 'set', id: 'o1', to: 'romeo@localhost' }).c('query', { xmlns: NS_MAM }).root();
    assert.equal(await cond(other), 'auth/forbidden');
    assert.equal((await ask(romeo, mamIq())).ids.length, 3, 'romeo may read his own');
  } finally {
    await h.stop();
  }
});

test('the query form, metadata and account disco#info', async () => {
  const h = await startMam();
  try {
    const juliet = online(await h.client('juliet@localhost/balcony'));
    const form = await juliet.ask(iq({ type: 'get', id: 'f1' }).c('query', { xmlns: NS_MAM }).root());
    const vars = form.getChild('query', NS_MAM)?.getChild('x', 'jabber:x:data')?.getChildren('field').map((f) => f.attrs.var);
    assert.deepEqual(vars, ['FORM_TYPE', 'with', 'start', 'end', 'before-id', 'after-id', 'ids']);

    const empty = await juliet.ask(iq({ type: 'get', id: 'md0' }).c('metadata', { xmlns: NS_MAM }).root());
    assert.equal(empty.getChild('metadata', NS_MAM)?.elements.length, 0, 'an empty archive has no start/end');
    const romeo = online(await h.client('romeo@localhost/phone'));
    romeo.send(chat('juliet@localhost', 'one'));
    romeo.send(chat('juliet@localhost', 'two'));
    await waitFor(() => juliet.sent.filter((s) => s.name === 'message').length === 2);
    const ids = (await ask(juliet, mamIq())).ids;
    const md = (await juliet.ask(iq({ type: 'get', id: 'md1' }).c('metadata', { xmlns: NS_MAM }).root())).getChild('metadata', NS_MAM);
    assert.equal(md?.getChild('start')?.attrs.id, ids[0]);
    assert.equal(md?.getChild('end')?.attrs.id, ids[1]);
    assert.ok(!Number.isNaN(Date.parse(md?.getChild('end')?.attrs.timestamp ?? '')));

    const info = await juliet.ask(iq({ type: 'get', id: 'd1', to: 'juliet@localhost' }).c('query', { xmlns: 'http://jabber.org/protocol/disco#info' }).root());
    const features = info.getChild('query')?.getChildren('feature').map((f) => f.attrs.var) ?? [];
    for (const ns of ['urn:xmpp:mam:2', 'urn:xmpp:mam:2#extended', 'urn:xmpp:sid:0']) assert.ok(features.includes(ns), ns);
  } finally {
    await h.stop();
  }
});

test('a deleted account loses its archive', async () => {
  const h = await startMam();
  try {
    const store = h.server.storage.archive<string>('localhost', 'mam');
    await store.append('juliet', { value: '<message/>' });
    h.context.events.fire('user-deleted', { host: 'localhost', username: 'juliet' });
    await waitFor(async () => (await store.count('juliet')) === 0);
  } finally {
    await h.stop();
  }
});
