/**
 * SCRAM credentials (RFC 5802, RFC 7677): derive, store-ready, verify. The server keeps only
 * salt, iteration count, StoredKey and ServerKey — never the password:
 *
 *   SaltedPassword = Hi(Normalize(password), salt, i)      (Hi is PBKDF2 with HMAC-H)
 *   ClientKey      = HMAC(SaltedPassword, "Client Key")
 *   StoredKey      = H(ClientKey)
 *   ServerKey      = HMAC(SaltedPassword, "Server Key")
 *
 * Normalize is SASLprep (RFC 4013). Derivation runs PBKDF2 synchronously (a few ms at 4096
 * iterations, proportionally more above): use the *Async variants on a busy server.
 */
import { createHash, createHmac, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import saslprep from '@mongodb-js/saslprep';
import { MIN_SCRAM_ITERATIONS } from '../storage/types.js';
import type { AccountCredentials, ScramCredential, ScramMechanismName } from '../storage/types.js';

export type ScramHash = 'SHA-1' | 'SHA-256' | 'SHA-512';

const NODE_DIGEST: Record<ScramHash, string> = { 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-512': 'sha512' };
const DIGEST_BYTES: Record<ScramHash, number> = { 'SHA-1': 20, 'SHA-256': 32, 'SHA-512': 64 };
/** Strongest first: verifyPassword checks the first one an account has. */
const HASHES_BY_STRENGTH: readonly ScramHash[] = ['SHA-512', 'SHA-256', 'SHA-1'];
const SALT_BYTES = 16;
/** Node's PBKDF2 limit; anything near it would block for hours anyway. */
const MAX_ITERATIONS = 2 ** 31 - 1;

const pbkdf2Async = promisify(pbkdf2);

export function mechanismName(hash: ScramHash): ScramMechanismName {
  return `SCRAM-${hash}`;
}

/**
 * SASLprep (RFC 4013) for a password. `stored` (the default, used when setting a password)
 * rejects unassigned code points; `query` (used when checking one) allows them, as RFC 5802
 * §2.2 says. Throws on prohibited characters, bidi violations, or an empty result.
 */
export function saslprepPassword(password: string, mode: 'stored' | 'query' = 'stored'): string {
  const prepared = saslprep(password, { allowUnassigned: mode === 'query' });
  if (prepared === '') throw new Error('password is empty after SASLprep');
  return prepared;
}

export function hmac(hash: ScramHash, key: Buffer, data: Buffer | string): Buffer {
  return createHmac(NODE_DIGEST[hash], key).update(data).digest();
}

export function h(hash: ScramHash, data: Buffer): Buffer {
  return createHash(NODE_DIGEST[hash]).update(data).digest();
}

function checkIterations(iterations: number): void {
  if (!Number.isSafeInteger(iterations) || iterations < MIN_SCRAM_ITERATIONS || iterations > MAX_ITERATIONS) {
    throw new RangeError(`SCRAM iterations must be an integer from ${MIN_SCRAM_ITERATIONS} to ${MAX_ITERATIONS}`);
  }
}

function checkSalt(salt: Buffer): void {
  if (salt.length === 0) throw new RangeError('SCRAM salt must not be empty');
}

/**
 * Hi(Normalize(password), salt, i). The password is SASLprep'd here (query mode), so pass it
 * as the user typed it. Iterations below the minimum are refused.
 */
export function saltedPassword(password: string, salt: Buffer, iterations: number, hash: ScramHash): Buffer {
  checkIterations(iterations);
  checkSalt(salt);
  return pbkdf2Sync(saslprepPassword(password, 'query'), salt, iterations, DIGEST_BYTES[hash], NODE_DIGEST[hash]);
}

async function saltedPasswordAsync(password: string, salt: Buffer, iterations: number, hash: ScramHash): Promise<Buffer> {
  checkIterations(iterations);
  checkSalt(salt);
  return pbkdf2Async(saslprepPassword(password, 'query'), salt, iterations, DIGEST_BYTES[hash], NODE_DIGEST[hash]);
}

function credentialFromSalted(hash: ScramHash, salted: Buffer, salt: Buffer, iterations: number): ScramCredential {
  const clientKey = hmac(hash, salted, 'Client Key');
  return {
    salt: salt.toString('base64'),
    iterations,
    storedKey: h(hash, clientKey).toString('base64'),
    serverKey: hmac(hash, salted, 'Server Key').toString('base64'),
  };
}

/**
 * The stored form of one password for one hash. `salt` defaults to 16 random bytes; pass one
 * only to reproduce known values (test vectors, imports). The password must pass SASLprep
 * as a stored string.
 */
export function deriveScramCredential(password: string, hash: ScramHash, iterations: number, salt?: Buffer): ScramCredential {
  const prepared = saslprepPassword(password, 'stored');
  const s = salt ?? randomBytes(SALT_BYTES);
  return credentialFromSalted(hash, saltedPassword(prepared, s, iterations, hash), s, iterations);
}

export async function deriveScramCredentialAsync(
  password: string,
  hash: ScramHash,
  iterations: number,
  salt?: Buffer,
): Promise<ScramCredential> {
  const prepared = saslprepPassword(password, 'stored');
  const s = salt ?? randomBytes(SALT_BYTES);
  return credentialFromSalted(hash, await saltedPasswordAsync(prepared, s, iterations, hash), s, iterations);
}

function checkHashes(hashes: ScramHash[]): void {
  if (hashes.length === 0) throw new RangeError('at least one SCRAM hash is needed');
  for (const hash of hashes) if (!(hash in NODE_DIGEST)) throw new RangeError(`unknown SCRAM hash ${String(hash)}`);
}

/** Credentials for every requested hash, each with its own random salt. */
export function makeCredentials(password: string, opts: { iterations: number; hashes: ScramHash[] }): AccountCredentials {
  checkHashes(opts.hashes);
  const credentials: AccountCredentials = {};
  for (const hash of opts.hashes) credentials[mechanismName(hash)] = deriveScramCredential(password, hash, opts.iterations);
  return credentials;
}

/** As {@link makeCredentials}, with PBKDF2 on libuv's thread pool instead of the event loop. */
export async function makeCredentialsAsync(
  password: string,
  opts: { iterations: number; hashes: ScramHash[] },
): Promise<AccountCredentials> {
  checkHashes(opts.hashes);
  const credentials: AccountCredentials = {};
  for (const hash of opts.hashes) {
    credentials[mechanismName(hash)] = await deriveScramCredentialAsync(password, hash, opts.iterations);
  }
  return credentials;
}

/** The strongest credential the account has, or undefined. */
function strongest(creds: AccountCredentials): { hash: ScramHash; credential: ScramCredential } | undefined {
  for (const hash of HASHES_BY_STRENGTH) {
    const credential = creds[mechanismName(hash)];
    if (credential) return { hash, credential };
  }
  return undefined;
}

function storedKeyMatches(hash: ScramHash, salted: Buffer, credential: ScramCredential): boolean {
  const expected = Buffer.from(credential.storedKey, 'base64');
  const actual = h(hash, hmac(hash, salted, 'Client Key'));
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/**
 * Checks a plaintext password (SASL PLAIN) against stored credentials by recomputing StoredKey
 * with the strongest hash present and comparing in constant time. Never throws for a bad
 * password: prohibited characters, no credentials, or malformed stored data all give false.
 */
export function verifyPassword(creds: AccountCredentials, password: string): boolean {
  const best = strongest(creds);
  if (!best) return false;
  try {
    const salted = saltedPassword(password, Buffer.from(best.credential.salt, 'base64'), best.credential.iterations, best.hash);
    return storedKeyMatches(best.hash, salted, best.credential);
  } catch {
    return false;
  }
}

/** As {@link verifyPassword}, with PBKDF2 on libuv's thread pool instead of the event loop. */
export async function verifyPasswordAsync(creds: AccountCredentials, password: string): Promise<boolean> {
  const best = strongest(creds);
  if (!best) return false;
  try {
    const salted = await saltedPasswordAsync(
      password,
      Buffer.from(best.credential.salt, 'base64'),
      best.credential.iterations,
      best.hash,
    );
    return storedKeyMatches(best.hash, salted, best.credential);
  } catch {
    return false;
  }
}
