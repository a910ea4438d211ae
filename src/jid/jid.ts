// The Jid value type and the ways to make one (RFC 7622). A Jid only ever holds prepared parts,
// so comparing two JIDs is comparing strings.

import { BoundedCache, detachedCopy } from './cache.js';
import { prepareDomain } from './domainpart.js';
import { JidError } from './errors.js';
import { prepareLocalpart } from './localpart.js';
import { prepareResource } from './resourcepart.js';

export { JidError, type JidErrorReason } from './errors.js';
export { prepareDomain } from './domainpart.js';
export { prepareLocalpart } from './localpart.js';
export { prepareResource } from './resourcepart.js';
export { MAX_PART_BYTES } from './limits.js';

// Only this module can obtain the key, so `new Jid(...)` with unprepared parts is impossible
// from outside: every Jid comes from parseJid, jid() or a method of another Jid.
const preparedKey: unique symbol = Symbol('prepared');

export class Jid {
  /** '' when there is none; prepared with UsernameCaseMapped. */
  readonly local: string;
  /** Prepared: lower case, U-labels, no trailing dot. */
  readonly domain: string;
  /** '' when there is none; prepared with OpaqueString. */
  readonly resource: string;
  // Computed once: routing asks for these on every stanza.
  readonly #bare: string;
  readonly #full: string;

  constructor(key: typeof preparedKey, local: string, domain: string, resource: string) {
    if (key !== preparedKey) throw new TypeError('use parseJid() or jid() to make a Jid');
    this.local = local;
    this.domain = domain;
    this.resource = resource;
    this.#bare = local === '' ? domain : `${local}@${domain}`;
    this.#full = resource === '' ? this.#bare : `${this.#bare}/${resource}`;
    // parseJid hands the same instance to every caller of the same string (jidCache).
    Object.freeze(this);
  }

  /** 'local@domain', or 'domain' when there is no localpart. */
  get bare(): string {
    return this.#bare;
  }

  /** The bare JID plus '/resource' when there is a resource. */
  get full(): string {
    return this.#full;
  }

  isBare(): boolean {
    return this.resource === '';
  }

  toBare(): Jid {
    return this.isBare() ? this : new Jid(preparedKey, this.local, this.domain, '');
  }

  /** The same bare JID with another resource, which is prepared here; throws JidError. */
  withResource(resource: string): Jid {
    return new Jid(preparedKey, this.local, this.domain, prepareResource(resource));
  }

  equals(other: Jid): boolean {
    return this.#full === other.#full;
  }

  toString(): string {
    return this.#full;
  }

  /** JSON and structured logs show the JID as its string. */
  toJSON(): string {
    return this.#full;
  }
}

/** How many parsed JIDs parseJid keeps, oldest dropped first (~1 MB with typical JIDs). */
export const JID_CACHE_MAX_ENTRIES = 4096;
/** Longer input strings are prepared every time rather than cached (bounds the cache's memory). */
export const JID_CACHE_MAX_INPUT_LENGTH = 256;

// Input string → its Jid, for successful parses only: a failure throws a fresh JidError each
// time (malformed JIDs are rare and should not push good ones out).
const jidCache = new BoundedCache<string, Jid>(JID_CACHE_MAX_ENTRIES);

/** Empties parseJid's cache (tests; nothing else needs it). */
export function clearJidCache(): void {
  jidCache.clear();
}

/** How many JIDs parseJid's cache holds now (tests, diagnostics). */
export function jidCacheSize(): number {
  return jidCache.size;
}

/**
 * Parses and prepares a JID string; throws JidError. The split follows RFC 7622 §3.1: the
 * resource starts after the first '/' (and may itself hold '/' and '@'); before that, the
 * localpart ends at the first '@'. The same string gives the same (immutable) Jid instance
 * while it stays in a small cache of recent results.
 */
export function parseJid(s: string): Jid {
  // Checked first: a Map lookup would hash the whole of a huge attribute value.
  if (s.length > JID_CACHE_MAX_INPUT_LENGTH) return prepareJid(s);
  const cached = jidCache.get(s);
  if (cached !== undefined) return cached;
  // Parsed from a copy so that neither the key nor the Jid's parts (slices of it) keep the
  // string `s` may have been cut from (a whole input chunk) alive in the cache.
  const key = detachedCopy(s);
  const parsed = prepareJid(key);
  jidCache.set(key, parsed);
  return parsed;
}

function prepareJid(s: string): Jid {
  const slash = s.indexOf('/');
  const bareEnd = slash === -1 ? s.length : slash;
  const at = s.indexOf('@');
  const hasLocal = at !== -1 && at < bareEnd;
  const local = hasLocal ? s.slice(0, at) : '';
  const domain = s.slice(hasLocal ? at + 1 : 0, bareEnd);
  const resource = slash === -1 ? '' : s.slice(slash + 1);
  // Present-but-empty parts are errors: "@example.com", "juliet@", "example.com/".
  if (hasLocal && local === '') throw new JidError('empty-localpart');
  if (domain === '') throw new JidError('empty-domain');
  if (slash !== -1 && resource === '') throw new JidError('empty-resource');
  return new Jid(
    preparedKey,
    hasLocal ? prepareLocalpart(local) : '',
    prepareDomain(domain),
    slash === -1 ? '' : prepareResource(resource),
  );
}

/** parseJid that returns undefined instead of throwing. */
export function tryParseJid(s: string): Jid | undefined {
  try {
    return parseJid(s);
  } catch (err) {
    if (err instanceof JidError) return undefined;
    throw err;
  }
}

/** Builds a JID from unprepared parts ('' or no resource for none); throws JidError. */
export function jid(local: string, domain: string, resource?: string): Jid {
  return new Jid(
    preparedKey,
    local === '' ? '' : prepareLocalpart(local),
    prepareDomain(domain),
    resource === undefined || resource === '' ? '' : prepareResource(resource),
  );
}
