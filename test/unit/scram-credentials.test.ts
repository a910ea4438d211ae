import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  deriveScramCredential,
  deriveScramCredentialAsync,
  h,
  hmac,
  makeCredentials,
  makeCredentialsAsync,
  saltedPassword,
  saslprepPassword,
  verifyPassword,
  verifyPasswordAsync,
  type ScramHash,
} from '../../src/sasl/scram-credentials.js';
import type { ScramCredential } from '../../src/storage/types.js';

function xor(a: Buffer, b: Buffer): Buffer {
  assert.equal(a.length, b.length);
  return Buffer.from(a.map((byte, i) => byte ^ (b[i] ?? 0)));
}

/** A published SCRAM exchange: the messages as sent, and the password behind them. */
interface Exchange {
  hash: ScramHash;
  password: string;
  clientFirstBare: string;
  serverFirst: string;
  clientFinalWithoutProof: string;
  proof: string;
  serverSignature: string;
}

const RFC5802: Exchange = {
  hash: 'SHA-1',
  password: 'pencil',
  clientFirstBare: 'n=user,r=fyko+d2lbbFgONRv9qkxdawL',
  serverFirst: 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096',
  clientFinalWithoutProof: 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j',
  proof: 'v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=',
  serverSignature: 'rmF9pqV8S7suAoZWja4dJRkFsKQ=',
};

const RFC7677: Exchange = {
  hash: 'SHA-256',
  password: 'pencil',
  clientFirstBare: 'n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinalWithoutProof: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  proof: 'dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverSignature: '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

function saltAndIterations(serverFirst: string): { salt: Buffer; iterations: number } {
  const attrs = new Map(serverFirst.split(',').map((kv) => [kv.slice(0, 1), kv.slice(2)]));
  return { salt: Buffer.from(attrs.get('s') ?? '', 'base64'), iterations: Number(attrs.get('i')) };
}

/** What a server holding only `credential` does with the client's proof (RFC 5802 §3). */
function serverVerifiesProof(hash: ScramHash, credential: ScramCredential, authMessage: string, proofB64: string): boolean {
  const storedKey = Buffer.from(credential.storedKey, 'base64');
  const clientSignature = hmac(hash, storedKey, authMessage);
  const clientKey = xor(Buffer.from(proofB64, 'base64'), clientSignature);
  return h(hash, clientKey).equals(storedKey);
}

for (const ex of [RFC5802, RFC7677]) {
  describe(`SCRAM-${ex.hash} published exchange (${ex === RFC5802 ? 'RFC 5802 §5' : 'RFC 7677 §3'})`, () => {
    const { salt, iterations } = saltAndIterations(ex.serverFirst);
    const authMessage = `${ex.clientFirstBare},${ex.serverFirst},${ex.clientFinalWithoutProof}`;
    const credential = deriveScramCredential(ex.password, ex.hash, iterations, salt);

    it('stores the salt and iteration count it was given', () => {
      assert.equal(credential.iterations, 4096);
      assert.equal(credential.salt, salt.toString('base64'));
    });

    it("accepts the client's published proof using only StoredKey", () => {
      assert.equal(serverVerifiesProof(ex.hash, credential, authMessage, ex.proof), true);
    });

    it('rejects a proof with one bit flipped', () => {
      const bad = Buffer.from(ex.proof, 'base64');
      bad[0] = (bad[0] ?? 0) ^ 1;
      assert.equal(serverVerifiesProof(ex.hash, credential, authMessage, bad.toString('base64')), false);
    });

    it('produces the published server signature from ServerKey', () => {
      const signature = hmac(ex.hash, Buffer.from(credential.serverKey, 'base64'), authMessage);
      assert.equal(signature.toString('base64'), ex.serverSignature);
    });

    it('reproduces the client proof from the password (client side, via saltedPassword)', () => {
      const salted = saltedPassword(ex.password, salt, iterations, ex.hash);
      const clientKey = hmac(ex.hash, salted, 'Client Key');
      const proof = xor(clientKey, hmac(ex.hash, h(ex.hash, clientKey), authMessage));
      assert.equal(proof.toString('base64'), ex.proof);
    });

    it('the async derivation gives the same credential', async () => {
      assert.deepEqual(await deriveScramCredentialAsync(ex.password, ex.hash, iterations, salt), credential);
    });
  });
}

describe('hash helpers', () => {
  it('h is the plain digest (FIPS 180 "abc")', () => {
    assert.equal(h('SHA-1', Buffer.from('abc')).toString('hex'), 'a9993e364706816aba3e25717850c26c9cd0d89d');
    assert.equal(
      h('SHA-256', Buffer.from('abc')).toString('hex'),
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
  it('hmac matches RFC 4231 test case 2', () => {
    const mac = hmac('SHA-256', Buffer.from('Jefe'), 'what do ya want for nothing?');
    assert.equal(mac.toString('hex'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });
});

describe('saslprepPassword (RFC 4013 §3 examples)', () => {
  it('maps SOFT HYPHEN to nothing', () => assert.equal(saslprepPassword('I\u00ADX'), 'IX'));
  it('leaves plain ASCII alone and keeps case', () => {
    assert.equal(saslprepPassword('user'), 'user');
    assert.equal(saslprepPassword('USER'), 'USER');
  });
  it('applies NFKC', () => {
    assert.equal(saslprepPassword('\u00AA'), 'a');
    assert.equal(saslprepPassword('\u2168'), 'IX');
  });
  it('maps non-ASCII spaces to SPACE', () => assert.equal(saslprepPassword('a\u00A0b'), 'a b'));
  it('throws on a prohibited character (U+0007)', () => assert.throws(() => saslprepPassword('\u0007')));
  it('throws on a bidi violation (U+0627 U+0031)', () => assert.throws(() => saslprepPassword('\u0627\u0031')));
  it('throws on an empty result', () => {
    assert.throws(() => saslprepPassword(''));
    assert.throws(() => saslprepPassword('\u00AD'));
  });
  it('rejects unassigned code points when storing, allows them when checking', () => {
    assert.throws(() => saslprepPassword('\u0221'));
    assert.equal(saslprepPassword('\u0221', 'query'), '\u0221');
  });
});

describe('deriveScramCredential', () => {
  it('refuses fewer than 4096 iterations, and non-integers', () => {
    assert.throws(() => deriveScramCredential('pencil', 'SHA-256', 4095), RangeError);
    assert.throws(() => deriveScramCredential('pencil', 'SHA-256', 0), RangeError);
    assert.throws(() => deriveScramCredential('pencil', 'SHA-256', 5000.5), RangeError);
    assert.throws(() => saltedPassword('pencil', Buffer.alloc(16), 1, 'SHA-1'), RangeError);
  });
  it('picks a fresh random 16-byte salt each time', () => {
    const a = deriveScramCredential('pencil', 'SHA-1', 4096);
    const b = deriveScramCredential('pencil', 'SHA-1', 4096);
    assert.equal(Buffer.from(a.salt, 'base64').length, 16);
    assert.notEqual(a.salt, b.salt);
    assert.notEqual(a.storedKey, b.storedKey);
  });
  it('has digest-sized keys', () => {
    const c1 = deriveScramCredential('pencil', 'SHA-1', 4096);
    const c256 = deriveScramCredential('pencil', 'SHA-256', 4096);
    assert.equal(Buffer.from(c1.storedKey, 'base64').length, 20);
    assert.equal(Buffer.from(c1.serverKey, 'base64').length, 20);
    assert.equal(Buffer.from(c256.storedKey, 'base64').length, 32);
    assert.equal(Buffer.from(c256.serverKey, 'base64').length, 32);
  });
  it('refuses a password SASLprep prohibits', () => {
    assert.throws(() => deriveScramCredential('bad\u0007', 'SHA-256', 4096));
  });
  it('normalises, so SASLprep-equivalent passwords give the same keys', () => {
    const salt = Buffer.alloc(16, 7);
    assert.deepEqual(deriveScramCredential('I\u00ADX', 'SHA-256', 4096, salt), deriveScramCredential('IX', 'SHA-256', 4096, salt));
    assert.deepEqual(deriveScramCredential('\u2168', 'SHA-256', 4096, salt), deriveScramCredential('IX', 'SHA-256', 4096, salt));
  });
});

describe('makeCredentials / verifyPassword', () => {
  const both = makeCredentials('correct horse', { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] });

  it('makes one credential per hash, each with its own salt, and no password', () => {
    assert.deepEqual(Object.keys(both).sort(), ['SCRAM-SHA-1', 'SCRAM-SHA-256']);
    assert.notEqual(both['SCRAM-SHA-1']?.salt, both['SCRAM-SHA-256']?.salt);
    assert.ok(!JSON.stringify(both).includes('correct horse'));
  });
  it('needs at least one hash', () => {
    assert.throws(() => makeCredentials('x', { iterations: 4096, hashes: [] }), RangeError);
  });
  it('enforces the iteration minimum', () => {
    assert.throws(() => makeCredentials('x', { iterations: 100, hashes: ['SHA-256'] }), RangeError);
  });
  it('accepts the right password and rejects others', () => {
    assert.equal(verifyPassword(both, 'correct horse'), true);
    assert.equal(verifyPassword(both, 'correct horse '), false);
    assert.equal(verifyPassword(both, 'Correct horse'), false);
    assert.equal(verifyPassword(both, ''), false);
  });
  it('works with only one hash present (either one)', () => {
    const sha1Only = { 'SCRAM-SHA-1': both['SCRAM-SHA-1'] };
    const sha256Only = { 'SCRAM-SHA-256': both['SCRAM-SHA-256'] };
    assert.equal(verifyPassword(sha1Only, 'correct horse'), true);
    assert.equal(verifyPassword(sha256Only, 'correct horse'), true);
    assert.equal(verifyPassword(sha1Only, 'wrong'), false);
  });
  it('checks the strongest hash present', () => {
    // A SHA-1 credential for a different password must not let that password in.
    const mixed = { ...both, 'SCRAM-SHA-1': deriveScramCredential('other', 'SHA-1', 4096) };
    assert.equal(verifyPassword(mixed, 'other'), false);
    assert.equal(verifyPassword(mixed, 'correct horse'), true);
  });
  it('compares after SASLprep', () => {
    const creds = makeCredentials('I\u00ADX', { iterations: 4096, hashes: ['SHA-256'] });
    assert.equal(verifyPassword(creds, 'IX'), true);
    assert.equal(verifyPassword(creds, '\u2168'), true);
  });
  it('returns false (never throws) for no credentials, prohibited input or corrupt data', () => {
    assert.equal(verifyPassword({}, 'anything'), false);
    assert.equal(verifyPassword(both, 'bad\u0007'), false);
    const corrupt = { 'SCRAM-SHA-256': { ...(both['SCRAM-SHA-256'] as ScramCredential), iterations: 1 } };
    assert.equal(verifyPassword(corrupt, 'correct horse'), false);
  });
  it('async variants agree with the sync ones', async () => {
    assert.equal(await verifyPasswordAsync(both, 'correct horse'), true);
    assert.equal(await verifyPasswordAsync(both, 'nope'), false);
    const made = await makeCredentialsAsync('battery', { iterations: 4096, hashes: ['SHA-256'] });
    assert.equal(verifyPassword(made, 'battery'), true);
    await assert.rejects(makeCredentialsAsync('battery', { iterations: 10, hashes: ['SHA-256'] }), RangeError);
  });
});
