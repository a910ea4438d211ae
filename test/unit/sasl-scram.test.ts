import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ScramServer, decodeSaslname, encodeSaslname, ssdpInput, type ScramServerOptions } from '../../src/sasl/scram.js';
import { FakeCredentials } from '../../src/sasl/fake-credentials.js';
import { SaslError, type SaslStep } from '../../src/sasl/mechanism.js';
import { deriveScramCredential, type ScramHash } from '../../src/sasl/scram-credentials.js';
import type { ScramCredential } from '../../src/storage/types.js';
import type { ChannelBindings } from '../../src/sasl/channel-binding.js';
import { ScramClient } from '../helpers/scram-client.js';

const fake = new FakeCredentials(4096, Buffer.alloc(32, 7));

interface Vector {
  hash: ScramHash;
  clientNonce: string;
  serverPart: string;
  salt: string;
  clientFirst: string;
  serverFirst: string;
  clientFinal: string;
  serverFinal: string;
}

const RFC5802: Vector = {
  hash: 'SHA-1',
  clientNonce: 'fyko+d2lbbFgONRv9qkxdawL',
  serverPart: '3rfcNHYJY1ZVvWVs7j',
  salt: 'QSXCR+Q6sek8bf92',
  clientFirst: 'n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL',
  serverFirst: 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096',
  clientFinal: 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=',
  serverFinal: 'v=rmF9pqV8S7suAoZWja4dJRkFsKQ=',
};

const RFC7677: Vector = {
  hash: 'SHA-256',
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverPart: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

/**
 * SCRAM-SHA-512 has no RFC example; this one uses RFC 7677's inputs (user "user", password
 * "pencil", its nonces and salt) with SHA-512, computed independently with Python's hashlib
 * (pbkdf2_hmac/hmac/sha512), so the server is checked against another implementation.
 */
const SHA512: Vector = {
  ...RFC7677,
  hash: 'SHA-512',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ==',
  serverFinal: 'v=ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5ZxXnJq199RVG2rR7N7Zw==',
};

const credCache = new Map<string, ScramCredential>();
function cred(hash: ScramHash, password = 'pencil', salt = 'QSXCR+Q6sek8bf92'): ScramCredential {
  const key = `${hash}/${password}/${salt}`;
  let c = credCache.get(key);
  if (!c) {
    c = deriveScramCredential(password, hash, 4096, Buffer.from(salt, 'base64'));
    credCache.set(key, c);
  }
  return c;
}

function server(over: Partial<ScramServerOptions> = {}, accounts: Record<string, ScramCredential> = {}): ScramServer {
  const hash = over.hash ?? 'SHA-256';
  return new ScramServer({
    hash,
    plus: false,
    host: 'localhost',
    fake,
    lookup: async (u) => accounts[u],
    ...over,
  });
}

const buf = (s: string) => Buffer.from(s, 'utf8');
const text = (step: SaslStep) => {
  assert.ok(step.kind === 'challenge' || step.kind === 'success', `expected progress, got ${JSON.stringify(step)}`);
  return step.data?.toString('utf8') ?? '';
};
function assertFailure(step: SaslStep, condition: string): void {
  assert.equal(step.kind, 'failure', `expected ${condition}, got ${JSON.stringify(step)}`);
  if (step.kind === 'failure') assert.equal(step.condition, condition);
}

/** A full exchange with the test client; returns the final step. */
async function exchange(s: ScramServer, c: ScramClient, tamper?: (cb: Buffer) => Buffer): Promise<SaslStep> {
  const first = await s.step(buf(c.first()));
  if (first.kind !== 'challenge') return first;
  return s.step(buf(c.final(first.data.toString('utf8'), tamper)));
}

describe('SCRAM server: RFC test vectors', () => {
  for (const v of [RFC5802, RFC7677, SHA512]) {
    it(`${v.hash}: reproduces the RFC's server-first and server-final`, async () => {
      const s = server({ hash: v.hash, serverNonce: () => v.serverPart }, { user: cred(v.hash, 'pencil', v.salt) });
      assert.equal(s.name, `SCRAM-${v.hash}`);
      assert.equal(text(await s.step(buf(v.clientFirst))), v.serverFirst);
      const last = await s.step(buf(v.clientFinal));
      assert.equal(last.kind, 'success');
      assert.equal(text(last), v.serverFinal);
      if (last.kind === 'success') assert.equal(last.username, 'user');
      assertFailure(await s.step(buf('again')), 'malformed-request');
    });

    it(`${v.hash}: a changed proof is not-authorized`, async () => {
      const s = server({ hash: v.hash, serverNonce: () => v.serverPart }, { user: cred(v.hash, 'pencil', v.salt) });
      await s.step(buf(v.clientFirst));
      assertFailure(await s.step(buf(v.clientFinal.replace(/p=./, 'p=A'))), 'not-authorized');
    });
  }
});

describe('SCRAM server: exchanges', () => {
  const accounts = { user: cred('SHA-256'), 'a,b=c': cred('SHA-256') };

  it('random server nonce extends the client nonce by at least 18 bytes of base64', async () => {
    const s = server({}, accounts);
    const first = text(await s.step(buf('n,,n=user,r=abc')));
    const nonce = /^r=([^,]+),/.exec(first)?.[1] ?? '';
    assert.ok(nonce.startsWith('abc'));
    assert.ok(Buffer.from(nonce.slice(3), 'base64').length >= 18);
  });

  it('succeeds with the right password and the server-final verifies', async () => {
    const c = new ScramClient({ hash: 'SHA-256', username: 'user', password: 'pencil' });
    const last = await exchange(server({}, accounts), c);
    assert.equal(last.kind, 'success');
    assert.ok(c.verifyServerFinal(text(last)));
  });

  it('case-folds the username (SASLprep + localpart profile)', async () => {
    const last = await exchange(server({}, accounts), new ScramClient({ hash: 'SHA-256', username: 'USER', password: 'pencil' }));
    assert.equal(last.kind, 'success');
    if (last.kind === 'success') assert.equal(last.username, 'user');
  });

  it('decodes =2C and =3D in the username', async () => {
    const last = await exchange(server({}, accounts), new ScramClient({ hash: 'SHA-256', username: 'a,b=c', password: 'pencil' }));
    assert.equal(last.kind, 'success');
    if (last.kind === 'success') assert.equal(last.username, 'a,b=c');
  });

  it('answers an <auth/> with no initial response with an empty challenge', async () => {
    const s = server({}, accounts);
    const empty = await s.step(undefined);
    assert.equal(empty.kind, 'challenge');
    if (empty.kind === 'challenge') assert.equal(empty.data.length, 0);
    assert.ok(text(await s.step(buf('n,,n=user,r=abc'))).startsWith('r=abc'));
  });

  it('wrong password and unknown user both get not-authorized, with no text', async () => {
    const wrong = await exchange(server({}, accounts), new ScramClient({ hash: 'SHA-256', username: 'user', password: 'nope' }));
    const unknown = await exchange(server({}, accounts), new ScramClient({ hash: 'SHA-256', username: 'ghost', password: 'pencil' }));
    for (const step of [wrong, unknown]) {
      assertFailure(step, 'not-authorized');
      if (step.kind === 'failure') assert.equal(step.text, undefined);
    }
    if (unknown.kind === 'failure') assert.equal(unknown.username, 'ghost');
  });

  it('gives an unknown user a stable fake salt and the configured iteration count', async () => {
    const first = async (name: string) => text(await server({}, accounts).step(buf(`n,,n=${name},r=abc`)));
    const a = await first('ghost');
    const b = await first('ghost');
    const other = await first('ghost2');
    const salt = (s: string) => /,s=([^,]+),/.exec(s)?.[1];
    assert.equal(salt(a), salt(b));
    assert.notEqual(salt(a), salt(other));
    assert.match(a, /,i=4096$/);
    assert.equal(Buffer.from(salt(a) ?? '', 'base64').length, 16);
  });

  it('accepts the own JID as authzid and refuses another one', async () => {
    const self = await exchange(server({}, accounts), new ScramClient({ hash: 'SHA-256', username: 'user', password: 'pencil', authzid: 'user@localhost' }));
    assert.equal(self.kind, 'success');
    const s = server({}, accounts);
    assertFailure(await s.step(buf('n,a=admin@localhost,n=user,r=abc')), 'invalid-authzid');
    assertFailure(await server({}, accounts).step(buf('n,a=user@elsewhere,n=user,r=abc')), 'invalid-authzid');
  });

  it('refuses a nonce that does not match', async () => {
    const s = server({}, accounts);
    const c = new ScramClient({ hash: 'SHA-256', username: 'user', password: 'pencil' });
    const first = text(await s.step(buf(c.first())));
    assertFailure(await s.step(buf(c.final(first.replace(/^r=([^,]+)/, 'r=$1x')))), 'not-authorized');
  });

  for (const [label, msg] of [
    ['no GS2 header', 'n=user,r=abc'],
    ['a bad cbind flag', 'x,,n=user,r=abc'],
    ['a mandatory extension', 'n,,m=ext,n=user,r=abc'],
    ['no nonce', 'n,,n=user'],
    ['a nonce with a bad character', 'n,,n=user,r=ab\x01c'],
    ['a bad saslname escape', 'n,,n=us=2Xer,r=abc'],
    ['a bad authzid escape', 'n,a=u=,n=user,r=abc'],
    ['an authzid without a=', 'n,b=x,n=user,r=abc'],
    ['channel binding with a non-PLUS mechanism', 'p=tls-exporter,,n=user,r=abc'],
  ] as const) {
    it(`client-first with ${label} is malformed-request`, async () => {
      assertFailure(await server({}, accounts).step(buf(msg)), 'malformed-request');
    });
  }

  it('refuses empty and non-UTF-8 messages as malformed-request', async () => {
    assertFailure(await server({}, accounts).step(Buffer.alloc(0)), 'malformed-request');
    assertFailure(await server({}, accounts).step(Buffer.from([0x6e, 0x2c, 0x2c, 0xff])), 'malformed-request');
  });

  it('refuses a client-final without proof or with bad base64', async () => {
    for (const bad of ['c=biws,r=x', 'c=biws,r=x,p=***', 'r=x,c=biws,p=AAAA']) {
      const s = server({}, accounts);
      await s.step(buf('n,,n=user,r=abc'));
      assertFailure(await s.step(buf(bad)), 'malformed-request');
    }
  });

  it('an unparsable username is not-authorized', async () => {
    assertFailure(await server({}, accounts).step(buf('n,,n=a@b,r=abc')), 'not-authorized');
  });

  it('maps lookup errors: SaslError keeps its condition, others are temporary-auth-failure', async () => {
    for (const condition of ['account-disabled', 'credentials-expired'] as const) {
      const s = server({ lookup: async () => { throw new SaslError(condition); } });
      assertFailure(await s.step(buf('n,,n=user,r=abc')), condition);
    }
    const s = server({ lookup: async () => { throw new Error('database is down'); } });
    assertFailure(await s.step(buf('n,,n=user,r=abc')), 'temporary-auth-failure');
  });
});

describe('SCRAM server: channel binding', () => {
  const accounts = { user: cred('SHA-256') };
  const exporter = Buffer.alloc(32, 1);
  const endPoint = Buffer.alloc(32, 2);
  const bindings = { 'tls-exporter': exporter, 'tls-server-end-point': endPoint };

  for (const [type, data] of [['tls-exporter', exporter], ['tls-server-end-point', endPoint]] as const) {
    it(`-PLUS succeeds with ${type}`, async () => {
      const s = server({ plus: true, channelBindings: bindings }, accounts);
      assert.equal(s.name, 'SCRAM-SHA-256-PLUS');
      const c = new ScramClient({ hash: 'SHA-256', username: 'user', password: 'pencil', binding: { type, data } });
      const last = await exchange(s, c);
      assert.equal(last.kind, 'success');
    });

    it(`-PLUS fails with altered ${type} data`, async () => {
      const s = server({ plus: true, channelBindings: bindings }, accounts);
      const c = new ScramClient({ hash: 'SHA-256', username: 'user', password: 'pencil', binding: { type, data: Buffer.alloc(32, 9) } });
      assertFailure(await exchange(s, c), 'not-authorized');
    });
  }

  for (const type of ['tls-exporter', 'tls-server-end-point'] as const) {
    it(`SCRAM-SHA-512-PLUS succeeds with ${type}, and fails with other binding data`, async () => {
      const accounts512 = { user: cred('SHA-512') };
      const s = server({ hash: 'SHA-512', plus: true, channelBindings: bindings }, accounts512);
      assert.equal(s.name, 'SCRAM-SHA-512-PLUS');
      const ok = new ScramClient({ hash: 'SHA-512', username: 'user', password: 'pencil', binding: { type, data: bindings[type] } });
      assert.equal((await exchange(s, ok)).kind, 'success');
      const s2 = server({ hash: 'SHA-512', plus: true, channelBindings: bindings }, accounts512);
      const bad = new ScramClient({ hash: 'SHA-512', username: 'user', password: 'pencil', binding: { type, data: Buffer.alloc(32, 9) } });
      assertFailure(await exchange(s2, bad), 'not-authorized');
    });
  }

  it('-PLUS fails when c= does not repeat the GS2 header', async () => {
    const s = server({ plus: true, channelBindings: bindings }, accounts);
    const c = new ScramClient({ hash: 'SHA-256', username: 'user', password: 'pencil', binding: { type: 'tls-exporter', data: exporter } });
    assertFailure(await exchange(s, c, (cb) => Buffer.concat([Buffer.from('p=tls-server-end-point,,'), cb.subarray(17)])), 'not-authorized');
  });

  it('-PLUS refuses n, y, unknown and unavailable binding types', async () => {
    const plus = (b: ChannelBindings = bindings) => server({ plus: true, channelBindings: b }, accounts);
    assertFailure(await plus().step(buf('n,,n=user,r=abc')), 'malformed-request');
    assertFailure(await plus().step(buf('y,,n=user,r=abc')), 'malformed-request');
    assertFailure(await plus().step(buf('p=tls-unique,,n=user,r=abc')), 'malformed-request');
    assertFailure(await plus({ 'tls-server-end-point': endPoint }).step(buf('p=tls-exporter,,n=user,r=abc')), 'malformed-request');
  });

  it('downgrade: "y" fails when -PLUS was offered, and works when it was not', async () => {
    const offered = server({ channelBindings: bindings }, accounts);
    assertFailure(await offered.step(buf('y,,n=user,r=abc')), 'not-authorized');
    const explicit = server({ channelBindings: {}, plusOffered: true }, accounts);
    assertFailure(await explicit.step(buf('y,,n=user,r=abc')), 'not-authorized');
    const c = new ScramClient({ hash: 'SHA-256', username: 'user', password: 'pencil', binding: 'y' });
    assert.equal((await exchange(server({}, accounts), c)).kind, 'success');
  });

  it('non-PLUS "n" still works on a connection that could bind', async () => {
    const c = new ScramClient({ hash: 'SHA-256', username: 'user', password: 'pencil' });
    assert.equal((await exchange(server({ channelBindings: bindings }, accounts), c)).kind, 'success');
  });
});

describe('SCRAM server: XEP-0474 downgrade protection', () => {
  const accounts = { user: cred('SHA-256') };
  const offered = ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256', 'PLAIN'];
  const types = ['tls-exporter', 'tls-server-end-point'];

  it('builds the hashed text: mechanisms sorted (i;octet) joined by %x1E, then %x1F and the sorted binding types', () => {
    assert.equal(ssdpInput(offered, types), 'PLAIN\x1eSCRAM-SHA-256\x1eSCRAM-SHA-256-PLUS\x1ftls-exporter\x1etls-server-end-point');
    assert.equal(ssdpInput(['SCRAM-SHA-1'], []), 'SCRAM-SHA-1');
    // i;octet: upper case sorts before lower case, '-' (0x2D) before letters and digits.
    assert.equal(ssdpInput(['b', 'B', 'A-1', 'A1'], []), 'A-1\x1eA1\x1eB\x1eb');
  });

  // XEP-0474 0.5.0 §5.3 "Full Example" (SASL2, SCRAM-SHA-1-PLUS with tls-exporter, password
  // 'pencil'): the hash, the server-first message and the server's signature.
  it("reproduces the XEP's full example", async () => {
    const advertised = ssdpInput(['SCRAM-SHA-1', 'SCRAM-SHA-1-PLUS'], ['tls-server-end-point', 'tls-exporter']);
    assert.equal(advertised, 'SCRAM-SHA-1\x1eSCRAM-SHA-1-PLUS\x1ftls-exporter\x1etls-server-end-point');
    assert.equal(createHash('sha1').update(advertised).digest('base64'), 'G6k/rBLDqgOhRRaCuuatSDFkJ08=');

    const s = server(
      {
        hash: 'SHA-1',
        plus: true,
        advertised,
        channelBindings: { 'tls-exporter': buf('THIS IS FAKE CB DATA') },
        serverNonce: () => 'a09117a6-ac50-4f2f-93f1-93799c2bddf6',
      },
      { user: cred('SHA-1') },
    );
    const clientFirst = Buffer.from('cD10bHMtZXhwb3J0ZXIsLG49dXNlcixyPTEyQzRDRDVDLUUzOEUtNEE5OC04RjZELTE1QzM4RjUxQ0NDNg==', 'base64');
    assert.equal(clientFirst.toString(), 'p=tls-exporter,,n=user,r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6');
    const challenge = text(await s.step(clientFirst));
    assert.equal(challenge, 'r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6a09117a6-ac50-4f2f-93f1-93799c2bddf6,s=QSXCR+Q6sek8bf92,i=4096,h=G6k/rBLDqgOhRRaCuuatSDFkJ08=');
    assert.equal(Buffer.from(challenge).toString('base64'), 'cj0xMkM0Q0Q1Qy1FMzhFLTRBOTgtOEY2RC0xNUMzOEY1MUNDQzZhMDkxMTdhNi1hYzUwLTRmMmYtOTNmMS05Mzc5OWMyYmRkZjYscz1RU1hDUitRNnNlazhiZjkyLGk9NDA5NixoPUc2ay9yQkxEcWdPaFJSYUN1dWF0U0RGa0owOD0=');
    const clientFinal = Buffer.from(
      'Yz1jRDEwYkhNdFpYaHdiM0owWlhJc0xGUklTVk1nU1ZNZ1JrRkxSU0JEUWlCRVFWUkIscj0xMkM0Q0Q1Qy1FMzhFLTRBOTgtOEY2RC0xNUMzOEY1MUNDQzZhMDkxMTdhNi1hYzUwLTRmMmYtOTNmMS05Mzc5OWMyYmRkZjYseD0xOUM2NTMyRi0xQ0Y0LTRBMjctQTE4RC1EQzlDRUE0MUJCQjMscD1NL1NJRGpUK2RmY3hVaDg5alpFeXBSdkZ4QjQ9',
      'base64',
    );
    const last = await s.step(clientFinal);
    assert.equal(last.kind, 'success', JSON.stringify(last));
    assert.equal(text(last), 'v=MQrMPvv7yv4x4Cq4W4Ih25EqS2c=');
  });

  it('server-first carries h=; a client that saw the same list accepts, a stripped list is detected, and the exchange still succeeds', async () => {
    const s = server({ advertised: ssdpInput(offered, types) }, accounts);
    const c = new ScramClient({ hash: 'SHA-256', username: 'user', password: 'pencil' });
    const first = await s.step(buf(c.first()));
    const serverFirst = text(first);
    assert.match(serverFirst, /,i=4096,h=[A-Za-z0-9+/=]+$/);
    assert.equal(c.downgradeCheck(serverFirst, ssdpInput(offered, types)), true);
    // What a client sees when a man in the middle removed -PLUS, or a binding type:
    assert.equal(c.downgradeCheck(serverFirst, ssdpInput(['SCRAM-SHA-256', 'PLAIN'], types)), false);
    assert.equal(c.downgradeCheck(serverFirst, ssdpInput(offered, ['tls-server-end-point'])), false);
    assert.equal(text(await s.step(buf(c.final(serverFirst)))).startsWith('v='), true);
  });

  it('an unknown user gets h= too (the answer does not reveal the account)', async () => {
    const s = server({ advertised: ssdpInput(offered, types) }, accounts);
    assert.match(text(await s.step(buf('n,,n=ghost,r=abc'))), /,h=/);
  });
});

describe('saslname', () => {
  it('decodes and encodes =2C and =3D', () => {
    assert.equal(decodeSaslname('a=2Cb=3Dc'), 'a,b=c');
    assert.equal(encodeSaslname('a,b=c'), 'a=2Cb=3Dc');
    assert.equal(decodeSaslname(encodeSaslname('=,==,,')), '=,==,,');
  });
  it('refuses other escapes, a trailing =, commas and the empty name', () => {
    for (const bad of ['a=2c', 'a=', 'a=3', 'a,b', '', '=41']) assert.equal(decodeSaslname(bad), undefined, bad);
  });
});
