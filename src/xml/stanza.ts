/**
 * Stanza builders and the reply/error helpers every module uses, so no module hand-writes
 * an error stanza (RFC 6120 §8.3).
 */
import { Element, type AttrsInput } from './element.js';
import { NS } from './ns.js';

export type StanzaKind = 'message' | 'presence' | 'iq';
export type ErrorType = 'auth' | 'cancel' | 'continue' | 'modify' | 'wait';

/** RFC 6120 §8.3.3 defined stanza error conditions. */
export type StanzaErrorCondition =
  | 'bad-request' | 'conflict' | 'feature-not-implemented' | 'forbidden' | 'gone'
  | 'internal-server-error' | 'item-not-found' | 'jid-malformed' | 'not-acceptable'
  | 'not-allowed' | 'not-authorized' | 'policy-violation' | 'recipient-unavailable'
  | 'redirect' | 'registration-required' | 'remote-server-not-found'
  | 'remote-server-timeout' | 'resource-constraint' | 'service-unavailable'
  | 'subscription-required' | 'undefined-condition' | 'unexpected-request';

/** The error type RFC 6120 §8.3.3 suggests for each condition. */
export const DEFAULT_ERROR_TYPE: Record<StanzaErrorCondition, ErrorType> = {
  'bad-request': 'modify', conflict: 'cancel', 'feature-not-implemented': 'cancel', forbidden: 'auth',
  gone: 'cancel', 'internal-server-error': 'cancel', 'item-not-found': 'cancel', 'jid-malformed': 'modify',
  'not-acceptable': 'modify', 'not-allowed': 'cancel', 'not-authorized': 'auth', 'policy-violation': 'modify',
  'recipient-unavailable': 'wait', redirect: 'modify', 'registration-required': 'auth',
  'remote-server-not-found': 'cancel', 'remote-server-timeout': 'wait', 'resource-constraint': 'wait',
  'service-unavailable': 'cancel', 'subscription-required': 'auth', 'undefined-condition': 'cancel',
  'unexpected-request': 'wait',
};

export function iq(attrs?: AttrsInput): Element {
  return new Element('iq', attrs, NS.client);
}
export function message(attrs?: AttrsInput): Element {
  return new Element('message', attrs, NS.client);
}
export function presence(attrs?: AttrsInput): Element {
  return new Element('presence', attrs, NS.client);
}

/** A reply skeleton: same kind and id, to/from swapped; iq replies get type 'result'. */
export function reply(stanza: Element, attrs?: AttrsInput): Element {
  const base: AttrsInput = { to: stanza.attrs.from, from: stanza.attrs.to, id: stanza.attrs.id };
  if (stanza.name === 'iq') base.type = 'result';
  else if (stanza.attrs.type !== undefined && stanza.name === 'message') base.type = stanza.attrs.type;
  return new Element(stanza.name, { ...base, ...attrs }, stanza.xmlns || NS.client);
}

/**
 * An error reply per RFC 6120 §8.3: same id, addresses swapped, type 'error', the original
 * payload kept for message/presence (allowed by §8.3.1) but not for iq results.
 */
export function errorReply(
  stanza: Element,
  condition: StanzaErrorCondition,
  text?: string,
  type: ErrorType = DEFAULT_ERROR_TYPE[condition],
  by?: string,
): Element {
  const err = new Element(stanza.name, { to: stanza.attrs.from, from: stanza.attrs.to, id: stanza.attrs.id, type: 'error' }, stanza.xmlns || NS.client);
  if (stanza.name !== 'iq') {
    for (const c of stanza.children) if (typeof c !== 'string' && c.name !== 'error') err.cnode(c.clone());
  }
  err.cnode(stanzaError(condition, text, type, by, err.xmlns));
  return err;
}

/** The <error/> child of an error stanza, in the stanza's namespace (`ns`) so it is serialized without a stray xmlns. */
export function stanzaError(
  condition: StanzaErrorCondition,
  text?: string,
  type: ErrorType = DEFAULT_ERROR_TYPE[condition],
  by?: string,
  ns: string = NS.client,
): Element {
  const e = new Element('error', { type, by }, ns);
  e.c(condition, { xmlns: NS.stanzas });
  if (text) e.c('text', { xmlns: NS.stanzas, 'xml:lang': 'en' }).t(text);
  return e;
}

/** Whether a stanza may be answered with an error (never answer an error with an error, §8.3.1). */
export function canReplyWithError(stanza: Element): boolean {
  const type = stanza.attrs.type;
  if (type === 'error') return false;
  if (stanza.name === 'iq') return type === 'get' || type === 'set';
  return true;
}

/**
 * A copy of `stanza` in the client namespace: a stanza that came from another server is a
 * jabber:server element (its children too). At the top of a client stream the serializer hides
 * that, but a stanza nested in another (a carbon, an archived message in a MAM result, XEP-0297
 * forwarding) must be written as jabber:client, so nesting code uses this copy.
 */
export function asClientStanza(stanza: Element): Element {
  const copy = stanza.clone();
  const rewrite = (el: Element): void => {
    if (el.xmlns === NS.server) el.xmlns = NS.client;
    for (const child of el.elements) rewrite(child);
  };
  rewrite(copy);
  return copy;
}
