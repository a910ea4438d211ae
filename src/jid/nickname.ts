// The PRECIS Nickname profile (RFC 8266), for chat room nicknames (XEP-0045 asks services to
// apply it). Enforcement keeps case (a nickname is shown as its owner typed it); comparison
// also lower-cases, so "Romeo" and "romeo" are the same nickname in a room.

import { MAX_PART_BYTES, utf8Length } from './limits.js';
import { checkStringClass } from './precis-class.js';
import type { PrecisResult } from './precis.js';

// Zs other than U+0020 itself: RFC 8266 §2.1 step 2 maps them to U+0020.
const NON_ASCII_SPACE = /[^\P{Zs} ]/gu;
const MAX_PASSES = 4;

/** §2.1 additional mapping and NFKC: spaces mapped, trimmed and collapsed; applied until stable (RFC 8264 §7). */
function mapNickname(s: string): string {
  return s.replace(NON_ASCII_SPACE, ' ').trim().replace(/ {2,}/g, ' ').normalize('NFKC');
}

function untilStable(s: string, map: (s: string) => string): string | undefined {
  let current = s;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const next = map(current);
    if (next === current) return current;
    current = next;
  }
  return undefined;
}

/** RFC 8266 §2.3 enforcement: the nickname as stored and shown, or why it is refused. */
export function enforceNickname(s: string): PrecisResult {
  const value = untilStable(s, mapNickname);
  if (value === undefined) return { ok: false, problem: 'disallowed' };
  if (value === '') return { ok: false, problem: 'empty' };
  if (utf8Length(value) > MAX_PART_BYTES) return { ok: false, problem: 'too-long' };
  const check = checkStringClass(value, 'freeform');
  if (check !== 'ok') return { ok: false, problem: check };
  return { ok: true, value };
}

/** RFC 8266 §2.4 comparison: the enforced form lower-cased (and normalised again). Undefined when not a valid nickname. */
export function nicknameComparisonKey(s: string): string | undefined {
  const enforced = enforceNickname(s);
  if (!enforced.ok) return undefined;
  return untilStable(enforced.value, (v) => v.toLowerCase().normalize('NFKC'));
}
