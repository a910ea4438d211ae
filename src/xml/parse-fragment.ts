/**
 * Parse one stored XML element (e.g. a vCard or an offline message kept as a string) back
 * into an Element, with the same hardened parser the streams use. An element written without
 * a namespace is read in `defaultNs` (jabber:client unless told otherwise).
 */
import { Element, RawElement } from './element.js';
import { StreamParser } from './parser.js';
import { NS } from './ns.js';

export class XmlFragmentError extends Error {}

export function parseXmlFragment(xml: string, opts: { maxBytes?: number; defaultNs?: string } = {}): Element {
  const found: Element[] = [];
  let failure: string | undefined;
  const parser = new StreamParser(
    {
      streamOpen: () => {},
      stanza: (el) => void found.push(el),
      streamClose: () => {},
      error: (err) => {
        failure = `${err.condition}: ${err.text}`;
      },
    },
    { framing: 'fragment', maxStanzaBytes: opts.maxBytes ?? 16 * 1024 * 1024 },
  );
  const ns = opts.defaultNs ?? NS.client;
  // Wrap so unprefixed names resolve in the default namespace, as they would inside a stream.
  parser.write(`<wrap xmlns='${ns}'>${xml}</wrap>`);
  parser.end();
  if (failure) throw new XmlFragmentError(failure);
  const wrap = found[0];
  const el = wrap?.elements[0];
  if (!wrap || !el || found.length !== 1 || wrap.elements.length !== 1) throw new XmlFragmentError('expected exactly one element');
  el.parent = undefined;
  return el;
}

/**
 * The element as a peer would read it off the wire: `el` itself when it holds no RawElement,
 * otherwise a copy in which every RawElement is replaced by its parsed text (for code that
 * receives elements without a socket, such as the test kit's fake clients).
 */
export function parseRawElements(el: Element): Element {
  if (!holdsRaw(el)) return el;
  if (el instanceof RawElement) return parseXmlFragment(el.xml, { defaultNs: el.xmlns });
  const copy = new Element(el.name, undefined, el.xmlns);
  copy.attrs = { ...el.attrs };
  for (const c of el.children) copy.children.push(typeof c === 'string' ? c : parseRawElements(c));
  for (const c of copy.children) if (typeof c !== 'string') c.parent = copy;
  return copy;
}

function holdsRaw(el: Element): boolean {
  if (el instanceof RawElement) return true;
  for (const c of el.children) if (typeof c !== 'string' && holdsRaw(c)) return true;
  return false;
}
