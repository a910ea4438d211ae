/**
 * Upload tokens: what a slot allows, signed with the service's secret (HMAC-SHA256), sent by the
 * client as `Authorization: Bearer <token>` with its PUT. The token carries every fact of the
 * slot (its id and file name — the URL path —, size, content type, expiry and owner), so a PUT
 * needs no stored slot and works on whichever process serves HTTP; changing any of them breaks
 * the signature. A token is `<payload>.<signature>`, both base64url; the payload is JSON.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface SlotClaims {
  /** Random slot id (the first path segment). */
  id: string;
  /** The sanitised file name (the second path segment). */
  name: string;
  size: number;
  /** Normalised content type (content-type.ts). */
  type: string;
  /** Bare JID of the uploader (quota). */
  owner: string;
  /** Expiry of the PUT URL, ms since the epoch. */
  exp: number;
}

/** Domain separation: a signature of this format can never be mistaken for another use of the secret. */
const CONTEXT = 'canto-upload-v1\n';

function sign(secret: Buffer, payload: string): Buffer {
  return createHmac('sha256', secret).update(CONTEXT).update(payload).digest();
}

export function makeToken(secret: Buffer, claims: SlotClaims): string {
  // A fixed key order keeps tokens stable for the same claims.
  const payload = Buffer.from(JSON.stringify({ id: claims.id, name: claims.name, size: claims.size, type: claims.type, owner: claims.owner, exp: claims.exp })).toString('base64url');
  return `${payload}.${sign(secret, payload).toString('base64url')}`;
}

/** The claims of a well-signed token, or undefined (a bad signature or a malformed token alike). */
export function verifyToken(secret: Buffer, token: string): SlotClaims | undefined {
  const dot = token.indexOf('.');
  if (dot <= 0 || token.length > 4096) return undefined;
  const payload = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = sign(secret, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  return isClaims(value) ? value : undefined;
}

function isClaims(v: unknown): v is SlotClaims {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  return typeof c.id === 'string' && typeof c.name === 'string' && typeof c.type === 'string' && typeof c.owner === 'string' &&
    Number.isSafeInteger(c.size) && Number.isSafeInteger(c.exp);
}

/** The token of an `Authorization: Bearer …` header, if that is what it is. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+) *$/i.exec(header);
  return m?.[1];
}
