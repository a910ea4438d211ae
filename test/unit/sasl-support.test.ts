import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBase64Strict, decodeSaslPayload, encodeSaslPayload } from '../../src/sasl/base64.js';
import { FailureLimiter } from '../../src/modules/saslauth/rate-limit.js';
import { builtinMechanisms } from '../../src/modules/saslauth/builtins.js';
import { SaslMechanisms, type SaslMechanismProvider, type SaslOfferContext } from '../../src/sasl/registry.js';
import { mechanismName, type ScramHash } from '../../src/sasl/scram-credentials.js';
import { failure } from '../../src/sasl/mechanism.js';

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

/** A registry with the built-ins, as the saslauth module sets it up. */
function builtins(opts: { allowPlain?: boolean; requireChannelBinding?: boolean } = {}): SaslMechanisms {
  const r = new SaslMechanisms({ requireChannelBinding: opts.requireChannelBinding ?? false });
  for (const p of builtinMechanisms({ allowPlain: opts.allowPlain ?? true })) r.register(p);
  return r;
}

function stream(secure: boolean, bindings = {}, hashes: ScramHash[] = ['SHA-1', 'SHA-256']): SaslOfferContext {
  return { host: 'localhost', secure, bindings, credentialKinds: hashes.map(mechanismName), tlsSocket: undefined };
}

describe('built-in mechanism offer', () => {
  const cb = { 'tls-exporter': Buffer.alloc(32) };

  it('offers -PLUS first with a binding, PLAIN only when secure', () => {
    assert.deepEqual(builtins().offer(stream(true, cb)), ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
    assert.deepEqual(builtins().offer(stream(false)), ['SCRAM-SHA-256', 'SCRAM-SHA-1']);
  });

  it('offers only the configured hashes, and only -PLUS when binding is required', () => {
    assert.deepEqual(builtins().offer(stream(true, {}, ['SHA-256'])), ['SCRAM-SHA-256', 'PLAIN']);
    assert.deepEqual(builtins({ requireChannelBinding: true }).offer(stream(true, cb)), ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS']);
    assert.deepEqual(builtins({ requireChannelBinding: true }).offer(stream(true)), ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
    assert.deepEqual(builtins({ allowPlain: false }).offer(stream(true)), ['SCRAM-SHA-256', 'SCRAM-SHA-1']);
  });

  it('refuses with the right condition', () => {
    const refuse = (name: string, r = builtins(), ctx = stream(true)) => {
      const c = r.choose(name, ctx);
      return c.ok ? 'ok' : c.condition;
    };
    assert.equal(refuse('PLAIN', builtins(), stream(false)), 'encryption-required');
    assert.equal(refuse('PLAIN', builtins({ allowPlain: false })), 'invalid-mechanism');
    assert.equal(refuse('DIGEST-MD5'), 'invalid-mechanism');
    assert.equal(refuse('SCRAM-SHA-256-PLUS'), 'invalid-mechanism');
    assert.equal(refuse('SCRAM-SHA-1', builtins(), stream(true, {}, ['SHA-256'])), 'invalid-mechanism');
    assert.equal(refuse('SCRAM-SHA-256', builtins({ requireChannelBinding: true }), stream(true, cb)), 'mechanism-too-weak');
    assert.equal(refuse('PLAIN', builtins({ requireChannelBinding: true }), stream(true, cb)), 'mechanism-too-weak');
    assert.equal(refuse('SCRAM-SHA-256-PLUS', builtins(), stream(true, cb)), 'ok');
    assert.equal(refuse('SCRAM-SHA-1'), 'ok');
    const texts = builtins().choose('DIGEST-MD5', stream(true));
    assert.deepEqual(texts, { ok: false, condition: 'invalid-mechanism', text: 'DIGEST-MD5 is not offered' });
  });
});

describe('SaslMechanisms registry', () => {
  const toy = (name: string, priority: number, available: SaslMechanismProvider['available'] = () => true): SaslMechanismProvider => ({
    name,
    priority,
    available,
    start: () => ({ name, username: undefined, step: () => Promise.resolve(failure('not-authorized')) }),
  });

  it('orders by priority, equal priorities in registration order, and unregisters', () => {
    const r = builtins();
    const offLast = r.register(toy('X-LAST', 0));
    const offFirst = r.register(toy('X-FIRST', 100));
    r.register(toy('X-TIE', 40));
    assert.deepEqual(r.offer(stream(true)), ['X-FIRST', 'SCRAM-SHA-256', 'X-TIE', 'SCRAM-SHA-1', 'PLAIN', 'X-LAST']);
    offFirst();
    offLast();
    offLast(); // a second call changes nothing
    assert.deepEqual(r.names, ['SCRAM-SHA-512-PLUS', 'SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS', 'SCRAM-SHA-512', 'SCRAM-SHA-256', 'X-TIE', 'SCRAM-SHA-1', 'PLAIN']);
    assert.equal(r.choose('X-FIRST', stream(true)).ok, false);
  });

  it('a provider whose available() throws is reported and not offered; the others still are', () => {
    const reported: string[] = [];
    const r = new SaslMechanisms({ requireChannelBinding: false, onProviderError: (name) => reported.push(name) });
    r.register(toy('X-BROKEN', 2, () => {
      throw new Error('bug');
    }));
    r.register(toy('X-FINE', 1));
    assert.deepEqual(r.offer(stream(true)), ['X-FINE']);
    assert.equal(r.choose('X-BROKEN', stream(true)).ok, false);
    assert.deepEqual(reported, ['X-BROKEN', 'X-BROKEN']);
  });

  it('refuses duplicate and malformed names', () => {
    const r = builtins();
    assert.throws(() => r.register(toy('PLAIN', 1)), /already registered/);
    for (const bad of ['x-lower', '', 'A'.repeat(21), 'SP ACE']) assert.throws(() => r.register(toy(bad, 1)), /not a SASL mechanism name/, bad);
  });

  it("a provider's refusal is what the client gets; mechanisms that bind the channel survive require_channel_binding", () => {
    const r = new SaslMechanisms({ requireChannelBinding: true });
    r.register(toy('X-NEEDS-TLS', 1, (ctx) => (ctx.secure ? true : { condition: 'encryption-required', text: 'TLS first' })));
    r.register({ ...toy('X-BOUND', 2), bindsChannel: true });
    const cb = { 'tls-server-end-point': Buffer.alloc(32) };
    assert.deepEqual(r.choose('X-NEEDS-TLS', stream(false)), { ok: false, condition: 'encryption-required', text: 'TLS first' });
    assert.deepEqual(r.offer(stream(true, cb)), ['X-BOUND']);
    assert.deepEqual(r.offer(stream(true)), ['X-BOUND', 'X-NEEDS-TLS']);
  });
});
