// The two PRECIS profiles JIDs use (RFC 8265), as "enforcement" (RFC 8264 §7): map the input to
// its canonical form, then check it against the profile's string class. No library: Node's
// String.prototype.normalize, toLowerCase and Unicode property escapes are all it takes.
// Results longer than a JID part (1023 octets) are refused here already.

import { satisfiesBidiRule } from './bidi.js';
import { MAX_PART_BYTES, utf8Length } from './limits.js';
import { checkStringClass } from './precis-class.js';

export type PrecisProblem = 'empty' | 'too-long' | 'disallowed' | 'context' | 'bidi';
export type PrecisResult = { ok: true; value: string } | { ok: false; problem: PrecisProblem };

/**
 * Checks shared by both profiles once mapping is done. The length limit comes before the
 * per-code-point class check so that an oversized string costs only the (linear, native)
 * mapping, never the slower checks.
 */
function checkMapped(value: string | undefined): PrecisResult {
  if (value === undefined) return { ok: false, problem: 'disallowed' }; // never settled
  if (value === '') return { ok: false, problem: 'empty' };
  if (utf8Length(value) > MAX_PART_BYTES) return { ok: false, problem: 'too-long' };
  return { ok: true, value };
}

// Some mappings feed each other (a width-mapped character may then lower-case, and NFC may
// compose what the previous steps produced), so the rules are applied until the output stops
// changing. Real input settles after one or two passes; a string that keeps changing is refused.
const MAX_PASSES = 4;

function untilStable(s: string, map: (s: string) => string): string | undefined {
  let current = s;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const next = map(current);
    if (next === current) return current;
    current = next;
  }
  return undefined;
}

// Fullwidth and halfwidth characters: the <wide>/<narrow> decomposition types exist only in the
// Halfwidth and Fullwidth Forms block and at U+3000 IDEOGRAPHIC SPACE. For them NFKC gives the
// decomposition mapping, except where that mapping is itself a compatibility character, which
// IdentifierClass refuses either way.
const WIDTH_VARIANT = /[\u3000\uff00-\uffef]/gu;

function widthMap(s: string): string {
  return s.replace(WIDTH_VARIANT, (c) => c.normalize('NFKC'));
}

// Unicode's toLowerCase maps U+03A3 GREEK CAPITAL SIGMA to final sigma 'ς' at the end of a word
// and to 'σ' elsewhere; JavaScript follows that. A username must not change identity with its
// neighbours, so Σ is always mapped to σ first (as other PRECIS implementations do); 'ς' typed
// as such stays a distinct, valid letter (RFC 7622 §3.5 examples 10 and 11).
function lowerCase(s: string): string {
  return s.replace(/\u03a3/g, '\u03c3').toLowerCase();
}

function mapUsernameCaseMapped(s: string): string {
  return lowerCase(widthMap(s)).normalize('NFC');
}

/** UsernameCaseMapped profile (RFC 8265 §3.4.2): width map, lower-case, NFC, IdentifierClass, bidi. */
export function enforceUsernameCaseMapped(s: string): PrecisResult {
  const mapped = checkMapped(untilStable(s, mapUsernameCaseMapped));
  if (!mapped.ok) return mapped;
  const check = checkStringClass(mapped.value, 'identifier');
  if (check !== 'ok') return { ok: false, problem: check };
  if (!satisfiesBidiRule(mapped.value)) return { ok: false, problem: 'bidi' };
  return mapped;
}

// Zs minus U+0020 itself.
const NON_ASCII_SPACE = /[^\P{Zs} ]/gu;

function mapOpaqueString(s: string): string {
  return s.replace(NON_ASCII_SPACE, ' ').normalize('NFC');
}

/**
 * OpaqueString profile (RFC 8265 §4.2.2): non-ASCII spaces to U+0020, NFC, FreeformClass. No case
 * or width mapping and no bidi rule: "Foo" and "foo" are different resources.
 */
export function enforceOpaqueString(s: string): PrecisResult {
  const mapped = checkMapped(untilStable(s, mapOpaqueString));
  if (!mapped.ok) return mapped;
  const check = checkStringClass(mapped.value, 'freeform');
  if (check !== 'ok') return { ok: false, problem: check };
  return mapped;
}
