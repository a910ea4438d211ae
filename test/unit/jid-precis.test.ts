// PRECIS details of localparts (UsernameCaseMapped) and resourceparts (OpaqueString).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JidError, prepareLocalpart, prepareResource, type JidErrorReason } from '../../src/jid/index.js';

function assertReason(fn: () => unknown, reason: JidErrorReason): void {
  assert.throws(fn, (err: unknown) => err instanceof JidError && err.reason === reason, `expected ${reason}`);
}

describe('prepareLocalpart (UsernameCaseMapped)', () => {
  it('lower-cases ASCII and keeps the allowed punctuation', () => {
    assert.equal(prepareLocalpart('Juliet.Capulet+Tag_1'), 'juliet.capulet+tag_1');
    assert.equal(prepareLocalpart('a!#$%()*,-.;=?[\\]^_`{|}~'), 'a!#$%()*,-.;=?[\\]^_`{|}~');
  });

  it('lower-cases beyond ASCII, with Σ always to σ', () => {
    assert.equal(prepareLocalpart('\u00c9LODIE'), '\u00e9lodie'); // ÉLODIE
    assert.equal(prepareLocalpart('\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3'), '\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c3');
    assert.equal(prepareLocalpart('\u0416\u0443\u043a'), '\u0436\u0443\u043a'); // Жук
  });

  it('normalises to NFC', () => {
    assert.equal(prepareLocalpart('e\u0301'), '\u00e9');
    assert.equal(prepareLocalpart('\u1100\u1161'), '\uac00', 'conjoining jamo compose to a syllable');
  });

  it('width-maps fullwidth and halfwidth characters', () => {
    assert.equal(prepareLocalpart('\uff41\uff42\uff43'), 'abc');
    assert.equal(prepareLocalpart('\uff76\uff9e'), '\u30ac', 'halfwidth katakana ｶﾞ becomes ガ');
  });

  it('accepts letters and digits of many scripts', () => {
    for (const s of ['\u5f20\u4e09', '\u3072\u3089\u304c\u306a', '\u0928\u092e\u0938\u094d\u0924\u0947', '\uac00\ub098', '\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35', '123', '\u0967\u0968']) {
      assert.equal(prepareLocalpart(s), s);
    }
  });

  it('rejects compatibility characters, symbols, spaces and controls', () => {
    for (const s of ['henry\u2163', '\u265a', 'a b', 'a\u00a0b', 'a\u0009b', '\u2460', 'x\u2122', 'fi\ufb01', '\u00bd', 'a\u2028b', '\u{1f600}']) {
      assertReason(() => prepareLocalpart(s), 'invalid-localpart-char');
    }
  });

  it('rejects unassigned, private-use, noncharacter, surrogate and ignorable code points', () => {
    for (const s of ['a\u0378', 'a\ue000', 'a\ufdd0', 'a\uffff', 'a\ud800', 'a\udc00b', 'a\u00ad', 'a\u200bb', 'a\u2060']) {
      assertReason(() => prepareLocalpart(s), 'invalid-localpart-char');
    }
  });

  it('rejects old Hangul jamo that do not compose, and the disallowed exceptions', () => {
    assertReason(() => prepareLocalpart('\u1100'), 'invalid-localpart-char');
    assertReason(() => prepareLocalpart('\u0628\u0640\u0628'), 'invalid-localpart-char'); // tatweel
    assertReason(() => prepareLocalpart('\u3031'), 'invalid-localpart-char');
  });

  it('rejects strings that map to nothing or to forbidden characters', () => {
    assertReason(() => prepareLocalpart(''), 'empty-localpart');
    assertReason(() => prepareLocalpart('a\uff20b'), 'invalid-localpart-char'); // fullwidth ＠ maps to @
    assertReason(() => prepareLocalpart('a\uff0fb'), 'invalid-localpart-char'); // fullwidth ／
  });

  describe('contextual rules (RFC 5892 Appendix A)', () => {
    it('ZERO WIDTH JOINER only after a virama', () => {
      assert.equal(prepareLocalpart('\u0915\u094d\u200d\u0937'), '\u0915\u094d\u200d\u0937');
      assertReason(() => prepareLocalpart('a\u200db'), 'localpart-context-rule');
    });

    it('ZERO WIDTH NON-JOINER after a virama or between joining letters', () => {
      assert.equal(prepareLocalpart('\u0915\u094d\u200c\u0937'), '\u0915\u094d\u200c\u0937');
      const persian = '\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645'; // می‌خواهم
      assert.equal(prepareLocalpart(persian), persian);
      const withMark = '\u0628\u064e\u200c\u0628'; // a transparent fatha between is skipped
      assert.equal(prepareLocalpart(withMark), withMark);
      assertReason(() => prepareLocalpart('a\u200cb'), 'localpart-context-rule');
      // ALEF joins only to the right, so it cannot precede a ZWNJ.
      assertReason(() => prepareLocalpart('\u0627\u200c\u0628'), 'localpart-context-rule');
      assertReason(() => prepareLocalpart('\u0628\u200c'), 'localpart-context-rule');
    });

    it('MIDDLE DOT only between two l (Catalan)', () => {
      assert.equal(prepareLocalpart('col\u00b7legi'), 'col\u00b7legi');
      assert.equal(prepareLocalpart('COL\u00b7LEGI'), 'col\u00b7legi', 'checked after lower-casing');
      assertReason(() => prepareLocalpart('a\u00b7b'), 'localpart-context-rule');
      assertReason(() => prepareLocalpart('\u00b7l'), 'localpart-context-rule');
    });

    it('Greek KERAIA only before Greek', () => {
      assert.equal(prepareLocalpart('\u0375\u03b1'), '\u0375\u03b1');
      assertReason(() => prepareLocalpart('\u0375a'), 'localpart-context-rule');
    });

    it('Hebrew GERESH and GERSHAYIM only after Hebrew', () => {
      assert.equal(prepareLocalpart('\u05d0\u05f3'), '\u05d0\u05f3');
      assert.equal(prepareLocalpart('\u05d0\u05f4\u05d1'), '\u05d0\u05f4\u05d1');
      assertReason(() => prepareLocalpart('a\u05f3'), 'localpart-context-rule');
    });

    it('KATAKANA MIDDLE DOT only with kana or han in the string', () => {
      assert.equal(prepareLocalpart('\u30ab\u30fb\u30ab'), '\u30ab\u30fb\u30ab');
      assertReason(() => prepareLocalpart('a\u30fbb'), 'localpart-context-rule');
    });

    it('Arabic-Indic and Extended Arabic-Indic digits are not mixed', () => {
      assert.equal(prepareLocalpart('\u0628\u0661\u0662'), '\u0628\u0661\u0662');
      assert.equal(prepareLocalpart('\u0628\u06f1\u06f2'), '\u0628\u06f1\u06f2');
      assertReason(() => prepareLocalpart('\u0628\u0661\u06f2'), 'localpart-context-rule');
    });
  });

  describe('bidi rule (RFC 5893)', () => {
    it('accepts right-to-left names', () => {
      for (const s of ['\u05e9\u05dc\u05d5\u05dd', '\u0633\u0644\u0627\u0645', '\u0633\u0644\u0627\u06451', '\u05d0\u05d1-\u05d2']) {
        assert.equal(prepareLocalpart(s), s);
      }
    });

    it('rejects mixed-direction and badly ended right-to-left names', () => {
      for (const s of ['abc\u05e9\u05dc\u05d5\u05dd', '1\u05d0', '\u05d0-', '\u0628\u0661\u0031', '\u05d0a']) {
        assertReason(() => prepareLocalpart(s), 'localpart-bidi-rule');
      }
    });

    it('does not apply to left-to-right strings, even those starting with a digit', () => {
      assert.equal(prepareLocalpart('1abc'), '1abc');
      assert.equal(prepareLocalpart('-x-'), '-x-');
    });
  });

  it('is idempotent on its own output', () => {
    for (const s of ['Juliet', '\u00c9lodie', '\uff2a\uff55\uff4c', '\u03a3\u03c2', 'e\u0301\u0323', '\u0130stanbul']) {
      const once = prepareLocalpart(s);
      assert.equal(prepareLocalpart(once), once, s);
    }
  });
});

describe('prepareResource (OpaqueString)', () => {
  it('keeps case, spaces, punctuation, symbols, / and @', () => {
    for (const s of ['Balcony', 'foo bar', ' leading and trailing ', 'a/b@c', '\u265a', '\u00bd', 'x\u2122', '\u{1f600}', '\uff21', 'henry\u2163']) {
      assert.equal(prepareResource(s), s);
    }
  });

  it('maps non-ASCII spaces to U+0020 and normalises to NFC', () => {
    assert.equal(prepareResource('a\u00a0b\u3000c\u2003d'), 'a b c d');
    assert.equal(prepareResource('e\u0301'), '\u00e9');
    assert.equal(prepareResource('\u212b'), '\u00c5', 'ANGSTROM SIGN is a canonical singleton');
  });

  it('rejects controls, unassigned, private-use and surrogate code points', () => {
    for (const s of ['a\u0000', 'a\u0007', 'tab\there', 'line\nbreak', 'a\u007f', 'a\u0085', 'a\u0378', 'a\ue000', 'a\ud800', 'a\u2028', 'a\ufffe', 'a\u200b']) {
      assertReason(() => prepareResource(s), 'invalid-resource-char');
    }
  });

  it('applies the context rules too (an emoji ZWJ sequence is refused)', () => {
    assertReason(() => prepareResource('\u{1f468}\u200d\u{1f469}'), 'resource-context-rule');
  });

  it('rejects the empty string', () => {
    assertReason(() => prepareResource(''), 'empty-resource');
  });
});
