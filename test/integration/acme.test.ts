/**
 * ACME (src/modules/acme) against Debian's pebble test CA on loopback, its names resolved by a
 * private dnsmasq: a virtual host without a certificate starts on a self-signed stand-in, gets a
 * certificate by http-01 (answered by Canto's own challenge listener) and serves it to new TLS
 * connections without a restart; a renewal replaces it again; with the CA gone, a renewal fails,
 * is logged, and the certificate in use stays.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startDns, dnsmasqSkip, type TestDns } from '../helpers/dnsmasq.js';
import { pebbleMissing, startPebble, type TestPebble } from '../helpers/pebble.js';
import { peerSkip } from '../helpers/peer.js';
import { freePort } from '../helpers/prosody.js';
import { waitFor } from '../../src/testing/index.js';

const DOMAIN = 'chat.example.test';
const skip = peerSkip('pebble', pebbleMissing()) || dnsmasqSkip();

let dns: TestDns | undefined;
let pebble: TestPebble | undefined;
let ts: TestServer | undefined;
let directTlsPort = 0;

/** The certificate a new TLS connection to the direct-TLS port gets for DOMAIN. */
async function servedCertificate(): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: directTlsPort, servername: DOMAIN, rejectUnauthorized: false }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.destroy();
      resolve(new X509Certificate(raw));
    });
    socket.on('error', reject);
  });
}

before(async () => {
  if (skip) return;
  const challengePort = await freePort();
  dns = await startDns({ hosts: { [DOMAIN]: '127.0.0.1' } });
  pebble = await startPebble({ httpPort: challengePort, dnsServer: dns.server });
  const { directory, caCertificate } = pebble;
  ts = await startTestServer((c) => {
    c.virtualhost = [{ ...c.virtualhost[0]!, domain: DOMAIN, certificate: undefined, key: undefined }];
    c.c2s.direct_tls_ports = [0];
    c.http.ports = [0];
    c.acme = { ...c.acme, directory, accept_terms: true, contact: ['admin@example.test'], ca_certificate: caCertificate, challenge_port: challengePort };
  });
  directTlsPort = ts.server.port('c2s_direct_tls');
});

after(async () => {
  await ts?.stop();
  await pebble?.stop();
  await dns?.stop();
});

test('a host without a certificate gets one from the CA and serves it without a restart', { skip }, async () => {
  assert.ok(ts && pebble);
  const root = new X509Certificate(await pebble.issuingRoot());
  let cert: X509Certificate | undefined;
  await waitFor(
    async () => {
      cert = await servedCertificate();
      return cert.issuer !== cert.subject;
    },
    { timeoutMs: 30_000, message: `a CA-issued certificate for ${DOMAIN}; pebble said:\n${pebble.log()}` },
  );
  assert.ok(cert);
  assert.match(cert.subjectAltName ?? '', new RegExp(`DNS:${DOMAIN.replace(/\./g, '\\.')}`));
  // The chain on disk leads to pebble's root of this run.
  const chain = readFileSync(join(ts.config.data_dir, 'acme', `${DOMAIN}.crt`), 'utf8');
  const pems = chain.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  assert.ok(pems.length >= 2, 'leaf and intermediate');
  const intermediate = new X509Certificate(pems[pems.length - 1]!);
  assert.ok(intermediate.verify(root.publicKey), 'the intermediate is signed by the CA root');
  assert.equal(statSync(join(ts.config.data_dir, 'acme', `${DOMAIN}.key`)).mode & 0o077, 0, 'the key is owner-only');
});

test('a certificate not yet due is kept; a due one is renewed and installed; a failure keeps it', { skip }, async () => {
  assert.ok(ts && pebble);
  const acme = ts.server.services.get('acme');
  assert.ok(acme);
  const first = await servedCertificate();
  const current = await acme.renewDue();
  assert.deepEqual(current.map((r) => [r.domain, r.result]), [[DOMAIN, 'current']], 'a fresh certificate is not renewed');

  // Due: pretend the renewal window covers its whole life.
  ts.config.acme.renew_before = 100 * 365 * 86_400_000;
  const renewed = await acme.renewDue();
  assert.deepEqual(renewed.map((r) => [r.domain, r.result]), [[DOMAIN, 'issued']], JSON.stringify(renewed));
  const second = await servedCertificate();
  assert.notEqual(second.serialNumber, first.serialNumber, 'new connections get the renewed certificate');

  await pebble.stop();
  const t0 = Date.now();
  const failed = await acme.renewDue();
  assert.equal(failed[0]?.result, 'failed');
  assert.match(failed[0]?.error ?? '', /cannot reach the ACME directory https:\/\/localhost:\d+\/dir: .*ECONNREFUSED/);
  assert.ok(Date.now() - t0 < 15_000, 'an unreachable CA is reported at once, not after a minute of retries');
  assert.equal((await servedCertificate()).serialNumber, second.serialNumber, 'the certificate in use stays');
});
