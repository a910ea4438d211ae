/**
 * Issue 14, bookmarks with real clients (@xmpp/client) on the booted server (default modules):
 * XEP-0048 private XML and XEP-0402 PEP bookmarks are one list, whichever way it is written
 * (add, change, remove), and the legacy PEP node `storage:bookmarks` follows; the account
 * advertises `#compat`. Two resources of one account: one uses XEP-0048, one XEP-0402.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { announceNotify, isPepEvent, pepIq, pepItems, NS_DISCO_INFO } from '../helpers/pep-ext.js';
import { publishOptions } from '../helpers/pubsub.js';
import { waitFor } from '../../src/testing/index.js';

const NS_B2 = 'urn:xmpp:bookmarks:1';
const NS_LEGACY = 'storage:bookmarks';
const NS_PRIVATE = 'jabber:iq:private';
const OWN = 'hamlet@localhost';

let ts: TestServer;
let legacy: LoggedInClient; // a XEP-0048 (private XML) client
let modern: LoggedInClient; // a XEP-0402 client, +notify for the bookmarks node

before(async () => {
  ts = await startTestServer();
  await createAccount(ts, 'hamlet', 'hamlet-pw');
  modern = await loginClient(ts, 'hamlet', 'hamlet-pw', 'modern');
  await announceNotify(ts, modern, [NS_B2]);
  legacy = await loginClient(ts, 'hamlet', 'hamlet-pw', 'legacy');
});
after(async () => {
  for (const c of [legacy, modern] as Array<LoggedInClient | undefined>) await c?.stop();
  await (ts as TestServer | undefined)?.stop();
});

async function privateBookmarks(c: LoggedInClient): Promise<XElement | undefined> {
  const r = await c.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_PRIVATE }, xml('storage', { xmlns: NS_LEGACY }))));
  return r.getChild('query', NS_PRIVATE)?.getChild('storage', NS_LEGACY);
}

const setPrivate = (c: LoggedInClient, ...children: XElement[]) =>
  c.iq(xml('iq', { type: 'set' }, xml('query', { xmlns: NS_PRIVATE }, xml('storage', { xmlns: NS_LEGACY }, ...children))));

/** The XEP-0402 items as { room: payload }. */
async function pepBookmarks(c: LoggedInClient): Promise<Map<string, XElement | undefined>> {
  const items = await pepItems(c, NS_B2);
  return new Map(items.map((i) => [i.attrs.id ?? '', i.getChild('conference', NS_B2)]));
}

const rooms = (storage: XElement | undefined) => (storage?.getChildren('conference') ?? []).map((c) => c.attrs.jid).sort();

const B2_OPTIONS = { 'pubsub#persist_items': 'true', 'pubsub#max_items': 'max', 'pubsub#send_last_published_item': 'never', 'pubsub#access_model': 'whitelist' };

test('the account advertises urn:xmpp:bookmarks:1#compat (and #compat-pep)', async () => {
  const r = await modern.iq(xml('iq', { type: 'get', to: OWN }, xml('query', { xmlns: NS_DISCO_INFO })));
  const features = r.getChild('query', NS_DISCO_INFO)?.getChildren('feature').map((f) => f.attrs.var) ?? [];
  assert.ok(features.includes('urn:xmpp:bookmarks:1#compat'), features.join(' '));
  assert.ok(features.includes('urn:xmpp:bookmarks:1#compat-pep'), features.join(' '));
});

test('XEP-0048 private XML set → XEP-0402 items (name, autojoin 1/true, nick, password, extensions) and the legacy PEP node', async () => {
  await setPrivate(
    legacy,
    xml('conference', { jid: 'elsinore@conference.localhost', name: 'Elsinore', autojoin: '1' }, xml('nick', {}, 'Hamlet'), xml('password', {}, 'ghost'), xml('pin', { xmlns: 'urn:example:pin' })),
    xml('conference', { jid: 'wittenberg@conference.localhost', autojoin: 'false' }),
    xml('url', { name: 'Globe', url: 'https://globe.example/' }),
  );
  // The private XML result comes after the sync: PEP has the list now.
  const items = await pepBookmarks(modern);
  assert.deepEqual([...items.keys()].sort(), ['elsinore@conference.localhost', 'wittenberg@conference.localhost']);
  const elsinore = items.get('elsinore@conference.localhost');
  assert.deepEqual({ name: elsinore?.attrs.name, autojoin: elsinore?.attrs.autojoin }, { name: 'Elsinore', autojoin: 'true' });
  assert.equal(elsinore?.getChildText('nick'), 'Hamlet');
  assert.equal(elsinore?.getChildText('password'), 'ghost');
  assert.ok(elsinore?.getChild('extensions')?.getChild('pin', 'urn:example:pin'), 'the foreign child is a XEP-0402 extension');
  assert.equal(items.get('wittenberg@conference.localhost')?.attrs.autojoin, 'false');
  // The XEP-0402 client was notified of each new room.
  await modern.waitFor((s) => isPepEvent(s, OWN, NS_B2) && s.getChild('event')?.getChild('items')?.getChild('item')?.attrs.id === 'elsinore@conference.localhost');
  // The node has XEP-0402's config.
  const cfg = await modern.iq(xml('iq', { type: 'get' }, xml('pubsub', { xmlns: 'http://jabber.org/protocol/pubsub#owner' }, xml('configure', { node: NS_B2 }))));
  const field = (v: string) => cfg.getChild('pubsub')?.getChild('configure')?.getChild('x', 'jabber:x:data')?.getChildren('field').find((f) => f.attrs.var === v)?.getChildText('value');
  assert.deepEqual(
    [field('pubsub#access_model'), field('pubsub#max_items'), field('pubsub#send_last_published_item')],
    ['whitelist', 'max', 'never'],
  );
  assert.ok(['1', 'true'].includes(field('pubsub#persist_items') ?? ''));
  // XEP-0048 over PEP: the same list.
  const [current] = await pepItems(legacy, NS_LEGACY);
  assert.equal(current?.attrs.id, 'current');
  assert.deepEqual(rooms(current?.getChild('storage', NS_LEGACY)), ['elsinore@conference.localhost', 'wittenberg@conference.localhost']);
});

test('XEP-0402 publish (new room, changed room) → private XML, the url bookmark kept', async () => {
  await modern.iq(pepIq('set', [
    xml('publish', { node: NS_B2 }, xml('item', { id: 'denmark@conference.localhost' }, xml('conference', { xmlns: NS_B2, name: 'Denmark', autojoin: 'true' }, xml('nick', {}, 'Prince')))),
    xml('publish-options', {}, publishOptions(B2_OPTIONS)),
  ]));
  await modern.iq(pepIq('set', [
    xml('publish', { node: NS_B2 }, xml('item', { id: 'wittenberg@conference.localhost' }, xml('conference', { xmlns: NS_B2, name: 'University', autojoin: 'true' }))),
    xml('publish-options', {}, publishOptions(B2_OPTIONS)),
  ]));
  const storage = await waitFor(async () => {
    const s = await privateBookmarks(legacy);
    const w = s?.getChildren('conference').find((c) => c.attrs.jid === 'wittenberg@conference.localhost');
    return rooms(s).length === 3 && w?.attrs.name === 'University' ? s : undefined;
  }, { timeoutMs: 5000 });
  assert.deepEqual(rooms(storage), ['denmark@conference.localhost', 'elsinore@conference.localhost', 'wittenberg@conference.localhost']);
  const denmark = storage.getChildren('conference').find((c) => c.attrs.jid === 'denmark@conference.localhost');
  assert.deepEqual([denmark?.attrs.name, denmark?.attrs.autojoin, denmark?.getChildText('nick')], ['Denmark', 'true', 'Prince']);
  const elsinore = storage.getChildren('conference').find((c) => c.attrs.jid === 'elsinore@conference.localhost');
  assert.equal(elsinore?.getChildText('password'), 'ghost');
  assert.ok(elsinore?.getChild('pin', 'urn:example:pin'), 'the extension is back as a conference child');
  assert.equal(storage.getChild('url')?.attrs.url, 'https://globe.example/', 'the url bookmark (no XEP-0402 form) stays');
  await waitFor(async () => rooms((await pepItems(legacy, NS_LEGACY))[0]?.getChild('storage', NS_LEGACY)).length === 3, { timeoutMs: 5000 });
});

test('removal syncs: XEP-0402 retract → private XML; private XML set without a room → XEP-0402 retract (notified)', async () => {
  await modern.iq(pepIq('set', [xml('retract', { node: NS_B2, notify: 'true' }, xml('item', { id: 'denmark@conference.localhost' }))]));
  await waitFor(async () => !rooms(await privateBookmarks(legacy)).includes('denmark@conference.localhost'), { timeoutMs: 5000 });

  const storage = await privateBookmarks(legacy);
  assert.ok(storage);
  const kept = storage.getChildren('conference').filter((c) => c.attrs.jid !== 'wittenberg@conference.localhost');
  await setPrivate(legacy, ...kept, ...storage.getChildren('url'));
  assert.deepEqual([...(await pepBookmarks(modern)).keys()], ['elsinore@conference.localhost']);
  await modern.waitFor((s) => isPepEvent(s, OWN, NS_B2, 'retract') && s.getChild('event')?.getChild('items')?.getChild('retract')?.attrs.id === 'wittenberg@conference.localhost');
  // Both read the same list.
  assert.deepEqual(rooms(await privateBookmarks(legacy)), ['elsinore@conference.localhost']);
  assert.deepEqual(rooms((await pepItems(legacy, NS_LEGACY))[0]?.getChild('storage', NS_LEGACY)), ['elsinore@conference.localhost']);
});

test('saving the same XEP-0048 list again publishes nothing', async () => {
  const storage = await privateBookmarks(legacy);
  assert.ok(storage);
  // Earlier tests' notifications are not the point here.
  await waitFor(async () => (await modern.nothing((s) => isPepEvent(s, OWN, NS_B2), 50)) || undefined, { timeoutMs: 5000 });
  await setPrivate(legacy, ...storage.getChildren('conference'), ...storage.getChildren('url'));
  const text = await ts.server.metrics.render();
  assert.match(text, /canto_bookmarks_conversions_total\{[^}]*direction="private_to_pep"[^}]*outcome="unchanged"[^}]*\} [1-9]/);
  assert.equal(await modern.nothing((s) => isPepEvent(s, OWN, NS_B2), 300), true);
});

test('a legacy PEP (XEP-0048 over PEP) publish → XEP-0402 items and private XML', async () => {
  await legacy.iq(pepIq('set', [
    xml('publish', { node: NS_LEGACY }, xml('item', { id: 'current' }, xml('storage', { xmlns: NS_LEGACY }, xml('conference', { jid: 'elsinore@conference.localhost', name: 'Elsinore', autojoin: 'true' }), xml('conference', { jid: 'globe@conference.localhost', name: 'Globe' })))),
    xml('publish-options', {}, publishOptions({ 'pubsub#persist_items': 'true', 'pubsub#access_model': 'whitelist' })),
  ]));
  await waitFor(async () => (await pepBookmarks(modern)).has('globe@conference.localhost'), { timeoutMs: 5000 });
  await waitFor(async () => rooms(await privateBookmarks(legacy)).join() === 'elsinore@conference.localhost,globe@conference.localhost', { timeoutMs: 5000 });
  assert.deepEqual([...(await pepBookmarks(modern)).keys()].sort(), ['elsinore@conference.localhost', 'globe@conference.localhost']);
});

test('a XEP-0402 node a client made with PEP defaults (one item, presence access) is brought to XEP-0402 config by the sync', async () => {
  await createAccount(ts, 'ophelia', 'ophelia-pw');
  const ophelia = await loginClient(ts, 'ophelia', 'ophelia-pw', 'river');
  try {
    await ophelia.iq(pepIq('set', [xml('publish', { node: NS_B2 }, xml('item', { id: 'first@conference.localhost' }, xml('conference', { xmlns: NS_B2, name: 'First' })))]));
    await setPrivate(ophelia, xml('conference', { jid: 'first@conference.localhost', name: 'First' }), xml('conference', { jid: 'second@conference.localhost', name: 'Second' }));
    assert.deepEqual([...(await pepBookmarks(ophelia)).keys()].sort(), ['first@conference.localhost', 'second@conference.localhost'], 'max_items 1 would have kept one');
    const cfg = await ophelia.iq(xml('iq', { type: 'get' }, xml('pubsub', { xmlns: 'http://jabber.org/protocol/pubsub#owner' }, xml('configure', { node: NS_B2 }))));
    const field = (v: string) => cfg.getChild('pubsub')?.getChild('configure')?.getChild('x', 'jabber:x:data')?.getChildren('field').find((f) => f.attrs.var === v)?.getChildText('value');
    assert.deepEqual([field('pubsub#access_model'), field('pubsub#max_items')], ['whitelist', 'max']);
  } finally {
    await ophelia.stop();
  }
});

test('XEP-0048 bookmarks stored before the module ran are in XEP-0402 when the account first reads it', async () => {
  await createAccount(ts, 'laertes', 'laertes-pw');
  // Written straight to the private module's store, as an older Canto left it.
  const old = `<storage xmlns='${NS_LEGACY}'><conference jid='paris@conference.localhost' name='Paris' autojoin='true'><nick>Laertes</nick></conference></storage>`;
  await ts.server.storage.map<string[]>('localhost', 'private').set('laertes', NS_LEGACY, [old]);
  const laertes = await loginClient(ts, 'laertes', 'laertes-pw', 'ship');
  try {
    const items = await pepBookmarks(laertes);
    assert.deepEqual([...items.keys()], ['paris@conference.localhost']);
    assert.deepEqual([items.get('paris@conference.localhost')?.attrs.name, items.get('paris@conference.localhost')?.getChildText('nick')], ['Paris', 'Laertes']);
  } finally {
    await laertes.stop();
  }
});
