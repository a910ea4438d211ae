// The "Bidi Rule" of RFC 5893 §2, as UsernameCaseMapped requires it for localparts (RFC 8265
// §3.4.4). It only concerns strings holding right-to-left characters; anything else passes.
//
// JavaScript regular expressions have no Bidi_Class property, so bidiClass() derives it. The
// function is only ever asked about code points that already passed IdentifierClass (letters,
// digits, combining marks, printable ASCII and the few CONTEXTJ/CONTEXTO characters), and for
// those the class follows from the general category plus the block: Unicode assigns R or AL to
// whole blocks of right-to-left scripts (the @missing defaults of DerivedBidiClass.txt) and
// their letters keep that default.

export type BidiClass = 'L' | 'R' | 'AL' | 'AN' | 'EN' | 'ES' | 'CS' | 'ET' | 'ON' | 'BN' | 'NSM' | 'other';

type Block = readonly [first: number, last: number, cls: 'R' | 'AL'];

// Right-to-left block defaults, from the header of DerivedBidiClass.txt (sorted).
const RTL_BLOCKS: readonly Block[] = [
  [0x0590, 0x05ff, 'R'], // Hebrew
  [0x0600, 0x07bf, 'AL'], // Arabic, Syriac, Arabic Supplement, Thaana
  [0x07c0, 0x085f, 'R'], // NKo, Samaritan, Mandaic
  [0x0860, 0x08ff, 'AL'], // Syriac Supplement, Arabic Extended-B/-A
  [0xfb1d, 0xfb4f, 'R'], // Hebrew presentation forms
  [0xfb50, 0xfdcf, 'AL'], // Arabic Presentation Forms-A
  [0xfdf0, 0xfdff, 'AL'],
  [0xfe70, 0xfeff, 'AL'], // Arabic Presentation Forms-B
  [0x10800, 0x10cff, 'R'], // Cypriot … Old Hungarian
  [0x10d00, 0x10d3f, 'AL'], // Hanifi Rohingya
  [0x10d40, 0x10ebf, 'R'], // Garay, Rumi, Yezidi, …
  [0x10ec0, 0x10eff, 'AL'], // Arabic Extended-C
  [0x10f00, 0x10f2f, 'R'], // Old Sogdian
  [0x10f30, 0x10f6f, 'AL'], // Sogdian
  [0x10f70, 0x10fff, 'R'], // Old Uyghur, Chorasmian, Elymaic
  [0x1e800, 0x1ec6f, 'R'], // Mende Kikakui, Adlam, …
  [0x1ec70, 0x1ecbf, 'AL'], // Indic Siyaq Numbers
  [0x1ecc0, 0x1ecff, 'R'],
  [0x1ed00, 0x1ed4f, 'AL'], // Ottoman Siyaq Numbers
  [0x1ed50, 0x1edff, 'R'],
  [0x1ee00, 0x1eeff, 'AL'], // Arabic Mathematical Alphabetic Symbols
  [0x1ef00, 0x1efff, 'R'],
];

function rtlBlock(cp: number): 'R' | 'AL' | undefined {
  if (cp < 0x0590) return undefined; // the common case: Latin, Greek, Cyrillic, …
  for (const [first, last, cls] of RTL_BLOCKS) {
    if (cp < first) return undefined;
    if (cp <= last) return cls;
  }
  return undefined;
}

const NON_SPACING = /[\p{Mn}\p{Me}]/u;
const FORMAT = /\p{Cf}/u;
// Letters whose Bidi_Class is ON (mostly modifier letters such as U+02B9 MODIFIER LETTER PRIME).
const NEUTRAL_LETTER = /[\u02b9\u02ba\u02c2-\u02cf\u02d2-\u02df\u02e5-\u02ed\u02ef-\u02ff\u2e2f\ua67f\ua717-\ua71f\ua788]/u;
// Marks that break the general-category pattern (checked against Unicode 14 data).
const LEFT_TO_RIGHT_MARKS: ReadonlySet<number> = new Set([0x0cbf, 0x0cc6, 0x11a07, 0x11a08, 0x11c3f]);
const NON_SPACING_SPACING_MARKS: ReadonlySet<number> = new Set([0x1171e]);

function asciiBidiClass(cp: number): BidiClass {
  if (cp >= 0x30 && cp <= 0x39) return 'EN';
  if ((cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a)) return 'L';
  if (cp === 0x2b || cp === 0x2d) return 'ES'; // + -
  if (cp === 0x2c || cp === 0x2e || cp === 0x2f || cp === 0x3a) return 'CS'; // , . / :
  if (cp >= 0x23 && cp <= 0x25) return 'ET'; // # $ %
  if (cp > 0x20 && cp < 0x7f) return 'ON';
  return 'other'; // controls and space: never inside an identifier
}

/** Bidi_Class of a code point that passed IdentifierClass (see the file comment). */
export function bidiClass(cp: number): BidiClass {
  if (cp < 0x80) return asciiBidiClass(cp);
  const char = String.fromCodePoint(cp);
  if (LEFT_TO_RIGHT_MARKS.has(cp)) return 'L';
  if (NON_SPACING.test(char) || NON_SPACING_SPACING_MARKS.has(cp)) return 'NSM';
  if (FORMAT.test(char)) return 'BN'; // ZWJ / ZWNJ
  if (cp >= 0x0660 && cp <= 0x0669) return 'AN'; // Arabic-Indic digits
  if (cp >= 0x10d30 && cp <= 0x10d39) return 'AN'; // Hanifi Rohingya digits
  if (cp >= 0x10d40 && cp <= 0x10d49) return 'AN'; // Garay digits
  if (cp >= 0x06f0 && cp <= 0x06f9) return 'EN'; // Extended Arabic-Indic digits
  if (cp === 0x00b7 || cp === 0x0375 || cp === 0x30fb) return 'ON'; // the CONTEXTO punctuation
  if (NEUTRAL_LETTER.test(char)) return 'ON';
  return rtlBlock(cp) ?? 'L';
}

const RTL_ALLOWED: ReadonlySet<BidiClass> = new Set(['R', 'AL', 'AN', 'EN', 'ES', 'CS', 'ET', 'ON', 'BN', 'NSM']);

/** RFC 5893 §2 rules 1–4 for a string that contains an R, AL or AN character. */
export function satisfiesBidiRule(s: string): boolean {
  const classes = Array.from(s, (c) => bidiClass(c.codePointAt(0)!)); // elements are non-empty
  if (!classes.some((c) => c === 'R' || c === 'AL' || c === 'AN')) return true; // not RTL
  // Rule 1: an RTL string must start with R or AL (a leading L would make it an LTR string,
  // and rule 5 forbids R, AL and AN in those).
  if (classes[0] !== 'R' && classes[0] !== 'AL') return false;
  // Rule 2: only these classes.
  if (!classes.every((c) => RTL_ALLOWED.has(c))) return false;
  // Rule 3: the last character that is not NSM must be R, AL, EN or AN.
  let last = classes.length - 1;
  while (last > 0 && classes[last] === 'NSM') last--;
  const end = classes[last];
  if (end !== 'R' && end !== 'AL' && end !== 'EN' && end !== 'AN') return false;
  // Rule 4: European and Arabic-Indic digits must not be mixed.
  return !(classes.includes('EN') && classes.includes('AN'));
}
