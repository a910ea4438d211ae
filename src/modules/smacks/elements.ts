/**
 * The XEP-0198 elements: parsing what a client sends into a command (never throws; anything
 * malformed becomes `invalid` with the answer it deserves) and building what the server sends.
 */
import { Element } from '../../xml/element.js';
import { NS } from '../../xml/ns.js';
import { streamError } from '../../core/stream-errors.js';
import { parseH } from './counter.js';

export const NS_SM = 'urn:xmpp:sm:3';

export type SmCommand =
  | { kind: 'enable'; resume: boolean; max: number | undefined }
  | { kind: 'r' }
  | { kind: 'a'; h: number }
  | { kind: 'resume'; previd: string; h: number }
  /** `<a/>` with a missing or malformed 'h': a stream error (the peer's counts cannot be trusted). */
  | { kind: 'bad-ack' }
  /** `<resume/>` without a usable previd or h: `<failed><bad-request/></failed>`. */
  | { kind: 'bad-resume' }
  /** Another element in the namespace (`<enabled/>`, `<failed/>`… from a client): `<failed><unexpected-request/>`. */
  | { kind: 'unexpected'; name: string };

/**
 * Ids we hand out are base64url, in a Redis cluster after the holder's member name
 * (`node_id#incarnation.`); anything else (or absurdly long) cannot be ours.
 */
const PREVID = /^(?:[A-Za-z0-9._-]{1,63}#[A-Za-z0-9_-]{1,16}\.)?[A-Za-z0-9_-]{1,64}$/;

export function parseSm(el: Element): SmCommand {
  switch (el.name) {
    case 'enable': {
      const r = el.attrs.resume;
      const max = parseH(el.attrs.max);
      return { kind: 'enable', resume: r === 'true' || r === '1', max: max !== undefined && max > 0 ? max : undefined };
    }
    case 'r':
      return { kind: 'r' };
    case 'a': {
      const h = parseH(el.attrs.h);
      return h === undefined ? { kind: 'bad-ack' } : { kind: 'a', h };
    }
    case 'resume': {
      const h = parseH(el.attrs.h);
      const previd = el.attrs.previd;
      if (h === undefined || previd === undefined || !PREVID.test(previd)) return { kind: 'bad-resume' };
      return { kind: 'resume', previd, h };
    }
    default:
      return { kind: 'unexpected', name: el.name };
  }
}

export type FailedCondition = 'item-not-found' | 'unexpected-request' | 'bad-request' | 'feature-not-implemented';

/** `<failed/>` with a stanza error condition; `h` only where XEP-0198 wants it (a known earlier session). */
export function failed(condition: FailedCondition, h?: number): Element {
  const f = new Element('failed', { xmlns: NS_SM, h: h === undefined ? undefined : String(h) });
  f.c(condition, { xmlns: NS.stanzas });
  return f;
}

export function enabled(id: string | undefined, maxSeconds: number | undefined): Element {
  return id === undefined
    ? new Element('enabled', { xmlns: NS_SM })
    : new Element('enabled', { xmlns: NS_SM, id, resume: 'true', max: maxSeconds === undefined ? undefined : String(maxSeconds) });
}

export function ack(h: number): Element {
  return new Element('a', { xmlns: NS_SM, h: String(h) });
}

export function request(): Element {
  return new Element('r', { xmlns: NS_SM });
}

export function resumed(previd: string, h: number): Element {
  return new Element('resumed', { xmlns: NS_SM, previd, h: String(h) });
}

/** The stream error for an 'h' beyond what was sent (XEP-0198 §4, handled-count-too-high). */
export function countTooHigh(h: number, sent: number): Element {
  const e = streamError('undefined-condition', `you acknowledged ${h} stanzas but only ${sent} were sent`);
  e.c('handled-count-too-high', { xmlns: NS_SM, h: String(h), 'send-count': String(sent) });
  return e;
}
