/** RFC 6120 §4.9.3 stream error conditions, and building a <stream:error/>. */
import { Element, NS_STREAM } from '../xml/element.js';
import { NS } from '../xml/ns.js';

export type StreamErrorCondition =
  | 'bad-format' | 'bad-namespace-prefix' | 'conflict' | 'connection-timeout' | 'host-gone'
  | 'host-unknown' | 'improper-addressing' | 'internal-server-error' | 'invalid-from'
  | 'invalid-namespace' | 'invalid-xml' | 'not-authorized' | 'not-well-formed' | 'policy-violation'
  | 'remote-connection-failed' | 'reset' | 'resource-constraint' | 'restricted-xml' | 'see-other-host'
  | 'system-shutdown' | 'undefined-condition' | 'unsupported-encoding' | 'unsupported-feature'
  | 'unsupported-stanza-type' | 'unsupported-version';

const CONDITIONS: ReadonlySet<string> = new Set<StreamErrorCondition>([
  'bad-format', 'bad-namespace-prefix', 'conflict', 'connection-timeout', 'host-gone', 'host-unknown',
  'improper-addressing', 'internal-server-error', 'invalid-from', 'invalid-namespace', 'invalid-xml',
  'not-authorized', 'not-well-formed', 'policy-violation', 'remote-connection-failed', 'reset',
  'resource-constraint', 'restricted-xml', 'see-other-host', 'system-shutdown', 'undefined-condition',
  'unsupported-encoding', 'unsupported-feature', 'unsupported-stanza-type', 'unsupported-version',
]);

export function isStreamErrorCondition(s: string): s is StreamErrorCondition {
  return CONDITIONS.has(s);
}

/** `see-other-host` carries the new address as its text content (§4.9.3.19). */
export function streamError(condition: StreamErrorCondition, text?: string, seeOtherHost?: string): Element {
  const e = new Element('error', undefined, NS_STREAM);
  const c = e.c(condition, { xmlns: NS.streams });
  if (seeOtherHost !== undefined) c.t(seeOtherHost);
  if (text) e.c('text', { xmlns: NS.streams, 'xml:lang': 'en' }).t(text);
  return e;
}

/**
 * What `close()` accepts: nothing (clean close); a stream error condition; a condition with a
 * human-readable text; or an element to send before the closing tag (e.g. a prepared
 * <stream:error/>).
 */
export type CloseReason = StreamErrorCondition | { condition: StreamErrorCondition; text?: string } | Element;

/** The one place a close reason becomes the element sent before the stream's end (every framing uses it). */
export function closeReasonElement(reason: CloseReason): Element {
  if (reason instanceof Element) return reason;
  return typeof reason === 'string' ? streamError(reason) : streamError(reason.condition, reason.text);
}

/** A short name for a close reason, for log lines. */
export function describeReason(reason: CloseReason | undefined): string | undefined {
  if (reason === undefined) return undefined;
  if (typeof reason === 'string') return reason;
  if (reason instanceof Element) return reason.getChildren()[0]?.name ?? reason.name;
  return reason.condition;
}
