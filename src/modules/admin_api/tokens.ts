/**
 * The admin API's bearer tokens: what a token looks like, what its scopes mean, and how tokens
 * are kept. Shared by the module (which checks them at each request) and `canto token`
 * (src/cli/tokens.ts), which writes the same store while the server runs.
 *
 * A token is `canto_<id>_<secret>`: `id` (12 random bytes, base64url) names the stored record,
 * `secret` (32 random bytes, base64url) is shown once and never stored — the record keeps its
 * SHA-256. A fast hash is enough: the secret has 256 bits of entropy, so there is nothing to
 * guess a dictionary for (unlike a password). The lookup is by id and the hashes are compared
 * in constant time, so a response's timing says nothing about the secret.
 *
 * Storage: the map store `admin_api_tokens` of the pseudo-host '*' (no domain can be named so:
 * this is the server's data, not a virtual host's) under the username '', keyed by id. No
 * schema change.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { MapStore } from '../../storage/types.js';
import { randomToken } from '../../util/random-token.js';

export const TOKENS_HOST = '*';
export const TOKENS_STORE = 'admin_api_tokens';
const KEY = '';

/** The areas the API is divided in; a scope is `<area>:read` or `<area>:write` (write implies read). */
export const AREAS = ['users', 'sessions', 'rosters', 'rooms', 'invites', 'push', 'announcements', 'server'] as const;
export type Area = (typeof AREAS)[number];
export type Access = 'read' | 'write';
export type Scope = `${Area}:${Access}`;

export interface StoredToken {
  id: string;
  name: string;
  /** hex SHA-256 of the secret part */
  hash: string;
  scopes: Scope[];
  /** ms since the epoch */
  created: number;
  /** ms since the epoch; absent: never expires */
  expires?: number;
  lastUsed?: number;
  revoked?: boolean;
}

/** What the list shows: everything but the hash. */
export type TokenInfo = Omit<StoredToken, 'hash'>;

const TOKEN_SHAPE = /^canto_([A-Za-z0-9_-]{16})_([A-Za-z0-9_-]{43})$/;
export const NAME_SHAPE = /^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$/;

/** Parse a scope; undefined when it is not `<area>:read|write`. `*:read` / `*:write` mean every area. */
export function parseScope(text: string): Scope[] | undefined {
  const m = /^([a-z*]+):(read|write)$/.exec(text);
  if (!m) return undefined;
  const [, area, access] = m as unknown as [string, string, Access];
  if (area === '*') return AREAS.map((a) => `${a}:${access}` as Scope);
  return (AREAS as readonly string[]).includes(area) ? [`${area as Area}:${access}`] : undefined;
}

/** Whether `scopes` allow `access` to `area` (write implies read). */
export function allows(scopes: readonly Scope[], area: Area, access: Access): boolean {
  return scopes.includes(`${area}:write`) || (access === 'read' && scopes.includes(`${area}:read`));
}

/** The id and secret of a presented token; undefined when it does not have the shape of one. */
export function parseToken(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN_SHAPE.exec(token);
  return m ? { id: m[1] as string, secret: m[2] as string } : undefined;
}

/** The token from an `Authorization: Bearer …` header (RFC 6750 §2.1), or undefined. */
export function bearerOf(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header);
  return m ? m[1] : undefined;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export interface NewToken {
  name: string;
  scopes: Scope[];
  /** From now; absent: never expires. */
  expiresInMs?: number;
}

/** Make a token and store its record; the token itself is returned once and exists nowhere else. */
export async function createToken(store: MapStore<StoredToken>, now: number, opts: NewToken): Promise<{ token: string; record: StoredToken }> {
  const id = randomToken(12); // also `canto token revoke ID`
  const secret = randomBytes(32).toString('base64url');
  const record: StoredToken = { id, name: opts.name, hash: hashSecret(secret), scopes: [...new Set(opts.scopes)].sort(), created: now };
  if (opts.expiresInMs !== undefined) record.expires = now + opts.expiresInMs;
  await store.set(KEY, id, record);
  return { token: `canto_${id}_${secret}`, record };
}

export async function listTokens(store: MapStore<StoredToken>): Promise<TokenInfo[]> {
  return [...(await store.getAll(KEY)).values()].sort((a, b) => a.created - b.created).map(({ hash: _hash, ...info }) => info);
}

/** Revoke by id or by name; the number revoked. The record stays (listed as revoked) for the audit trail. */
export async function revokeToken(store: MapStore<StoredToken>, idOrName: string): Promise<number> {
  let n = 0;
  for (const t of (await store.getAll(KEY)).values()) {
    if ((t.id !== idOrName && t.name !== idOrName) || t.revoked) continue;
    await store.update(KEY, t.id, (cur) => (cur === undefined ? cur : { ...cur, revoked: true }));
    n++;
  }
  return n;
}

export type TokenCheck = { ok: true; token: StoredToken } | { ok: false; why: 'malformed' | 'unknown' | 'revoked' | 'expired' };

/** Check a presented token against the store (constant-time comparison of the hashes). */
export async function verifyToken(store: MapStore<StoredToken>, presented: string, now: number): Promise<TokenCheck> {
  const parsed = parseToken(presented);
  if (!parsed) return { ok: false, why: 'malformed' };
  const record = await store.get(KEY, parsed.id);
  const given = Buffer.from(hashSecret(parsed.secret), 'hex');
  // Compared even when there is no record, so both paths cost the same.
  const expected = Buffer.from(record?.hash ?? '0'.repeat(64), 'hex');
  const same = expected.length === given.length && timingSafeEqual(expected, given);
  if (!record || !same) return { ok: false, why: 'unknown' };
  if (record.revoked) return { ok: false, why: 'revoked' };
  if (record.expires !== undefined && record.expires <= now) return { ok: false, why: 'expired' };
  return { ok: true, token: record };
}

/** Record a use (callers write at most once a minute per token: the API is not a write per request). */
export async function touchToken(store: MapStore<StoredToken>, id: string, now: number): Promise<void> {
  await store.update(KEY, id, (cur) => (cur === undefined ? cur : { ...cur, lastUsed: now }));
}
