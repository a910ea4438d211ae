/**
 * Server Dialback (XEP-0220) elements and keys. Keys follow XEP-0185:
 *   key = HEX( HMAC-SHA256( HEX(SHA256(secret)), receiving + ' ' + originating + ' ' + streamId ) )
 * so the authoritative server can check a key without remembering it.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Element } from '../../xml/element.js';
import { NS } from '../../xml/ns.js';
import type { StanzaErrorCondition } from '../../xml/stanza.js';

export const NS_DIALBACK = 'jabber:server:dialback';
export const NS_DIALBACK_FEATURE = 'urn:xmpp:features:dialback';

export function dialbackKey(secret: string, receiving: string, originating: string, streamId: string): string {
  const hmacKey = createHash('sha256').update(secret).digest('hex');
  return createHmac('sha256', hmacKey).update(`${receiving} ${originating} ${streamId}`).digest('hex');
}

/** Constant-time comparison of a presented key with the expected one. */
export function keyMatches(secret: string, receiving: string, originating: string, streamId: string, presented: string): boolean {
  const expected = Buffer.from(dialbackKey(secret, receiving, originating, streamId));
  const given = Buffer.from(presented.trim());
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** `<db:result from to>key</db:result>`: the originating server asks to be let in. */
export function resultRequest(from: string, to: string, key: string): Element {
  return new Element('result', { xmlns: NS_DIALBACK, from, to }).t(key);
}

/** `<db:verify from to id>key</db:verify>`: the receiving server asks the authoritative one. */
export function verifyRequest(from: string, to: string, id: string, key: string): Element {
  return new Element('verify', { xmlns: NS_DIALBACK, from, to, id }).t(key);
}

export type DialbackAnswer = 'valid' | 'invalid';

/** A typed db:result or db:verify answer; 'error' carries a stanza error condition (XEP-0220 §2.4). */
export function answer(
  name: 'result' | 'verify',
  attrs: { from: string; to: string; id?: string },
  type: DialbackAnswer | 'error',
  condition?: StanzaErrorCondition,
  text?: string,
): Element {
  const el = new Element(name, { xmlns: NS_DIALBACK, ...attrs, type });
  if (type === 'error') {
    const err = el.c('error', { type: condition === 'remote-server-timeout' ? 'wait' : 'cancel' });
    err.c(condition ?? 'undefined-condition', { xmlns: NS.stanzas });
    if (text) err.c('text', { xmlns: NS.stanzas }).t(text);
  }
  return el;
}

/** `<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>` (we understand dialback errors). */
export function dialbackFeature(): Element {
  const f = new Element('dialback', { xmlns: NS_DIALBACK_FEATURE });
  f.c('errors');
  return f;
}
