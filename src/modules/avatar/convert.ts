/**
 * XEP-0398 conversions between a vCard-temp PHOTO (XEP-0054/XEP-0153) and a XEP-0084 avatar,
 * and the XEP-0153 presence element, as pure functions. Nothing here touches storage: the module
 * (index.ts) reads and writes; these decide what to write.
 */
import { createHash } from 'node:crypto';
import { Element } from '../../xml/element.js';

export const NS_AVATAR_DATA = 'urn:xmpp:avatar:data';
export const NS_AVATAR_METADATA = 'urn:xmpp:avatar:metadata';
export const NS_VCARD = 'vcard-temp';
export const NS_VCARD_UPDATE = 'vcard-temp:x:update';
/** XEP-0398: what the server advertises on the account's disco#info when it converts. */
export const NS_PEP_VCARD_CONVERSION = 'urn:xmpp:pep-vcard-conversion:0';

/** An avatar image: its bytes and what XEP-0084's `<info/>` says about them. */
export interface AvatarImage {
  /** SHA-1 of the bytes, lowercase hex: the XEP-0084 item id and the XEP-0153 photo hash. */
  id: string;
  type: string;
  bytes: Buffer;
  width?: number;
  height?: number;
}

/** One `<info/>` of a XEP-0084 metadata item. */
export interface AvatarInfo {
  id: string;
  bytes: number;
  type: string;
  width?: number;
  height?: number;
  /** Set when the image is not in the data node but at this URL. */
  url?: string;
}

export function sha1Hex(bytes: Buffer): string {
  return createHash('sha1').update(bytes).digest('hex');
}

/**
 * Strict base64 (whitespace allowed, as vCard BINVAL is often folded): the bytes, or undefined
 * when the text is not base64 — Buffer.from would decode garbage silently and we would then
 * advertise the hash of bytes the client never sent.
 */
export function decodeBase64(text: string): Buffer | undefined {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0 || compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

/** The MIME type the image bytes say they are (PNG, JPEG, GIF, WebP), when they say so. */
export function sniffType(bytes: Buffer): string | undefined {
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.readUInt32BE(4) === 0x0d0a1a0a) return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 6 && bytes.subarray(0, 4).toString('latin1') === 'GIF8') return 'image/gif';
  if (bytes.length >= 12 && bytes.subarray(0, 4).toString('latin1') === 'RIFF' && bytes.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  return undefined;
}

/**
 * Width and height in pixels read from the image header (PNG IHDR, GIF logical screen, JPEG
 * SOFn), or undefined for other formats or a truncated header: XEP-0084 makes them optional,
 * so "unknown" is simply left out.
 */
export function imageSize(bytes: Buffer): { width: number; height: number } | undefined {
  const type = sniffType(bytes);
  if (type === 'image/png' && bytes.length >= 24 && bytes.subarray(12, 16).toString('latin1') === 'IHDR') {
    return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
  }
  if (type === 'image/gif' && bytes.length >= 10) return { width: bytes.readUInt16LE(6), height: bytes.readUInt16LE(8) };
  if (type === 'image/jpeg') return jpegSize(bytes);
  return undefined;
}

function jpegSize(bytes: Buffer): { width: number; height: number } | undefined {
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) return undefined;
    const marker = bytes[i + 1] ?? 0;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    // Markers without a length: TEM, RSTn, SOI.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      i += 2;
      continue;
    }
    const length = bytes.readUInt16BE(i + 2);
    // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC): height then width after the precision byte.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (i + 9 > bytes.length) return undefined;
      return { height: bytes.readUInt16BE(i + 5), width: bytes.readUInt16BE(i + 7) };
    }
    i += 2 + length;
  }
  return undefined;
}

/** An image from its bytes, with the type given (or sniffed, image/png when unknown) and its size if readable. */
export function makeImage(bytes: Buffer, type?: string): AvatarImage {
  const t = type?.trim();
  const image: AvatarImage = { id: sha1Hex(bytes), type: t !== undefined && t !== '' ? t : (sniffType(bytes) ?? 'image/png'), bytes };
  const size = imageSize(bytes);
  if (size) {
    image.width = size.width;
    image.height = size.height;
  }
  return image;
}

/** What the PHOTO of a vCard holds. */
export type VCardPhoto =
  | { kind: 'none' }
  | { kind: 'image'; image: AvatarImage }
  /** EXTVAL: a URL only; XEP-0084 needs the bytes' hash as item id, so it is not converted. */
  | { kind: 'external'; url: string }
  | { kind: 'invalid'; reason: string };

/** Read the PHOTO of a vCard (the first one; TYPE and BINVAL, or EXTVAL). */
export function vcardPhoto(vcard: Element | undefined): VCardPhoto {
  const photo = vcard?.getChild('PHOTO', NS_VCARD);
  if (!photo) return { kind: 'none' };
  const binval = photo.getChildText('BINVAL', NS_VCARD);
  if (binval !== undefined && binval.trim() !== '') {
    const bytes = decodeBase64(binval);
    if (!bytes) return { kind: 'invalid', reason: 'BINVAL is not base64' };
    return { kind: 'image', image: makeImage(bytes, photo.getChildText('TYPE', NS_VCARD)) };
  }
  const extval = photo.getChildText('EXTVAL', NS_VCARD)?.trim();
  if (extval !== undefined && extval !== '') return { kind: 'external', url: extval };
  // An empty <PHOTO/> is how clients clear it (XEP-0153 uses it that way).
  return { kind: 'none' };
}

/** The XEP-0153 hash of a vCard's photo: SHA-1 hex of the image, '' when it has none (or one we cannot read). */
export function vcardPhotoHash(vcard: Element | undefined): string {
  const photo = vcardPhoto(vcard);
  return photo.kind === 'image' ? photo.image.id : '';
}

/** The `<info/>` attributes of an image. */
export function infoOf(image: AvatarImage): AvatarInfo {
  const info: AvatarInfo = { id: image.id, bytes: image.bytes.length, type: image.type };
  if (image.width !== undefined) info.width = image.width;
  if (image.height !== undefined) info.height = image.height;
  return info;
}

/** The two XEP-0084 payloads for an image: `<data/>` (item id = image id) and `<metadata><info/></metadata>`. */
export function avatarPayloads(image: AvatarImage): { data: Element; metadata: Element } {
  const data = new Element('data', { xmlns: NS_AVATAR_DATA }).t(image.bytes.toString('base64'));
  return { data, metadata: metadataPayload([infoOf(image)]) };
}

/** `<metadata/>` with these infos; none: the empty metadata that says "no avatar". */
export function metadataPayload(infos: AvatarInfo[]): Element {
  const metadata = new Element('metadata', { xmlns: NS_AVATAR_METADATA });
  for (const i of infos) metadata.c('info', { id: i.id, bytes: i.bytes, type: i.type, width: i.width, height: i.height, url: i.url });
  return metadata;
}

const positive = (v: string | undefined): number | undefined => {
  if (v === undefined || !/^\d{1,9}$/.test(v)) return undefined;
  return Number(v);
};

/**
 * The infos of a metadata payload; [] when it disables the avatar (empty `<metadata/>`, or
 * `<stop/>` of older drafts). Infos without an id, a type or a byte count are left out.
 */
export function parseMetadata(metadata: Element | undefined): AvatarInfo[] {
  if (!metadata?.is('metadata', NS_AVATAR_METADATA)) return [];
  const infos: AvatarInfo[] = [];
  for (const el of metadata.getChildren('info', NS_AVATAR_METADATA)) {
    const { id, type, url } = el.attrs;
    const bytes = positive(el.attrs.bytes);
    if (id === undefined || id === '' || type === undefined || type === '' || bytes === undefined) continue;
    const info: AvatarInfo = { id, bytes, type };
    const width = positive(el.attrs.width);
    const height = positive(el.attrs.height);
    if (width !== undefined) info.width = width;
    if (height !== undefined) info.height = height;
    if (url !== undefined) info.url = url;
    infos.push(info);
  }
  return infos;
}

/**
 * The info a vCard PHOTO is made from: one whose image is in the data node (no url), image/png
 * first (XEP-0084 makes PNG the one every client can read), else the first such.
 */
export function pickInfo(infos: AvatarInfo[]): AvatarInfo | undefined {
  const stored = infos.filter((i) => i.url === undefined);
  return stored.find((i) => i.type === 'image/png') ?? stored[0];
}

/**
 * The image a data item holds for `info`, checked: base64, and the SHA-1 of the bytes is the
 * id (XEP-0084: the id is the hash; a mismatch would make clients fetch forever).
 */
export function imageFromData(info: AvatarInfo, data: Element | undefined): AvatarImage | { error: string } {
  if (!data?.is('data', NS_AVATAR_DATA)) return { error: 'no data item for the avatar' };
  const bytes = decodeBase64(data.getText());
  if (!bytes) return { error: 'the data item is not base64' };
  const id = sha1Hex(bytes);
  if (id !== info.id.toLowerCase()) return { error: 'the data does not hash to the metadata id' };
  const image: AvatarImage = { id, type: info.type, bytes };
  const size = imageSize(bytes);
  const width = info.width ?? size?.width;
  const height = info.height ?? size?.height;
  if (width !== undefined) image.width = width;
  if (height !== undefined) image.height = height;
  return image;
}

/**
 * A copy of `vcard` (or a new one) whose PHOTO is `image` (TYPE + BINVAL), or without PHOTO
 * when `image` is undefined. The PHOTO keeps its place; every other field is kept as it was.
 */
export function withPhoto(vcard: Element | undefined, image: AvatarImage | undefined): Element {
  const out = vcard ? vcard.clone() : new Element('vCard', { xmlns: NS_VCARD });
  const at = out.children.findIndex((c) => typeof c !== 'string' && c.is('PHOTO', NS_VCARD));
  out.removeChildren('PHOTO', NS_VCARD);
  if (!image) return out;
  const photo = new Element('PHOTO', { xmlns: NS_VCARD });
  photo.c('TYPE').t(image.type);
  photo.c('BINVAL').t(image.bytes.toString('base64'));
  photo.parent = out;
  if (at < 0) out.children.push(photo);
  else out.children.splice(Math.min(at, out.children.length), 0, photo);
  return out;
}

/**
 * XEP-0153 / XEP-0398: replace whatever `<x xmlns='vcard-temp:x:update'/>` the client
 * put in its presence with the server's, `<photo>hash</photo>` or an empty `<photo/>` for "no
 * avatar". Changes `presence` in place.
 */
export function setPhotoUpdate(presence: Element, hash: string): void {
  presence.removeChildren('x', NS_VCARD_UPDATE);
  presence.c('x', { xmlns: NS_VCARD_UPDATE }).c('photo').t(hash);
}
