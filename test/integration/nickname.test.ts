/**
 * Issue 14, XEP-0172 User Nickname with real clients (@xmpp/client) on the booted server: no
 * module of its own — PEP's defaults are what XEP-0172 asks for (presence access, one item), and
 * the presence module keeps a `<nick/>` in subscription requests, online and stored for later.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, errorCondition, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { makeContacts } from '../helpers/pubsub.js';
import { announceNotify, isPepEvent, pepIq, pepItems } from '../helpers/pep-ext.js';

const NS_NICK = 'http://jabber.org/protocol/nick';

let ts: TestServer;
const clients: LoggedInClient[] = [];
async function login(user: string, resource: string): Promise<LoggedInClient> {
  const c = await loginClient(ts, user, `${user}-pw`, resource);
  clients.push(c);
  return c;
}

before(async () => {
  ts = await startTestServer();
  for (const u of ['romeo', 'juliet', 'nurse', 'tybalt']) await createAccount(ts, u, `${u}-pw`);
  await makeContacts(ts, 'romeo', 'juliet', []);
});
after(async () => {
  for (const c of clients) await c.stop();
  await (ts as TestServer | undefined)?.stop();
});

test('a nickname published to PEP with the default config reaches a +notify contact; a stranger may not read it', async () => {
  const juliet = await login('juliet', 'balcony');
  await announceNotify(ts, juliet, [NS_NICK]);
  const romeo = await login('romeo', 'orchard');
  const nurse = await login('nurse', 'kitchen');
  await romeo.iq(pepIq('set', [xml('publish', { node: NS_NICK }, xml('item', { id: 'current' }, xml('nick', { xmlns: NS_NICK }, 'Romeo M.')))]));
  const event = await juliet.waitFor((s) => isPepEvent(s, 'romeo@localhost', NS_NICK));
  assert.equal(event.getChild('event')?.getChild('items')?.getChild('item')?.getChildText('nick', NS_NICK), 'Romeo M.');
  const [item] = await pepItems(juliet, NS_NICK, 'romeo@localhost');
  assert.equal(item?.getChildText('nick', NS_NICK), 'Romeo M.');
  // The defaults: presence access, one item.
  await romeo.iq(pepIq('set', [xml('publish', { node: NS_NICK }, xml('item', { id: 'current' }, xml('nick', { xmlns: NS_NICK }, 'Romeo')))]));
  assert.deepEqual((await pepItems(romeo, NS_NICK)).map((i) => i.getChildText('nick', NS_NICK)), ['Romeo']);
  const refused = await nurse.iq(pepIq('get', [xml('items', { node: NS_NICK })], 'romeo@localhost')).then(
    () => undefined,
    (e: { stanza?: XElement }) => e.stanza,
  );
  assert.ok(refused);
  assert.ok(['not-authorized', 'forbidden'].includes(errorCondition(refused) ?? ''), refused.toString());
});

test('a <nick/> in a subscription request reaches the contact, online and when it logs in later', async () => {
  const nurse = clients.find((c) => c.jid.startsWith('nurse@')) ?? (await login('nurse', 'kitchen'));
  const juliet = clients.find((c) => c.jid.startsWith('juliet@')) ?? (await login('juliet', 'balcony'));
  await nurse.send(xml('presence', { to: 'juliet@localhost', type: 'subscribe' }, xml('nick', { xmlns: NS_NICK }, 'Angelica')));
  const online = await juliet.waitFor((s) => s.is('presence') && s.attrs.type === 'subscribe' && s.attrs.from === 'nurse@localhost');
  assert.equal(online.getChildText('nick', NS_NICK), 'Angelica');

  // tybalt is offline: the request is stored and delivered with its nick at login.
  await nurse.send(xml('presence', { to: 'tybalt@localhost', type: 'subscribe' }, xml('nick', { xmlns: NS_NICK }, 'Angelica')));
  // In-order completion: once the server answered this, the subscribe before it is stored.
  await nurse.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
  const tybalt = await login('tybalt', 'street');
  await tybalt.send(xml('presence'));
  const later = await tybalt.waitFor((s) => s.is('presence') && s.attrs.type === 'subscribe' && s.attrs.from === 'nurse@localhost');
  assert.equal(later.getChildText('nick', NS_NICK), 'Angelica');
});
