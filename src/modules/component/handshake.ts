/**
 * XEP-0114 §2 handshake: the component proves it knows the shared secret by sending the
 * lower-case hex SHA-1 of the stream id followed by the secret. Compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** The digest a component must send for this stream id and secret (UTF-8 concatenation). */
export function handshakeDigest(streamId: string, secret: string): string {
  return createHash('sha1').update(streamId + secret, 'utf8').digest('hex');
}

/** Whether `received` (the <handshake/> text) is the right digest; case and whitespace tolerant. */
export function verifyHandshake(received: string, streamId: string, secret: string): boolean {
  const expected = Buffer.from(handshakeDigest(streamId, secret), 'latin1');
  const given = Buffer.from(received.trim().toLowerCase(), 'latin1');
  // The expected length (40) is public; only the content must not leak through timing.
  if (given.length !== expected.length) return false;
  return timingSafeEqual(given, expected);
}
