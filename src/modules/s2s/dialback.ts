/**
 * Server Dialback (XEP-0220) elements and keys. Keys follow XEP-0185:
 *   key = HEX( HMAC-SHA256( HEX(SHA256(secret)), receiving + ' ' + originating + ' ' + streamId ) )
 * so the authoritative server can check a key without remembering it.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Element, serialize } from '../../xml/element.js';
import { escapeAttr, escapeText } from '../../xml/escape.js';
import { NS } from '../../xml/ns.js';
import type { StanzaErrorCondition } from '../../xml/stanza.js';

export const NS_DIALBACK = 'jabber:server:dialback';
export const NS_DIALBACK_FEATURE = 'urn:xmpp:features:dialback';
/** XEP-0288: the stream feature and the request. */
export const NS_BIDI_FEATURE = 'urn:xmpp:features:bidi';
export const NS_BIDI = 'urn:xmpp:bidi';

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
    // In the stream's content namespace (jabber:server), as XEP-0220's examples write it.
    const err = el.c('error', { xmlns: NS.server, type: condition === 'remote-server-timeout' ? 'wait' : 'cancel' });
    err.c(condition ?? 'undefined-condition', { xmlns: NS.stanzas });
    if (text) err.c('text', { xmlns: NS.stanzas }).t(text);
  }
  return el;
}

/**
 * As the authoritative server: the answer to a `db:verify` request (valid, invalid, or
 * item-not-found for a domain not served here), whichever stream it arrived on; undefined when the
 * request lacks from, to or id (the caller closes the stream with improper-addressing).
 */
export function authoritativeAnswer(el: Element, secret: string, serves: (domain: string) => boolean): { answer: Element; valid: boolean } | undefined {
  const receiving = el.attrs.from;
  const originating = el.attrs.to;
  const verifyId = el.attrs.id;
  if (receiving === undefined || originating === undefined || verifyId === undefined) return undefined;
  const attrs = { from: originating, to: receiving, id: verifyId };
  if (!serves(originating)) return { answer: answer('verify', attrs, 'error', 'item-not-found', `this server does not serve ${originating}`), valid: false };
  const valid = keyMatches(secret, receiving, originating, verifyId, el.getText());
  return { answer: answer('verify', attrs, valid ? 'valid' : 'invalid'), valid };
}

/** `<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>` (we understand dialback errors). */
export function dialbackFeature(): Element {
  const f = new Element('dialback', { xmlns: NS_DIALBACK_FEATURE });
  f.c('errors');
  return f;
}

/**
 * A dialback element as it goes on a server stream: `<db:result …>` with the `db` prefix every
 * s2s stream header declares (writeStreamHeader), children in the stream's jabber:server scope.
 * Namespace-aware peers accept either form, but ejabberd's codec knows dialback elements only by
 * their prefixed name and silently drops `<result xmlns='jabber:server:dialback'>`, so the
 * prefixed form is the one every server writes and the one Canto sends.
 */
export function dialbackWire(el: Element): string {
  let s = `<db:${el.name}`;
  for (const [k, v] of Object.entries(el.attrs)) s += ` ${k}="${escapeAttr(v)}"`;
  if (el.children.length === 0) return `${s}/>`;
  s += '>';
  for (const c of el.children) s += typeof c === 'string' ? escapeText(c) : serialize(c, NS.server);
  return `${s}</db:${el.name}>`;
}
