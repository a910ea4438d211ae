/**
 * Character classes of XML 1.0 (Fifth Edition) used by the stream parser: the Char production,
 * Name/NameStart characters, and whitespace. ASCII goes through a lookup table; the rest through
 * range checks that are only reached for non-ASCII input.
 */

/** Characters outside XML 1.0's Char production, for text that came out of the UTF-8 decoder
 *  (which never yields lone surrogates). */
const INVALID_DECODED = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;
/** The same for strings handed to the parser directly, which may hold lone surrogates. */
const INVALID_STRING =
  /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Index of the first character not allowed in XML 1.0, or -1. */
export function findInvalidChar(s: string, mayHaveLoneSurrogates: boolean): number {
  return s.search(mayHaveLoneSurrogates ? INVALID_STRING : INVALID_DECODED);
}

/** Whether a code point (from a character reference) matches XML 1.0's Char production. */
export function isXmlChar(cp: number): boolean {
  if (cp < 0x20) return cp === 0x9 || cp === 0xa || cp === 0xd;
  if (cp <= 0xd7ff) return true;
  if (cp < 0xe000) return false;
  if (cp <= 0xfffd) return true;
  return cp >= 0x10000 && cp <= 0x10ffff;
}

export const NAME_START = 1;
export const NAME_CHAR = 2;

/** For ASCII code units: NAME_START | NAME_CHAR for NameStartChar, NAME_CHAR only for the rest of NameChar. */
export const ASCII_NAME = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const letter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  if (letter || c === 0x3a /* : */ || c === 0x5f /* _ */) ASCII_NAME[c] = NAME_START | NAME_CHAR;
  else if ((c >= 0x30 && c <= 0x39) || c === 0x2d /* - */ || c === 0x2e /* . */) ASCII_NAME[c] = NAME_CHAR;
}

/**
 * NameStartChar for a non-ASCII UTF-16 code unit. Supplementary characters U+10000–U+EFFFF are
 * accepted by their high surrogate here and their low surrogate as a NameChar (input has already
 * been checked for lone surrogates).
 */
export function isNonAsciiNameStart(c: number): boolean {
  return (
    (c >= 0xc0 && c <= 0xd6) ||
    (c >= 0xd8 && c <= 0xf6) ||
    (c >= 0xf8 && c <= 0x2ff) ||
    (c >= 0x370 && c <= 0x37d) ||
    (c >= 0x37f && c <= 0x1fff) ||
    c === 0x200c ||
    c === 0x200d ||
    (c >= 0x2070 && c <= 0x218f) ||
    (c >= 0x2c00 && c <= 0x2fef) ||
    (c >= 0x3001 && c <= 0xd7ff) ||
    (c >= 0xd800 && c <= 0xdb7f) || // high surrogates of U+10000..U+EFFFF
    (c >= 0xf900 && c <= 0xfdcf) ||
    (c >= 0xfdf0 && c <= 0xfffd)
  );
}

/** NameChar for a non-ASCII UTF-16 code unit. */
export function isNonAsciiNameChar(c: number): boolean {
  return (
    c === 0xb7 ||
    (c >= 0x300 && c <= 0x36f) ||
    c === 0x203f ||
    c === 0x2040 ||
    (c >= 0xdc00 && c <= 0xdfff) || // low surrogate completing a pair begun by a name character
    isNonAsciiNameStart(c)
  );
}

/** XML's S production: space, tab, CR, LF. */
export function isXmlSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
}

/**
 * Reuses string constants for the names XMPP uses all the time, so the parser neither allocates
 * them nor pays for turning a fresh string into a property key (V8 internalizes keys by hashing
 * them and looking them up). A miss just costs one comparison.
 */
export class NameCache {
  private readonly slots: (string | undefined)[] = new Array<string | undefined>(256).fill(undefined);

  constructor(names: readonly string[]) {
    for (const n of names) {
      const i = NameCache.slot(n.length, n.charCodeAt(0), n.charCodeAt(n.length - 1));
      if (this.slots[i] === undefined) this.slots[i] = n;
    }
  }

  private static slot(len: number, first: number, last: number): number {
    return (len * 7 + first * 3 + last) & 255;
  }

  /** The name s[start, end) (non-empty), from the cache when it is there. */
  get(s: string, start: number, end: number): string {
    const len = end - start;
    const cand = this.slots[NameCache.slot(len, s.charCodeAt(start), s.charCodeAt(end - 1))];
    if (cand !== undefined && cand.length === len && s.startsWith(cand, start)) return cand;
    return s.slice(start, end);
  }
}

export const ATTRIBUTE_NAMES = new NameCache([
  'to', 'from', 'id', 'type', 'xmlns', 'xml:lang', 'version', 'xmlns:stream', 'jid', 'name', 'subscription',
  'ask', 'approved', 'node', 'ver', 'hash', 'stamp', 'by', 'queryid', 'code', 'var', 'label', 'category',
  'action', 'affiliation', 'role', 'nick', 'mechanism', 'ext', 'sid', 'rid', 'seq', 'h', 'resume', 'max',
  'location', 'previd', 'stanza-id', 'thread', 'parent', 'with', 'start', 'end', 'after', 'before', 'xmlns:xml',
]);

export const ELEMENT_NAMES = new NameCache([
  'message', 'presence', 'iq', 'body', 'subject', 'thread', 'show', 'status', 'priority', 'error', 'text',
  'query', 'item', 'group', 'c', 'x', 'delay', 'result', 'forwarded', 'fin', 'set', 'first', 'last', 'count',
  'stanza-id', 'origin-id', 'active', 'inactive', 'composing', 'paused', 'gone', 'markable', 'received',
  'displayed', 'acknowledged', 'request', 'store', 'no-store', 'no-permanent-store', 'enable', 'enabled', 'r',
  'a', 'bind', 'resource', 'session', 'auth', 'success', 'failure', 'challenge', 'response', 'starttls',
  'proceed', 'features', 'stream', 'mechanisms', 'mechanism', 'pubsub', 'items', 'publish', 'event', 'ping',
  'identity', 'feature', 'value', 'field', 'reference', 'data', 'sent', 'private', 'encrypted', 'header',
  'payload', 'key', 'keys', 'open', 'close', 'sm', 'resumed',
]);
