/**
 * Parse one stored XML element (e.g. a vCard or an offline message kept as a string) back
 * into an Element, with the same hardened parser the streams use. An element written without
 * a namespace is read in `defaultNs` (jabber:client unless told otherwise).
 */
import type { Element } from './element.js';
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
