/**
 * The <body/> wrapper of XEP-0124 (BOSH) with the XEP-0206 XMPP attributes: parsing a request
 * body, building response bodies, and the small decisions that need no session (version
 * negotiation, where a request's rid falls relative to the session's window).
 */
import { Element, NS_STREAM } from '../../xml/element.js';
import { escapeAttr } from '../../xml/escape.js';
import { NS } from '../../xml/ns.js';
import { StreamParser } from '../../xml/parser.js';

export const NS_HTTPBIND = 'http://jabber.org/protocol/httpbind';
export const NS_XBOSH = 'urn:xmpp:xbosh';
/** The highest XEP-0124 version we implement. */
export const BOSH_VERSION = '1.11';

/** Terminal binding conditions (XEP-0124 §17.2) we send. */
export type TerminalCondition = 'bad-request' | 'host-unknown' | 'item-not-found' | 'policy-violation' | 'remote-stream-error' | 'system-shutdown' | 'internal-server-error' | 'improper-addressing';

export interface BodyParseLimits {
  maxBytes: number;
  maxDepth: number;
  maxAttributes: number;
  maxNameLength: number;
}

export type ParsedBody = { ok: true; body: Element } | { ok: false; reason: string };

/**
 * Parse one HTTP request body: exactly one <body xmlns='http://jabber.org/protocol/httpbind'/>.
 * Its child elements are detached and those a client left in the httpbind namespace (no xmlns
 * of their own) are taken as jabber:client, so stanzas always carry a stanza namespace.
 */
export function parseBody(data: Buffer, limits: BodyParseLimits): ParsedBody {
  const roots: Element[] = [];
  let error: string | undefined;
  const parser = new StreamParser(
    {
      streamOpen: () => {},
      stanza: (el) => roots.push(el),
      streamClose: () => {},
      error: (err) => (error ??= `${err.condition}: ${err.text}`),
    },
    {
      framing: 'fragment',
      maxStanzaBytes: limits.maxBytes,
      maxDepth: limits.maxDepth + 1, // the <body/> wrapper is one more level
      maxAttributes: limits.maxAttributes,
      maxNameLength: limits.maxNameLength,
    },
  );
  parser.write(data);
  parser.end();
  if (error !== undefined) return { ok: false, reason: error };
  const [body, extra] = roots;
  if (body === undefined) return { ok: false, reason: 'no <body/> element' };
  if (extra !== undefined) return { ok: false, reason: 'more than one top-level element' };
  if (body.name !== 'body' || body.xmlns !== NS_HTTPBIND) return { ok: false, reason: `expected <body xmlns='${NS_HTTPBIND}'/>` };
  for (const child of body.children) {
    if (typeof child === 'string') continue;
    child.parent = undefined;
    requalify(child);
  }
  return { ok: true, body };
}

function requalify(el: Element): void {
  if (el.xmlns !== NS_HTTPBIND) return;
  el.xmlns = NS.client;
  for (const c of el.children) if (typeof c !== 'string') requalify(c);
}

/** The child elements of a parsed body (text between them is ignored). */
export function payloadOf(body: Element): Element[] {
  return body.getChildren();
}

/** A non-negative integer attribute ("rid", "hold", …), or undefined when absent or malformed. */
export function intAttr(el: Element, name: string): number | undefined {
  const v = el.attrs[name];
  if (v === undefined || !/^\d{1,16}$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The lower of the client's 'ver' and ours (XEP-0124 §7.1); ours when the client gave none. */
export function negotiateVersion(clientVer: string | undefined): string {
  const m = clientVer === undefined ? null : /^(\d+)\.(\d+)$/.exec(clientVer);
  if (!m) return BOSH_VERSION;
  const [ourMajor, ourMinor] = BOSH_VERSION.split('.').map(Number) as [number, number];
  const major = Number(m[1]);
  const minor = Number(m[2]);
  if (major < ourMajor || (major === ourMajor && minor < ourMinor)) return `${major}.${minor}`;
  return BOSH_VERSION;
}

/**
 * A response <body/>: attributes (undefined ones left out) around already-serialized payload.
 * It declares the `stream` prefix (for <stream:features/> and <stream:error/>) and the `xmpp`
 * prefix of XEP-0206's attributes.
 */
export function responseBody(attrs: Record<string, string | number | undefined>, payload = ''): string {
  let s = `<body xmlns='${NS_HTTPBIND}' xmlns:xmpp='${NS_XBOSH}' xmlns:stream='${NS_STREAM}'`;
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) s += ` ${k}='${escapeAttr(String(v))}'`;
  return payload === '' ? `${s}/>` : `${s}>${payload}</body>`;
}

/** A terminating body, with a condition when it is an error. */
export function terminateBody(condition?: TerminalCondition, payload = '', extra: Record<string, string | number | undefined> = {}): string {
  return responseBody({ type: 'terminate', condition, ...extra }, payload);
}

/** Where a request's rid falls for a session whose last in-order rid is `last`. */
export type RidPlace = 'next' | 'ahead' | 'repeat' | 'out-of-window';

/**
 * `next`: the rid we expect; `ahead`: later but within the window of `requests` (held until the
 * gap fills); `repeat`: one we already received, within the window (answer from the cache);
 * `out-of-window`: too far ahead or too old (XEP-0124 §14.2: item-not-found).
 */
export function placeRid(rid: number, last: number, requests: number): RidPlace {
  if (rid === last + 1) return 'next';
  if (rid > last + 1) return rid <= last + requests ? 'ahead' : 'out-of-window';
  return rid > last - requests ? 'repeat' : 'out-of-window';
}
