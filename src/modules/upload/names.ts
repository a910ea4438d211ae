/**
 * What a slot request names, checked: the file name (only ever part of a URL; files on disk are
 * named by their random id, so a name can never choose a path), the content type, and how a
 * downloaded file is presented (Content-Disposition). Pure functions, unit-tested.
 */

/** Longest file name accepted, in UTF-8 bytes (most file systems' limit, kept for the client's sake). */
export const MAX_NAME_BYTES = 255;

/**
 * Characters a file name may not hold: path separators, control characters (C0, DEL, C1) and the
 * bidirectional overrides and isolates that make "photo\u202Egpj.exe" display as "photoexe.jpg".
 */
const FORBIDDEN = /[/\\\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/** The file name to use (NFC, trimmed), or why it is refused. */
export function checkFilename(raw: string | undefined): { ok: true; name: string } | { ok: false; why: string } {
  if (raw === undefined) return { ok: false, why: 'the request names no file' };
  const name = raw.normalize('NFC').trim();
  if (name === '') return { ok: false, why: 'the file name is empty' };
  if (name === '.' || name === '..') return { ok: false, why: 'the file name is not a name' };
  if (FORBIDDEN.test(name)) return { ok: false, why: 'the file name holds a path separator or a control character' };
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) return { ok: false, why: `the file name is longer than ${MAX_NAME_BYTES} bytes` };
  return { ok: true, name };
}

/** A size attribute: digits only, a positive safe integer. */
export function parseSize(raw: string | undefined): number | undefined {
  if (raw === undefined || !/^[0-9]{1,16}$/.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

const TOKEN = "[a-z0-9!#$%&'*+.^_`|~-]+";
const MEDIA_TYPE = new RegExp(`^(${TOKEN})/(${TOKEN})((?:\\s*;\\s*${TOKEN}=(?:${TOKEN}|"[^"\\\\\\r\\n]*"))*)\\s*$`, 'i');

/**
 * A content type in one canonical form (type/subtype lower-cased, parameters as `; name=value`
 * with lower-cased names), so the slot's and the PUT's compare equal when they mean the same;
 * undefined when it is not a media type (RFC 9110 §8.3.1) or absurdly long.
 */
export function normaliseContentType(raw: string): string | undefined {
  if (raw.length > 255) return undefined;
  const m = MEDIA_TYPE.exec(raw.trim());
  if (!m) return undefined;
  const params = (m[3] ?? '')
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      return `${p.slice(0, eq).toLowerCase()}=${p.slice(eq + 1)}`;
    });
  return [`${(m[1] ?? '').toLowerCase()}/${(m[2] ?? '').toLowerCase()}`, ...params].join('; ');
}

/** The type/subtype of a normalised content type. */
export function mediaType(contentType: string): string {
  return contentType.split(';')[0] ?? contentType;
}

/** Whether `contentType` matches one of the patterns ("image/*", "application/pdf"); an empty list allows all. */
export function typeAllowed(contentType: string, patterns: readonly string[]): boolean {
  if (patterns.length === 0) return true;
  const [type, sub] = mediaType(contentType).split('/');
  return patterns.some((p) => {
    const [pt, ps] = p.toLowerCase().split('/');
    return (pt === '*' || pt === type) && (ps === '*' || ps === sub);
  });
}

/**
 * Shown in the browser (inline) or downloaded (attachment): pictures, sound and video inline,
 * everything else — HTML, SVG (it can hold script), PDF, text, programs — as a download. The
 * response's CSP sandbox stops script either way; this keeps a link from opening a page at all.
 */
export function dispositionType(contentType: string): 'inline' | 'attachment' {
  const type = mediaType(contentType);
  if (type === 'image/svg+xml' || type.endsWith('+xml')) return 'attachment';
  return /^(image|audio|video)\//.test(type) ? 'inline' : 'attachment';
}

/**
 * `Content-Disposition` with the name in both forms: an ASCII fallback in `filename` (quotes and
 * backslashes replaced) and the exact name in `filename*` (RFC 6266, RFC 8187 UTF-8 encoding).
 */
export function contentDisposition(kind: 'inline' | 'attachment', name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
