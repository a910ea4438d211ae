/** Issue 14: the XEP-0398 / XEP-0153 conversions of the avatar module, as pure functions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Element } from '../../src/xml/element.js';
import { parseXmlFragment } from '../../src/xml/parse-fragment.js';
import {
  NS_AVATAR_DATA, NS_AVATAR_METADATA, NS_VCARD, NS_VCARD_UPDATE,
  avatarPayloads, decodeBase64, imageFromData, imageSize, makeImage, metadataPayload, parseMetadata, pickInfo,
  setPhotoUpdate, sniffType, vcardPhoto, vcardPhotoHash, withPhoto,
} from '../../src/modules/avatar/convert.js';

/** A real 1×1 PNG. */
const PNG_1X1 = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');

/** A PNG header claiming w×h (the IHDR is all imageSize reads). */
function pngHeader(w: number, h: number): Buffer {
  const b = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write('IHDR', 12, 'latin1');
  b.writeUInt32BE(w, 16);
  b.writeUInt32BE(h, 20);
  return b;
}

function jpegHeader(w: number, h: number): Buffer {
  // SOI, an APP0 segment (length 16) to skip, then SOF0: length, precision, height, width.
  const app0 = Buffer.concat([Buffer.from([0xff, 0xe0, 0x00, 0x10]), Buffer.alloc(14)]);
  const sof = Buffer.alloc(11);
  sof.writeUInt16BE(0xffc0, 0);
  sof.writeUInt16BE(17, 2);
  sof[4] = 8;
  sof.writeUInt16BE(h, 5);
  sof.writeUInt16BE(w, 7);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app0, sof]);
}

const vcard = (xml: string) => parseXmlFragment(`<vCard xmlns='vcard-temp'>${xml}</vCard>`);

test('image type and size from the bytes: PNG, GIF, JPEG; unknown formats have none', () => {
  assert.equal(sniffType(PNG_1X1), 'image/png');
  assert.deepEqual(imageSize(PNG_1X1), { width: 1, height: 1 });
  assert.deepEqual(imageSize(pngHeader(64, 48)), { width: 64, height: 48 });
  const gif = Buffer.from('GIF89a\x20\x00\x10\x00', 'latin1');
  assert.equal(sniffType(gif), 'image/gif');
  assert.deepEqual(imageSize(gif), { width: 32, height: 16 });
  const jpeg = jpegHeader(96, 80);
  assert.equal(sniffType(jpeg), 'image/jpeg');
  assert.deepEqual(imageSize(jpeg), { width: 96, height: 80 });
  assert.equal(imageSize(Buffer.from('hello world')), undefined);
  assert.equal(imageSize(jpeg.subarray(0, 12)), undefined, 'a truncated JPEG has no size');
});

test('strict base64: folded BINVAL is read, garbage is not', () => {
  const b64 = PNG_1X1.toString('base64');
  assert.deepEqual(decodeBase64(`${b64.slice(0, 20)}\n  ${b64.slice(20)}\n`), PNG_1X1);
  assert.equal(decodeBase64('not base64!'), undefined);
  assert.equal(decodeBase64('abc'), undefined);
  assert.equal(decodeBase64(''), undefined);
});

test('vCard PHOTO → image: hash, type, bytes, size; none, EXTVAL and invalid told apart', () => {
  const photo = vcardPhoto(vcard(`<FN>R</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>${PNG_1X1.toString('base64')}</BINVAL></PHOTO>`));
  assert.equal(photo.kind, 'image');
  assert.ok(photo.kind === 'image');
  assert.equal(photo.image.id, sha1(PNG_1X1));
  assert.equal(photo.image.type, 'image/png');
  assert.deepEqual(photo.image.bytes, PNG_1X1);
  assert.deepEqual([photo.image.width, photo.image.height], [1, 1]);
  // No TYPE: sniffed from the bytes.
  const untyped = vcardPhoto(vcard(`<PHOTO><BINVAL>${jpegHeader(2, 3).toString('base64')}</BINVAL></PHOTO>`));
  assert.ok(untyped.kind === 'image');
  assert.equal(untyped.image.type, 'image/jpeg');
  assert.deepEqual(vcardPhoto(vcard('<FN>R</FN>')), { kind: 'none' });
  assert.deepEqual(vcardPhoto(vcard('<PHOTO/>')), { kind: 'none' });
  assert.deepEqual(vcardPhoto(undefined), { kind: 'none' });
  assert.deepEqual(vcardPhoto(vcard('<PHOTO><EXTVAL>https://example.com/a.png</EXTVAL></PHOTO>')), { kind: 'external', url: 'https://example.com/a.png' });
  assert.equal(vcardPhoto(vcard('<PHOTO><TYPE>image/png</TYPE><BINVAL>%%%</BINVAL></PHOTO>')).kind, 'invalid');
  assert.equal(vcardPhotoHash(vcard(`<PHOTO><BINVAL>${PNG_1X1.toString('base64')}</BINVAL></PHOTO>`)), sha1(PNG_1X1));
  assert.equal(vcardPhotoHash(vcard('<FN>x</FN>')), '');
});

test('image → XEP-0084 data and metadata payloads (id, bytes, type, width, height)', () => {
  const image = makeImage(pngHeader(64, 48), 'image/png');
  const { data, metadata } = avatarPayloads(image);
  assert.ok(data.is('data', NS_AVATAR_DATA));
  assert.deepEqual(Buffer.from(data.getText(), 'base64'), image.bytes);
  assert.ok(metadata.is('metadata', NS_AVATAR_METADATA));
  const info = metadata.getChild('info', NS_AVATAR_METADATA);
  assert.deepEqual(info?.attrs, { id: sha1(image.bytes), bytes: String(image.bytes.length), type: 'image/png', width: '64', height: '48' });
  // An image whose size is unknown has no width/height attributes.
  const odd = avatarPayloads(makeImage(Buffer.from('raw bytes'), 'image/x-odd')).metadata.getChild('info', NS_AVATAR_METADATA);
  assert.deepEqual(Object.keys(odd?.attrs ?? {}).sort(), ['bytes', 'id', 'type']);
  // And back: the metadata parses to the same info, the data checks against it.
  const infos = parseMetadata(metadata);
  assert.deepEqual(infos, [{ id: image.id, bytes: image.bytes.length, type: 'image/png', width: 64, height: 48 }]);
  const back = imageFromData(infos[0]!, data);
  assert.ok(!('error' in back));
  assert.deepEqual(back.bytes, image.bytes);
  assert.deepEqual([back.width, back.height], [64, 48]);
});

test('metadata: empty or <stop/> means no avatar; PNG stored in PEP is picked over URL-only and others', () => {
  assert.deepEqual(parseMetadata(metadataPayload([])), []);
  assert.deepEqual(parseMetadata(parseXmlFragment(`<metadata xmlns='${NS_AVATAR_METADATA}'><stop/></metadata>`)), []);
  const m = parseXmlFragment(
    `<metadata xmlns='${NS_AVATAR_METADATA}'>` +
      `<info id='aa' bytes='10' type='image/gif'/>` +
      `<info id='bb' bytes='20' type='image/png' url='https://example.com/b.png'/>` +
      `<info id='cc' bytes='30' type='image/png' width='64' height='64'/>` +
      `<info bytes='5' type='image/png'/>` + // no id: left out
      `</metadata>`,
  );
  const infos = parseMetadata(m);
  assert.deepEqual(infos.map((i) => i.id), ['aa', 'bb', 'cc']);
  assert.equal(pickInfo(infos)?.id, 'cc');
  assert.equal(pickInfo(infos.filter((i) => i.id !== 'cc'))?.id, 'aa');
  assert.equal(pickInfo(infos.filter((i) => i.id === 'bb')), undefined, 'URL-only avatars are not converted');
});

test('data that does not hash to the metadata id, or is not base64, is refused', () => {
  const info = { id: sha1(PNG_1X1), bytes: PNG_1X1.length, type: 'image/png' };
  const other = new Element('data', { xmlns: NS_AVATAR_DATA }).t(Buffer.from('other').toString('base64'));
  assert.ok('error' in imageFromData(info, other));
  assert.ok('error' in imageFromData(info, new Element('data', { xmlns: NS_AVATAR_DATA }).t('***')));
  assert.ok('error' in imageFromData(info, undefined));
  const upper = imageFromData({ ...info, id: info.id.toUpperCase() }, new Element('data', { xmlns: NS_AVATAR_DATA }).t(PNG_1X1.toString('base64')));
  assert.ok(!('error' in upper), 'the id is compared without case');
});

test('image → vCard PHOTO (TYPE + BINVAL) keeps every other field and the PHOTO place; none removes it', () => {
  const image = makeImage(PNG_1X1, 'image/png');
  const before = vcard('<FN>Romeo</FN><PHOTO><TYPE>image/jpeg</TYPE><BINVAL>AAAA</BINVAL></PHOTO><NICKNAME>r</NICKNAME>');
  const after = withPhoto(before, image);
  assert.deepEqual(after.elements.map((e) => e.name), ['FN', 'PHOTO', 'NICKNAME']);
  const photo = after.getChild('PHOTO', NS_VCARD);
  assert.equal(photo?.getChildText('TYPE', NS_VCARD), 'image/png');
  assert.equal(photo?.getChildText('BINVAL', NS_VCARD), PNG_1X1.toString('base64'));
  assert.equal(vcardPhotoHash(after), image.id, 'the round trip gives the same hash');
  assert.equal(before.getChild('PHOTO', NS_VCARD)?.getChildText('TYPE', NS_VCARD), 'image/jpeg', 'the input is not changed');
  const fresh = withPhoto(undefined, image);
  assert.ok(fresh.is('vCard', NS_VCARD));
  assert.deepEqual(fresh.elements.map((e) => e.name), ['PHOTO']);
  const removed = withPhoto(before, undefined);
  assert.deepEqual(removed.elements.map((e) => e.name), ['FN', 'NICKNAME']);
  // What it serializes to reads back the same (as the vcard store will).
  assert.equal(vcardPhotoHash(parseXmlFragment(after.toString())), image.id);
});

test('presence: the x:update is added, or replaces the client\'s; empty <photo/> for no avatar', () => {
  const p = parseXmlFragment(`<presence><show>away</show><x xmlns='${NS_VCARD_UPDATE}'><photo>old</photo></x><x xmlns='${NS_VCARD_UPDATE}'/></presence>`);
  setPhotoUpdate(p, 'abc123');
  const xs = p.getChildren('x', NS_VCARD_UPDATE);
  assert.equal(xs.length, 1);
  assert.equal(xs[0]?.getChildText('photo', NS_VCARD_UPDATE), 'abc123');
  assert.equal(p.getChildText('show'), 'away');
  setPhotoUpdate(p, '');
  const photo = p.getChild('x', NS_VCARD_UPDATE)?.getChild('photo', NS_VCARD_UPDATE);
  assert.ok(photo, 'an empty <photo/> says "no avatar"');
  assert.equal(photo.children.length, 0);
  assert.match(p.toString(), /<x xmlns=["']vcard-temp:x:update["']><photo\/><\/x>/);
});
