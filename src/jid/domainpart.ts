// Domainpart preparation (RFC 7622 §3.2): an IP literal, or a host name in IDNA form.
//
// Internationalised names go through UTS #46 as implemented by node:url's domainToASCII /
// domainToUnicode. Those are the WHATWG URL host parser, which is more lenient than a JID
// allows (it percent-decodes, cuts at '/', reads "0x7f.1" as an IPv4 address), so the raw input
// is screened first and the ASCII result is checked label by label afterwards. The stored form
// is lower-case Unicode (U-labels): "xn--mnchen-3ya.example" and "münchen.example" prepare to
// the same domain.

import { isIPv4, isIPv6 } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';
import { JidError } from './errors.js';
import { MAX_INPUT_UNITS, MAX_PART_BYTES, utf8Length } from './limits.js';

const MAX_LABEL_BYTES = 63;

// Letters, digits, hyphen (LDH) and underscore: what a label may hold in ASCII form, with no
// hyphen at either end. Underscore is not a host-name character but appears in real
// deployments' service names, and UTS #46 without STD3 rules allows it too.
const ASCII_LABEL = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/;
// A whole host name of such labels, each 1..63 characters: the fast path's single test.
const ASCII_HOST = /^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const NUMERIC_LABEL = /^[0-9]+$/;
// ASCII outside LDH, underscore and dot. Refused before the URL host parser can interpret it
// ('%' decoding, '/', '?', '#' and '@' cutting the host short, '[' for IPv6, …).
const BAD_ASCII = /[\x00-\x2c\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]/;
// The label separators UTS #46 recognises: full stop, ideographic, fullwidth, halfwidth ideographic.
const DOTS: ReadonlySet<number> = new Set([0x2e, 0x3002, 0xff0e, 0xff61]);

function checkLabels(ascii: string): void {
  for (const label of ascii.split('.')) {
    if (label === '') throw new JidError('empty-domain-label');
    if (label.length > MAX_LABEL_BYTES) throw new JidError('domain-label-too-long');
    if (!ASCII_LABEL.test(label)) throw new JidError('invalid-domain', 'label');
  }
}

/**
 * A name whose last label is all digits would be read as (part of) an IPv4 address by resolvers
 * and URL parsers; only a real dotted-quad address may look like that.
 */
function checkNotNumeric(ascii: string): void {
  const lastLabel = ascii.slice(ascii.lastIndexOf('.') + 1);
  if (NUMERIC_LABEL.test(lastLabel)) throw new JidError('invalid-domain', 'numeric top-level label');
}

function checkLength(s: string): void {
  if (utf8Length(s) > MAX_PART_BYTES) throw new JidError('domain-too-long');
}

/** "[IPv6]" literal (RFC 3986 IP-literal without IPvFuture), stored in RFC 5952 canonical form. */
function prepareIpLiteral(s: string): string {
  const inner = s.slice(1, -1);
  // isIPv6 accepts a "%zone" suffix; a zone only means something on the local host.
  if (!s.endsWith(']') || inner.includes('%') || !isIPv6(inner)) throw new JidError('invalid-ip-literal');
  // The WHATWG URL serialiser compresses and lower-cases, so "[0:0::1]" and "[::1]" are one domain.
  return new URL(`http://[${inner}]/`).hostname;
}

function prepareInternationalName(s: string): string {
  if (BAD_ASCII.test(s)) throw new JidError('invalid-domain');
  const ascii = domainToASCII(s);
  if (ascii === '') throw new JidError('invalid-domain');
  checkLabels(ascii); // also catches a second trailing dot, e.g. from "a.。"
  checkNotNumeric(ascii);
  const unicode = domainToUnicode(ascii);
  // A bogus A-label ("xn--abc-") decodes to something that encodes differently: refuse it.
  if (unicode === '' || domainToASCII(unicode) !== ascii) throw new JidError('invalid-domain', 'A-label');
  checkLength(ascii);
  checkLength(unicode);
  return unicode;
}

/** Prepares a domainpart (RFC 7622 §3.2); throws JidError. */
export function prepareDomain(s: string): string {
  if (s === '') throw new JidError('empty-domain');
  if (s.length > MAX_INPUT_UNITS) throw new JidError('domain-too-long');
  if (s.startsWith('[')) return prepareIpLiteral(s);
  // One final dot is the DNS root and not part of the name (RFC 7622 §3.2).
  const name = DOTS.has(s.charCodeAt(s.length - 1)) ? s.slice(0, -1) : s;
  if (name === '') throw new JidError('empty-domain');
  // Fast path: a plain ASCII host name without A-labels needs only lower-casing. (Any "xn--",
  // even mid-label, takes the full path, which handles it correctly.)
  const lower = name.toLowerCase();
  if (ASCII_HOST.test(lower) && !lower.includes('xn--')) {
    if (NUMERIC_LABEL.test(lower.slice(lower.lastIndexOf('.') + 1))) {
      if (isIPv4(lower)) return lower; // strict dotted quad: no leading zeros, no shorthand
      throw new JidError('invalid-domain', 'numeric top-level label');
    }
    if (lower.length > MAX_PART_BYTES) throw new JidError('domain-too-long');
    return lower;
  }
  // Everything else, including ASCII that failed the test above (for a precise error).
  return prepareInternationalName(name);
}
