// parseJid's cache of prepared JIDs (src/jid/cache.ts, src/jid/jid.ts): hits give the same
// immutable Jid, failures are never cached, the bound holds with the oldest entry dropped first.
import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BoundedCache, detachedCopy } from '../../src/jid/cache.js';
import { JID_CACHE_MAX_ENTRIES, JID_CACHE_MAX_INPUT_LENGTH, JidError, clearJidCache, jidCacheSize, parseJid, tryParseJid } from '../../src/jid/jid.js';

/** What parsing `s` gives: the full JID, or the JidError's reason. */
function outcome(s: string): string {
  try {
    return `ok ${parseJid(s).full}`;
  } catch (err) {
    if (err instanceof JidError) return `error ${err.reason}`;
    throw err;
  }
}

describe('BoundedCache', () => {
  it('holds at most maxEntries, dropping the oldest insertion first', () => {
    const c = new BoundedCache<string, number>(3);
    c.set('a', 1);
    c.set('b', 2);
    c.set('c', 3);
    assert.equal(c.get('a'), 1); // a hit does not make 'a' younger
    c.set('d', 4);
    assert.equal(c.size, 3);
    assert.equal(c.get('a'), undefined);
    assert.deepEqual([c.get('b'), c.get('c'), c.get('d')], [2, 3, 4]);
    c.set('b', 20); // replacing an existing key evicts nothing
    assert.equal(c.size, 3);
    assert.deepEqual([c.get('b'), c.get('c'), c.get('d')], [20, 3, 4]);
    c.set('e', 5);
    assert.equal(c.get('b'), undefined, "'b' was still the oldest insertion");
    c.clear();
    assert.equal(c.size, 0);
  });

  it('refuses a bound below one', () => {
    assert.throws(() => new BoundedCache(0), RangeError);
    assert.throws(() => new BoundedCache(1.5), RangeError);
  });
});

describe('detachedCopy', () => {
  it('returns an equal string for ASCII, non-BMP text and lone surrogates', () => {
    const big = `<message to='juliet@example.com/balcony'>${'x'.repeat(10_000)}</message>`;
    for (const s of [big.slice(13, 40), 'ünïcödé@例え.jp', '😀/res', 'a\ud800b', '\udc00', '']) assert.equal(detachedCopy(s), s);
  });
});

describe('parseJid cache', () => {
  beforeEach(() => clearJidCache());

  it('returns the same Jid for the same string, equal to a fresh parse', () => {
    const first = parseJid('Juliet@Example.COM/balcony');
    assert.equal(jidCacheSize(), 1);
    const again = parseJid('Juliet@Example.COM/balcony');
    assert.equal(again, first);
    assert.equal(tryParseJid('Juliet@Example.COM/balcony'), first);
    clearJidCache();
    const fresh = parseJid('Juliet@Example.COM/balcony');
    assert.notEqual(fresh, first);
    assert.ok(fresh.equals(first));
    assert.deepEqual([first.local, first.domain, first.resource, first.full], ['juliet', 'example.com', 'balcony', 'juliet@example.com/balcony']);
  });

  it('keys by the exact input: differently written JIDs get their own entries but equal Jids', () => {
    const a = parseJid('juliet@example.com');
    const b = parseJid('JULIET@example.com.');
    assert.equal(jidCacheSize(), 2);
    assert.ok(a.equals(b));
  });

  it('gives the right Jid for a string cut out of a larger one', () => {
    const chunk = `<presence from='romeo@montague.example/orchard' to='juliet@capulet.example'/>${' '.repeat(5000)}`;
    const from = chunk.slice(chunk.indexOf("'") + 1, chunk.indexOf("'", chunk.indexOf("'") + 1));
    const j = parseJid(from);
    assert.equal(j.full, 'romeo@montague.example/orchard');
    assert.equal(parseJid('romeo@montague.example/orchard'), j);
  });

  it('does not cache failures: each attempt throws a new JidError', () => {
    const errors: unknown[] = [];
    for (let i = 0; i < 2; i++) {
      try {
        parseJid('juliet@exa mple.com');
      } catch (err) {
        errors.push(err);
      }
    }
    assert.equal(errors.length, 2);
    assert.ok(errors.every((e) => e instanceof JidError && e.reason === 'invalid-domain'));
    assert.notEqual(errors[0], errors[1]);
    assert.equal(tryParseJid('juliet@exa mple.com'), undefined);
    assert.equal(tryParseJid('@example.com'), undefined);
    assert.equal(jidCacheSize(), 0);
  });

  it('holds at most JID_CACHE_MAX_ENTRIES JIDs and drops the oldest first', () => {
    const n = JID_CACHE_MAX_ENTRIES + 10;
    const parsed = Array.from({ length: n }, (_, i) => parseJid(`user${i}@example.com/r`));
    assert.equal(jidCacheSize(), JID_CACHE_MAX_ENTRIES);
    // The last one is still cached; the first ten were dropped, so they are parsed anew (equal, not identical).
    assert.equal(parseJid(`user${n - 1}@example.com/r`), parsed[n - 1]);
    assert.equal(parseJid('user10@example.com/r'), parsed[10]);
    const reparsed = parseJid('user0@example.com/r');
    assert.notEqual(reparsed, parsed[0]);
    assert.ok(reparsed.equals(parsed[0]!));
    assert.equal(jidCacheSize(), JID_CACHE_MAX_ENTRIES);
  });

  it('does not cache inputs longer than JID_CACHE_MAX_INPUT_LENGTH', () => {
    const long = `juliet@example.com/${'r'.repeat(JID_CACHE_MAX_INPUT_LENGTH)}`;
    const a = parseJid(long);
    const b = parseJid(long);
    assert.equal(jidCacheSize(), 0);
    assert.notEqual(a, b);
    assert.ok(a.equals(b));
  });

  it('hands out frozen Jids, so one caller cannot change another caller’s JID', () => {
    const j = parseJid('juliet@example.com/balcony');
    assert.ok(Object.isFrozen(j));
    assert.throws(() => {
      (j as unknown as { local: string }).local = 'romeo';
    }, TypeError);
    assert.equal(parseJid('juliet@example.com/balcony').local, 'juliet');
    // Derived Jids are new objects and leave the cached one alone.
    assert.equal(j.withResource('window').full, 'juliet@example.com/window');
    assert.equal(j.toBare().full, 'juliet@example.com');
    assert.equal(parseJid('juliet@example.com/balcony').full, 'juliet@example.com/balcony');
  });

  it('gives the same outcome cached and uncached, for inputs cut out of larger strings too', () => {
    const part = fc.oneof(
      fc.constantFrom('juliet', 'Juliet', 'example.com', 'EXAMPLE.com.', 'xn--mnchen-3ya.de', 'münchen.de', '[::1]', 'a\ud800', '😀', '', ' '),
      fc.string({ unit: 'binary', maxLength: 10 }),
    );
    const jidLike = fc.tuple(part, fc.constantFrom('@', '/', ''), part, fc.constantFrom('/', '@', ''), part).map((p) => p.join(''));
    fc.assert(
      fc.property(jidLike, fc.string({ maxLength: 30 }), (s, padding) => {
        clearJidCache();
        const uncached = outcome(s);
        assert.equal(outcome(s), uncached); // second time from the cache when it parsed
        const sliced = `${padding}${s}${padding}`.slice(padding.length, padding.length + s.length);
        assert.equal(outcome(sliced), uncached);
      }),
      { numRuns: 2000, seed: 6 },
    );
  });
});
