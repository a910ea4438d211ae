/**
 * The client side of SCRAM (src/sasl/scram-client.ts) used by `canto check features`: the RFC 7677
 * SCRAM-SHA-256 example exchange, byte for byte; a wrong server signature, a nonce the server did
 * not extend and a server error refused; the GS2 header for each binding choice; and which
 * mechanism the feature client picks from what a server offers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScramClient, ScramClientError } from '../../src/sasl/scram-client.js';
import { chooseMechanism } from '../../src/cli/feature-client.js';

// RFC 7677 §3.
const NONCE = 'rOprNGfwEbeRWgbNEkqO';
const SERVER_FIRST = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
const CLIENT_FINAL = 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=';
const SERVER_FINAL = 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=';

test('the RFC 7677 SCRAM-SHA-256 example exchange', () => {
  const c = new ScramClient({ hash: 'SHA-256', username: 'user', password: 'pencil', binding: 'n', nonce: NONCE });
  assert.equal(c.first(), `n,,n=user,r=${NONCE}`);
  assert.equal(c.final(SERVER_FIRST), CLIENT_FINAL);
  c.verify(SERVER_FINAL);
});

test('a wrong server signature, an unextended nonce and a server error are refused', () => {
  const c = new ScramClient({ hash: 'SHA-256', username: 'user', password: 'pencil', binding: 'n', nonce: NONCE });
  assert.throws(() => c.verify(SERVER_FINAL), ScramClientError, 'no signature is expected before final()');
  c.final(SERVER_FIRST);
  assert.throws(() => c.verify('v=AAAA'), /server signature is wrong/);
  assert.throws(() => c.verify('e=invalid-proof'), /ended SCRAM with an error: invalid-proof/);
  const other = new ScramClient({ hash: 'SHA-256', username: 'user', password: 'pencil', binding: 'n', nonce: NONCE });
  assert.throws(() => other.final(`r=${NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`), /does not extend the client nonce/);
  assert.throws(() => other.final('r=someone-else,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'), /does not extend the client nonce/);
  assert.throws(() => other.final('garbage'), /malformed SCRAM message/);
});

test('the GS2 header says how the client binds, and the binding data goes in c=', () => {
  const data = Buffer.from('exporter-bytes');
  const plus = new ScramClient({ hash: 'SHA-256', username: 'a,b=c', password: 'pencil', binding: { type: 'tls-exporter', data }, nonce: NONCE });
  assert.equal(plus.first(), `p=tls-exporter,,n=a=2Cb=3Dc,r=${NONCE}`);
  const c = Buffer.from(plus.final(SERVER_FIRST).split(',')[0]?.slice(2) ?? '', 'base64');
  assert.deepEqual(c, Buffer.concat([Buffer.from('p=tls-exporter,,'), data]));
  assert.match(new ScramClient({ hash: 'SHA-256', username: 'u', password: 'p', binding: 'y' }).first(), /^y,,n=u,r=/);
});

test('the feature client logs in with the strongest mechanism both sides have', () => {
  const all = ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'];
  assert.equal(chooseMechanism(all, ['tls-exporter', 'tls-server-end-point'], true), 'SCRAM-SHA-256-PLUS');
  assert.equal(chooseMechanism(all, undefined, true), 'SCRAM-SHA-256-PLUS', 'no XEP-0440 list: try the exporter');
  assert.equal(chooseMechanism(all, ['tls-server-end-point'], true), 'SCRAM-SHA-256', 'the server does not bind to the exporter');
  assert.equal(chooseMechanism(all, ['tls-exporter'], false), 'SCRAM-SHA-256', 'no exporter on this connection (TLS 1.2)');
  assert.equal(chooseMechanism(['SCRAM-SHA-1', 'PLAIN'], undefined, true), 'PLAIN');
  assert.equal(chooseMechanism(['SCRAM-SHA-1'], undefined, true), undefined);
});
