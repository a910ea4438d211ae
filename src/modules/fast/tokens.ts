/**
 * FAST token records: one per (account, user agent), in the map store `fast_tokens` keyed by a
 * hash of the user-agent id (the key doubles as the token's public id). A record holds the
 * current token and, during the overlap, the previous one (both as SHA-256 digests, ht.ts):
 *
 * - a login with the current token makes it the previous one and issues a new current one, so
 *   a client that lost the answer can still log in with the token it has;
 * - a login with the previous token (the new one never arrived) replaces the unused current one;
 * - the first login with the new token ends the old one.
 *
 * Replay: a client may send XEP-0484's `count` (it increments it on every use of a token); a
 * count not above the highest seen is refused. Failures never write, so they move no counter.
 *
 * Revocation on password change needs no hook into every place that changes credentials: each
 * record remembers a fingerprint of the account's credentials when it was issued, and a token
 * whose account's credentials no longer match is dead (a disabled account's lookup fails
 * before any token is looked at).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { AccountCredentials, MapStore } from '../../storage/types.js';
import { SCRAM_MECHANISM_NAMES } from '../../storage/types.js';
import type { FastTokenInfo } from './api.js';
import { TOKEN_BYTES, tokenKey, type FastMechanism } from './ht.js';

export interface TokenRecord {
  userAgent: string;
  software?: string;
  device?: string;
  /** The mechanism the token was requested for; it works with no other (XEP-0484 §). */
  mechanism: FastMechanism;
  current: { key: string; expires: number };
  previous?: { key: string; expires: number };
  /** Highest `count` the client sent with a successful login. */
  count: number;
  created: number;
  lastUsed?: number;
  /** credentialFingerprint() when issued. */
  credentials: string;
}

/** The record id for a user-agent id (also its map key). */
export function recordId(userAgentId: string): string {
  return createHash('sha256').update(userAgentId, 'utf8').digest('base64url').slice(0, 22);
}

/**
 * Changes whenever the password does (every stored credential gets a new salt) but not when a
 * login adds a hash the account lacked (the existing ones stay): the first one present, in a
 * fixed order, with its salt and StoredKey.
 */
export function credentialFingerprint(creds: AccountCredentials): string {
  for (const name of SCRAM_MECHANISM_NAMES) {
    const c = creds[name];
    if (c) return createHash('sha256').update(`${name}\0${c.salt}\0${c.storedKey}`).digest('base64').slice(0, 16);
  }
  return '';
}

export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

export type Candidate = { which: 'current' | 'previous'; key: Buffer; expired: boolean };

/** The digests a login may match, with whether each has expired. */
export function candidates(record: TokenRecord, now: number): Candidate[] {
  const out: Candidate[] = [{ which: 'current', key: Buffer.from(record.current.key, 'base64'), expired: record.current.expires <= now }];
  if (record.previous) out.push({ which: 'previous', key: Buffer.from(record.previous.key, 'base64'), expired: record.previous.expires <= now });
  return out;
}

export function info(id: string, r: TokenRecord): FastTokenInfo {
  const out: FastTokenInfo = { id, userAgent: r.userAgent, created: r.created, expires: r.current.expires };
  if (r.software !== undefined) out.software = r.software;
  if (r.device !== undefined) out.device = r.device;
  if (r.lastUsed !== undefined) out.lastUsed = r.lastUsed;
  return out;
}

export interface Issued {
  token: string;
  expires: number;
}

/** The record operations, on one host's store. */
export class TokenStore {
  constructor(
    private readonly store: MapStore<TokenRecord>,
    private readonly lifetimeMs: number,
    private readonly now: () => number,
  ) {}

  get(username: string, id: string): Promise<TokenRecord | undefined> {
    return this.store.get(username, id);
  }

  /** A fresh token chain for a device (a password login asked for one); replaces any older chain. */
  async issue(username: string, ua: { id: string; software?: string; device?: string }, mechanism: FastMechanism, creds: AccountCredentials): Promise<Issued> {
    const token = newToken();
    const now = this.now();
    const expires = now + this.lifetimeMs;
    const record: TokenRecord = { userAgent: ua.id, mechanism, current: { key: tokenKey(token), expires }, count: 0, created: now, credentials: credentialFingerprint(creds) };
    if (ua.software !== undefined) record.software = ua.software;
    if (ua.device !== undefined) record.device = ua.device;
    await this.store.set(username, recordId(ua.id), record);
    return { token, expires };
  }

  /**
   * After a successful login with the `used` digest: rotate (see the top of this file) and
   * record the count. Returns the new token, or undefined when the record changed meanwhile
   * (revoked, or another login rotated it first: that one's answer carries the token).
   */
  async rotate(username: string, id: string, usedKey: string, count: number | undefined, invalidate: boolean): Promise<Issued | undefined> {
    const token = newToken();
    const now = this.now();
    const expires = now + this.lifetimeMs;
    let issued = false;
    await this.store.update(username, id, (r) => {
      issued = false;
      if (!r) return r;
      const which = r.current.key === usedKey ? 'current' : r.previous?.key === usedKey ? 'previous' : undefined;
      if (which === undefined) return r;
      if (invalidate) return undefined; // XEP-0484 invalidate: the client is done with this token
      if (count !== undefined) r.count = Math.max(r.count, count);
      r.lastUsed = now;
      // The used token stays valid (as the previous one) until the new one is used once.
      if (which === 'current') r.previous = r.current;
      r.current = { key: tokenKey(token), expires };
      issued = true;
      return r;
    });
    return issued ? { token, expires } : undefined;
  }

  async list(username: string): Promise<FastTokenInfo[]> {
    const now = this.now();
    const all = await this.store.getAll(username);
    return [...all]
      .filter(([, r]) => r.current.expires > now || (r.previous?.expires ?? 0) > now)
      .map(([id, r]) => info(id, r))
      .sort((a, b) => b.created - a.created);
  }

  async revoke(username: string, id?: string): Promise<number> {
    const ids = id === undefined ? await this.store.keys(username) : [id];
    let n = 0;
    for (const k of ids) {
      if ((await this.store.get(username, k)) === undefined) continue;
      await this.store.set(username, k, undefined);
      n++;
    }
    return n;
  }
}
