/**
 * The HT-* SASL mechanisms (draft-schmaus-kitten-sasl-ht) that XEP-0484 FAST uses: one message
 * from the client, `authcid NUL HMAC(token, "Initiator" || cb-data)`, answered on success with
 * `HMAC(token, "Responder" || cb-data)` as additional data. cb-data is empty for -NONE, the
 * tls-server-end-point binding for -ENDP and the tls-exporter binding for -EXPR.
 *
 * Tokens are longer than SHA-256's 64-byte block, and HMAC hashes such keys first (RFC 2104
 * §2), so HMAC(token, m) = HMAC(SHA-256(token), m): the server keeps only SHA-256(token) and
 * still verifies exactly. (That digest still verifies logins, so the store is as sensitive as
 * the tokens; what it saves is the token text itself being written anywhere.)
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { ChannelBindingType } from '../../sasl/channel-binding.js';

export type FastMechanism = 'HT-SHA-256-NONE' | 'HT-SHA-256-ENDP' | 'HT-SHA-256-EXPR';

/** Offer order: channel-bound first (a stolen token is useless on another TLS channel). */
export const FAST_MECHANISMS: readonly FastMechanism[] = ['HT-SHA-256-EXPR', 'HT-SHA-256-ENDP', 'HT-SHA-256-NONE'];

export function isFastMechanism(name: string): name is FastMechanism {
  return (FAST_MECHANISMS as readonly string[]).includes(name);
}

/** The channel binding a mechanism needs, undefined for -NONE. */
export function bindingOf(mechanism: FastMechanism): ChannelBindingType | undefined {
  if (mechanism === 'HT-SHA-256-EXPR') return 'tls-exporter';
  if (mechanism === 'HT-SHA-256-ENDP') return 'tls-server-end-point';
  return undefined;
}

/** Random bytes per token: 54 → 72 base64url characters, over the 64-byte HMAC block. */
export const TOKEN_BYTES = 54;

/** What the server stores for a token: SHA-256 of its text, base64. */
export function tokenKey(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64');
}

export function initiatorProof(key: Buffer, cbData: Buffer): Buffer {
  return createHmac('sha256', key).update(Buffer.concat([Buffer.from('Initiator'), cbData])).digest();
}

export function responderProof(key: Buffer, cbData: Buffer): Buffer {
  return createHmac('sha256', key).update(Buffer.concat([Buffer.from('Responder'), cbData])).digest();
}

export function proofMatches(key: Buffer, cbData: Buffer, proof: Buffer): boolean {
  const expected = initiatorProof(key, cbData);
  return proof.length === expected.length && timingSafeEqual(proof, expected);
}

/** Split `authcid NUL proof` (the proof is binary and may hold NULs: split at the first). */
export function parseHtMessage(message: Buffer): { authcid: string; proof: Buffer } | undefined {
  const nul = message.indexOf(0);
  if (nul <= 0 || nul > 1023) return undefined;
  const proof = message.subarray(nul + 1);
  if (proof.length !== 32) return undefined;
  try {
    return { authcid: new TextDecoder('utf-8', { fatal: true }).decode(message.subarray(0, nul)), proof };
  } catch {
    return undefined;
  }
}
