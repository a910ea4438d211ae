// Size limits shared by the three JID parts (RFC 7622 §3.2–3.4).

import { Buffer } from 'node:buffer';

/** Each part of a JID is at most this many octets of UTF-8 (RFC 7622 §3.2–3.4). */
export const MAX_PART_BYTES = 1023;

/**
 * Input longer than this many UTF-16 code units is refused before any Unicode work, so a huge
 * string costs no normalisation. Mapping can shrink text (NFC composes; a letter and three
 * combining marks can become one code point of three bytes), so the bound stays well above
 * 1023 to never refuse input that would prepare to a valid part.
 */
export const MAX_INPUT_UNITS = 4 * MAX_PART_BYTES;

export function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
