/**
 * Behaviour every driver must share, kept in one place so the SQLite and memory drivers
 * cannot drift apart: value encoding, credential and query validation, archive ids.
 */
import { randomFillSync } from 'node:crypto';
import { StorageInvalidArgumentError } from './errors.js';
import {
  MIN_SCRAM_ITERATIONS,
  SCRAM_MECHANISM_NAMES,
  type AccountCredentials,
  type ArchiveQuery,
  type ScramCredential,
  type ScramMechanismName,
  type UpdateFn,
} from './types.js';

/** Serialises a stored value; every driver stores JSON text so values round-trip identically. */
export function encodeValue(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) throw new StorageInvalidArgumentError(`value is not JSON-serialisable (${typeof value})`);
  return text;
}

export function decodeValue<T>(text: string): T {
  return JSON.parse(text) as T;
}

/**
 * The core of every driver's `update`: the stored JSON text (undefined: none) in, the text to
 * store (undefined: delete) out. `fn` sees a fresh copy; whatever it throws propagates, and the
 * driver must then write nothing.
 */
export function applyUpdate<T>(currentText: string | undefined, fn: UpdateFn<T>): string | undefined {
  if (typeof fn !== 'function') throw new StorageInvalidArgumentError('update needs a function');
  const next: unknown = fn(currentText === undefined ? undefined : decodeValue<T>(currentText));
  // An async fn would otherwise be stored as "{}" (the JSON of a promise).
  if (typeof (next as { then?: unknown } | null)?.then === 'function') {
    throw new StorageInvalidArgumentError('the update function must be synchronous (it returned a promise)');
  }
  return next === undefined ? undefined : encodeValue(next);
}

export function checkHost(host: string): void {
  if (typeof host !== 'string' || host === '') throw new StorageInvalidArgumentError('host must be a non-empty string');
}

export function checkScope(host: string, store: string): void {
  checkHost(host);
  if (typeof store !== 'string' || store === '') throw new StorageInvalidArgumentError('store name must be a non-empty string');
}

export function checkUsername(username: string): void {
  if (typeof username !== 'string') throw new StorageInvalidArgumentError('username must be a string');
}

export function checkKey(key: string): void {
  if (typeof key !== 'string') throw new StorageInvalidArgumentError('key must be a string');
}

/** 16 random bytes as base64url: unguessable and safe in XML attributes and URLs. */
/**
 * Random bytes drawn from a pool filled 4 KiB at a time: one call into the CSPRNG per 256 ids
 * instead of one per archived message (a per-call randomBytes was ~8 % of the server's CPU with
 * the archive on).
 */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

export function newArchiveId(): string {
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const id = pool.toString('base64url', poolOffset, poolOffset + 16);
  poolOffset += 16;
  return id;
}

/** The bare part of a JID-like string: everything before the first '/'. */
export function bareOf(jid: string): string {
  const slash = jid.indexOf('/');
  return slash < 0 ? jid : jid.slice(0, slash);
}

/** Orders strings by their UTF-8 bytes, the way SQLite's default BINARY collation does. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** A validated archive query: the same checks for every driver. */
export function checkArchiveQuery(query: ArchiveQuery | undefined): ArchiveQuery {
  const q = query ?? {};
  for (const field of ['start', 'end'] as const) {
    const v = q[field];
    if (v !== undefined && !Number.isFinite(v)) throw new StorageInvalidArgumentError(`archive query ${field} must be a finite number`);
  }
  if (q.limit !== undefined && !(Number.isSafeInteger(q.limit) && q.limit >= 0)) {
    throw new StorageInvalidArgumentError('archive query limit must be a non-negative integer');
  }
  for (const field of ['with', 'after', 'before'] as const) {
    const v = q[field];
    if (v !== undefined && typeof v !== 'string') throw new StorageInvalidArgumentError(`archive query ${field} must be a string`);
  }
  if (q.ids !== undefined && !(Array.isArray(q.ids) && q.ids.every((id) => typeof id === 'string'))) {
    throw new StorageInvalidArgumentError('archive query ids must be an array of strings');
  }
  return q;
}

export function checkArchiveItem(item: { when?: number; with?: string; id?: string }): void {
  if (item.when !== undefined && !Number.isFinite(item.when)) throw new StorageInvalidArgumentError('archive item when must be a finite number');
  if (item.with !== undefined && typeof item.with !== 'string') throw new StorageInvalidArgumentError('archive item with must be a string');
  if (item.id !== undefined && (typeof item.id !== 'string' || item.id === '')) {
    throw new StorageInvalidArgumentError('archive item id must be a non-empty string');
  }
}

const DIGEST_BYTES: Record<ScramMechanismName, number> = { 'SCRAM-SHA-1': 20, 'SCRAM-SHA-256': 32, 'SCRAM-SHA-512': 64 };
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function checkBase64(value: unknown, what: string, bytes?: number): string {
  if (typeof value !== 'string' || value === '' || !BASE64.test(value)) {
    throw new StorageInvalidArgumentError(`${what} must be non-empty base64`);
  }
  if (bytes !== undefined && Buffer.from(value, 'base64').length !== bytes) {
    throw new StorageInvalidArgumentError(`${what} must be ${bytes} bytes`);
  }
  return value;
}

/**
 * Checks credentials and returns a copy holding only the known SCRAM fields, so nothing else
 * (a stray `password` property, say) can ever reach the database.
 */
export function checkCredentials(credentials: AccountCredentials): AccountCredentials {
  if (typeof credentials !== 'object' || credentials === null) throw new StorageInvalidArgumentError('credentials must be an object');
  const unknown = Object.keys(credentials).filter((k) => !(SCRAM_MECHANISM_NAMES as readonly string[]).includes(k));
  if (unknown.length > 0) throw new StorageInvalidArgumentError(`unknown credential kind(s): ${unknown.join(', ')}`);
  const clean: AccountCredentials = {};
  for (const mech of SCRAM_MECHANISM_NAMES) {
    const c: ScramCredential | undefined = credentials[mech];
    if (c === undefined) continue;
    if (typeof c !== 'object' || c === null) throw new StorageInvalidArgumentError(`${mech} credential must be an object`);
    if (!Number.isSafeInteger(c.iterations) || c.iterations < MIN_SCRAM_ITERATIONS) {
      throw new StorageInvalidArgumentError(`${mech} iterations must be an integer >= ${MIN_SCRAM_ITERATIONS}`);
    }
    clean[mech] = {
      salt: checkBase64(c.salt, `${mech} salt`),
      iterations: c.iterations,
      storedKey: checkBase64(c.storedKey, `${mech} storedKey`, DIGEST_BYTES[mech]),
      serverKey: checkBase64(c.serverKey, `${mech} serverKey`, DIGEST_BYTES[mech]),
    };
  }
  return clean;
}

/** A deep copy, so callers can never mutate what a store holds (and vice versa). */
export function copyCredentials(credentials: AccountCredentials): AccountCredentials {
  const copy: AccountCredentials = {};
  for (const mech of SCRAM_MECHANISM_NAMES) {
    const c = credentials[mech];
    if (c) copy[mech] = { ...c };
  }
  return copy;
}
