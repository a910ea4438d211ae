import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBase64Strict, decodeSaslPayload, encodeSaslPayload } from '../../src/sasl/base64.js';
import { FailureLimiter } from '../../src/modules/saslauth/rate-limit.js';
import { chooseMechanism, offeredMechanisms, type OfferPolicy } from '../../src/modules/saslauth/offer.js';

describe('SASL base64', () => {
  it('decodes canonical base64 and the = / empty conventions', () => {
    assert.equal(decodeBase64Strict('cGVuY2ls')?.toString(), 'pencil');
    assert.equal(decodeSaslPayload('')?.toString(), undefined);
    assert.equal(decodeSaslPayload('=') instanceof Buffer && (decodeSaslPayload('=') as Buffer).length, 0);
    assert.equal(encodeSaslPayload(Buffer.alloc(0)), '=');
    assert.equal(encodeSaslPayload(Buffer.from('x')), 'eA==');
  });
  it('refuses whitespace, bad characters, bad padding and non-zero pad bits', () => {
    for (const bad of ['cGVu Y2ls', 'cGVu\nY2ls', 'cGVuY2l', 'cGVuY2l*', 'eA=', 'eB==', '====']) {
      assert.equal(decodeBase64Strict(bad), undefined, JSON.stringify(bad));
      assert.equal(decodeSaslPayload(bad), 'invalid');
    }
  });
});

describe('FailureLimiter', () => {
  const make = () => {
    let now = 0;
    const l = new FailureLimiter({ maxFailures: 3, windowMs: 60_000, baseDelayMs: 1000, maxDelayMs: 5000, now: () => now });
    return { l, advance: (ms: number) => (now += ms) };
  };

  it('delays nothing under the limit, then doubles up to the cap', () => {
    const { l } = make();
    l.record('ip:1');
    l.record('ip:1');
    assert.equal(l.delayFor('ip:1'), 0);
    l.record('ip:1');
    assert.equal(l.delayFor('ip:1'), 1000);
    l.record('ip:1');
    assert.equal(l.delayFor('ip:1'), 2000);
    l.record('ip:1');
    assert.equal(l.delayFor('ip:1'), 4000);
    for (let i = 0; i < 10; i++) l.record('ip:1');
    assert.equal(l.delayFor('ip:1'), 5000);
    assert.equal(l.delayFor('ip:2'), 0);
  });

  it('forgets failures older than the window (sliding)', () => {
    const { l, advance } = make();
    l.record('k');
    advance(30_000);
    l.record('k');
    l.record('k');
    assert.equal(l.count('k'), 3);
    advance(30_001);
    assert.equal(l.count('k'), 2);
    assert.equal(l.delayFor('k'), 0);
    advance(60_000);
    l.sweep();
    assert.equal(l.size, 0);
  });

  it('asks for one warning per window per key', () => {
    const { l, advance } = make();
    const warns = () => [l.record('k'), l.record('k'), l.record('k'), l.record('k')].filter((r) => r.warn).length;
    assert.equal(warns(), 1);
    advance(60_000);
    assert.equal(warns(), 1);
  });

  it('bounds the number of keys', () => {
    const l = new FailureLimiter({ maxFailures: 3, windowMs: 60_000, baseDelayMs: 1000, maxDelayMs: 5000, maxKeys: 10 });
    for (let i = 0; i < 100; i++) l.record(`ip:${i}`);
    assert.equal(l.size, 10);
  });
});

describe('mechanism offer policy', () => {
  const policy: OfferPolicy = { hashes: ['SHA-1', 'SHA-256'], allowPlain: true, requireChannelBinding: false };
  const cb = { 'tls-exporter': Buffer.alloc(32) };

  it('offers -PLUS first with a binding, PLAIN only when secure', () => {
    assert.deepEqual(offeredMechanisms(policy, { secure: true, bindings: cb }), [
      'SCRAM-SHA-256-PLUS',
      'SCRAM-SHA-1-PLUS',
      'SCRAM-SHA-256',
      'SCRAM-SHA-1',
      'PLAIN',
    ]);
    assert.deepEqual(offeredMechanisms(policy, { secure: false, bindings: {} }), ['SCRAM-SHA-256', 'SCRAM-SHA-1']);
  });

  it('offers only the configured hashes, and only -PLUS when binding is required', () => {
    assert.deepEqual(offeredMechanisms({ ...policy, hashes: ['SHA-256'] }, { secure: true, bindings: {} }), ['SCRAM-SHA-256', 'PLAIN']);
    assert.deepEqual(offeredMechanisms({ ...policy, requireChannelBinding: true }, { secure: true, bindings: cb }), ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS']);
  });

  it('refuses with the right condition', () => {
    const refuse = (name: string, p = policy, secure = true, bindings = {}) => {
      const c = chooseMechanism(name, p, { secure, bindings });
      return c.ok ? 'ok' : c.condition;
    };
    assert.equal(refuse('PLAIN', policy, false), 'encryption-required');
    assert.equal(refuse('PLAIN', { ...policy, allowPlain: false }), 'invalid-mechanism');
    assert.equal(refuse('DIGEST-MD5'), 'invalid-mechanism');
    assert.equal(refuse('SCRAM-SHA-256-PLUS'), 'invalid-mechanism');
    assert.equal(refuse('SCRAM-SHA-1', { ...policy, hashes: ['SHA-256'] }), 'invalid-mechanism');
    assert.equal(refuse('SCRAM-SHA-256', { ...policy, requireChannelBinding: true }, true, cb), 'mechanism-too-weak');
    assert.equal(refuse('PLAIN', { ...policy, requireChannelBinding: true }, true, cb), 'mechanism-too-weak');
    assert.equal(refuse('SCRAM-SHA-256-PLUS', policy, true, cb), 'ok');
    assert.equal(refuse('SCRAM-SHA-1'), 'ok');
  });
});
