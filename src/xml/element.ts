/**
 * The XML element type used for every stanza in Canto, with a small builder and query API.
 *
 * Names are stored namespace-resolved: `name` is the local name and `xmlns` the namespace URI,
 * whatever prefixes the sender used. Attributes are kept by their qualified name as written
 * (`type`, `xml:lang`); namespace declarations are not attributes, except `xmlns:*` declarations
 * that prefixed attributes need, which the parser keeps so the element re-serializes well-formed.
 */
import { escapeAttr, escapeText } from './escape.js';

export type Node = Element | string;
export type Attrs = Record<string, string>;
/** Attributes as given to the builder: `undefined` values are dropped, `xmlns` sets the namespace. */
export type AttrsInput = Record<string, string | number | undefined>;

export const NS_STREAM = 'http://etherx.jabber.org/streams';

export class Element {
  name: string;
  xmlns: string;
  attrs: Attrs;
  children: Node[];
  parent: Element | undefined;

  /**
   * @param name local name (a `prefix:` is not resolved here; use the parser for that)
   * @param attrs attributes; `xmlns` sets the namespace, otherwise `inheritedNs` is used
   */
  constructor(name: string, attrs?: AttrsInput, inheritedNs = '') {
    this.name = name;
    this.attrs = {};
    this.children = [];
    this.parent = undefined;
    this.xmlns = inheritedNs;
    if (attrs) {
      for (const key of Object.keys(attrs)) {
        const v = attrs[key];
        if (v === undefined) continue;
        if (key === 'xmlns') this.xmlns = String(v);
        else this.attrs[key] = String(v);
      }
    }
  }

  // ---- builder ----

  /** Append a child element in this element's namespace unless `attrs.xmlns` says otherwise; returns the child. */
  c(name: string, attrs?: AttrsInput): Element {
    const child = new Element(name, attrs, this.xmlns);
    child.parent = this;
    this.children.push(child);
    return child;
  }

  /** Append a text node; returns this element. */
  t(text: string): this {
    if (text.length > 0) this.children.push(text);
    return this;
  }

  /** Append an existing element (re-parented); returns this element. */
  cnode(child: Element): this {
    child.parent = this;
    this.children.push(child);
    return this;
  }

  /** The parent (for chaining `c(...).up()`); the element itself at the root. */
  up(): Element {
    return this.parent ?? this;
  }

  root(): Element {
    return this.parent ? this.parent.root() : this;
  }

  // ---- queries ----

  attr(name: string): string | undefined {
    return this.attrs[name];
  }

  setAttr(name: string, value: string | undefined): this {
    if (value === undefined) delete this.attrs[name];
    else this.attrs[name] = value;
    return this;
  }

  is(name: string, xmlns?: string): boolean {
    return this.name === name && (xmlns === undefined || this.xmlns === xmlns);
  }

  /** First child element with this local name (and namespace, when given; default: any namespace). */
  getChild(name: string, xmlns?: string): Element | undefined {
    for (const c of this.children) {
      if (typeof c !== 'string' && c.name === name && (xmlns === undefined || c.xmlns === xmlns)) return c;
    }
    return undefined;
  }

  getChildren(name?: string, xmlns?: string): Element[] {
    const out: Element[] = [];
    for (const c of this.children) {
      if (typeof c === 'string') continue;
      if (name !== undefined && c.name !== name) continue;
      if (xmlns !== undefined && c.xmlns !== xmlns) continue;
      out.push(c);
    }
    return out;
  }

  /** First child element in the namespace, whatever its name. */
  getChildByNs(xmlns: string): Element | undefined {
    for (const c of this.children) if (typeof c !== 'string' && c.xmlns === xmlns) return c;
    return undefined;
  }

  get elements(): Element[] {
    return this.getChildren();
  }

  /** Concatenated direct text content. */
  getText(): string {
    let s = '';
    for (const c of this.children) if (typeof c === 'string') s += c;
    return s;
  }

  getChildText(name: string, xmlns?: string): string | undefined {
    return this.getChild(name, xmlns)?.getText();
  }

  removeChildren(name?: string, xmlns?: string): this {
    this.children = this.children.filter(
      (c) => typeof c === 'string' || !((name === undefined || c.name === name) && (xmlns === undefined || c.xmlns === xmlns)),
    );
    return this;
  }

  /** A deep copy, detached from any parent. */
  clone(): Element {
    const e = new Element(this.name, undefined, this.xmlns);
    e.attrs = { ...this.attrs };
    for (const c of this.children) {
      if (typeof c === 'string') e.children.push(c);
      else {
        const cc = c.clone();
        cc.parent = e;
        e.children.push(cc);
      }
    }
    return e;
  }

  /** Serialize, declaring `xmlns` wherever it differs from the enclosing namespace. */
  toString(): string {
    return serialize(this, undefined);
  }
}

/**
 * An element kept as XML text that Canto's own serializer wrote (an archived message): it is
 * written out as given, never parsed or re-serialized, which saves a parse and a tree per item
 * when stored stanzas are sent again (MAM results).
 *
 * The text must be one complete element that declares its own default namespace on its root
 * and every prefix it uses (what `serialize(el, undefined)` produces; `stream:` excepted, see
 * `serializedStanza`), so it is well-formed wherever it is placed, whatever the enclosing
 * namespace (a TCP stream, WebSocket or BOSH framing). `name` and `xmlns` say what the root is;
 * its attributes and children are not materialized: `attrs` and `children` are empty and
 * frozen, so code that walks a tree sees an opaque leaf, and code that tries to change it throws
 * instead of changing nothing silently. Parse the text (`parseXmlFragment`) to look inside.
 */
export class RawElement extends Element {
  readonly xml: string;

  constructor(name: string, xmlns: string, xml: string) {
    super(name, undefined, xmlns);
    this.xml = xml;
    Object.freeze(this.attrs);
    Object.freeze(this.children);
  }

  override clone(): RawElement {
    return new RawElement(this.name, this.xmlns, this.xml);
  }
}

/**
 * The stored text of a stanza as a RawElement, when it is what `serialize(el, undefined)` wrote
 * for an element `name` in `xmlns`: it starts with `<name xmlns="…"` (its own namespace
 * declared, double quotes: the serializer's form) and has no `stream:` tag (the serializer
 * writes that prefix undeclared, counting on a stream header). Anything else (text written by
 * other code, hand-written XML) gives undefined: parse it instead.
 */
export function serializedStanza(text: string, name: string, xmlns: string): RawElement | undefined {
  const head = '<' + name + ' xmlns="' + escapeAttr(xmlns) + '"';
  if (!text.startsWith(head)) return undefined;
  const next = text.charCodeAt(head.length);
  // The root's start tag must go on with an attribute, '>' or '/>' (not e.g. a longer name).
  if (next !== 0x20 && next !== 0x3e && next !== 0x2f) return undefined;
  if (!text.endsWith('>') || text.includes('<stream:')) return undefined;
  return new RawElement(name, xmlns, text);
}

/**
 * About how many characters `serialize` would write for the element (names, attributes, text,
 * markup; escaping and namespace declarations not counted), without building the string: for
 * byte bounds on queues of elements that are not written yet.
 */
export function approximateSize(el: Element): number {
  if (el instanceof RawElement) return el.xml.length;
  let n = 2 * el.name.length + 5;
  const attrs = el.attrs;
  for (const k in attrs) n += k.length + (attrs[k] as string).length + 4;
  for (const c of el.children) n += typeof c === 'string' ? c.length : approximateSize(c);
  return n;
}

/**
 * Serialize an element. `contextNs` is the namespace in scope where the element is written:
 * `undefined` (standalone: always declare), or a stream's content namespace. Elements in the
 * streams namespace are written with the `stream:` prefix that every stream header declares.
 */
export function serialize(el: Element, contextNs: string | undefined): string {
  const parts: string[] = [];
  writeElement(el, contextNs, parts);
  return parts.join('');
}

function writeElement(el: Element, contextNs: string | undefined, out: string[]): void {
  if (el instanceof RawElement) {
    out.push(el.xml); // declares its own namespaces: right in any context
    return;
  }
  const isStreamNs = el.xmlns === NS_STREAM;
  const tag = isStreamNs ? 'stream:' + el.name : el.name;
  let s = '<' + tag;
  let inner = contextNs;
  if (!isStreamNs && el.xmlns !== contextNs) {
    s += ' xmlns="' + escapeAttr(el.xmlns) + '"';
    inner = el.xmlns;
  }
  const attrs = el.attrs;
  for (const k in attrs) s += ' ' + k + '="' + escapeAttr(attrs[k] as string) + '"';
  if (el.children.length === 0) {
    out.push(s + '/>');
    return;
  }
  out.push(s + '>');
  for (const c of el.children) {
    if (typeof c === 'string') out.push(escapeText(c));
    else writeElement(c, inner, out);
  }
  out.push('</' + tag + '>');
}
