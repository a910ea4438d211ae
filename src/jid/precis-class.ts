// PRECIS string classes (RFC 8264): the derived property of each code point, computed from
// Unicode properties with `\p{…}` regular expressions, plus the contextual rules (RFC 5892
// Appendix A) that CONTEXTJ and CONTEXTO code points must satisfy.
//
// The Unicode version is the one of Node's ICU, so the "Unassigned" category follows Node.

import { VIRAMAS, joiningType } from './unicode-tables.js';

/** IdentifierClass (usernames, JID localparts) or FreeformClass (passwords, JID resourceparts). */
export type StringClass = 'identifier' | 'freeform';

type DerivedProperty = 'PVALID' | 'CONTEXTJ' | 'CONTEXTO' | 'DISALLOWED' | 'UNASSIGNED';

/** The result of checking a whole string against a class. */
export type ClassCheck = 'ok' | 'disallowed' | 'context';

// RFC 5892 §2.6 "Exceptions" (category F of RFC 8264 §9.6): fixed values that override
// everything the general categories would say.
const EXCEPTIONS: ReadonlyMap<number, DerivedProperty> = new Map<number, DerivedProperty>([
  // PVALID: letters that the generic rules would get wrong.
  [0x00df, 'PVALID'], // ß LATIN SMALL LETTER SHARP S
  [0x03c2, 'PVALID'], // ς GREEK SMALL LETTER FINAL SIGMA
  [0x06fd, 'PVALID'], // ARABIC SIGN SINDHI AMPERSAND
  [0x06fe, 'PVALID'], // ARABIC SIGN SINDHI POSTPOSITION MEN
  [0x0f0b, 'PVALID'], // TIBETAN MARK INTERSYLLABIC TSHEG
  [0x3007, 'PVALID'], // IDEOGRAPHIC NUMBER ZERO
  // CONTEXTO: allowed only where their rule (see contextOk) holds.
  [0x00b7, 'CONTEXTO'], // MIDDLE DOT
  [0x0375, 'CONTEXTO'], // GREEK LOWER NUMERAL SIGN (KERAIA)
  [0x05f3, 'CONTEXTO'], // HEBREW PUNCTUATION GERESH
  [0x05f4, 'CONTEXTO'], // HEBREW PUNCTUATION GERSHAYIM
  [0x30fb, 'CONTEXTO'], // KATAKANA MIDDLE DOT
  ...range(0x0660, 0x0669, 'CONTEXTO' as const), // ARABIC-INDIC DIGITS
  ...range(0x06f0, 0x06f9, 'CONTEXTO' as const), // EXTENDED ARABIC-INDIC DIGITS
  // DISALLOWED: letters/marks that are really formatting or historic.
  [0x0640, 'DISALLOWED'], // ARABIC TATWEEL
  [0x07fa, 'DISALLOWED'], // NKO LAJANYALAN
  [0x302e, 'DISALLOWED'], // HANGUL SINGLE DOT TONE MARK
  [0x302f, 'DISALLOWED'], // HANGUL DOUBLE DOT TONE MARK
  ...range(0x3031, 0x3035, 'DISALLOWED' as const), // VERTICAL KANA REPEAT MARKS
  [0x303b, 'DISALLOWED'], // VERTICAL IDEOGRAPHIC ITERATION MARK
]);

function range<T>(first: number, last: number, value: T): Array<[number, T]> {
  const out: Array<[number, T]> = [];
  for (let cp = first; cp <= last; cp++) out.push([cp, value]);
  return out;
}

// Each regex below is tested against a string holding exactly one code point, so no anchors.
const UNASSIGNED = /\p{Cn}/u;
const NONCHARACTER = /\p{Noncharacter_Code_Point}/u;
// Hangul_Syllable_Type L, V or T (conjoining jamo); JS has no \p{} for that property. The whole
// blocks are listed: their unassigned code points were already classified as UNASSIGNED.
const OLD_HANGUL_JAMO = /[\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff]/u;
const IGNORABLE = /[\p{Default_Ignorable_Code_Point}\p{Noncharacter_Code_Point}]/u;
const CONTROL = /\p{Cc}/u;
const LETTER_DIGIT = /[\p{Ll}\p{Lu}\p{Lo}\p{Nd}\p{Lm}\p{Mn}\p{Mc}]/u;
// OtherLetterDigits, Spaces, Symbols and Punctuation: PVALID in FreeformClass only.
const FREEFORM_ONLY = /[\p{Lt}\p{Nl}\p{No}\p{Me}\p{Zs}\p{Sm}\p{Sc}\p{Sk}\p{So}\p{P}]/u;

/**
 * The derived property of one code point in a class: the algorithm of RFC 8264 §8, step by step
 * (the empty BackwardCompatible set is skipped).
 */
function derivedProperty(cp: number, char: string, cls: StringClass): DerivedProperty {
  const exception = EXCEPTIONS.get(cp);
  if (exception !== undefined) return exception;
  if (UNASSIGNED.test(char) && !NONCHARACTER.test(char)) return 'UNASSIGNED';
  if (cp >= 0x21 && cp <= 0x7e) return 'PVALID'; // ASCII7
  if (cp === 0x200c || cp === 0x200d) return 'CONTEXTJ'; // JoinControl
  if (OLD_HANGUL_JAMO.test(char)) return 'DISALLOWED';
  if (IGNORABLE.test(char)) return 'DISALLOWED';
  if (CONTROL.test(char)) return 'DISALLOWED';
  const freeformValid: DerivedProperty = cls === 'freeform' ? 'PVALID' : 'DISALLOWED';
  // HasCompat: toNFKC(cp) != cp. Comes before LetterDigits on purpose: a fullwidth 'Ａ' is a
  // letter, yet IdentifierClass must refuse it (the profiles map it away first).
  if (char.normalize('NFKC') !== char) return freeformValid;
  if (LETTER_DIGIT.test(char)) return 'PVALID';
  if (FREEFORM_ONLY.test(char)) return freeformValid;
  // What is left: surrogates, private use, line/paragraph separators, non-ignorable format chars.
  return 'DISALLOWED';
}

const GREEK = /\p{Script=Greek}/u;
const HEBREW = /\p{Script=Hebrew}/u;
const HAN_OR_KANA = /[\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Han}]/u;
// Joining_Type T (transparent) defaults to exactly these general categories (ArabicShaping.txt).
const TRANSPARENT = /[\p{Mn}\p{Me}\p{Cf}]/u;

function charAt(cps: readonly number[], i: number): string {
  const cp = cps[i];
  return cp === undefined ? '' : String.fromCodePoint(cp);
}

function isTransparent(cp: number): boolean {
  // ZWNJ/ZWJ are Cf but have their own Joining_Type (U and C); they never count as transparent.
  return cp !== 0x200c && cp !== 0x200d && TRANSPARENT.test(String.fromCodePoint(cp));
}

/**
 * ZWNJ is allowed after a virama, or between two letters that would otherwise join:
 * (Joining_Type:{L,D})(Joining_Type:T)* ZWNJ (Joining_Type:T)*(Joining_Type:{R,D}).
 */
function zwnjOk(cps: readonly number[], i: number): boolean {
  const before = cps[i - 1];
  if (before !== undefined && VIRAMAS.has(before)) return true;
  let left = i - 1;
  while (left >= 0 && isTransparent(cps[left]!)) left--; // index checked by the loop condition
  let right = i + 1;
  while (right < cps.length && isTransparent(cps[right]!)) right++;
  const leftCp = cps[left];
  const rightCp = cps[right];
  if (leftCp === undefined || rightCp === undefined) return false;
  const leftType = joiningType(leftCp);
  const rightType = joiningType(rightCp);
  return (leftType === 'L' || leftType === 'D') && (rightType === 'R' || rightType === 'D');
}

/** Facts about the whole string that some rules need, computed once (not per code point). */
interface StringFacts {
  readonly hasHanOrKana: boolean;
  readonly hasArabicIndicDigit: boolean;
  readonly hasExtendedArabicIndicDigit: boolean;
}

function stringFacts(cps: readonly number[]): StringFacts {
  return {
    hasHanOrKana: cps.some((c) => HAN_OR_KANA.test(String.fromCodePoint(c))),
    hasArabicIndicDigit: cps.some((c) => c >= 0x0660 && c <= 0x0669),
    hasExtendedArabicIndicDigit: cps.some((c) => c >= 0x06f0 && c <= 0x06f9),
  };
}

/** RFC 5892 Appendix A: whether the CONTEXTJ/CONTEXTO code point at index i may stand there. */
function contextOk(cps: readonly number[], i: number, facts: StringFacts): boolean {
  const cp = cps[i]!; // callers pass a valid index
  switch (cp) {
    case 0x200c:
      return zwnjOk(cps, i);
    case 0x200d: {
      const before = cps[i - 1];
      return before !== undefined && VIRAMAS.has(before);
    }
    case 0x00b7: // only inside Catalan "l·l"
      return cps[i - 1] === 0x6c && cps[i + 1] === 0x6c;
    case 0x0375:
      return GREEK.test(charAt(cps, i + 1));
    case 0x05f3:
    case 0x05f4:
      return HEBREW.test(charAt(cps, i - 1));
    case 0x30fb: // needs some Japanese/Chinese text in the same string
      return facts.hasHanOrKana;
    default:
      // The two sets of Arabic-Indic digits must not be mixed.
      if (cp >= 0x0660 && cp <= 0x0669) return !facts.hasExtendedArabicIndicDigit;
      if (cp >= 0x06f0 && cp <= 0x06f9) return !facts.hasArabicIndicDigit;
      return false;
  }
}

/** Checks every code point of `s` against the class, contextual rules included. */
export function checkStringClass(s: string, cls: StringClass): ClassCheck {
  const cps = Array.from(s, (c) => c.codePointAt(0)!); // every element of Array.from is non-empty
  const contextual: number[] = [];
  for (let i = 0; i < cps.length; i++) {
    const cp = cps[i]!; // i < length
    const property = derivedProperty(cp, String.fromCodePoint(cp), cls);
    if (property === 'DISALLOWED' || property === 'UNASSIGNED') return 'disallowed';
    if (property !== 'PVALID') contextual.push(i);
  }
  if (contextual.length === 0) return 'ok';
  // Context rules look at neighbours, so they run once the whole string is known to be valid.
  const facts = stringFacts(cps);
  return contextual.every((i) => contextOk(cps, i, facts)) ? 'ok' : 'context';
}
