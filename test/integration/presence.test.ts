/**
 * Roster and presence with real @xmpp/client clients: the subscription handshake, presence both
 * ways, pushes to a third resource, unsubscribe, pre-approval, pending requests at login,
 * roster versioning and errors, unavailable on a killed socket, directed presence, probes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, errorCondition, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';

const NS_ROSTER = 'jabber:iq:roster';
let ts: TestServer;
const clients: LoggedInClient[] = [];

before(async () => {
  // @xmpp/client enables stream management with resumption: a killed socket hibernates the
  // session, and contacts see it go only when the window ends; a short window keeps that quick.
  ts = await startTestServer((c) => (c.modules.smacks = { resume_timeout: '1s' }));
  for (const u of ['alice', 'bob', 'carol', 'dave', 'erin']) await createAccount(ts, u, 'pw');
});
after(async () => {
  for (const c of clients) await c.stop();
  await ts.stop();
});

async function login(user: string, resource: string, opts: { roster?: boolean; presence?: boolean } = {}): Promise<LoggedInClient> {
  const c = await loginClient(ts, user, 'pw', resource);
  clients.push(c);
  if (opts.roster !== false) await c.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_ROSTER })));
  if (opts.presence !== false) await c.send(xml('presence'));
  return c;
}

/** Destroy the client's TCP/TLS socket without closing the stream (xmpp.js wraps the TLS socket). */
function killSocket(c: LoggedInClient): void {
  type Killable = { destroy?: () => void; socket?: Killable };
  const wrapper = (c.xmpp as unknown as { socket: Killable }).socket;
  const inner = wrapper.socket ?? wrapper;
  assert.ok(inner.destroy, 'a socket to destroy');
  inner.destroy();
}

const isPush = (jid: string, check: (item: XElement) => boolean) => (s: XElement) =>
  s.is('iq') && s.attrs.type === 'set' && s.getChild('query', NS_ROSTER)?.getChild('item')?.attrs.jid === jid && check(s.getChild('query', NS_ROSTER)?.getChild('item') as XElement);
const presenceFrom = (from: string, type?: string) => (s: XElement) => s.is('presence') && s.attrs.from === from && s.attrs.type === type;

test('two users subscribe to each other and see each other; a third resource gets every push', async () => {
  const alice = await login('alice', 'desk');
  const aliceTablet = await login('alice', 'tablet', { presence: false }); // interested, not available
  const bob = await login('bob', 'phone');

  await alice.send(xml('presence', { to: 'bob@localhost', type: 'subscribe' }));
  await aliceTablet.waitFor(isPush('bob@localhost', (i) => i.attrs.ask === 'subscribe'));
  const req = await bob.waitFor((s) => s.is('presence') && s.attrs.type === 'subscribe');
  assert.equal(req.attrs.from, 'alice@localhost');
  await bob.send(xml('presence', { to: 'alice@localhost', type: 'subscribed' }));
  await aliceTablet.waitFor(isPush('bob@localhost', (i) => i.attrs.subscription === 'to'));
  await alice.waitFor(presenceFrom('bob@localhost/phone'));

  await bob.send(xml('presence', { to: 'alice@localhost', type: 'subscribe' }));
  await alice.waitFor((s) => s.is('presence') && s.attrs.type === 'subscribe' && s.attrs.from === 'bob@localhost');
  await alice.send(xml('presence', { to: 'bob@localhost', type: 'subscribed' }));
  await aliceTablet.waitFor(isPush('bob@localhost', (i) => i.attrs.subscription === 'both'));
  await bob.waitFor(isPush('alice@localhost', (i) => i.attrs.subscription === 'both'));
  await bob.waitFor(presenceFrom('alice@localhost/desk'));

  await alice.send(xml('presence', {}, xml('show', {}, 'chat'), xml('status', {}, 'hi bob')));
  const upd = await bob.waitFor((s) => presenceFrom('alice@localhost/desk')(s) && s.getChildText('status') === 'hi bob');
  assert.equal(upd.getChildText('show'), 'chat');

  // The socket dies: bob's contacts learn he is gone.
  killSocket(bob);
  await alice.waitFor(presenceFrom('bob@localhost/phone', 'unavailable'));

  // A new login probes: alice's presence arrives; the roster is both ways.
  const bob2 = await login('bob', 'laptop');
  await bob2.waitFor(presenceFrom('alice@localhost/desk'));
  const roster = await bob2.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_ROSTER })));
  const items = roster.getChild('query', NS_ROSTER)?.getChildren('item') ?? [];
  assert.deepEqual(items.map((i) => [i.attrs.jid, i.attrs.subscription]), [['alice@localhost', 'both']]);

  // Unsubscribing stops the presence.
  await bob2.send(xml('presence', { to: 'alice@localhost', type: 'unsubscribe' }));
  await bob2.waitFor(presenceFrom('alice@localhost/desk', 'unavailable'));
  await alice.waitFor(isPush('bob@localhost', (i) => i.attrs.subscription === 'to'));
  await alice.send(xml('presence', {}, xml('status', {}, 'after')));
  assert.ok(await bob2.nothing((s) => presenceFrom('alice@localhost/desk')(s) && s.getChildText('status') === 'after'));
  for (const c of [alice, aliceTablet, bob2]) await c.stop();
});

test('pre-approval and a pending request re-delivered at the next login', async () => {
  const carol = await login('carol', 'c1');
  await carol.send(xml('presence', { to: 'dave@localhost', type: 'subscribed' }));
  await carol.waitFor(isPush('dave@localhost', (i) => i.attrs.approved === 'true'));
  // dave is offline: his subscribe is approved at once by carol's server.
  const dave = await login('dave', 'd1');
  await dave.send(xml('presence', { to: 'carol@localhost', type: 'subscribe' }));
  await dave.waitFor(isPush('carol@localhost', (i) => i.attrs.subscription === 'to'));
  await dave.waitFor(presenceFrom('carol@localhost/c1'));
  assert.ok(await carol.nothing((s) => s.is('presence') && s.attrs.type === 'subscribe'));

  // erin is offline when dave asks; she gets the request at each login.
  await dave.send(xml('presence', { to: 'erin@localhost', type: 'subscribe' }, xml('status', {}, 'hello erin')));
  await dave.waitFor(isPush('erin@localhost', (i) => i.attrs.ask === 'subscribe'));
  const erin = await login('erin', 'e1');
  const req = await erin.waitFor((s) => s.is('presence') && s.attrs.type === 'subscribe');
  assert.equal(req.getChildText('status'), 'hello erin');
  await erin.stop();
  const erin2 = await login('erin', 'e2');
  await erin2.waitFor((s) => s.is('presence') && s.attrs.type === 'subscribe' && s.attrs.from === 'dave@localhost');
  for (const c of [carol, dave, erin2]) await c.stop();
});

test('roster versioning and roster errors with a real client', async () => {
  const c = await login('erin', 'v', { roster: false, presence: false });
  const first = await c.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_ROSTER, ver: '' })));
  const ver = first.getChild('query', NS_ROSTER)?.attrs.ver;
  assert.ok(ver);
  const same = await c.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_ROSTER, ver })));
  assert.equal(same.children.length, 0);
  const bad = async (item: XElement[]) =>
    errorCondition(await c.iq(xml('iq', { type: 'set' }, xml('query', { xmlns: NS_ROSTER }, ...item))).then(() => undefined, (e: { stanza?: XElement }) => e.stanza));
  assert.equal(await bad([xml('item', { jid: 'a@localhost' }), xml('item', { jid: 'b@localhost' })]), 'bad-request');
  assert.equal(await bad([xml('item', { jid: 'a@localhost' }, xml('group', {}, 'g'), xml('group', {}, 'g'))]), 'bad-request');
  assert.equal(await bad([xml('item', { jid: 'a@localhost' }, xml('group'))]), 'not-acceptable');
  assert.equal(await bad([xml('item', { jid: 'a@localhost', name: 'x'.repeat(2000) })]), 'not-acceptable');
  assert.equal(await bad([xml('item', { jid: 'ghost@localhost', subscription: 'remove' })]), 'item-not-found');
  await c.iq(xml('iq', { type: 'set' }, xml('query', { xmlns: NS_ROSTER }, xml('item', { jid: 'a@localhost', name: 'A' }))));
  const push = await c.waitFor(isPush('a@localhost', () => true));
  const newVer = push.getChild('query', NS_ROSTER)?.attrs.ver;
  assert.ok(newVer && newVer !== ver);
  const stale = await c.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_ROSTER, ver })));
  assert.equal(stale.getChild('query', NS_ROSTER)?.attrs.ver, newVer);
  await c.stop();
});

test('directed presence recipients get unavailable when the sender leaves', async () => {
  const alice = await login('alice', 'directed');
  const carol = await login('carol', 'watch');
  await alice.send(xml('presence', { to: 'carol@localhost/watch' }));
  await carol.waitFor(presenceFrom('alice@localhost/directed'));
  await alice.stop();
  await carol.waitFor(presenceFrom('alice@localhost/directed', 'unavailable'));
  await carol.stop();
});
