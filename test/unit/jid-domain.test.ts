// Domainparts: IDNA (UTS #46), IP literals, labels and the trailing dot.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JidError, parseJid, prepareDomain, type JidErrorReason } from '../../src/jid/index.js';

function assertReason(fn: () => unknown, reason: JidErrorReason): void {
  assert.throws(fn, (err: unknown) => err instanceof JidError && err.reason === reason, `expected ${reason}`);
}

describe('prepareDomain', () => {
  it('lower-cases ASCII names and drops one trailing dot', () => {
    assert.equal(prepareDomain('Example.COM'), 'example.com');
    assert.equal(prepareDomain('example.com.'), 'example.com');
    assert.equal(prepareDomain('localhost'), 'localhost');
    assert.equal(prepareDomain('_xmpp-client.a-b.example'), '_xmpp-client.a-b.example');
  });

  it('stores internationalised names as lower-case U-labels, whichever form came in', () => {
    assert.equal(prepareDomain('m\u00fcnchen.example'), 'm\u00fcnchen.example');
    assert.equal(prepareDomain('xn--mnchen-3ya.example'), 'm\u00fcnchen.example');
    assert.equal(prepareDomain('XN--MNCHEN-3YA.Example'), 'm\u00fcnchen.example');
    assert.equal(prepareDomain('M\u00dcNCHEN.example'), 'm\u00fcnchen.example');
    assert.ok(parseJid('user@m\u00fcnchen.example').equals(parseJid('user@xn--mnchen-3ya.example')));
  });

  it('keeps ß (UTS #46 non-transitional processing, like IDNA2008)', () => {
    assert.equal(prepareDomain('fu\u00dfball.example'), 'fu\u00dfball.example');
  });

  it('maps ideographic and fullwidth dots and drops them when final', () => {
    assert.equal(prepareDomain('\u4f8b\u3002\u4e2d\u56fd'), '\u4f8b.\u4e2d\u56fd');
    assert.equal(prepareDomain('example\uff0ecom\u3002'), 'example.com');
  });

  it('accepts IPv4 addresses in strict dotted-quad form only', () => {
    assert.equal(prepareDomain('192.0.2.1'), '192.0.2.1');
    assert.equal(prepareDomain('192.0.2.1.'), '192.0.2.1');
    for (const bad of ['192.0.2.256', '192.0.2', '0x7f.0.0.1', '0x7f.1', '012.0.2.1', '123', 'example.123']) {
      assertReason(() => prepareDomain(bad), 'invalid-domain');
    }
  });

  it('accepts bracketed IPv6 literals in canonical form', () => {
    assert.equal(prepareDomain('[::1]'), '[::1]');
    assert.equal(prepareDomain('[2001:DB8:0:0:0:0:0:1]'), '[2001:db8::1]');
    assert.equal(prepareDomain('[::ffff:192.0.2.1]'), '[::ffff:c000:201]');
    assert.deepEqual(
      [parseJid('user@[2001:db8::1]/r').domain, parseJid('[2001:db8::1]').full],
      ['[2001:db8::1]', '[2001:db8::1]'],
    );
    for (const bad of ['[::1', '[]', '[1.2.3.4]', '[fe80::1%eth0]', '[::1].', '[v1.x]', '[::g]']) {
      assertReason(() => prepareDomain(bad), 'invalid-ip-literal');
    }
    assertReason(() => prepareDomain('::1'), 'invalid-domain');
  });

  it('rejects empty names and empty labels', () => {
    assertReason(() => prepareDomain(''), 'empty-domain');
    assertReason(() => prepareDomain('.'), 'empty-domain');
    for (const bad of ['a..b', '.a', 'a..', 'a.\u3002']) {
      assertReason(() => prepareDomain(bad), 'empty-domain-label');
    }
  });

  it('limits labels to 63 octets in ASCII form', () => {
    assert.equal(prepareDomain(`${'a'.repeat(63)}.example`), `${'a'.repeat(63)}.example`);
    assertReason(() => prepareDomain(`${'a'.repeat(64)}.example`), 'domain-label-too-long');
    // 58 letters and one ü: "xn--" + 58 + "-" + 4 = 67 octets once encoded.
    assertReason(() => prepareDomain(`\u00fc${'a'.repeat(58)}.example`), 'domain-label-too-long');
  });

  it('limits the whole name to 1023 octets', () => {
    const label = `\u00fc${'a'.repeat(40)}`; // 48 octets as an A-label
    const name = Array(21).fill(label).join('.'); // 21 × 48 + 20 = 1028 octets as A-labels
    assertReason(() => prepareDomain(name), 'domain-too-long');
  });

  it('rejects characters outside host names, even ones the URL parser would accept', () => {
    for (const bad of ['a b.com', 'ex%41.com', 'a/b', 'a?b', 'a#b', 'a@b', 'a:5222', 'a\\b', "a'b.com", 'a*b.com', 'a\u0000b', '-a.com', 'a-.com', 'a\u00a0b']) {
      assertReason(() => prepareDomain(bad), 'invalid-domain');
    }
  });

  it('rejects A-labels that do not decode to a valid name', () => {
    for (const bad of ['xn--zz.example', 'xn--a.example', 'xn--invalid-.example']) {
      assertReason(() => prepareDomain(bad), 'invalid-domain');
    }
  });

  it('is idempotent on its own output', () => {
    for (const s of ['Example.COM.', 'xn--mnchen-3ya.example', '\u4f8b\u3002\u4e2d\u56fd', '[0::1]', '192.0.2.1']) {
      const once = prepareDomain(s);
      assert.equal(prepareDomain(once), once, s);
    }
  });
});
