/**
 * TLS channel bindings for SCRAM-*-PLUS:
 *
 * - `tls-exporter` (RFC 9266): 32 bytes from the TLS exporter with the label
 *   "EXPORTER-Channel-Binding" and an empty context. Only on TLS 1.3: on TLS 1.2 the exporter
 *   is unsafe without extended master secret, which Node does not let us check.
 * - `tls-server-end-point` (RFC 5929 §4): a hash of the server certificate (DER). The hash is
 *   the one in the certificate's signature algorithm, except that MD5 and SHA-1 become
 *   SHA-256; for algorithms with no single hash (Ed25519, Ed448) the binding is undefined.
 */
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

export type ChannelBindingType = 'tls-exporter' | 'tls-server-end-point';
export type ChannelBindings = Partial<Record<ChannelBindingType, Buffer>>;

/** Offered in this order (XEP-0440 lists them; tls-exporter is the stronger one). */
export const CHANNEL_BINDING_TYPES: readonly ChannelBindingType[] = ['tls-exporter', 'tls-server-end-point'];

export type EndPointHash = 'sha224' | 'sha256' | 'sha384' | 'sha512';

const SIGNATURE_HASHES: Record<string, EndPointHash | 'sha1' | 'md5' | 'pss' | 'none'> = {
  '1.2.840.113549.1.1.4': 'md5', // md5WithRSAEncryption
  '1.2.840.113549.1.1.5': 'sha1', // sha1WithRSAEncryption
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.113549.1.1.10': 'pss', // RSASSA-PSS: the hash is in the parameters
  '1.2.840.10045.4.1': 'sha1', // ecdsa-with-SHA1
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.10040.4.3': 'sha1', // dsa-with-sha1
  '2.16.840.1.101.3.4.3.1': 'sha224', // dsa-with-sha224
  '2.16.840.1.101.3.4.3.2': 'sha256', // dsa-with-sha256
  '1.3.101.112': 'none', // Ed25519
  '1.3.101.113': 'none', // Ed448
};

const DIGEST_OIDS: Record<string, EndPointHash | 'sha1'> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

/** One DER tag-length-value at `offset` (definite lengths only, as DER requires). */
function readTlv(der: Buffer, offset: number, limit = der.length): Tlv {
  if (offset + 2 > limit) throw new Error('truncated DER');
  const tag = der[offset] as number;
  let len = der[offset + 1] as number;
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (der[start + i] as number);
    start += n;
  }
  if (start + len > limit) throw new Error('truncated DER');
  return { tag, start, end: start + len };
}

function decodeOid(bytes: Buffer): string {
  const first = bytes[0] ?? 0;
  const parts = [Math.min(2, Math.floor(first / 40)), first - Math.min(2, Math.floor(first / 40)) * 40];
  let value = 0;
  for (let i = 1; i < bytes.length; i++) {
    const b = bytes[i] as number;
    value = value * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

/** AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL } at `at`. */
function readAlgorithm(der: Buffer, at: Tlv): { oid: string; params: Tlv | undefined } {
  if (at.tag !== 0x30) throw new Error('expected an AlgorithmIdentifier');
  const oid = readTlv(der, at.start, at.end);
  if (oid.tag !== 0x06) throw new Error('expected an OID');
  const params = oid.end < at.end ? readTlv(der, oid.end, at.end) : undefined;
  return { oid: decodeOid(der.subarray(oid.start, oid.end)), params };
}

/** RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0] AlgorithmIdentifier DEFAULT sha1, … } */
function pssHash(der: Buffer, params: Tlv | undefined): EndPointHash | 'sha1' | undefined {
  if (!params || params.tag !== 0x30) return 'sha1';
  if (params.start === params.end) return 'sha1';
  const first = readTlv(der, params.start, params.end);
  if (first.tag !== 0xa0) return 'sha1';
  const alg = readAlgorithm(der, readTlv(der, first.start, first.end));
  return DIGEST_OIDS[alg.oid];
}

/**
 * The hash RFC 5929 §4.1 picks for this certificate (DER), or undefined when the binding is
 * undefined for it (no single hash, unknown algorithm, unparsable certificate).
 */
export function serverEndPointHash(der: Buffer): EndPointHash | undefined {
  try {
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    const cert = readTlv(der, 0);
    if (cert.tag !== 0x30) return undefined;
    const tbs = readTlv(der, cert.start, cert.end);
    const alg = readAlgorithm(der, readTlv(der, tbs.end, cert.end));
    let hash = SIGNATURE_HASHES[alg.oid];
    if (hash === 'pss') hash = pssHash(der, alg.params);
    if (hash === undefined || hash === 'none') return undefined;
    return hash === 'md5' || hash === 'sha1' ? 'sha256' : hash;
  } catch {
    return undefined;
  }
}

/** The tls-server-end-point binding data for a server certificate (DER). */
export function tlsServerEndPoint(der: Buffer): Buffer | undefined {
  const hash = serverEndPointHash(der);
  return hash === undefined ? undefined : createHash(hash).update(der).digest();
}

/** The tls-exporter binding data, on TLS 1.3 only. */
export function tlsExporter(socket: TLSSocket): Buffer | undefined {
  if (socket.getProtocol() !== 'TLSv1.3') return undefined;
  try {
    return socket.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0));
  } catch {
    return undefined;
  }
}

/** The certificate this side of the connection presented, as DER. */
function localCertificateDer(socket: TLSSocket): Buffer | undefined {
  const cert = socket.getCertificate();
  if (cert && 'raw' in cert && Buffer.isBuffer(cert.raw)) return cert.raw;
  return undefined;
}

/**
 * Every binding a server-side TLS socket supports, each computed only when read. Which types
 * exist is known cheaply (TLS 1.3 for tls-exporter; a certificate whose hash is known for
 * tls-server-end-point) and is all that advertising needs, so `Object.keys()` and `in` compute
 * nothing; reading a value computes it once. Most logins never use channel binding, and
 * fetching the presented certificate (`getCertificate()` parses it and computes three
 * fingerprints) plus the exporter was ~6 % of the server's CPU per login in the bench profile.
 * `certificateDer` (the configured certificate) stands in for the presented one when deciding
 * whether tls-server-end-point exists, and is used when the socket cannot say what it sent.
 */
export function serverChannelBindings(socket: TLSSocket | undefined, certificateDer?: Buffer): ChannelBindings {
  if (!socket) return {};
  const out: ChannelBindings = {};
  const define = (type: ChannelBindingType, compute: () => Buffer | undefined): void => {
    let done = false;
    let value: Buffer | undefined;
    Object.defineProperty(out, type, {
      enumerable: true,
      get: () => {
        if (!done) {
          value = compute();
          done = true;
        }
        return value;
      },
    });
  };
  if (socket.getProtocol() === 'TLSv1.3') define('tls-exporter', () => tlsExporter(socket));
  const reference = certificateDer ?? localCertificateDer(socket);
  if (reference !== undefined && hasEndPointHash(reference)) {
    define('tls-server-end-point', () => tlsServerEndPoint(localCertificateDer(socket) ?? reference));
  }
  return out;
}

/** serverEndPointHash parses the certificate: remembered per (configured, long-lived) DER buffer. */
const endPointUsable = new WeakMap<Buffer, boolean>();
function hasEndPointHash(der: Buffer): boolean {
  let usable = endPointUsable.get(der);
  if (usable === undefined) {
    usable = serverEndPointHash(der) !== undefined;
    endPointUsable.set(der, usable);
  }
  return usable;
}
