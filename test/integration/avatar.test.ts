/**
 * Issue 14, avatars with real clients (@xmpp/client) on the booted server (default modules):
 * XEP-0084 publish → vCard-temp PHOTO and the XEP-0153 hash in presence; vCard-temp PHOTO →
 * XEP-0084 data + metadata with a notification to a +notify contact; removal; XEP-0398 on the
 * account's disco#info; no conversion loops (the metrics count one conversion per change).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, errorCondition, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { makeContacts } from '../helpers/pubsub.js';
import { announceNotify, isPepEvent, pepIq, pepItems, NS_DISCO_INFO } from '../helpers/pep-ext.js';
import { waitFor } from '../../src/testing/index.js';

const NS_DATA = 'urn:xmpp:avatar:data';
const NS_META = 'urn:xmpp:avatar:metadata';
const NS_UPDATE = 'vcard-temp:x:update';
const NS_VCARD = 'vcard-temp';

/** A real 1×1 PNG and a second image (a PNG header claiming 64×48). */
const PNG_A = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const PNG_B = (() => {
  const b = Buffer.alloc(40, 7);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write('IHDR', 12, 'latin1');
  b.writeUInt32BE(64, 16);
  b.writeUInt32BE(48, 20);
  return b;
})();
const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');

let ts: TestServer;
let romeo: LoggedInClient;
let juliet: LoggedInClient;
let nurse: LoggedInClient;

before(async () => {
  ts = await startTestServer();
  for (const u of ['romeo', 'juliet', 'nurse']) await createAccount(ts, u, `${u}-pw`);
  await makeContacts(ts, 'romeo', 'juliet', []);
  juliet = await loginClient(ts, 'juliet', 'juliet-pw', 'balcony');
  await announceNotify(ts, juliet, [NS_META]);
  romeo = await loginClient(ts, 'romeo', 'romeo-pw', 'phone');
  nurse = await loginClient(ts, 'nurse', 'nurse-pw', 'kitchen');
});
after(async () => {
  for (const c of [romeo, juliet, nurse] as Array<LoggedInClient | undefined>) await c?.stop();
  await (ts as TestServer | undefined)?.stop();
});

/** The photo hash in a presence's x:update ('' for an empty <photo/>), undefined without one. */
const photoOf = (p: XElement): string | undefined => {
  const photo = p.getChild('x', NS_UPDATE)?.getChild('photo');
  return photo === undefined ? undefined : photo.getText();
};
const presenceFromRomeo = (s: XElement) => s.is('presence') && s.attrs.from === romeo.jid && s.attrs.type === undefined;

async function conversions(direction: string, outcome = 'converted'): Promise<number> {
  const text = await ts.server.metrics.render();
  const m = new RegExp(`^canto_avatar_conversions_total\\{[^}]*direction="${direction}"[^}]*outcome="${outcome}"[^}]*\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

async function romeoVCard(asker: LoggedInClient): Promise<XElement | undefined> {
  const r = await asker.iq(xml('iq', { type: 'get', to: 'romeo@localhost' }, xml('vCard', { xmlns: NS_VCARD })));
  return r.getChild('vCard', NS_VCARD);
}

test('the account advertises XEP-0398 conversion (and XEP-0402 compat) on its disco#info', async () => {
  const r = await romeo.iq(xml('iq', { type: 'get', to: 'romeo@localhost' }, xml('query', { xmlns: NS_DISCO_INFO })));
  const features = r.getChild('query', NS_DISCO_INFO)?.getChildren('feature').map((f) => f.attrs.var) ?? [];
  assert.ok(features.includes('urn:xmpp:pep-vcard-conversion:0'), features.join(' '));
  assert.ok(features.includes('urn:xmpp:bookmarks:1#compat'), features.join(' '));
});

test('presence without an avatar carries an empty <photo/>, replacing what the client put', async () => {
  await romeo.send(xml('presence', {}, xml('x', { xmlns: NS_UPDATE }, xml('photo', {}, 'made-up'))));
  const p = await juliet.waitFor(presenceFromRomeo);
  assert.equal(photoOf(p), '');
  assert.equal(p.getChildren('x', NS_UPDATE).length, 1);
});

test('XEP-0084 publish → the vCard PHOTO, and the hash in presence (sent again by the server)', async () => {
  const id = sha1(PNG_A);
  const before = await conversions('pep_to_vcard');
  await romeo.iq(pepIq('set', [xml('publish', { node: NS_DATA }, xml('item', { id }, xml('data', { xmlns: NS_DATA }, PNG_A.toString('base64'))))]));
  await romeo.iq(pepIq('set', [xml('publish', { node: NS_META }, xml('item', { id }, xml('metadata', { xmlns: NS_META }, xml('info', { id, bytes: String(PNG_A.length), type: 'image/png', width: '1', height: '1' }))))]));
  // The +notify contact is told about the metadata (PEP itself)…
  const event = await juliet.waitFor((s) => isPepEvent(s, 'romeo@localhost', NS_META));
  assert.equal(event.getChild('event')?.getChild('items')?.getChild('item')?.attrs.id, id);
  // …and gets romeo's presence again, now with the hash: the vCard is written by then.
  const p = await juliet.waitFor((s) => presenceFromRomeo(s) && photoOf(s) === id);
  assert.equal(p.getChildren('x', NS_UPDATE).length, 1);
  const photo = (await romeoVCard(juliet))?.getChild('PHOTO');
  assert.equal(photo?.getChildText('TYPE'), 'image/png');
  assert.deepEqual(Buffer.from(photo?.getChildText('BINVAL') ?? '', 'base64'), PNG_A);
  // A presence romeo sends now carries the hash as well.
  await romeo.send(xml('presence', {}, xml('show', {}, 'away')));
  const away = await juliet.waitFor((s) => presenceFromRomeo(s) && s.getChildText('show') === 'away');
  assert.equal(photoOf(away), id);
  // One conversion; the server's vCard write did not come back as a PEP publish.
  assert.equal(await conversions('pep_to_vcard'), before + 1);
});

test('vCard PHOTO → XEP-0084 data and metadata, the +notify contact notified; a non-contact may not read', async () => {
  const id = sha1(PNG_B);
  const pepBefore = await conversions('pep_to_vcard');
  await romeo.iq(xml('iq', { type: 'set' }, xml('vCard', { xmlns: NS_VCARD }, xml('FN', {}, 'Romeo Montague'), xml('PHOTO', {}, xml('TYPE', {}, 'image/png'), xml('BINVAL', {}, PNG_B.toString('base64'))))));
  // The vCard result comes after the conversion: PEP has it now.
  const [meta] = await pepItems(romeo, NS_META);
  const info = meta?.getChild('metadata', NS_META)?.getChild('info');
  assert.deepEqual(
    { id: meta?.attrs.id, infoId: info?.attrs.id, bytes: info?.attrs.bytes, type: info?.attrs.type, width: info?.attrs.width, height: info?.attrs.height },
    { id, infoId: id, bytes: String(PNG_B.length), type: 'image/png', width: '64', height: '48' },
  );
  const notified = await juliet.waitFor((s) => isPepEvent(s, 'romeo@localhost', NS_META) && s.getChild('event')?.getChild('items')?.getChild('item')?.attrs.id === id);
  assert.equal(notified.getChild('event')?.getChild('items')?.getChild('item')?.getChild('metadata', NS_META)?.getChild('info')?.attrs.id, id);
  // The contact fetches the data by id, as a XEP-0084 client does.
  const [data] = await pepItems(juliet, NS_DATA, 'romeo@localhost', [id]);
  assert.deepEqual(Buffer.from(data?.getChildText('data', NS_DATA) ?? '', 'base64'), PNG_B);
  // presence access (XEP-0084's default): a stranger cannot.
  const refused = await nurse.iq(pepIq('get', [xml('items', { node: NS_DATA })], 'romeo@localhost')).then(
    () => undefined,
    (e: { stanza?: XElement }) => e.stanza,
  );
  assert.ok(refused, 'a non-contact is refused');
  assert.ok(['not-authorized', 'forbidden'].includes(errorCondition(refused) ?? ''), refused.toString());
  // A XEP-0153 client sends the new hash itself; the server's is the same.
  await romeo.send(xml('presence', {}, xml('x', { xmlns: NS_UPDATE }, xml('photo', {}, id))));
  const p = await juliet.waitFor(presenceFromRomeo);
  assert.equal(photoOf(p), id);
  // The server's own PEP publish was not converted back into the vCard.
  assert.equal(await conversions('pep_to_vcard'), pepBefore);
  assert.equal((await romeoVCard(juliet))?.getChildText('FN'), 'Romeo Montague');
});

test('removal: a vCard without PHOTO publishes empty metadata; empty metadata removes the PHOTO', async () => {
  await romeo.iq(xml('iq', { type: 'set' }, xml('vCard', { xmlns: NS_VCARD }, xml('FN', {}, 'Romeo'))));
  const [meta] = await pepItems(romeo, NS_META);
  assert.equal(meta?.getChild('metadata', NS_META)?.getChildren('info').length, 0, 'an empty <metadata/> says "no avatar"');
  await juliet.waitFor((s) => isPepEvent(s, 'romeo@localhost', NS_META) && s.getChild('event')?.getChild('items')?.getChild('item')?.getChild('metadata', NS_META)?.getChildren('info').length === 0);
  await romeo.send(xml('presence'));
  assert.equal(photoOf(await juliet.waitFor(presenceFromRomeo)), '');

  // Back: publish an avatar through PEP, then disable it through PEP.
  const id = sha1(PNG_A);
  await romeo.iq(pepIq('set', [xml('publish', { node: NS_DATA }, xml('item', { id }, xml('data', { xmlns: NS_DATA }, PNG_A.toString('base64'))))]));
  await romeo.iq(pepIq('set', [xml('publish', { node: NS_META }, xml('item', { id }, xml('metadata', { xmlns: NS_META }, xml('info', { id, bytes: String(PNG_A.length), type: 'image/png' }))))]));
  await juliet.waitFor((s) => presenceFromRomeo(s) && photoOf(s) === id);
  await romeo.iq(pepIq('set', [xml('publish', { node: NS_META }, xml('item', { id: 'none' }, xml('metadata', { xmlns: NS_META })))]));
  await juliet.waitFor((s) => presenceFromRomeo(s) && photoOf(s) === '');
  const vcard = await romeoVCard(juliet);
  assert.equal(vcard?.getChild('PHOTO'), undefined);
  assert.equal(vcard?.getChildText('FN'), 'Romeo', 'the other fields stay');
});

test('metadata whose data does not hash to its id is not copied into the vCard', async () => {
  const id = sha1(PNG_B);
  const skipped = await conversions('pep_to_vcard', 'skipped');
  await romeo.iq(pepIq('set', [xml('publish', { node: NS_DATA }, xml('item', { id }, xml('data', { xmlns: NS_DATA }, PNG_A.toString('base64'))))]));
  await romeo.iq(pepIq('set', [xml('publish', { node: NS_META }, xml('item', { id }, xml('metadata', { xmlns: NS_META }, xml('info', { id, bytes: '40', type: 'image/png' }))))]));
  // The data alone changes nothing (the metadata says "no avatar"); the metadata is looked at and skipped.
  await waitFor(async () => (await conversions('pep_to_vcard', 'skipped')) >= skipped + 1, { timeoutMs: 5000 });
  assert.equal((await romeoVCard(juliet))?.getChild('PHOTO'), undefined);
});

test('a vCard PHOTO stored before the module ran is published to PEP at the account\'s next presence', async () => {
  await createAccount(ts, 'mercutio', 'mercutio-pw');
  await makeContacts(ts, 'mercutio', 'juliet', []);
  const id = sha1(PNG_A);
  // Written straight to the vcard module's store, as an older Canto left it.
  await ts.server.storage.keyval<string>('localhost', 'vcard').set('mercutio', `<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>${PNG_A.toString('base64')}</BINVAL></PHOTO></vCard>`);
  const mercutio = await loginClient(ts, 'mercutio', 'mercutio-pw', 'street');
  try {
    await mercutio.send(xml('presence'));
    const p = await juliet.waitFor((s) => s.is('presence') && s.attrs.from === mercutio.jid && s.attrs.type === undefined);
    assert.equal(photoOf(p), id);
    // The +notify contact is told about the new metadata: the vCard avatar is in PEP now.
    const event = await juliet.waitFor((s) => isPepEvent(s, 'mercutio@localhost', NS_META));
    assert.equal(event.getChild('event')?.getChild('items')?.getChild('item')?.attrs.id, id);
    const [data] = await pepItems(juliet, NS_DATA, 'mercutio@localhost', [id]);
    assert.deepEqual(Buffer.from(data?.getChildText('data', NS_DATA) ?? '', 'base64'), PNG_A);
  } finally {
    await mercutio.stop();
  }
});
