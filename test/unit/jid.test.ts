// JID parsing and formatting: the RFC 7622 §3.5 examples, length limits, the Jid API.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Jid, JidError, jid, parseJid, tryParseJid, type JidErrorReason } from '../../src/jid/index.js';

function parts(s: string): [string, string, string] {
  const j = parseJid(s);
  return [j.local, j.domain, j.resource];
}

function assertReason(fn: () => unknown, reason: JidErrorReason): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof JidError, `expected JidError, got ${String(err)}`);
    assert.equal(err.reason, reason);
    assert.equal(err.condition, 'jid-malformed');
    return true;
  });
}

describe('RFC 7622 §3.5 valid JIDs', () => {
  // [input, localpart, domainpart, resourcepart] after preparation.
  const vectors: Array<[string, string, string, string]> = [
    ['juliet@example.com', 'juliet', 'example.com', ''],
    ['juliet@example.com/foo', 'juliet', 'example.com', 'foo'],
    ['juliet@example.com/foo bar', 'juliet', 'example.com', 'foo bar'],
    ['juliet@example.com/foo@bar', 'juliet', 'example.com', 'foo@bar'],
    ['foo\\20bar@example.com', 'foo\\20bar', 'example.com', ''],
    ['fussball@example.com', 'fussball', 'example.com', ''],
    ['fu\u00dfball@example.com', 'fu\u00dfball', 'example.com', ''], // ß stays ß (PVALID exception)
    ['\u03c0@example.com', '\u03c0', 'example.com', ''], // π
    ['\u03a3@example.com/foo', '\u03c3', 'example.com', 'foo'], // Σ lower-cases to σ
    ['\u03c3@example.com/foo', '\u03c3', 'example.com', 'foo'], // σ
    ['\u03c2@example.com/foo', '\u03c2', 'example.com', 'foo'], // ς stays final sigma
    ['king@example.com/\u265a', 'king', 'example.com', '\u265a'], // ♚ is fine in a resource
    ['example.com', '', 'example.com', ''],
    ['example.com/foobar', '', 'example.com', 'foobar'],
    ['a.example.com/b@example.net', '', 'a.example.com', 'b@example.net'],
  ];
  for (const [input, local, domain, resource] of vectors) {
    it(`accepts ${input}`, () => {
      assert.deepEqual(parts(input), [local, domain, resource]);
    });
  }

  it('keeps σ, ς and "ss"/"ß" distinct', () => {
    const [sigma, finalSigma] = [parseJid('\u03c3@example.com'), parseJid('\u03c2@example.com')];
    assert.ok(!sigma.equals(finalSigma));
    assert.ok(!parseJid('fussball@example.com').equals(parseJid('fu\u00dfball@example.com')));
  });

  it('accepts a leading space in a resource (errata 4560 removed example 18)', () => {
    assert.equal(parseJid('juliet@example.com/ foo').resource, ' foo');
  });
});

describe('RFC 7622 §3.5 invalid JIDs', () => {
  const vectors: Array<[string, JidErrorReason]> = [
    ['"juliet"@example.com', 'invalid-localpart-char'], // quotation marks are forbidden
    ['foo bar@example.com', 'invalid-localpart-char'], // space
    ['henry\u2163@example.com', 'invalid-localpart-char'], // Ⅳ ROMAN NUMERAL FOUR: compatibility char
    ['\u265a@example.com', 'invalid-localpart-char'], // ♚ a symbol
    ['juliet@', 'empty-domain'],
    ['/foobar', 'empty-domain'],
    ['@example.com', 'empty-localpart'],
    ['@example.com/', 'empty-localpart'],
    ['example.com/', 'empty-resource'],
    ['juliet@example.com/', 'empty-resource'],
    ['', 'empty-domain'],
    ['@', 'empty-localpart'],
    ['/', 'empty-domain'],
  ];
  for (const [input, reason] of vectors) {
    it(`rejects ${JSON.stringify(input)} (${reason})`, () => {
      assertReason(() => parseJid(input), reason);
      assert.equal(tryParseJid(input), undefined);
    });
  }

  it('rejects each forbidden localpart character', () => {
    for (const c of ['"', '&', "'", ':', '<', '>']) {
      assertReason(() => parseJid(`a${c}b@example.com`), 'invalid-localpart-char');
    }
  });
});

describe('splitting (RFC 7622 §3.1)', () => {
  it('splits the resource at the first slash; it may hold more slashes and @', () => {
    assert.deepEqual(parts('a@b.example/c/d@e/f'), ['a', 'b.example', 'c/d@e/f']);
  });

  it('ends the localpart at the first @, so a second @ lands in the domain and fails there', () => {
    assertReason(() => parseJid('a@b@example.com'), 'invalid-domain');
  });

  it('takes an @ after the first slash as part of the resource, not as a localpart', () => {
    assert.deepEqual(parts('example.com/@'), ['', 'example.com', '@']);
  });
});

describe('length limits (1023 bytes per part)', () => {
  it('accepts a localpart of exactly 1023 bytes and rejects 1024', () => {
    assert.equal(parseJid(`${'a'.repeat(1023)}@example.com`).local.length, 1023);
    assertReason(() => parseJid(`${'a'.repeat(1024)}@example.com`), 'localpart-too-long');
  });

  it('counts UTF-8 bytes, not characters, in the localpart', () => {
    const exact = `${'\u03c0'.repeat(511)}a`; // 511 × 2 + 1 = 1023 bytes
    assert.equal(parseJid(`${exact}@example.com`).local, exact);
    assertReason(() => parseJid(`${'\u03c0'.repeat(512)}@example.com`), 'localpart-too-long');
  });

  it('accepts a resource of exactly 1023 bytes and rejects 1024', () => {
    assert.equal(parseJid(`example.com/${'r'.repeat(1023)}`).resource.length, 1023);
    assertReason(() => parseJid(`example.com/${'r'.repeat(1024)}`), 'resource-too-long');
    const exact = `${'\u00e9'.repeat(511)}x`; // é is 2 bytes
    assert.equal(parseJid(`example.com/${exact}`).resource, exact);
    assertReason(() => parseJid(`example.com/${'\u00e9'.repeat(512)}`), 'resource-too-long');
  });

  it('accepts a domain of exactly 1023 bytes and rejects 1024', () => {
    const label = 'd'.repeat(63);
    const exact = Array(16).fill(label).join('.'); // 16 × 63 + 15 dots
    assert.equal(exact.length, 1023);
    assert.equal(parseJid(`u@${exact}`).domain, exact);
    const over = [...Array(15).fill(label), 'd'.repeat(62), 'd'].join('.');
    assert.equal(over.length, 1024);
    assertReason(() => parseJid(`u@${over}`), 'domain-too-long');
  });

  it('rejects huge input cheaply and with the right reason', () => {
    const huge = '\u00e9'.repeat(100_000);
    assertReason(() => parseJid(`${huge}@example.com`), 'localpart-too-long');
    assertReason(() => parseJid(`example.com/${huge}`), 'resource-too-long');
    assertReason(() => parseJid(`${'a.'.repeat(50_000)}com`), 'domain-too-long');
    // Length is checked before the per-character rules (these digits each have a context rule).
    assertReason(() => parseJid(`example.com/${'\u0661'.repeat(4000)}`), 'resource-too-long');
  });
});

describe('case and width', () => {
  it('lower-cases localpart and domain but keeps the resource case', () => {
    const j = parseJid('Juliet@Example.COM/Balcony');
    assert.equal(j.full, 'juliet@example.com/Balcony');
    assert.ok(j.equals(parseJid('JULIET@example.com/Balcony')));
    assert.ok(!j.equals(parseJid('juliet@example.com/balcony')));
  });

  it('maps fullwidth letters in the localpart to ASCII', () => {
    assert.equal(parseJid('\uff2a\uff55\uff4c\uff49\uff45\uff54@example.com').local, 'juliet'); // Ｊｕｌｉｅｔ
  });

  it('keeps fullwidth letters in a resource (OpaqueString maps no width)', () => {
    assert.equal(parseJid('example.com/\uff21').resource, '\uff21');
  });

  it('maps fullwidth domain letters and the ideographic full stop', () => {
    assert.equal(parseJid('\uff25\uff38\u3002com').domain, 'ex.com'); // ＥＸ。com
  });
});

describe('the Jid type', () => {
  const full = parseJid('romeo@montague.example/orchard');

  it('formats bare and full forms', () => {
    assert.equal(full.bare, 'romeo@montague.example');
    assert.equal(full.full, 'romeo@montague.example/orchard');
    assert.equal(full.toString(), full.full);
    assert.equal(`${full}`, full.full);
    assert.equal(JSON.stringify({ to: full }), '{"to":"romeo@montague.example/orchard"}');
    assert.equal(parseJid('montague.example').bare, 'montague.example');
  });

  it('knows whether it is bare and strips the resource', () => {
    assert.equal(full.isBare(), false);
    const bare = full.toBare();
    assert.equal(bare.isBare(), true);
    assert.equal(bare.full, 'romeo@montague.example');
    assert.equal(bare.toBare(), bare);
  });

  it('withResource prepares the new resource and refuses a bad one', () => {
    const other = full.withResource('Garden\u00a0Wall'); // NO-BREAK SPACE becomes a space
    assert.equal(other.full, 'romeo@montague.example/Garden Wall');
    assert.equal(full.resource, 'orchard', 'the original is unchanged');
    assertReason(() => full.withResource(''), 'empty-resource');
    assertReason(() => full.withResource('a\u0000b'), 'invalid-resource-char');
  });

  it('compares by prepared value', () => {
    assert.ok(full.equals(parseJid('ROMEO@Montague.Example./orchard')));
    assert.ok(!full.equals(full.toBare()));
  });

  it('cannot be constructed from unprepared parts', () => {
    // @ts-expect-error the constructor key is private to the module
    assert.throws(() => new Jid(Symbol('prepared'), 'A', 'B', ''), TypeError);
  });
});

describe('jid() from parts', () => {
  it('prepares each part', () => {
    const j = jid('Juliet', 'Example.COM.', 'Balcony');
    assert.equal(j.full, 'juliet@example.com/Balcony');
    assert.ok(j.equals(parseJid('juliet@example.com/Balcony')));
  });

  it('treats an empty localpart or resource as absent', () => {
    assert.equal(jid('', 'example.com').full, 'example.com');
    assert.equal(jid('a', 'example.com', '').full, 'a@example.com');
  });

  it('refuses characters the string form could not carry', () => {
    assertReason(() => jid('a@b', 'example.com'), 'invalid-localpart-char');
    assertReason(() => jid('a/b', 'example.com'), 'invalid-localpart-char');
    assertReason(() => jid('a', 'exa/mple.com'), 'invalid-domain');
    assertReason(() => jid('a', ''), 'empty-domain');
  });

  it('allows / and @ in a resource built from parts', () => {
    const j = jid('a', 'example.com', 'x/y@z');
    assert.ok(j.equals(parseJid(j.full)));
  });
});

describe('tryParseJid', () => {
  it('returns the Jid or undefined', () => {
    assert.equal(tryParseJid('a@example.com')?.bare, 'a@example.com');
    assert.equal(tryParseJid('a@'), undefined);
  });
});
