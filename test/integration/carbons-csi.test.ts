/**
 * Carbons (XEP-0280) and CSI (XEP-0352) on the booted server with real @xmpp/client clients:
 * enable, received and sent copies, <private/>; inactive holding 500 presence changes from ten
 * contacts to one per contact, and a message with a body arriving at once.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { FakeClient, settle } from '../../src/testing/index.js';
import { presence } from '../../src/xml/stanza.js';

const NS_CARBONS = 'urn:xmpp:carbons:2';
const NS_FORWARD = 'urn:xmpp:forward:0';
const NS_CSI = 'urn:xmpp:csi:0';

let ts: TestServer;
const clients: LoggedInClient[] = [];

before(async () => {
  ts = await startTestServer();
  for (const u of ['romeo', 'juliet']) await createAccount(ts, u, 'pw');
});
after(async () => {
  for (const c of clients) await c.stop();
  await ts.stop();
});

async function login(user: string, resource: string): Promise<LoggedInClient> {
  const c = await loginClient(ts, user, 'pw', resource);
  clients.push(c);
  await c.send(xml('presence'));
  return c;
}

const forwarded = (el: XElement, dir: 'sent' | 'received') => el.getChild(dir, NS_CARBONS)?.getChild('forwarded', NS_FORWARD)?.getChild('message');
/** A round trip: everything the client sent before has been handled by the server. */
const roundTrip = (c: LoggedInClient) => c.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));

test('real clients: carbons enabled, received and sent copies, private messages not copied; CSI holds and flushes', async () => {
  const phone = await login('romeo', 'phone');
  const laptop = await login('romeo', 'laptop');
  const juliet = await login('juliet', 'balcony');

  const info = await phone.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
  assert.ok(info.getChild('query')?.getChildren('feature').some((f) => f.attrs.var === NS_CARBONS), 'carbons advertised');
  for (const c of [phone, laptop]) await c.iq(xml('iq', { type: 'set' }, xml('enable', { xmlns: NS_CARBONS })));

  await juliet.send(xml('message', { to: 'romeo@localhost/phone', type: 'chat', id: 'j1' }, xml('body', {}, 'hello')));
  const received = await laptop.waitFor((s) => s.is('message') && forwarded(s, 'received') !== undefined);
  assert.equal(received.attrs.from, 'romeo@localhost');
  assert.equal(forwarded(received, 'received')?.getChildText('body'), 'hello');
  await phone.waitFor((s) => s.is('message') && s.attrs.id === 'j1');

  await phone.send(xml('message', { to: 'juliet@localhost', type: 'chat', id: 'p1' }, xml('body', {}, 'reply')));
  const sent = await laptop.waitFor((s) => s.is('message') && forwarded(s, 'sent') !== undefined);
  assert.equal(forwarded(sent, 'sent')?.attrs.to, 'juliet@localhost');
  assert.equal(forwarded(sent, 'sent')?.getChildText('body'), 'reply');

  await laptop.send(xml('message', { to: 'juliet@localhost/balcony', type: 'chat', id: 'priv' }, xml('body', {}, 'just us'), xml('private', { xmlns: NS_CARBONS })));
  const priv = await juliet.waitFor((s) => s.attrs.id === 'priv');
  assert.equal(priv.getChild('private', NS_CARBONS), undefined, 'removed before delivery');
  assert.ok(await phone.nothing((s) => s.is('message') && forwarded(s, 'sent')?.attrs.id === 'priv', 300), 'no copy of a private message');

  // CSI: the laptop goes inactive; ten contacts change presence 50 times each.
  await laptop.send(xml('inactive', { xmlns: NS_CSI }));
  await roundTrip(laptop);
  const contacts = Array.from({ length: 10 }, (_, i) => new FakeClient(ts.server, `contact${i}@localhost/r`));
  for (let round = 0; round < 50; round++) {
    for (const c of contacts) c.send(presence({ to: 'romeo@localhost/laptop' }).c('status').t(`round ${round}`).root());
  }
  await settle();
  const fromContact = (s: XElement) => s.is('presence') && (s.attrs.from ?? '').startsWith('contact');
  assert.ok(await laptop.nothing(fromContact, 300), 'nothing while inactive');
  await laptop.send(xml('active', { xmlns: NS_CSI }));
  for (let i = 0; i < contacts.length; i++) {
    const p = await laptop.waitFor(fromContact);
    assert.equal(p.attrs.from, `contact${i}@localhost/r`, 'in order');
    assert.equal(p.getChildText('status'), 'round 49', 'the latest');
  }
  assert.ok(await laptop.nothing(fromContact, 500), 'at most one per contact');

  // Inactive again: a chat state waits, a message with a body arrives at once (after it).
  await laptop.send(xml('inactive', { xmlns: NS_CSI }));
  await roundTrip(laptop);
  const order: string[] = [];
  laptop.xmpp.on('stanza', (s) => order.push(s.attrs.id ?? ''));
  await juliet.send(xml('message', { to: 'romeo@localhost/laptop', type: 'chat', id: 'cs' }, xml('composing', { xmlns: 'http://jabber.org/protocol/chatstates' })));
  assert.ok(await laptop.nothing((s) => s.attrs.id === 'cs', 300), 'the chat state waits');
  const started = Date.now();
  await juliet.send(xml('message', { to: 'romeo@localhost/laptop', type: 'chat', id: 'now' }, xml('body', {}, 'are you there?')));
  await laptop.waitFor((s) => s.attrs.id === 'now', 2000);
  assert.ok(Date.now() - started < 2000);
  assert.deepEqual(order.filter((id) => id === 'cs' || id === 'now'), ['cs', 'now'], 'the held chat state is flushed just before it');
  for (const c of contacts) c.session.close();
});
