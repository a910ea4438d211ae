/**
 * OMEMO-ready PEP (issue 14, item 4): two @xmpp/client clients publish OMEMO device lists and
 * bundles the way Conversations, Dino and Gajim do (legacy `eu.siacs.conversations.axolotl` with
 * one bundle node per device, and OMEMO 2 `urn:xmpp:omemo:2` with one bundles node holding an
 * item per device, `max_items = max`), all with publish-options `access_model = open`, and fetch
 * each other's; a non-contact can fetch them too; the contact with `devicelist+notify` is notified.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { makeContacts } from '../helpers/pubsub.js';
import { announceCaps, clientInfo, isPepEvent, itemIds, NS, pepItems, pepPublish } from '../helpers/pep.js';

const LEGACY = 'eu.siacs.conversations.axolotl';
const LEGACY_DEVICES = `${LEGACY}.devicelist`;
const V2 = 'urn:xmpp:omemo:2';
const V2_DEVICES = `${V2}:devices`;
const V2_BUNDLES = `${V2}:bundles`;
const OPEN = { 'pubsub#access_model': 'open' };

let ts: TestServer;
const clients: LoggedInClient[] = [];

before(async () => {
  ts = await startTestServer();
  for (const u of ['alice', 'bob', 'carol']) await createAccount(ts, u, 'pw');
  await makeContacts(ts, 'alice', 'bob', []);
});
after(async () => {
  for (const c of clients) await c.stop();
  await (ts as TestServer | undefined)?.stop();
});

async function login(user: string, resource: string): Promise<LoggedInClient> {
  const c = await loginClient(ts, user, 'pw', resource);
  clients.push(c);
  return c;
}

const legacyList = (...ids: string[]) => xml('list', { xmlns: LEGACY }, ...ids.map((id) => xml('device', { id })));
const legacyBundle = (seed: string) =>
  xml('bundle', { xmlns: LEGACY }, xml('signedPreKeyPublic', { signedPreKeyId: '1' }, `spk-${seed}`), xml('signedPreKeySignature', {}, `sig-${seed}`), xml('identityKey', {}, `ik-${seed}`), xml('prekeys', {}, xml('preKeyPublic', { preKeyId: '1' }, `pk-${seed}`)));
const v2Devices = (...ids: string[]) => xml('devices', { xmlns: V2 }, ...ids.map((id) => xml('device', { id })));
const v2Bundle = (seed: string) => xml('bundle', { xmlns: V2 }, xml('spk', { id: '1' }, `spk-${seed}`), xml('spks', {}, `sig-${seed}`), xml('ik', {}, `ik-${seed}`), xml('prekeys', {}, xml('pk', { id: '1' }, `pk-${seed}`)));

/** What a client publishes at start-up for one device: both OMEMO versions. */
async function publishDevice(c: LoggedInClient, id: string, allIds: string[]): Promise<void> {
  await c.iq(pepPublish(`${LEGACY}.bundles:${id}`, 'current', legacyBundle(id), OPEN));
  await c.iq(pepPublish(LEGACY_DEVICES, 'current', legacyList(...allIds), OPEN));
  await c.iq(pepPublish(V2_BUNDLES, id, v2Bundle(id), { ...OPEN, 'pubsub#max_items': 'max' }));
  await c.iq(pepPublish(V2_DEVICES, 'current', v2Devices(...allIds), OPEN));
}

const firstItem = (r: XElement) => r.getChild('pubsub', NS.pubsub)?.getChild('items')?.getChild('item');

test('device lists and bundles with access_model=open: published, notified to the contact, fetched by a contact and a non-contact', async () => {
  const alice = await login('alice', 'conversations');
  const bob = await login('bob', 'dino');
  const carol = await login('carol', 'gajim');
  await announceCaps(ts, alice, clientInfo('OMEMO Client', [`${LEGACY_DEVICES}+notify`, `${V2_DEVICES}+notify`]));
  await announceCaps(ts, carol, clientInfo('OMEMO Client', [`${LEGACY_DEVICES}+notify`, `${V2_DEVICES}+notify`]), true);

  await publishDevice(bob, '1111', ['1111']);
  // A second device of bob's: another bundle node (legacy), another item of the bundles node (OMEMO 2).
  await publishDevice(bob, '2222', ['1111', '2222']);

  // alice, a contact with +notify, is told of both device lists (the newest content).
  const legacyEvent = await alice.waitFor((s) => isPepEvent(s, 'bob@localhost', LEGACY_DEVICES) && s.toString().includes('2222'));
  assert.deepEqual(legacyEvent.getChild('event', NS.event)?.getChild('items')?.getChild('item')?.getChild('list', LEGACY)?.getChildren('device').map((d) => d.attrs.id), ['1111', '2222']);
  await alice.waitFor((s) => isPepEvent(s, 'bob@localhost', V2_DEVICES) && s.toString().includes('2222'));
  assert.ok(await carol.nothing((s) => isPepEvent(s, 'bob@localhost', LEGACY_DEVICES)), 'carol shares no presence with bob');

  for (const reader of [alice, carol]) {
    const list = firstItem(await reader.iq(pepItems('bob@localhost', LEGACY_DEVICES)));
    assert.equal(list?.attrs.id, 'current');
    assert.deepEqual(list?.getChild('list', LEGACY)?.getChildren('device').map((d) => d.attrs.id), ['1111', '2222']);
    const bundle = firstItem(await reader.iq(pepItems('bob@localhost', `${LEGACY}.bundles:2222`, 1)));
    assert.equal(bundle?.getChild('bundle', LEGACY)?.getChildText('identityKey'), 'ik-2222');
    assert.deepEqual(itemIds(await reader.iq(pepItems('bob@localhost', V2_BUNDLES))), ['2222', '1111'], 'one item per device');
    const one = await reader.iq(xml('iq', { type: 'get', to: 'bob@localhost' }, xml('pubsub', { xmlns: NS.pubsub }, xml('items', { node: V2_BUNDLES }, xml('item', { id: '1111' })))));
    assert.equal(firstItem(one)?.getChild('bundle', V2)?.getChildText('ik'), 'ik-1111');
  }

  // alice publishes hers; bob (a contact) and carol (not) fetch them.
  await publishDevice(alice, '3333', ['3333']);
  for (const reader of [bob, carol]) {
    assert.deepEqual(firstItem(await reader.iq(pepItems('alice@localhost', V2_DEVICES)))?.getChild('devices', V2)?.getChildren('device').map((d) => d.attrs.id), ['3333']);
    assert.equal(firstItem(await reader.iq(pepItems('alice@localhost', `${LEGACY}.bundles:3333`)))?.getChild('bundle', LEGACY)?.getChildText('identityKey'), 'ik-3333');
  }
});

test('a contact coming online with devicelist+notify gets the current device list', async () => {
  const bob = await login('bob', 'phone');
  await bob.iq(pepPublish(LEGACY_DEVICES, 'current', legacyList('4444'), OPEN));
  const alice = await login('alice', 'laptop');
  await announceCaps(ts, alice, clientInfo('Laptop OMEMO Client', [`${LEGACY_DEVICES}+notify`]));
  const ev = await alice.waitFor((s) => isPepEvent(s, 'bob@localhost', LEGACY_DEVICES));
  assert.deepEqual(ev.getChild('event', NS.event)?.getChild('items')?.getChild('item')?.getChild('list', LEGACY)?.getChildren('device').map((d) => d.attrs.id), ['4444']);
  assert.ok(ev.getChild('delay', 'urn:xmpp:delay'));
});
