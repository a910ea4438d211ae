/**
 * Property tests for the stream parser (fast-check, bounded runs):
 * - any split of a valid stream (inside tags, attributes, references, UTF-8 characters) gives the
 *   same element trees as parsing it whole, and those trees match saxes' reading of the stream;
 * - random bytes and random mutations of valid streams never throw and never reach a handler
 *   after error();
 * - billion laughs is refused with restricted-xml, without memory growth.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SaxesParser, type SaxesTagNS } from 'saxes';
import { Element } from '../../src/xml/element.js';
import { escapeAttr, escapeText } from '../../src/xml/escape.js';
import { StreamParser, type StreamParserOptions } from '../../src/xml/parser.js';

// ---- generating valid streams ----

type TextPiece = { kind: 'raw'; text: string } | { kind: 'ref'; ref: string; decoded: string } | { kind: 'cdata'; text: string };
interface Attr {
  name: string;
  value: string;
  prefixPick: number;
  quote: '"' | "'";
}
interface Node {
  name: string;
  declareDefault: string | null;
  declarePrefix: string | null; // one of PREFIXES; bound to a URI of its own
  prefixPick: number;
  attrs: Attr[];
  children: (Node | TextPiece)[];
  selfClose: boolean;
  spaceBeforeEnd: string;
}

const PREFIXES = ['p', 'q', 'ns-x'];
const prefixUri = (prefix: string): string => `urn:prefix:${prefix}`;
const NAMES = ['message', 'body', 'x', 'item', 'a-b', 'n.c', '_u', 'grüße', 'ελ', 'data9'];
const URIS = ['jabber:client', 'urn:xmpp:test', '', 'http://example.com/ns?a=1&b=2'];
const TEXT_UNITS = ['a', 'b', ' ', 'hello', '<', '>', '&', '"', "'", ']', ']]', '\r\n', '\r', '\n', '\t', 'é', '日本', '😀', '\u00a0', '\uFEFF'];
const REFS: [string, string][] = [
  ['&amp;', '&'],
  ['&lt;', '<'],
  ['&gt;', '>'],
  ['&apos;', "'"],
  ['&quot;', '"'],
  ['&#65;', 'A'],
  ['&#x263A;', '☺'],
  ['&#128512;', '😀'],
  ['&#13;', '\r'],
  ['&#x0000A;', '\n'],
];

const textArb = fc.array(fc.constantFrom(...TEXT_UNITS), { maxLength: 6 }).map((xs) => xs.join(''));
const pieceArb: fc.Arbitrary<TextPiece> = fc.oneof(
  { weight: 4, arbitrary: textArb.filter((t) => t !== '').map((text) => ({ kind: 'raw' as const, text })) },
  { weight: 1, arbitrary: fc.constantFrom(...REFS).map(([ref, decoded]) => ({ kind: 'ref' as const, ref, decoded })) },
  {
    weight: 1,
    arbitrary: textArb.filter((t) => !t.includes(']]>') && !t.endsWith(']') && !t.endsWith(']]')).map((text) => ({ kind: 'cdata' as const, text })),
  },
);
const attrArb: fc.Arbitrary<Attr> = fc.record({
  name: fc.constantFrom('id', 'to', 'type', 'xml:lang', 'a', 'b-c', 'ver'),
  value: textArb,
  prefixPick: fc.nat(5),
  quote: fc.constantFrom('"' as const, "'" as const),
});

const { node: nodeArb } = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.record({
    name: fc.constantFrom(...NAMES),
    declareDefault: fc.option(fc.constantFrom(...URIS), { freq: 3 }),
    declarePrefix: fc.option(fc.constantFrom(...PREFIXES), { freq: 3 }),
    prefixPick: fc.nat(5),
    attrs: fc.uniqueArray(attrArb, { maxLength: 4, selector: (a) => a.name }),
    children: fc.array(fc.oneof({ weight: 2, arbitrary: pieceArb }, { weight: 1, arbitrary: tie('node') }), { maxLength: 4 }),
    selfClose: fc.boolean(),
    spaceBeforeEnd: fc.constantFrom('', ' ', '\n\t'),
  }),
}));

/** Serializes a generated node; prefixes are used only when in scope, so the result is namespace-well-formed. */
function writeNode(n: Node, scope: readonly string[]): string {
  const inScope = n.declarePrefix && !scope.includes(n.declarePrefix) ? [...scope, n.declarePrefix] : scope;
  const pick = (k: number): string | undefined => (k < inScope.length ? inScope[k] : undefined);
  const elPrefix = pick(n.prefixPick);
  const qname = elPrefix ? `${elPrefix}:${n.name}` : n.name;
  let s = '<' + qname;
  if (n.declareDefault !== null) s += ` xmlns='${escapeAttr(n.declareDefault)}'`;
  if (n.declarePrefix) s += `\n xmlns:${n.declarePrefix}="${prefixUri(n.declarePrefix)}"`;
  for (const a of n.attrs) {
    const prefix = a.name.includes(':') ? undefined : pick(a.prefixPick);
    const name = prefix ? `${prefix}:${a.name}` : a.name;
    let v = a.value.replace(/&/g, '&amp;').replace(/</g, '&lt;');
    v = a.quote === '"' ? v.replace(/"/g, '&quot;') : v.replace(/'/g, '&apos;');
    s += ` ${name}=${a.quote}${v}${a.quote}`;
  }
  if (n.selfClose && n.children.length === 0) return s + n.spaceBeforeEnd + '/>';
  s += '>';
  for (const c of n.children) {
    if ('name' in c) s += writeNode(c, inScope);
    else if (c.kind === 'raw') s += escapeText(c.text);
    else if (c.kind === 'ref') s += c.ref;
    else s += `<![CDATA[${c.text}]]>`;
  }
  return s + `</${qname}${n.spaceBeforeEnd}>`;
}

const HEADER = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>`;

const streamArb = fc
  .record({
    decl: fc.boolean(),
    stanzas: fc.array(fc.tuple(nodeArb, fc.constantFrom('', ' ', '\n', '\r\n  ')), { minLength: 1, maxLength: 5 }),
    close: fc.boolean(),
  })
  .map(({ decl, stanzas, close }) => {
    let s = (decl ? "<?xml version='1.0' encoding='UTF-8'?>\n" : '') + HEADER;
    for (const [node, ws] of stanzas) s += ws + writeNode(node, []);
    return close ? s + '</stream:stream>' : s;
  });

// ---- running the parser ----

interface Outcome {
  events: string[];
  errors: number;
  afterError: number;
}

function run(chunks: readonly (string | Uint8Array)[], options?: StreamParserOptions): Outcome {
  const out: Outcome = { events: [], errors: 0, afterError: 0 };
  const note = (e: string): void => {
    if (out.errors > 0) out.afterError++;
    out.events.push(e);
  };
  const parser = new StreamParser(
    {
      streamOpen: (h, ns) => note(`open ${h.xmlns} ${ns} ${JSON.stringify(h.attrs)}`),
      stanza: (el) => note(el.toString()),
      streamClose: () => note('close'),
      error: (err) => {
        note(`error ${err.condition}`);
        out.errors++;
      },
    },
    options,
  );
  for (const c of chunks) parser.write(c);
  parser.end();
  return out;
}

function splitAt<T extends string | Uint8Array>(data: T, cuts: number[]): T[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const parts: T[] = [];
  let last = 0;
  for (const p of points) {
    parts.push(data.slice(last, p) as T);
    last = p;
  }
  parts.push(data.slice(last) as T);
  return parts;
}

/** saxes' reading of the stream, as the same element trees (the oracle). */
function saxesStanzas(text: string): string[] {
  const out: string[] = [];
  const stack: Element[] = [];
  let depth = 0;
  const sax = new SaxesParser({ xmlns: true });
  sax.on('opentag', (tag: SaxesTagNS) => {
    depth++;
    if (depth === 1) return;
    const el = new Element(tag.local, undefined, tag.uri);
    const prefixed = Object.values(tag.attributes).filter((a) => a.prefix !== '' && a.prefix !== 'xmlns');
    for (const a of Object.values(tag.attributes)) {
      if (a.prefix === '' && a.name !== 'xmlns') el.attrs[a.name] = a.value;
    }
    for (const a of prefixed) {
      if (a.prefix !== 'xml' && el.attrs['xmlns:' + a.prefix] === undefined) el.attrs['xmlns:' + a.prefix] = a.uri;
      el.attrs[a.name] = a.value;
    }
    stack[stack.length - 1]?.cnode(el);
    stack.push(el);
  });
  const onText = (t: string): void => {
    stack[stack.length - 1]?.t(t);
  };
  sax.on('text', onText);
  sax.on('cdata', onText);
  sax.on('closetag', () => {
    depth--;
    const el = stack.pop();
    if (depth === 1 && el) out.push(el.toString());
  });
  sax.on('error', (e) => {
    throw e;
  });
  sax.write(text);
  return out;
}

/** XML_FUZZ_RUNS=5000 for a longer hunt; the default keeps the file well under 20 s. */
const NUM_RUNS = Number(process.env['XML_FUZZ_RUNS'] ?? 150);

describe('StreamParser fuzz: valid streams', () => {
  it('any split of the bytes gives the same trees as parsing them whole', () => {
    fc.assert(
      fc.property(streamArb, fc.array(fc.nat(), { maxLength: 12 }), (text, cuts) => {
        const bytes = Buffer.from(text, 'utf8');
        const whole = run([bytes]);
        assert.equal(whole.errors, 0, whole.events.join('\n'));
        assert.deepEqual(run(splitAt(bytes, cuts)), whole);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('any split of the string gives the same trees, also split into single bytes or characters', () => {
    fc.assert(
      fc.property(streamArb, fc.array(fc.nat(), { maxLength: 12 }), (text, cuts) => {
        const whole = run([text]);
        assert.equal(whole.errors, 0);
        assert.deepEqual(run(splitAt(text, cuts)), whole);
        assert.deepEqual(run([...Buffer.from(text, 'utf8')].map((b) => Uint8Array.of(b))), whole);
        assert.deepEqual(run(text.split('')), whole);
      }),
      { numRuns: Math.ceil(NUM_RUNS / 2) },
    );
  });

  it('the trees are the ones saxes reads', () => {
    fc.assert(
      fc.property(streamArb, (text) => {
        const ours = run([text]).events.filter((e) => e.startsWith('<'));
        assert.deepEqual(ours, saxesStanzas(text));
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

// ---- hostile input ----

const SNIPPETS = ['<', '>', '/', '</', '/>', '=', "'", '"', '&', '&amp;', '&#', ';', ':', 'xmlns', 'xmlns:p', '<!--', '<![CDATA[', ']]>',
  '<?', '?>', '<!DOCTYPE', ' ', '\r', '\u0000', '\uFFFF', 'é', '😀', '</stream:stream>', '<stream:stream>', 'p:', '<a>', '</a>'];

function checkInvariants(o: Outcome): void {
  assert.ok(o.errors <= 1, 'at most one error');
  assert.equal(o.afterError, 0, 'no handler call after error()');
}

describe('StreamParser fuzz: hostile input', () => {
  it('random bytes never throw and nothing follows an error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(), { maxLength: 8 }), fc.boolean(), (bytes, cuts, fragment) => {
        const opts: StreamParserOptions = { framing: fragment ? 'fragment' : 'stream' };
        checkInvariants(run(splitAt(bytes, cuts), opts));
        checkInvariants(run([Buffer.concat([Buffer.from(HEADER), bytes])], opts));
      }),
      { numRuns: NUM_RUNS * 3 },
    );
  });

  it('random XML-ish text never throws and nothing follows an error', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...SNIPPETS, 'a', 'b', 'stream'), { maxLength: 80 }), fc.array(fc.nat(), { maxLength: 8 }), (parts, cuts) => {
        const text = HEADER + parts.join('');
        checkInvariants(run(splitAt(text, cuts)));
        checkInvariants(run(splitAt(Buffer.from(text, 'utf8'), cuts), { framing: 'fragment', maxDepth: 3, maxStanzaBytes: 100 }));
      }),
      { numRuns: NUM_RUNS * 3 },
    );
  });

  it('mutations of valid streams never throw and nothing follows an error', () => {
    const mutation = fc.record({ at: fc.nat(), kind: fc.nat(3), byte: fc.integer({ min: 0, max: 255 }), snippet: fc.constantFrom(...SNIPPETS), len: fc.nat(8) });
    fc.assert(
      fc.property(streamArb, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 8 }), (text, mutations, cuts) => {
        let bytes = Buffer.from(text, 'utf8');
        for (const m of mutations) {
          const at = m.at % (bytes.length + 1);
          if (m.kind === 0) bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([m.byte]), bytes.subarray(at + 1)]);
          else if (m.kind === 1) bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(m.snippet), bytes.subarray(at)]);
          else if (m.kind === 2) bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.len)]);
          else bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at, at + m.len), bytes.subarray(at)]);
        }
        checkInvariants(run(splitAt(bytes, cuts)));
        checkInvariants(run([bytes.toString('latin1')]));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('billion laughs is refused with restricted-xml, without expansion or memory growth', () => {
    let dtd = '<!ENTITY lol0 "lol">';
    for (let i = 1; i < 40; i++) dtd += `<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`;
    const doc = `<?xml version="1.0"?><!DOCTYPE lolz [${dtd}]><lolz>&lol39;</lolz>`;
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 50; i++) {
      const whole = run([doc]);
      assert.deepEqual(whole.events, ['error restricted-xml']);
      const pieces = run(splitAt(doc, [7, 23, 30, 31, 32, 100]));
      assert.deepEqual(pieces.events, ['error restricted-xml']);
      // Inside a stream, the entity reference alone is refused too.
      const inStream = run([HEADER + '<lolz>&lol39;</lolz>']);
      assert.equal(inStream.events.at(-1), 'error restricted-xml');
    }
    const grown = process.memoryUsage().heapUsed - before;
    assert.ok(grown < 32 * 1024 * 1024, `heap grew by ${grown} bytes`);
  });
});
