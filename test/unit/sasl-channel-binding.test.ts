import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { createServer, connect, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import { serverChannelBindings, serverEndPointHash, tlsExporter, tlsServerEndPoint } from '../../src/sasl/channel-binding.js';

/** DER: tag, length, content. */
function tlv(tag: number, content: Buffer): Buffer {
  const len = content.length;
  const head = len < 0x80 ? Buffer.from([tag, len]) : len < 0x100 ? Buffer.from([tag, 0x81, len]) : Buffer.from([tag, 0x82, len >> 8, len & 0xff]);
  return Buffer.concat([head, content]);
}
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const bytes = [a * 40 + b];
  for (const n of rest) {
    const enc = [n & 0x7f];
    for (let v = n >> 7; v > 0; v >>= 7) enc.unshift((v & 0x7f) | 0x80);
    bytes.push(...enc);
  }
  return tlv(0x06, Buffer.from(bytes));
}
/** A certificate-shaped structure with the given signatureAlgorithm (enough for the hash choice). */
function fakeCert(algorithm: Buffer): Buffer {
  return tlv(0x30, Buffer.concat([tlv(0x30, Buffer.from([0x02, 0x01, 0x01])), algorithm, tlv(0x03, Buffer.from([0, 1, 2]))]));
}
const alg = (o: string, params?: Buffer) => tlv(0x30, Buffer.concat([oid(o), ...(params ? [params] : [])]));

describe('tls-server-end-point hash choice (RFC 5929 §4.1)', () => {
  const certs: Record<string, Buffer> = {};
  before(async () => {
    for (const a of ['sha1', 'sha256', 'sha384', 'sha512']) {
      const pems = await generate([{ name: 'commonName', value: 'localhost' }], { algorithm: a, keyType: 'ec' });
      certs[a] = new X509Certificate(pems.cert).raw;
    }
  });

  it('uses the certificate signature hash for SHA-256/384/512 and SHA-256 for SHA-1', () => {
    assert.equal(serverEndPointHash(certs.sha1 as Buffer), 'sha256');
    assert.equal(serverEndPointHash(certs.sha256 as Buffer), 'sha256');
    assert.equal(serverEndPointHash(certs.sha384 as Buffer), 'sha384');
    assert.equal(serverEndPointHash(certs.sha512 as Buffer), 'sha512');
  });

  it('hashes the DER with that hash', () => {
    const der = certs.sha384 as Buffer;
    assert.deepEqual(tlsServerEndPoint(der), createHash('sha384').update(der).digest());
    const sha1 = certs.sha1 as Buffer;
    assert.deepEqual(tlsServerEndPoint(sha1), createHash('sha256').update(sha1).digest());
  });

  it('maps MD5/SHA-1 RSA to SHA-256 and keeps SHA-384 RSA', () => {
    assert.equal(serverEndPointHash(fakeCert(alg('1.2.840.113549.1.1.4', tlv(0x05, Buffer.alloc(0))))), 'sha256');
    assert.equal(serverEndPointHash(fakeCert(alg('1.2.840.113549.1.1.5', tlv(0x05, Buffer.alloc(0))))), 'sha256');
    assert.equal(serverEndPointHash(fakeCert(alg('1.2.840.113549.1.1.12', tlv(0x05, Buffer.alloc(0))))), 'sha384');
  });

  it('reads the hash of RSASSA-PSS from its parameters (default SHA-1 → SHA-256)', () => {
    const pss = (hashOid?: string) =>
      fakeCert(alg('1.2.840.113549.1.1.10', tlv(0x30, hashOid ? tlv(0xa0, alg(hashOid)) : Buffer.alloc(0))));
    assert.equal(serverEndPointHash(pss('2.16.840.1.101.3.4.2.3')), 'sha512');
    assert.equal(serverEndPointHash(pss()), 'sha256');
  });

  it('is undefined for Ed25519, unknown algorithms and garbage', () => {
    assert.equal(serverEndPointHash(fakeCert(alg('1.3.101.112'))), undefined);
    assert.equal(serverEndPointHash(fakeCert(alg('1.2.3.4'))), undefined);
    assert.equal(serverEndPointHash(Buffer.from([0x30, 0x05, 0x01])), undefined);
    assert.equal(tlsServerEndPoint(Buffer.alloc(0)), undefined);
  });
});

describe('channel bindings of a live TLS connection', () => {
  async function pair(maxVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<{ server: TLSSocket; client: TLSSocket; der: Buffer; close: () => void }> {
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], { algorithm: 'sha384', keyType: 'ec' });
    let onSecure: (s: TLSSocket) => void = () => {};
    const gotServer = new Promise<TLSSocket>((r) => (onSecure = r));
    const srv = createServer({ cert: pems.cert, key: pems.private, maxVersion }, (sock) => onSecure(sock));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const client = await new Promise<TLSSocket>((r) => {
      const c = connect({ port: (srv.address() as AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false, maxVersion }, () => r(c));
    });
    const s = await gotServer;
    return {
      server: s,
      client,
      der: new X509Certificate(pems.cert).raw,
      close: () => {
        client.destroy();
        s.destroy();
        srv.close();
      },
    };
  }

  it('TLS 1.3: tls-exporter matches the client; tls-server-end-point uses the sent certificate', async () => {
    const p = await pair('TLSv1.3');
    try {
      const b = serverChannelBindings(p.server);
      assert.deepEqual(b['tls-exporter'], p.client.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0)));
      assert.deepEqual(b['tls-server-end-point'], createHash('sha384').update(p.client.getPeerCertificate().raw).digest());
    } finally {
      p.close();
    }
  });

  it('TLS 1.2: no tls-exporter, tls-server-end-point still there', async () => {
    const p = await pair('TLSv1.2');
    try {
      const b = serverChannelBindings(p.server);
      assert.equal(b['tls-exporter'], undefined);
      assert.deepEqual(b['tls-server-end-point'], createHash('sha384').update(p.der).digest());
    } finally {
      p.close();
    }
  });

  it('no socket, no bindings', () => {
    assert.deepEqual(serverChannelBindings(undefined), {});
  });

  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`${version}: the bindings list their types without computing, then compute each value once`, async () => {
      const p = await pair(version);
      try {
        let certificateReads = 0;
        const original = p.server.getCertificate.bind(p.server);
        p.server.getCertificate = () => {
          certificateReads++;
          return original();
        };
        const lazy = serverChannelBindings(p.server, p.der);
        assert.deepEqual(Object.keys(lazy), version === 'TLSv1.3' ? ['tls-exporter', 'tls-server-end-point'] : ['tls-server-end-point']);
        assert.equal('tls-server-end-point' in lazy, true);
        assert.equal(certificateReads, 0, 'listing the types must not fetch the certificate');
        assert.deepEqual(lazy['tls-server-end-point'], tlsServerEndPoint(p.der));
        assert.deepEqual(lazy['tls-exporter'], version === 'TLSv1.3' ? tlsExporter(p.server) : undefined);
        assert.ok(lazy['tls-server-end-point'] !== undefined, 'read again from the memo');
        assert.equal(certificateReads, 1, 'one read for the value, none after');
      } finally {
        p.close();
      }
    });
  }
});
