// Property tests for JIDs: parseJid fails only with JidError, and preparation is idempotent
// (formatting a parsed JID and parsing it again gives the same JID). Bounded to a few seconds.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JidError, jid, parseJid, prepareDomain, prepareLocalpart, prepareResource, type Jid } from '../../src/jid/index.js';

// Characters that exercise every branch: separators, forbidden localpart characters, case,
// width variants, combining marks, context-rule characters, RTL letters and digits, spaces,
// controls, surrogates, private use, unassigned, IDNA dots and an A-label prefix.
const interesting = fc.constantFrom(
  'a', 'Z', '0', '9', '-', '_', '.', '@', '/', '"', '&', "'", ':', '<', '>', ' ', '\\', '%', '[', ']',
  '\u00df', '\u03a3', '\u03c2', '\u00c9', 'e\u0301', '\u0301', '\uff21', '\uff20', '\uff0f', '\u3002', '\uff0e',
  '\u00b7', 'l', '\u0375', '\u03b1', '\u05d0', '\u05f3', '\u30fb', '\u30ab', '\u0661', '\u06f1', '\u0628',
  '\u0627', '\u200c', '\u200d', '\u094d', '\u0915', '\u2163', '\u265a', '\u00a0', '\u3000', '\u0000', '\u0007',
  '\u007f', '\ud800', '\udfff', '\ue000', '\u0378', '\ufdd0', '\u1100', '\u1161', '\u0130', 'xn--', 'xn--mnchen-3ya',
  'm\u00fcnchen', '\u{1f600}', '::1', '192.0.2.1', '0x7f',
);

const piece = fc.oneof(
  { weight: 3, arbitrary: fc.array(interesting, { maxLength: 8 }).map((a) => a.join('')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-zA-Z0-9.-]{1,12}$/) },
);

// Strings shaped like JIDs: optional local@, a domain, optional /resource.
const jidLike = fc
  .tuple(fc.option(piece, { nil: undefined }), piece, fc.option(piece, { nil: undefined }))
  .map(([local, domain, resource]) => `${local === undefined ? '' : `${local}@`}${domain}${resource === undefined ? '' : `/${resource}`}`);

const anyInput = fc.oneof(jidLike, fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ maxLength: 40 }));

const RUNS = Number(process.env.JID_FUZZ_RUNS ?? 20_000);

/** Runs fn; a JidError becomes undefined, anything else is a bug and fails the property. */
function orUndefined<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (err instanceof JidError) return undefined;
    throw err;
  }
}

function parseOrJidError(s: string): Jid | undefined {
  return orUndefined(() => parseJid(s));
}

describe('JID fuzzing', () => {
  it('parseJid throws nothing but JidError', () => {
    fc.assert(fc.property(anyInput, (s) => void parseOrJidError(s)), { numRuns: RUNS });
  });

  it('formatting and parsing again gives the same JID', () => {
    let valid = 0;
    fc.assert(
      fc.property(anyInput, (s) => {
        const first = parseOrJidError(s);
        if (first === undefined) return;
        valid++;
        const again = parseJid(first.full);
        assert.equal(again.full, first.full);
        assert.deepEqual([again.local, again.domain, again.resource], [first.local, first.domain, first.resource]);
        assert.ok(again.equals(first));
        assert.equal(parseJid(first.bare).full, first.bare);
      }),
      { numRuns: RUNS },
    );
    assert.ok(valid > 1000, `too few valid JIDs generated (${valid}) for the property to mean much`);
  });

  it('each prepare function is idempotent, and jid() round-trips through the string form', () => {
    fc.assert(
      fc.property(piece, piece, piece, (local, domain, resource) => {
        for (const prepare of [prepareLocalpart, prepareDomain, prepareResource]) {
          for (const input of [local, domain, resource]) {
            const once = orUndefined(() => prepare(input));
            if (once !== undefined) assert.equal(prepare(once), once);
          }
        }
        const built = orUndefined(() => jid(local, domain, resource));
        if (built !== undefined) assert.ok(parseJid(built.full).equals(built));
      }),
      { numRuns: RUNS / 4 },
    );
  });
});
