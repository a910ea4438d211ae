/**
 * The streaming XML parser for XMPP streams, hardened for untrusted peers.
 *
 * Bytes go through a fatal UTF-8 decoder (invalid UTF-8 is an error); a character split across
 * writes waits for its remaining bytes, and a short unconsumed tail is decoded again together with
 * the next bytes, so the parser always scans one flat string (V8 is markedly slower on concatenated
 * strings). The decoded text is checked once against XML 1.0's Char production (a native regex
 * scan), then scanned with indexOf/charCodeAt. Only the unfinished end of the input is kept between
 * writes, and every construct that can grow (a stanza, a name, a reference, an attribute value,
 * whitespace in a tag, a CDATA section) is either bounded by a limit or consumed incrementally, so
 * a peer cannot make the parser buffer or rescan without bound.
 *
 * Exceptions thrown by a handler are passed on to the caller of write(); the parser then ignores
 * input until reset(). A handler may call reset() (stream restart) or end(): the rest of the
 * current write is then discarded, which is what STARTTLS needs (no plaintext injection).
 *
 * What RFC 6120 §11 forbids is refused: DTDs, comments, processing instructions (other than the
 * XML declaration at the very start), and references to entities other than the five predefined
 * ones (so entity-expansion attacks such as "billion laughs" never get a DTD to expand).
 *
 * An unbound namespace prefix is reported as `not-well-formed`: RFC 6120 §4.9.3.12 defines that
 * condition as a violation of XML or of Namespaces in XML, and "Prefix Declared" is one of the
 * latter's constraints. `invalid-namespace` (§4.9.3.10) is about which namespace the stream uses,
 * which the session checks on the header this parser reports.
 */
import { Element, type Attrs } from './element.js';
import {
  ASCII_NAME,
  ATTRIBUTE_NAMES,
  ELEMENT_NAMES,
  NAME_START,
  findInvalidChar,
  isNonAsciiNameChar,
  isNonAsciiNameStart,
  isXmlChar,
  isXmlSpace,
} from './chars.js';

export type XmlErrorCondition = 'not-well-formed' | 'restricted-xml' | 'policy-violation' | 'invalid-namespace';
export interface XmlError {
  condition: XmlErrorCondition;
  text: string;
}

export interface StreamParserOptions {
  /** Bytes (UTF-8) of one stanza from its '<' to its end. Default 262144 (256 KiB). */
  maxStanzaBytes?: number;
  /** Element levels inside a stanza, the stanza element being level 1. Default 64. */
  maxDepth?: number;
  /** Attributes (namespace declarations included) per element. Default 64. */
  maxAttributes?: number;
  /** Characters of an element/attribute/entity name's prefix and of its local part. Default 256. */
  maxNameLength?: number;
  /** Bytes of the stream header (and, separately, of the XML declaration). Default 16384. */
  maxHeaderBytes?: number;
  /** 'stream': one root element, the stream header, whose children are stanzas.
   *  'fragment': every top-level element is a stanza (WebSocket RFC 7395, BOSH). Default 'stream'. */
  framing?: 'stream' | 'fragment';
}

export interface StreamParserHandlers {
  /** 'stream' framing: the root <stream:stream> start tag. `header` has no children; its `xmlns` is the
   *  resolved namespace of the root element (the session checks it is the streams namespace and sends
   *  invalid-namespace otherwise); attrs hold to/from/id/version/xml:lang. `contentNs` is the default
   *  namespace declared on the header (e.g. 'jabber:client'), '' if none. */
  streamOpen(header: Element, contentNs: string): void;
  /** A complete depth-1 element (stream framing) or top-level element (fragment framing). */
  stanza(el: Element): void;
  /** </stream:stream> received (stream framing only). */
  streamClose(): void;
  /** The first error; after it the parser ignores all input until reset(). Never throws instead. */
  error(err: XmlError): void;
}

export const DEFAULT_PARSER_LIMITS = {
  maxStanzaBytes: 262144,
  maxDepth: 64,
  maxAttributes: 64,
  maxNameLength: 256,
  maxHeaderBytes: 16384,
} as const;

const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

/** A cached search position that has not been searched yet (less than every real position). */
const UNKNOWN = -2;

/** Character data that needs a closer look: references, line ends to normalise, or "]]>". */
const TEXT_SPECIAL = /[&\r]|\]\]>/;

/** Fatal: invalid UTF-8 is an error. The BOM is kept so a U+FEFF inside the stream is not lost;
 *  decodeBytes skips a leading one itself. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const UTF8_BOM = [0xef, 0xbb, 0xbf];
/** Unconsumed input longer than this stays a string instead of being re-encoded with the next bytes. */
const MAX_REENCODED_TAIL = 4096;

/** Whitespace allowed between an attribute's name and its value's opening quote. */
const MAX_SPACE_AROUND_EQ = 1024;

/** Longest numeric character reference accepted, '&' to ';' (leading zeros are legal but bounded). */
const MAX_CHAR_REF_LENGTH = 32;

// Results of the scanning steps: a non-negative position to continue from, or one of these.
/** An error was reported, or a handler reset/ended the parser: abandon the current input. */
const STOP = -1;
/** The construct continues past the available input; `holdAt` is where to resume. */
const NEED_MORE = -2;

// What the unconsumed input (`tail`) resumes.
const M_TEXT = 0; // character data, or markup starting at '<'
const M_START_TAG = 1; // a start tag (or the XML declaration) after its name: attributes
const M_END_TAG = 2; // an end tag after its name: optional whitespace, '>'
const M_CDATA = 3; // inside a CDATA section

// The unit of input currently counted against a size limit.
const U_NONE = 0;
const U_STANZA = 1;
const U_HEADER = 2; // the stream header, or the XML declaration

/** One prefix binding; scopes are linked lists because prefixed names are rare in XMPP. */
class NsScope {
  constructor(
    readonly prefix: string,
    readonly uri: string,
    readonly parent: NsScope | null,
  ) {}
}

function lookupPrefix(scope: NsScope | null, prefix: string): string | undefined {
  for (let s = scope; s !== null; s = s.parent) if (s.prefix === prefix) return s.uri;
  return prefix === 'xml' ? XML_NS : undefined;
}

function isXmlnsName(name: string): boolean {
  return name.charCodeAt(0) === 0x78 && name.startsWith('xmlns') && (name.length === 5 || name.charCodeAt(5) === 0x3a);
}

function setAttr(attrs: Attrs, name: string, value: string): void {
  // A plain assignment to "__proto__" would change the prototype instead of adding a property.
  if (name === '__proto__') Object.defineProperty(attrs, name, { value, enumerable: true, writable: true, configurable: true });
  else attrs[name] = value;
}

/** Bytes at the end of `b` that begin a UTF-8 sequence whose remaining bytes have not arrived. */
function incompleteUtf8Suffix(b: Uint8Array): number {
  const n = b.length;
  for (let k = 1; k <= 3 && k <= n; k++) {
    const c = b[n - k] as number;
    if ((c & 0xc0) === 0x80) continue; // continuation byte: look further back for the lead byte
    if (c < 0x80) return 0;
    const needed = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    return needed > k ? k : 0;
  }
  return 0;
}

function normalizeCdataEol(raw: string): string {
  return raw.indexOf('\r') === -1 ? raw : raw.replace(/\r\n?/g, '\n');
}

export class StreamParser {
  private readonly handlers: StreamParserHandlers;
  private readonly fragment: boolean;
  private readonly maxStanzaBytes: number;
  private readonly maxHeaderBytes: number;
  private readonly maxDepth: number;
  private readonly maxAttributes: number;
  private readonly maxNameLength: number;
  /** An unterminated '&...' at the end of a write is kept for the next one only up to this length. */
  private readonly refHoldLength: number;

  /** The start of a UTF-8 sequence split at the end of the last write (or of a possible BOM). */
  private pendingBytes: Uint8Array | null = null;
  /** Nothing received yet since the start or reset(): a byte order mark there is skipped. */
  private bomCheck = true;
  /** The input being parsed is all ASCII: byte lengths are string lengths. */
  private sAscii = false;
  /** Set by decodeBytes: its result starts with the unconsumed tail. */
  private decodedWithTail = false;
  /** While a long attribute value is open: its quote character, and the input received since. */
  private awaitQuote = '';
  private tailPieces: string[] = [];
  private tailPiecesLength = 0;
  /** A high surrogate ending a string write, waiting for its low half. */
  private pendingHigh = '';
  /** Decoded, already validated input not consumed yet. */
  private tail = '';
  /** After an error or end(): ignore input until reset(). */
  private stopped = false;
  /** Bumped by reset(), so a write notices a reset made by a handler it called. */
  private generation = 0;
  /** True while a handler runs: an exception then is the handler's, and is passed on. */
  private inHandler = false;
  /** Nothing consumed yet since the start or reset(): only here may the XML declaration appear. */
  private atDocStart = true;

  private streamOpened = false;
  private streamClosed = false;
  private rootQName = '';
  /** Namespace context of top-level stanzas: the header's declarations (stream) or none (fragment). */
  private baseNs = '';
  private baseScope: NsScope | null = null;

  // Open elements of the current stanza, outermost first.
  private stack: Element[] = [];
  private qnames: string[] = [];
  private defaultNs: string[] = [];
  private scopes: (NsScope | null)[] = [];
  /** Character data of the innermost open element not yet added to its children. */
  private text = '';

  private mode = M_TEXT;
  private holdAt = 0;
  /** Set by scanName: offset of the ':' in the name just scanned, -1 if none. */
  private nameColon = -1;
  /** Set by decodeRef: the position after the reference just decoded. */
  private refEnd = 0;

  // The start tag (or XML declaration) being parsed.
  private tagName = '';
  private tagColon = -1;
  private tagIsDecl = false;
  /** Whitespace was seen since the last attribute (needed before the next one). */
  private tagWs = false;
  /** Some attribute is a namespace declaration or has a prefix: resolve before building attrs. */
  private tagSpecial = false;
  /** The value of the tag's xmlns attribute, if it has one. */
  private tagDefaultNs: string | undefined = undefined;
  /** Attributes of the tag without prefix or namespace declaration, as they are parsed. */
  private tagAttrs: Attrs = {};
  private attrNames: string[] = [];
  private attrValues: string[] = [];
  private nAttrs = 0;
  /** Chars after the held attribute's start already searched for the closing quote. */
  private valueScanOffset = 0;
  /** The quote character of the held attribute value. */
  private pendingQuote = '';
  private endName = '';

  // Positions in the current input of the next '<', '&', LF, CR, TAB at or after some earlier
  // point (-1: none until the end; UNKNOWN: not searched yet). See isPlainValue.
  private ltAt = UNKNOWN;
  private ampAt = UNKNOWN;
  private lfAt = UNKNOWN;
  private crAt = UNKNOWN;
  private tabAt = UNKNOWN;

  private unit = U_NONE;
  /** Where the unit starts in the current input (0 once it started in an earlier write). */
  private unitStart = 0;
  /** Bytes of the unit consumed in earlier writes. */
  private unitBytes = 0;
  private unitLimit = 0;

  constructor(handlers: StreamParserHandlers, options: StreamParserOptions = {}) {
    this.handlers = handlers;
    this.fragment = options.framing === 'fragment';
    this.maxStanzaBytes = options.maxStanzaBytes ?? DEFAULT_PARSER_LIMITS.maxStanzaBytes;
    this.maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_PARSER_LIMITS.maxHeaderBytes;
    this.maxDepth = options.maxDepth ?? DEFAULT_PARSER_LIMITS.maxDepth;
    this.maxAttributes = options.maxAttributes ?? DEFAULT_PARSER_LIMITS.maxAttributes;
    this.maxNameLength = options.maxNameLength ?? DEFAULT_PARSER_LIMITS.maxNameLength;
    this.refHoldLength = Math.max(2 * this.maxNameLength + 4, MAX_CHAR_REF_LENGTH + 1);
  }

  write(data: Buffer | Uint8Array | string): void {
    if (this.stopped) return;
    /** The decoded new input; it already starts with the unconsumed tail when `withTail`. */
    let text: string;
    let withTail = false;
    if (typeof data === 'string') {
      if (this.pendingBytes !== null) {
        this.fail('not-well-formed', 'incomplete UTF-8 sequence');
        return;
      }
      text = this.pendingHigh === '' ? data : this.pendingHigh + data;
      this.pendingHigh = '';
      if (this.bomCheck && text !== '') {
        this.bomCheck = false;
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      const last = text.charCodeAt(text.length - 1);
      if (last >= 0xd800 && last <= 0xdbff) {
        this.pendingHigh = text.slice(-1);
        text = text.slice(0, -1);
      }
      if (text === '') return;
      this.sAscii = false;
    } else {
      if (this.pendingHigh !== '') {
        this.fail('not-well-formed', 'unpaired surrogate');
        return;
      }
      const decoded = this.decodeBytes(data);
      if (decoded === null) return;
      text = decoded;
      withTail = this.decodedWithTail;
    }

    // Input after a forbidden character is never parsed: what precedes it is, then the error comes.
    const fresh = withTail ? this.tail.length : 0;
    const bad = findInvalidChar(fresh === 0 ? text : text.slice(fresh), typeof data === 'string');
    if (bad >= 0) text = text.slice(0, fresh + bad);

    let s = text;
    if (!withTail && this.tail !== '') {
      if (this.awaitQuote !== '') {
        // A long attribute value still open: collect input until its quote comes, without
        // rescanning or copying what came before (that would be quadratic in the value's length).
        if (text.indexOf(this.awaitQuote) === -1) {
          this.tailPieces.push(text);
          this.tailPiecesLength += text.length;
          if (bad >= 0) this.fail('not-well-formed', 'character not allowed in XML');
          else if (this.unitBytes + this.tail.length + this.tailPiecesLength > this.unitLimit) {
            this.fail('policy-violation', this.unit === U_HEADER ? 'stream header too large' : 'stanza too large');
          }
          return;
        }
        this.valueScanOffset = this.tail.length + this.tailPiecesLength;
        s = this.tail + this.tailPieces.join('') + text;
        this.tailPieces = [];
        this.tailPiecesLength = 0;
        this.awaitQuote = '';
      } else s = this.tail + text;
      this.sAscii = false;
    }
    this.tail = '';

    const generation = this.generation;
    let consumed: number;
    try {
      consumed = this.run(s);
    } catch (err) {
      if (this.inHandler) {
        this.inHandler = false;
        this.stopped = true;
        throw err;
      }
      this.fail('not-well-formed', 'internal parser error: ' + String(err));
      return;
    }
    if (consumed === STOP || generation !== this.generation || this.stopped) return;

    this.tail = consumed < s.length ? s.slice(consumed) : '';
    if (this.unit !== U_NONE) {
      this.unitBytes += this.byteLength(s, this.unitStart, consumed);
      this.unitStart = 0;
      // The unfinished part counts with at least one byte per UTF-16 unit: exact bytes come when it ends.
      if (this.unitBytes + this.tail.length > this.unitLimit) {
        this.fail('policy-violation', this.unit === U_HEADER ? 'stream header too large' : 'stanza too large');
        return;
      }
    }
    if (bad >= 0) {
      this.fail('not-well-formed', 'character not allowed in XML');
      return;
    }
    if (this.mode === M_START_TAG && this.valueScanOffset > 0 && this.tail.length > MAX_REENCODED_TAIL) {
      this.awaitQuote = this.pendingQuote;
    }
  }

  /**
   * Decodes a chunk of bytes, together with the unconsumed tail when that is short, so the parser
   * gets one flat string (V8 scans a flat string noticeably faster than a concatenation). A UTF-8
   * sequence split at the end of the chunk waits in `pendingBytes`. Sets `decodedWithTail` and
   * `sAscii`. Null after reporting invalid UTF-8, or when there is nothing to parse yet.
   */
  private decodeBytes(data: Uint8Array): string | null {
    let bytes = data;
    const tail = this.tail;
    // A long tail (a big attribute value arriving in pieces) is not re-encoded every time.
    const withTail = tail !== '' && tail.length <= MAX_REENCODED_TAIL;
    if (withTail || this.pendingBytes !== null) {
      const parts: Uint8Array[] = [];
      if (withTail) parts.push(Buffer.from(tail, 'utf8'));
      if (this.pendingBytes !== null) parts.push(this.pendingBytes);
      parts.push(data);
      bytes = Buffer.concat(parts);
      this.pendingBytes = null;
    }
    if (bytes.length === 0) return null;
    if (this.bomCheck) {
      if (bytes.length < 3 && bytes.every((b, i) => b === UTF8_BOM[i])) {
        this.pendingBytes = Uint8Array.from(bytes);
        return null;
      }
      this.bomCheck = false;
      if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
    }
    const split = incompleteUtf8Suffix(bytes);
    if (split > 0) {
      this.pendingBytes = Uint8Array.from(bytes.subarray(bytes.length - split));
      bytes = bytes.subarray(0, bytes.length - split);
    }
    let text: string;
    try {
      text = UTF8.decode(bytes);
    } catch {
      this.fail('not-well-formed', 'invalid UTF-8');
      return null;
    }
    // One UTF-16 unit per byte only when every byte was ASCII.
    this.sAscii = text.length === bytes.length;
    this.decodedWithTail = withTail;
    return text;
  }

  /** UTF-8 length of s[from, to). */
  private byteLength(s: string, from: number, to: number): number {
    if (from >= to) return 0;
    if (this.sAscii) return to - from;
    return Buffer.byteLength(from === 0 && to === s.length ? s : s.slice(from, to), 'utf8');
  }

  /** Input ended: whatever is unfinished is dropped; further input is ignored until reset(). */
  end(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.releaseInput();
  }

  /** Stream restart (after STARTTLS or SASL): forget everything, expect a new header. When called
   *  from a handler during write(), the rest of that write's input is discarded. */
  reset(): void {
    this.generation++;
    this.pendingHigh = '';
    this.pendingBytes = null;
    this.bomCheck = true;
    this.stopped = false;
    this.inHandler = false;
    this.atDocStart = true;
    this.streamOpened = false;
    this.streamClosed = false;
    this.rootQName = '';
    this.baseNs = '';
    this.baseScope = null;
    this.releaseInput();
    this.mode = M_TEXT;
    this.nAttrs = 0;
    this.valueScanOffset = 0;
    this.unit = U_NONE;
    this.unitStart = 0;
    this.unitBytes = 0;
  }

  private releaseInput(): void {
    this.tail = '';
    this.text = '';
    this.stack = [];
    this.qnames = [];
    this.defaultNs = [];
    this.scopes = [];
    this.attrNames = [];
    this.attrValues = [];
    this.tagAttrs = {};
    this.awaitQuote = '';
    this.tailPieces = [];
    this.tailPiecesLength = 0;
  }

  private fail(condition: XmlErrorCondition, text: string): number {
    if (this.stopped) return STOP;
    this.stopped = true;
    this.releaseInput();
    this.inHandler = true;
    this.handlers.error({ condition, text });
    this.inHandler = false;
    return STOP;
  }

  private needMore(at: number): number {
    this.holdAt = at;
    return NEED_MORE;
  }

  private beginUnit(kind: number, at: number): void {
    this.unit = kind;
    this.unitStart = at;
    this.unitBytes = 0;
    this.unitLimit = kind === U_HEADER ? this.maxHeaderBytes : this.maxStanzaBytes;
  }

  /** Ends the current unit at `after`, measuring it exactly; false (error reported) if too large. */
  private endUnit(s: string, after: number): boolean {
    const bytes = this.unitBytes + this.byteLength(s, this.unitStart, after);
    if (bytes > this.unitLimit) {
      this.fail('policy-violation', this.unit === U_HEADER ? 'stream header too large' : 'stanza too large');
      return false;
    }
    this.unit = U_NONE;
    return true;
  }

  /** Cheap bound while a unit is still open: one byte per UTF-16 unit at least. */
  private unitOverflows(pos: number): boolean {
    return this.unit !== U_NONE && this.unitBytes + (pos - this.unitStart) > this.unitLimit;
  }

  /** Parses `s` as far as it goes; returns how much was consumed, or STOP. */
  private run(s: string): number {
    const end = s.length;
    this.ltAt = this.ampAt = this.lfAt = this.crAt = this.tabAt = UNKNOWN;
    let pos = 0;
    while (pos < end) {
      let next: number;
      switch (this.mode) {
        case M_TEXT: {
          let lt = this.ltAt;
          if (lt < pos && lt !== -1) lt = this.ltAt = s.indexOf('<', pos);
          if (lt === -1) lt = end;
          if (lt > pos) {
            const r = this.onText(s, pos, lt, lt === end);
            if (r !== lt) return r;
          }
          if (lt === end) return end;
          next = this.onMarkup(s, lt, end);
          break;
        }
        case M_START_TAG:
          next = this.tagBody(s, pos, end);
          break;
        case M_END_TAG:
          next = this.endTagRest(s, pos, end);
          break;
        default:
          next = this.cdata(s, pos, end);
      }
      if (next < 0) return next === NEED_MORE ? this.holdAt : STOP;
      pos = next;
    }
    return end;
  }

  /**
   * Character data in [a, b). Returns b, STOP, or (at the end of the input) where to hold back a
   * possibly unfinished reference, a '\r' that may start "\r\n", or ']' that may start "]]>".
   */
  private onText(s: string, a: number, b: number, atEnd: boolean): number {
    this.atDocStart = false;
    if (this.stack.length === 0) {
      for (let i = a; i < b; i++) {
        if (!isXmlSpace(s.charCodeAt(i))) return this.fail('not-well-formed', 'text is not allowed outside stanzas');
      }
      return b;
    }
    let stop = b;
    if (atEnd) {
      const amp = s.lastIndexOf('&', b - 1);
      if (amp >= a && b - amp <= this.refHoldLength && s.indexOf(';', amp) === -1) stop = amp;
      else {
        const last = s.charCodeAt(b - 1);
        if (last === 0x0d) stop = b - 1;
        else if (last === 0x5d) stop = b - 2 >= a && s.charCodeAt(b - 2) === 0x5d ? b - 2 : b - 1;
      }
    }
    if (stop > a) {
      const raw = s.slice(a, stop);
      let t = raw;
      if (TEXT_SPECIAL.test(raw)) {
        if (raw.indexOf(']]>') !== -1) return this.fail('not-well-formed', '"]]>" is not allowed in text');
        const decoded = this.decodeSlow(raw, 0, raw.length, false);
        if (decoded === null) return STOP;
        t = decoded;
      }
      this.text = this.text === '' ? t : this.text + t;
    }
    return stop;
  }

  private onMarkup(s: string, lt: number, end: number): number {
    if (lt + 1 === end) return this.needMore(lt);
    const c = s.charCodeAt(lt + 1);
    if (c === 0x2f /* / */) return this.endTag(s, lt, end);
    if (c === 0x21 /* ! */) return this.bang(s, lt, end);
    if (c === 0x3f /* ? */) return this.pi(s, lt, end);
    return this.startTag(s, lt, end);
  }

  /**
   * Scans an XML name (with at most one ':', not first or last) starting at `start`; returns the
   * position after it, NEED_MORE if it reaches the end of the input, or STOP. The character after
   * the name is left for the caller to check. Sets `nameColon`.
   */
  private scanName(s: string, start: number, end: number): number {
    if (start >= end) return NEED_MORE;
    let c = s.charCodeAt(start);
    if (c < 128 ? (ASCII_NAME[c]! & NAME_START) === 0 : !isNonAsciiNameStart(c)) {
      return this.fail('not-well-formed', 'invalid name');
    }
    let colon = -1;
    let pos = start + 1;
    for (; pos < end; pos++) {
      c = s.charCodeAt(pos);
      if (c < 128) {
        if (ASCII_NAME[c] === 0) break;
        if (c === 0x3a) {
          if (colon !== -1) return this.fail('not-well-formed', 'a name may contain only one colon');
          colon = pos - start;
        }
      } else if (!isNonAsciiNameChar(c)) break;
    }
    const len = pos - start;
    const max = this.maxNameLength;
    if (colon === 0) return this.fail('not-well-formed', 'a name may not start with a colon');
    if (colon > 0 ? colon > max || len - colon - 1 > max : len > max) return this.fail('policy-violation', 'name too long');
    if (pos === end) return NEED_MORE;
    if (colon === len - 1) return this.fail('not-well-formed', 'a name may not end with a colon');
    this.nameColon = colon;
    return pos;
  }

  private startTag(s: string, lt: number, end: number): number {
    this.atDocStart = false;
    if (this.stack.length === 0) {
      if (this.fragment) this.beginUnit(U_STANZA, lt);
      else if (!this.streamOpened) this.beginUnit(U_HEADER, lt);
      else if (this.streamClosed) return this.fail('not-well-formed', 'content after the end of the stream');
      else this.beginUnit(U_STANZA, lt);
    }
    const nameEnd = this.scanName(s, lt + 1, end);
    if (nameEnd < 0) return nameEnd === NEED_MORE ? this.needMore(lt) : STOP;
    this.beginTag(ELEMENT_NAMES.get(s, lt + 1, nameEnd), this.nameColon, false);
    return this.tagBody(s, nameEnd, end);
  }

  /** Start reading a tag's attributes (a start tag, or the XML declaration when `isDecl`). */
  private beginTag(name: string, colon: number, isDecl: boolean): void {
    this.tagName = name;
    this.tagColon = colon;
    this.tagIsDecl = isDecl;
    this.tagWs = false;
    this.tagSpecial = false;
    this.tagDefaultNs = undefined;
    this.tagAttrs = {};
    this.nAttrs = 0;
    this.valueScanOffset = 0;
    this.mode = M_START_TAG;
  }

  /** Attributes up to '>' or '/>' ('?>' for the XML declaration), resumable between attributes. */
  private tagBody(s: string, pos: number, end: number): number {
    let ws = this.tagWs;
    for (;;) {
      while (pos < end) {
        const c = s.charCodeAt(pos);
        if (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) {
          pos++;
          ws = true;
        } else break;
      }
      if (pos >= end) {
        this.tagWs = ws;
        return this.needMore(pos);
      }
      const c = s.charCodeAt(pos);
      if (c === 0x3e /* > */) {
        if (this.tagIsDecl) return this.fail('not-well-formed', 'malformed XML declaration');
        this.mode = M_TEXT;
        return this.openElement(s, pos + 1, false);
      }
      if (c === 0x2f /* / */ || c === 0x3f /* ? */) {
        if ((c === 0x3f) !== this.tagIsDecl) return this.fail('not-well-formed', 'malformed start tag');
        if (pos + 1 >= end) {
          this.tagWs = ws;
          return this.needMore(pos);
        }
        if (s.charCodeAt(pos + 1) !== 0x3e) return this.fail('not-well-formed', 'malformed start tag');
        this.mode = M_TEXT;
        return this.tagIsDecl ? this.finishDecl(s, pos + 2) : this.openElement(s, pos + 2, true);
      }
      if (!ws) return this.fail('not-well-formed', 'attributes must be separated by whitespace');

      const nameStart = pos;
      const nameEnd = this.scanName(s, pos, end);
      if (nameEnd < 0) {
        if (nameEnd === STOP) return STOP;
        this.tagWs = true;
        return this.needMore(nameStart);
      }
      const nameColon = this.nameColon;
      let p = nameEnd;
      while (p < end && isXmlSpace(s.charCodeAt(p))) p++;
      if (p < end && s.charCodeAt(p) !== 0x3d) return this.fail('not-well-formed', 'expected "=" after an attribute name');
      p++;
      while (p < end && isXmlSpace(s.charCodeAt(p))) p++;
      // Bounded so that an attribute's start, kept while more input is awaited, stays short.
      if (p - nameEnd - 1 > MAX_SPACE_AROUND_EQ) return this.fail('policy-violation', 'too much whitespace around "="');
      if (p >= end) {
        this.tagWs = true;
        return this.needMore(nameStart);
      }
      const q = s.charCodeAt(p);
      if (q !== 0x22 && q !== 0x27) return this.fail('not-well-formed', 'attribute values must be quoted');
      const valueStart = p + 1;
      // valueScanOffset: how far an earlier write already searched this value for its closing quote.
      const close = s.indexOf(q === 0x22 ? '"' : "'", Math.max(valueStart, nameStart + this.valueScanOffset));
      if (close === -1) {
        this.valueScanOffset = end - nameStart;
        this.pendingQuote = q === 0x22 ? '"' : "'";
        this.tagWs = true;
        return this.needMore(nameStart);
      }
      let value = this.isPlainValue(s, valueStart, close) ? s.slice(valueStart, close) : undefined;
      this.valueScanOffset = 0;

      const name = ATTRIBUTE_NAMES.get(s, nameStart, nameEnd);
      const n = this.nAttrs;
      if (n >= this.maxAttributes) return this.fail('policy-violation', 'too many attributes');
      const names = this.attrNames;
      for (let i = 0; i < n; i++) if (names[i] === name) return this.fail('not-well-formed', 'duplicate attribute ' + name);
      if (value === undefined) {
        const decoded = this.decodeSlow(s, valueStart, close, true);
        if (decoded === null) return STOP;
        value = decoded;
      }
      names[n] = name;
      this.attrValues[n] = value;
      this.nAttrs = n + 1;
      // Plain attributes go straight into the element's attrs; declarations and prefixed names
      // wait for openElement, which resolves namespaces.
      if (nameColon >= 0) this.tagSpecial = true;
      else if (name === 'xmlns') this.tagDefaultNs = value;
      else if (name.length === 9 && name === '__proto__') setAttr(this.tagAttrs, name, value);
      else this.tagAttrs[name] = value;
      pos = close + 1;
      ws = false;
    }
  }

  /**
   * Whether s[a, b) holds none of '&', '<', TAB, LF, CR, so it needs no decoding. Uses the cached
   * position of the next such character at or after some earlier point, so each kind of character
   * is searched for about once per input instead of once per value.
   */
  private isPlainValue(s: string, a: number, b: number): boolean {
    let i = this.ltAt;
    if (i < a && i !== -1) i = this.ltAt = s.indexOf('<', a);
    if (i !== -1 && i < b) return false;
    i = this.ampAt;
    if (i < a && i !== -1) i = this.ampAt = s.indexOf('&', a);
    if (i !== -1 && i < b) return false;
    i = this.lfAt;
    if (i < a && i !== -1) i = this.lfAt = s.indexOf('\n', a);
    if (i !== -1 && i < b) return false;
    i = this.crAt;
    if (i < a && i !== -1) i = this.crAt = s.indexOf('\r', a);
    if (i !== -1 && i < b) return false;
    i = this.tabAt;
    if (i < a && i !== -1) i = this.tabAt = s.indexOf('\t', a);
    return i === -1 || i >= b;
  }

  /** Decodes references and normalises line ends (and, in attributes, whitespace) in [a, b). */
  private decodeSlow(s: string, a: number, b: number, inAttr: boolean): string | null {
    let out = '';
    let run = a;
    let i = a;
    while (i < b) {
      const c = s.charCodeAt(i);
      if (c === 0x26 /* & */) {
        out += s.slice(run, i);
        const ch = this.decodeRef(s, i, b);
        if (ch === null) return null;
        out += ch;
        i = this.refEnd;
        run = i;
      } else if (c === 0x0d) {
        out += s.slice(run, i) + (inAttr ? ' ' : '\n');
        i++;
        if (i < b && s.charCodeAt(i) === 0x0a) i++;
        run = i;
      } else if (inAttr && (c === 0x0a || c === 0x09)) {
        out += s.slice(run, i) + ' ';
        i++;
        run = i;
      } else if (c === 0x3c /* < */) {
        this.fail('not-well-formed', '"<" is not allowed in attribute values');
        return null;
      } else i++;
    }
    return run === a ? s.slice(a, b) : out + s.slice(run, b);
  }

  /** The reference starting with '&' at `amp` (ending before `b`); sets refEnd. Null on error. */
  private decodeRef(s: string, amp: number, b: number): string | null {
    let i = amp + 1;
    if (i < b && s.charCodeAt(i) === 0x23 /* # */) {
      i++;
      let hex = false;
      if (i < b && s.charCodeAt(i) === 0x78 /* x */) {
        hex = true;
        i++;
      }
      const digits = i;
      let cp = 0;
      for (; i < b; i++) {
        const c = s.charCodeAt(i);
        let d: number;
        if (c >= 0x30 && c <= 0x39) d = c - 0x30;
        else if (hex && c >= 0x61 && c <= 0x66) d = c - 0x57;
        else if (hex && c >= 0x41 && c <= 0x46) d = c - 0x37;
        else break;
        cp = Math.min(cp * (hex ? 16 : 10) + d, 0x110000);
        if (i - amp >= MAX_CHAR_REF_LENGTH) {
          this.fail('policy-violation', 'character reference too long');
          return null;
        }
      }
      if (i >= b || s.charCodeAt(i) !== 0x3b || i === digits) {
        this.fail('not-well-formed', 'malformed character reference');
        return null;
      }
      if (!isXmlChar(cp)) {
        this.fail('not-well-formed', 'character reference to a character not allowed in XML');
        return null;
      }
      this.refEnd = i + 1;
      return String.fromCodePoint(cp);
    }
    const nameEnd = this.scanName(s, i, b);
    if (nameEnd === STOP) return null;
    if (nameEnd === NEED_MORE || s.charCodeAt(nameEnd) !== 0x3b) {
      this.fail('not-well-formed', 'malformed entity reference');
      return null;
    }
    this.refEnd = nameEnd + 1;
    switch (s.slice(i, nameEnd)) {
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'amp':
        return '&';
      case 'apos':
        return "'";
      case 'quot':
        return '"';
      default:
        this.fail('restricted-xml', 'undefined entity (only the predefined entities are allowed)');
        return null;
    }
  }

  /** A complete start tag: resolve namespaces, build the element, deliver header or stanza. */
  private openElement(s: string, after: number, selfClosing: boolean): number {
    const depth = this.stack.length;
    let ns = depth > 0 ? (this.defaultNs[depth - 1] as string) : this.baseNs;
    let scope = depth > 0 ? (this.scopes[depth - 1] as NsScope | null) : this.baseScope;
    const declaredDefault = this.tagDefaultNs;
    const n = this.nAttrs;
    const names = this.attrNames;
    const values = this.attrValues;
    const attrs = this.tagAttrs;

    if (declaredDefault !== undefined) {
      if (declaredDefault === XML_NS || declaredDefault === XMLNS_NS) return this.fail('not-well-formed', 'reserved namespace as default');
      ns = declaredDefault;
    }
    if (this.tagSpecial) {
      // Declarations first: they apply to the element's own name and to all its attributes.
      for (let i = 0; i < n; i++) {
        const name = names[i] as string;
        if (name.length <= 6 || !name.startsWith('xmlns:')) continue;
        const value = values[i] as string;
        const prefix = name.slice(6);
        if (prefix === 'xml') {
          if (value !== XML_NS) return this.fail('not-well-formed', 'the xml prefix cannot be rebound');
          continue;
        }
        if (prefix === 'xmlns') return this.fail('not-well-formed', 'the xmlns prefix cannot be declared');
        if (value === '') return this.fail('not-well-formed', 'a prefix cannot be undeclared in XML 1.0');
        if (value === XML_NS || value === XMLNS_NS) return this.fail('not-well-formed', 'reserved namespace bound to a prefix');
        scope = new NsScope(prefix, value, scope);
      }
      let expanded: string[] | undefined;
      for (let i = 0; i < n; i++) {
        const name = names[i] as string;
        if (isXmlnsName(name)) continue;
        const value = values[i] as string;
        const colon = name.indexOf(':');
        if (colon === -1) continue; // already in attrs
        const prefix = name.slice(0, colon);
        const uri = lookupPrefix(scope, prefix);
        if (uri === undefined) return this.fail('not-well-formed', 'unbound namespace prefix ' + prefix);
        // Two attributes may not have the same namespace and local name (Namespaces in XML §6.3).
        const key = uri + ' ' + name.slice(colon + 1);
        if (expanded === undefined) expanded = [key];
        else if (expanded.includes(key)) return this.fail('not-well-formed', 'duplicate attribute ' + name);
        else expanded.push(key);
        // Keep the declaration the prefixed attribute needs, so the element re-serializes well-formed.
        if (prefix !== 'xml' && attrs['xmlns:' + prefix] === undefined) attrs['xmlns:' + prefix] = uri;
        setAttr(attrs, name, value);
      }
    }

    let local = this.tagName;
    let elNs = ns;
    const colon = this.tagColon;
    if (colon > 0) {
      const prefix = local.slice(0, colon);
      const uri = lookupPrefix(scope, prefix);
      if (uri === undefined) return this.fail('not-well-formed', 'unbound namespace prefix ' + prefix);
      elNs = uri;
      local = local.slice(colon + 1);
    }
    const el = new Element(local, undefined, elNs);
    el.attrs = attrs;

    if (depth === 0 && !this.fragment && !this.streamOpened) return this.openStream(s, after, selfClosing, el, ns, scope, declaredDefault);

    if (depth >= this.maxDepth) return this.fail('policy-violation', 'elements nested too deeply');
    if (depth > 0) {
      const parent = this.stack[depth - 1] as Element;
      if (this.text !== '') {
        parent.children.push(this.text);
        this.text = '';
      }
      el.parent = parent;
      parent.children.push(el);
    }
    if (selfClosing) {
      if (depth === 0) return this.finishStanza(s, after, el);
    } else {
      this.stack.push(el);
      this.qnames.push(this.tagName);
      this.defaultNs.push(ns);
      this.scopes.push(scope);
    }
    if (this.unitOverflows(after)) return this.fail('policy-violation', 'stanza too large');
    return after;
  }

  private openStream(
    s: string,
    after: number,
    selfClosing: boolean,
    header: Element,
    ns: string,
    scope: NsScope | null,
    declaredDefault: string | undefined,
  ): number {
    if (!this.endUnit(s, after)) return STOP;
    this.streamOpened = true;
    this.rootQName = this.tagName;
    this.baseNs = ns;
    this.baseScope = scope;
    const generation = this.generation;
    this.inHandler = true;
    this.handlers.streamOpen(header, declaredDefault ?? '');
    this.inHandler = false;
    if (generation !== this.generation || this.stopped) return STOP;
    if (selfClosing) return this.closeStream(after);
    return after;
  }

  private closeStream(after: number): number {
    this.streamClosed = true;
    const generation = this.generation;
    this.inHandler = true;
    this.handlers.streamClose();
    this.inHandler = false;
    return generation !== this.generation || this.stopped ? STOP : after;
  }

  private finishStanza(s: string, after: number, el: Element): number {
    if (!this.endUnit(s, after)) return STOP;
    const generation = this.generation;
    this.inHandler = true;
    this.handlers.stanza(el);
    this.inHandler = false;
    return generation !== this.generation || this.stopped ? STOP : after;
  }

  private finishDecl(s: string, after: number): number {
    const n = this.nAttrs;
    const names = this.attrNames;
    const values = this.attrValues;
    let i = 0;
    if (n === 0 || names[0] !== 'version' || !/^1\.[0-9]+$/.test(values[0] as string)) {
      return this.fail('not-well-formed', 'the XML declaration needs version="1.0"');
    }
    i++;
    if (i < n && names[i] === 'encoding') {
      if ((values[i] as string).toLowerCase() !== 'utf-8') return this.fail('not-well-formed', 'only UTF-8 is supported');
      i++;
    }
    if (i < n && names[i] === 'standalone') {
      if (values[i] !== 'yes' && values[i] !== 'no') return this.fail('not-well-formed', 'malformed XML declaration');
      i++;
    }
    if (i < n) return this.fail('not-well-formed', 'malformed XML declaration');
    if (!this.endUnit(s, after)) return STOP;
    return after;
  }

  private endTag(s: string, lt: number, end: number): number {
    this.atDocStart = false;
    // Fast path: the name of the open element, compared in place without allocating it.
    const depth = this.stack.length;
    const expected = depth > 0 ? (this.qnames[depth - 1] as string) : this.rootQName;
    const after = lt + 2 + expected.length;
    if (after < end && expected !== '' && s.startsWith(expected, lt + 2)) {
      const c = s.charCodeAt(after);
      if (c === 0x3e /* > */) {
        this.endName = expected;
        return this.closeElement(s, after + 1);
      }
      if (isXmlSpace(c)) {
        this.endName = expected;
        this.mode = M_END_TAG;
        return this.endTagRest(s, after, end);
      }
    }
    const nameEnd = this.scanName(s, lt + 2, end);
    if (nameEnd < 0) return nameEnd === NEED_MORE ? this.needMore(lt) : STOP;
    this.endName = s.slice(lt + 2, nameEnd);
    this.mode = M_END_TAG;
    return this.endTagRest(s, nameEnd, end);
  }

  private endTagRest(s: string, pos: number, end: number): number {
    while (pos < end && isXmlSpace(s.charCodeAt(pos))) pos++;
    if (pos >= end) return this.needMore(pos);
    if (s.charCodeAt(pos) !== 0x3e) return this.fail('not-well-formed', 'malformed end tag');
    this.mode = M_TEXT;
    return this.closeElement(s, pos + 1);
  }

  private closeElement(s: string, after: number): number {
    const depth = this.stack.length;
    const name = this.endName;
    if (depth === 0) {
      if (!this.fragment && this.streamOpened && !this.streamClosed && name === this.rootQName) return this.closeStream(after);
      return this.fail('not-well-formed', 'unexpected end tag </' + name + '>');
    }
    if (this.qnames[depth - 1] !== name) return this.fail('not-well-formed', 'mismatched end tag </' + name + '>');
    const el = this.stack.pop() as Element;
    this.qnames.pop();
    this.defaultNs.pop();
    this.scopes.pop();
    if (this.text !== '') {
      el.children.push(this.text);
      this.text = '';
    }
    if (depth === 1) return this.finishStanza(s, after, el);
    if (this.unitOverflows(after)) return this.fail('policy-violation', 'stanza too large');
    return after;
  }

  /** `<!`: CDATA sections are allowed inside stanzas; comments and DTDs are refused. */
  private bang(s: string, lt: number, end: number): number {
    this.atDocStart = false;
    if (s.startsWith('<!--', lt)) return this.fail('restricted-xml', 'comments are not allowed');
    if (s.startsWith('<![CDATA[', lt)) {
      if (this.stack.length === 0) return this.fail('not-well-formed', 'CDATA is not allowed outside stanzas');
      this.mode = M_CDATA;
      return this.cdata(s, lt + 9, end);
    }
    if (s.startsWith('<!DOCTYPE', lt)) return this.fail('restricted-xml', 'DTDs are not allowed');
    if (end - lt < 9) {
      const got = s.slice(lt, end);
      if ('<![CDATA['.startsWith(got) || '<!--'.startsWith(got) || '<!DOCTYPE'.startsWith(got)) return this.needMore(lt);
    }
    return this.fail('not-well-formed', 'malformed markup declaration');
  }

  private cdata(s: string, pos: number, end: number): number {
    const close = s.indexOf(']]>', pos);
    if (close === -1) {
      // Keep what may be the start of "]]>" and a '\r' that may be followed by '\n'.
      let cut = end - 2 > pos ? end - 2 : pos;
      if (cut > pos && s.charCodeAt(cut - 1) === 0x0d) cut--;
      // Never split a surrogate pair: the kept part may be re-encoded as UTF-8 with the next bytes.
      const before = s.charCodeAt(cut - 1);
      if (cut > pos && before >= 0xd800 && before <= 0xdbff) cut--;
      if (cut > pos) this.appendText(normalizeCdataEol(s.slice(pos, cut)));
      if (this.unitOverflows(cut)) return this.fail('policy-violation', 'stanza too large');
      return this.needMore(cut);
    }
    if (close > pos) this.appendText(normalizeCdataEol(s.slice(pos, close)));
    this.mode = M_TEXT;
    if (this.unitOverflows(close + 3)) return this.fail('policy-violation', 'stanza too large');
    return close + 3;
  }

  private appendText(t: string): void {
    this.text = this.text === '' ? t : this.text + t;
  }

  /** `<?`: only the XML declaration, and only as the very first thing in the stream. */
  private pi(s: string, lt: number, end: number): number {
    if (this.atDocStart) {
      if (end - lt < 6) {
        if ('<?xml'.startsWith(s.slice(lt, Math.min(end, lt + 5)))) return this.needMore(lt);
      } else if (s.startsWith('<?xml', lt) && isXmlSpace(s.charCodeAt(lt + 5))) {
        this.atDocStart = false;
        this.beginUnit(U_HEADER, lt);
        this.beginTag('xml', -1, true);
        return this.tagBody(s, lt + 5, end);
      }
    }
    return this.fail('restricted-xml', 'processing instructions are not allowed');
  }
}
