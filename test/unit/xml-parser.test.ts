import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Element, NS_STREAM } from '../../src/xml/element.js';
import {
  StreamParser,
  type StreamParserOptions,
  type XmlError,
  type XmlErrorCondition,
} from '../../src/xml/parser.js';

type Event =
  | { kind: 'open'; header: Element; contentNs: string }
  | { kind: 'stanza'; el: Element }
  | { kind: 'close' }
  | { kind: 'error'; err: XmlError };

function recorder(options?: StreamParserOptions): { parser: StreamParser; events: Event[] } {
  const events: Event[] = [];
  const parser = new StreamParser(
    {
      streamOpen: (header, contentNs) => events.push({ kind: 'open', header, contentNs }),
      stanza: (el) => events.push({ kind: 'stanza', el }),
      streamClose: () => events.push({ kind: 'close' }),
      error: (err) => events.push({ kind: 'error', err }),
    },
    options,
  );
  return { parser, events };
}

function feed(chunks: readonly (string | Uint8Array)[], options?: StreamParserOptions): Event[] {
  const { parser, events } = recorder(options);
  for (const c of chunks) parser.write(c);
  return events;
}

const stanzas = (events: Event[]): Element[] => events.flatMap((e) => (e.kind === 'stanza' ? [e.el] : []));
const serialized = (events: Event[]): string[] => stanzas(events).map((e) => e.toString());
const errors = (events: Event[]): XmlError[] => events.flatMap((e) => (e.kind === 'error' ? [e.err] : []));

function firstStanza(events: Event[]): Element {
  const el = stanzas(events)[0];
  assert.ok(el, 'expected a stanza, got ' + JSON.stringify(events.map((e) => e.kind)));
  return el;
}

function assertError(events: Event[], condition: XmlErrorCondition): void {
  const errs = errors(events);
  assert.equal(errs.length, 1, 'expected exactly one error, got ' + JSON.stringify(errs));
  assert.equal(errs[0]?.condition, condition, JSON.stringify(errs[0]));
  assert.equal(events[events.length - 1]?.kind, 'error', 'nothing may be reported after the error');
}

const HEADER =
  "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

/** Parses `body` inside a stream header, as one string write. */
const inStream = (body: string, options?: StreamParserOptions): Event[] => feed([HEADER + body], options);

describe('StreamParser: stream framing', () => {
  it('reports the header with its attributes, namespace and content namespace', () => {
    const events = feed([
      "<?xml version='1.0' encoding='UTF-8'?>\n<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " +
        "to='example.com' from='juliet@example.com' id='abc' version='1.0' xml:lang='en'>",
    ]);
    assert.equal(events.length, 1);
    const open = events[0];
    assert.ok(open?.kind === 'open');
    assert.equal(open.header.name, 'stream');
    assert.equal(open.header.xmlns, NS_STREAM);
    assert.equal(open.contentNs, 'jabber:client');
    assert.deepEqual(open.header.attrs, { to: 'example.com', from: 'juliet@example.com', id: 'abc', version: '1.0', 'xml:lang': 'en' });
    assert.equal(open.header.children.length, 0);
  });

  it('reports a header without default namespace with contentNs "" and its real namespace', () => {
    const events = feed(["<stream:stream xmlns:stream='urn:wrong'>"]);
    assert.ok(events[0]?.kind === 'open');
    assert.equal(events[0].contentNs, '');
    assert.equal(events[0].header.xmlns, 'urn:wrong');
  });

  it('delivers depth-1 elements as stanzas in the content namespace, ignores keepalives, reports the close', () => {
    const events = inStream(" \n<message to='a@b' type='chat'><body>hi</body></message>  \t\r\n <iq type='get' id='1'/> </stream:stream>");
    assert.deepEqual(
      events.map((e) => e.kind),
      ['open', 'stanza', 'stanza', 'close'],
    );
    const [msg, iq] = stanzas(events);
    assert.equal(msg?.name, 'message');
    assert.equal(msg?.xmlns, 'jabber:client');
    assert.equal(msg?.getChildText('body'), 'hi');
    assert.equal(msg?.parent, undefined);
    assert.equal(iq?.toString(), '<iq xmlns="jabber:client" type="get" id="1"/>');
  });

  it('resolves stream:features and prefixed children', () => {
    const events = inStream(
      "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>" +
        "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
    );
    const [features, error] = stanzas(events);
    assert.equal(features?.name, 'features');
    assert.equal(features?.xmlns, NS_STREAM);
    const starttls = features?.getChild('starttls', 'urn:ietf:params:xml:ns:xmpp-tls');
    assert.ok(starttls);
    assert.equal(starttls.getChild('required')?.xmlns, 'urn:ietf:params:xml:ns:xmpp-tls');
    assert.equal(error?.name, 'error');
    assert.equal(error?.xmlns, NS_STREAM);
    assert.ok(error?.getChild('not-well-formed', 'urn:ietf:params:xml:ns:xmpp-streams'));
  });

  it('resolves prefixed, default and redefined namespaces', () => {
    const el = firstStanza(
      inStream(
        "<iq type='set'><p:pubsub xmlns:p='http://jabber.org/protocol/pubsub'><p:publish node='n'>" +
          "<item><entry xmlns='urn:entry'><title>t</title><sub xmlns=''><leaf/></sub></entry></item>" +
          '</p:publish></p:pubsub><after/></iq>',
      ),
    );
    const pubsub = el.getChild('pubsub', 'http://jabber.org/protocol/pubsub');
    assert.ok(pubsub);
    assert.deepEqual(pubsub.attrs, {}, 'namespace declarations are not attributes');
    const publish = pubsub.getChild('publish', 'http://jabber.org/protocol/pubsub');
    assert.equal(publish?.attr('node'), 'n');
    const item = publish?.getChild('item');
    assert.equal(item?.xmlns, 'jabber:client', 'an unprefixed child keeps the default namespace');
    const entry = item?.getChild('entry');
    assert.equal(entry?.xmlns, 'urn:entry');
    assert.equal(entry?.getChild('title')?.xmlns, 'urn:entry');
    assert.equal(entry?.getChild('sub')?.xmlns, '');
    assert.equal(entry?.getChild('sub')?.getChild('leaf')?.xmlns, '');
    assert.equal(el.getChild('after')?.xmlns, 'jabber:client', 'redefinitions end with their element');
  });

  it('keeps the declaration a prefixed attribute needs, also when declared on an ancestor', () => {
    const el = firstStanza(
      inStream("<message xmlns:e='urn:ext' e:a='1'><body e:b='2' xml:lang='de'>x</body></message>"),
    );
    assert.deepEqual(el.attrs, { 'xmlns:e': 'urn:ext', 'e:a': '1' });
    assert.deepEqual(el.getChild('body')?.attrs, { 'xmlns:e': 'urn:ext', 'e:b': '2', 'xml:lang': 'de' });
    // And the element re-serializes to something that parses back to the same tree.
    const again = firstStanza(inStream(el.toString()));
    assert.equal(again.toString(), el.toString());
  });

  it('decodes the predefined entities and character references in text and attributes', () => {
    const el = firstStanza(
      inStream("<message a='&lt;&gt;&amp;&apos;&quot;&#65;&#x42;'><body>&lt;b&gt; &amp; &apos;&quot; &#x263A;&#128512;&#x1F600;</body></message>"),
    );
    assert.equal(el.attr('a'), '<>&\'"AB');
    assert.equal(el.getChildText('body'), '<b> & \'" ☺😀😀');
  });

  it('accepts CDATA sections, merged with the surrounding text', () => {
    const el = firstStanza(inStream('<message><body>a<![CDATA[<b>&amp;]]]]>c<![CDATA[]]></body></message>'));
    const body = el.getChild('body');
    assert.deepEqual(body?.children, ['a<b>&amp;]]c']);
  });

  it('parses attributes: both quotes, ">" inside values, whitespace around "=", self-closing tags', () => {
    const el = firstStanza(inStream(`<presence  a = "x'>y"\n\tb='say "hi"' ><c   /><d></d></presence  >`));
    assert.deepEqual(el.attrs, { a: "x'>y", b: 'say "hi"' });
    assert.deepEqual(
      el.children.map((c) => (typeof c === 'string' ? c : c.name)),
      ['c', 'd'],
    );
  });

  it('normalises whitespace in attribute values but keeps character references', () => {
    const el = firstStanza(inStream("<x a='1\t2\n3\r\n4\r5' b='&#9;&#10;&#13;'/>"));
    assert.equal(el.attr('a'), '1 2 3 4 5');
    assert.equal(el.attr('b'), '\t\n\r');
  });

  it('normalises line ends in text and CDATA, also when "\\r\\n" is split across writes', () => {
    const whole = feed([HEADER + '<m>a\r\nb\rc\r\n<![CDATA[d\r\ne\rf]]>&#13;</m>']);
    assert.equal(firstStanza(whole).getText(), 'a\nb\nc\nd\ne\nf\r');
    const text = HEADER + '<m>a\r\nb\rc\r\n<![CDATA[d\r\ne\rf]]>&#13;</m>';
    for (let i = 0; i <= text.length; i++) {
      const split = feed([text.slice(0, i), text.slice(i)]);
      assert.equal(firstStanza(split).getText(), 'a\nb\nc\nd\ne\nf\r', 'split at ' + i);
    }
  });

  it('handles UTF-8 characters split across writes, byte by byte', () => {
    const bytes = Buffer.from(HEADER + "<message><body a='é€'>Grüße 日本 😀</body></message>", 'utf8');
    const { parser, events } = recorder();
    for (const b of bytes) parser.write(Uint8Array.of(b));
    assert.deepEqual(errors(events), []);
    const body = firstStanza(events).getChild('body');
    assert.equal(body?.getText(), 'Grüße 日本 😀');
    assert.equal(body?.attr('a'), 'é€');
  });

  it('handles a surrogate pair split across two string writes', () => {
    const events = feed([HEADER + '<m>a\uD83D', '\uDE00b</m>']);
    assert.equal(firstStanza(events).getText(), 'a😀b');
  });

  it('gives the same result for every two-way split of a stream', () => {
    const text =
      "<?xml version='1.0'?>" +
      HEADER +
      "<message xmlns:x='urn:x' x:y='1' id='a&amp;b'><body>héllo &lt; wörld<![CDATA[ ]]> </body><x:z/></message> " +
      '<presence><status>🙂</status></presence></stream:stream>';
    const bytes = Buffer.from(text, 'utf8');
    const reference = feed([bytes]).map((e) => (e.kind === 'stanza' ? e.el.toString() : e.kind));
    assert.deepEqual(reference, ['open', ...serialized(feed([text])), 'close']);
    for (let i = 0; i <= bytes.length; i++) {
      const got = feed([bytes.subarray(0, i), bytes.subarray(i)]).map((e) => (e.kind === 'stanza' ? e.el.toString() : e.kind));
      assert.deepEqual(got, reference, 'split at byte ' + i);
    }
  });

  it('skips a byte order mark at the start', () => {
    const events = feed([Buffer.from([0xef, 0xbb]), Buffer.concat([Buffer.from([0xbf]), Buffer.from(HEADER + '<a/>')])]);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['open', 'stanza'],
    );
  });

  it('keeps an attribute named __proto__ as an ordinary attribute', () => {
    const el = firstStanza(inStream("<x __proto__='p' constructor='c'/>"));
    assert.equal(Object.getPrototypeOf(el.attrs), Object.prototype);
    assert.equal(el.attrs['__proto__'], 'p');
    assert.equal(el.attr('constructor'), 'c');
  });

  it('reports a self-closing stream header as open then close', () => {
    const events = feed(["<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'/>"]);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['open', 'close'],
    );
  });
});

describe('StreamParser: reset, end, handlers', () => {
  it('expects a new header after reset() (stream restart)', () => {
    const { parser, events } = recorder();
    parser.write(HEADER + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth><half");
    parser.reset();
    parser.write("<?xml version='1.0'?>" + HEADER.replace('jabber:client', 'jabber:server') + '<iq/>');
    assert.deepEqual(
      events.map((e) => e.kind),
      ['open', 'stanza', 'open', 'stanza'],
    );
    const second = events[2];
    assert.ok(second?.kind === 'open');
    assert.equal(second.contentNs, 'jabber:server');
    assert.equal(stanzas(events)[1]?.xmlns, 'jabber:server');
  });

  it('discards the rest of a write when a handler calls reset() (no STARTTLS injection)', () => {
    const events: string[] = [];
    const parser: StreamParser = new StreamParser({
      streamOpen: () => events.push('open'),
      stanza: (el) => {
        events.push(el.name);
        if (el.name === 'starttls') parser.reset();
      },
      streamClose: () => events.push('close'),
      error: (e) => events.push('error:' + e.condition),
    });
    parser.write(HEADER + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><iq type='set'>injected</iq>");
    assert.deepEqual(events, ['open', 'starttls']);
    parser.write(HEADER + '<iq/>');
    assert.deepEqual(events, ['open', 'starttls', 'open', 'iq']);
  });

  it('reset() after an error starts over', () => {
    const { parser, events } = recorder();
    parser.write(HEADER + '<a></b>');
    parser.reset();
    parser.write(HEADER + '<c/>');
    assert.deepEqual(
      events.map((e) => e.kind),
      ['open', 'error', 'open', 'stanza'],
    );
  });

  it('end() drops an unfinished stanza without an error and ignores later input', () => {
    const { parser, events } = recorder();
    parser.write(HEADER + '<message><body>unfinished');
    parser.end();
    parser.write('</body></message><iq/>');
    assert.deepEqual(
      events.map((e) => e.kind),
      ['open'],
    );
  });

  it('passes on an exception thrown by a handler and then ignores input', () => {
    let calls = 0;
    const parser = new StreamParser({
      streamOpen() {},
      stanza() {
        calls++;
        throw new Error('handler bug');
      },
      streamClose() {},
      error() {},
    });
    assert.throws(() => parser.write(HEADER + '<a/><b/>'), /handler bug/);
    parser.write('<c/>');
    assert.equal(calls, 1);
  });

  it('emits nothing after the first error', () => {
    const { parser, events } = recorder();
    parser.write(HEADER + '<a/><!-- c --><b/>');
    parser.write('<c/></stream:stream>');
    parser.write(Buffer.from('<d/>'));
    parser.end();
    assert.deepEqual(
      events.map((e) => e.kind),
      ['open', 'stanza', 'error'],
    );
  });
});

describe('StreamParser: fragment framing', () => {
  it('delivers every top-level element as a stanza (RFC 7395 framing)', () => {
    const events = feed(
      [
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>",
        "<message xmlns='jabber:client' to='a@b'><body>x</body></message>",
        " <close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
      ],
      { framing: 'fragment' },
    );
    assert.deepEqual(
      events.map((e) => e.kind),
      ['stanza', 'stanza', 'stanza'],
    );
    const [open, msg, close] = stanzas(events);
    assert.equal(open?.name, 'open');
    assert.equal(open?.xmlns, 'urn:ietf:params:xml:ns:xmpp-framing');
    assert.deepEqual(open?.attrs, { to: 'example.com', version: '1.0' });
    assert.equal(msg?.xmlns, 'jabber:client');
    assert.equal(close?.name, 'close');
  });

  it('delivers a BOSH body with its payload', () => {
    const events = feed(
      ["<?xml version='1.0'?><body rid='1' xmlns='http://jabber.org/protocol/httpbind'><message xmlns='jabber:client'/></body>"],
      { framing: 'fragment' },
    );
    const body = firstStanza(events);
    assert.equal(body.attr('rid'), '1');
    assert.equal(body.getChild('message')?.xmlns, 'jabber:client');
  });

  it('refuses a stray end tag and text at the top level', () => {
    assertError(feed(['</stream:stream>'], { framing: 'fragment' }), 'not-well-formed');
    assertError(feed(['<a/>text'], { framing: 'fragment' }), 'not-well-formed');
  });
});

describe('StreamParser: refusals (RFC 6120 §11)', () => {
  const cases: [string, string, XmlErrorCondition][] = [
    ['DTD', '<!DOCTYPE stream>', 'restricted-xml'],
    ['DTD inside the stream', "<!DOCTYPE x [<!ENTITY a 'b'>]>", 'restricted-xml'],
    ['comment at stream level', '<!-- hello -->', 'restricted-xml'],
    ['comment in a stanza', '<message><!-- hello --></message>', 'restricted-xml'],
    ['processing instruction', "<?php echo 'x' ?>", 'restricted-xml'],
    ['processing instruction in a stanza', '<message><?pi x?></message>', 'restricted-xml'],
    ['XML declaration not at the start', "<?xml version='1.0'?>", 'restricted-xml'],
    ['undefined entity', '<message><body>&nbsp;</body></message>', 'restricted-xml'],
    ['undefined entity in an attribute', "<message id='&foo;'/>", 'restricted-xml'],
    ['mismatched end tag', '<message><body></message></body>', 'not-well-formed'],
    ['end tag of another prefix', "<a xmlns:p='urn:p'><p:b></b></a>", 'not-well-formed'],
    ['closing the stream inside a stanza', '<message></stream:stream>', 'not-well-formed'],
    ['duplicate attribute', "<message to='a' to='b'/>", 'not-well-formed'],
    ['duplicate expanded attribute', "<m xmlns:a='urn:x' xmlns:b='urn:x' a:z='1' b:z='2'/>", 'not-well-formed'],
    ['"<" in an attribute value', "<message to='a<b'/>", 'not-well-formed'],
    ['unquoted attribute', '<message to=a/>', 'not-well-formed'],
    ['attribute without value', '<message checked/>', 'not-well-formed'],
    ['attributes without whitespace', "<message a='1'b='2'/>", 'not-well-formed'],
    ['text at stream level', 'hello', 'not-well-formed'],
    ['CDATA at stream level', '<![CDATA[x]]>', 'not-well-formed'],
    ['"]]>" in text', '<m>a]]>b</m>', 'not-well-formed'],
    ['bare ampersand', '<m>fish & chips</m>', 'not-well-formed'],
    ['unterminated reference', '<m>&amp</m>', 'not-well-formed'],
    ['empty character reference', '<m>&#x;</m>', 'not-well-formed'],
    ['character reference to a forbidden character', '<m>&#1;</m>', 'not-well-formed'],
    ['character reference to a surrogate', '<m>&#xD800;</m>', 'not-well-formed'],
    ['character reference beyond Unicode', '<m>&#x110000;</m>', 'not-well-formed'],
    ['forbidden character in text', '<m>a\u0001b</m>', 'not-well-formed'],
    ['forbidden character U+FFFE', '<m>\uFFFE</m>', 'not-well-formed'],
    ['lone surrogate', '<m>\uDC00</m>', 'not-well-formed'],
    ['name starting with a digit', '<1m/>', 'not-well-formed'],
    ['name with two colons', '<a:b:c/>', 'not-well-formed'],
    ['unbound element prefix', '<foo:bar/>', 'not-well-formed'],
    ['unbound attribute prefix', "<m foo:bar='1'/>", 'not-well-formed'],
    ['undeclaring a prefix', "<m xmlns:p=''/>", 'not-well-formed'],
    ['rebinding the xml prefix', "<m xmlns:xml='urn:x'/>", 'not-well-formed'],
    ['declaring the xmlns prefix', "<m xmlns:xmlns='urn:x'/>", 'not-well-formed'],
    ['malformed markup declaration', '<!ELEMENT x>', 'not-well-formed'],
    ['content after the stream ended', '</stream:stream><message/>', 'not-well-formed'],
    ['stray end tag in a stanza-less stream', '</message>', 'not-well-formed'],
    ['space after "<"', '< message/>', 'not-well-formed'],
  ];
  for (const [what, body, condition] of cases) {
    it(`${what} → ${condition}`, () => {
      assertError(inStream(body), condition);
      // The same, fed one character at a time.
      const { parser, events } = recorder();
      for (const ch of HEADER + body) parser.write(ch);
      assertError(events, condition);
    });
  }

  it('refuses text and elements before the header', () => {
    assertError(feed(['hello <stream:stream>']), 'not-well-formed');
    assertError(feed(['</stream:stream>']), 'not-well-formed');
  });

  it('refuses a non-UTF-8 XML declaration', () => {
    assertError(feed(["<?xml version='1.0' encoding='ISO-8859-1'?>" + HEADER]), 'not-well-formed');
    assertError(feed(["<?xml encoding='UTF-8'?>" + HEADER]), 'not-well-formed');
  });

  it('refuses invalid UTF-8 (bad continuation, overlong, 0xFF, encoded surrogate)', () => {
    for (const bad of [[0xc3, 0x28], [0xc0, 0x80], [0xff], [0xed, 0xa0, 0x80]]) {
      const events = feed([Buffer.from(HEADER + '<m>'), Buffer.from(bad), Buffer.from('</m>')]);
      assertError(events, 'not-well-formed');
    }
  });

  it('refuses a forbidden control character arriving as bytes, after delivering what precedes it', () => {
    const events = feed([Buffer.from(HEADER + '<a/><b>\u0000</b>')]);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['open', 'stanza', 'error'],
    );
    assertError(events, 'not-well-formed');
  });

  it('refuses billion laughs without expanding anything', () => {
    const lol =
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">' +
      '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>';
    assertError(feed([lol]), 'restricted-xml');
    assertError(feed([HEADER + '<m>&lol3;</m>']), 'restricted-xml');
  });
});

describe('StreamParser: limits', () => {
  /** A stanza of exactly `bytes` UTF-8 bytes, padded with `pad` (1 or 2 bytes each). */
  function stanzaOf(bytes: number, pad = 'a'): string {
    const shell = '<message><body></body></message>';
    const padBytes = Buffer.byteLength(pad);
    let fill = pad.repeat(Math.floor((bytes - shell.length) / padBytes));
    while (Buffer.byteLength(shell) + Buffer.byteLength(fill) < bytes) fill += 'a';
    const s = `<message><body>${fill}</body></message>`;
    assert.equal(Buffer.byteLength(s), bytes);
    return s;
  }

  it('maxStanzaBytes: accepts a stanza of exactly the limit, refuses one byte more', () => {
    const opts = { maxStanzaBytes: 1000 };
    assert.deepEqual(errors(inStream(stanzaOf(1000), opts)), []);
    assert.equal(stanzas(inStream(stanzaOf(1000), opts)).length, 1);
    assertError(inStream(stanzaOf(1001), opts), 'policy-violation');
  });

  it('maxStanzaBytes counts UTF-8 bytes, not characters', () => {
    const opts = { maxStanzaBytes: 1000 };
    assert.equal(stanzas(inStream(stanzaOf(1000, 'é'), opts)).length, 1);
    assertError(inStream(stanzaOf(1001, 'é'), opts), 'policy-violation');
    // Byte by byte too, where the count is carried across writes.
    for (const [size, ok] of [[1000, true], [1001, false]] as const) {
      const { parser, events } = recorder(opts);
      parser.write(HEADER);
      for (const b of Buffer.from(stanzaOf(size, 'é'))) parser.write(Uint8Array.of(b));
      if (ok) assert.equal(stanzas(events).length, 1);
      else assertError(events, 'policy-violation');
    }
  });

  it('maxStanzaBytes refuses an endless stanza early, without buffering it', () => {
    const cases = [
      ['<message><body>', '<x>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</x>'], // many small elements
      ['<message><body>', 'a'.repeat(64)], // endless text
      ["<message a='", 'b'.repeat(64)], // endless attribute value
      ['<message ', ' '.repeat(64)], // endless whitespace in a tag
      ['<message><![CDATA[', 'c'.repeat(64)], // endless CDATA section
    ];
    for (const [start, piece] of cases as [string, string][]) {
      const { parser, events } = recorder({ maxStanzaBytes: 4096 });
      parser.write(HEADER + start);
      let written = 0;
      while (errors(events).length === 0 && written < 1_000_000) {
        parser.write(piece);
        written += piece.length;
      }
      assertError(events, 'policy-violation');
      assert.ok(written <= 4096 + piece.length, `refused only after ${written} bytes`);
    }
  });

  it('a long attribute value arriving in small pieces is parsed right, in linear time', () => {
    const value = 'é&amp;x'.repeat(25_000); // 225 KB in the document
    const doc = Buffer.from(HEADER + `<message id='${value}' to="a"><body/></message><iq/>`, 'utf8');
    const expected = 'é&x'.repeat(25_000);
    for (const [size, asString] of [[7, false], [1000, true], [3, false]] as const) {
      const { parser, events } = recorder();
      const started = Date.now();
      for (let i = 0; i < doc.length; i += size) {
        const piece = doc.subarray(i, i + size);
        parser.write(asString ? piece.toString('latin1') : piece);
      }
      if (asString) {
        // latin1 strings are not the UTF-8 text; only check that it finished without error.
        assert.deepEqual(errors(events), []);
        continue;
      }
      assert.deepEqual(errors(events), []);
      const msg = firstStanza(events);
      assert.equal(msg.attr('id'), expected);
      assert.equal(msg.attr('to'), 'a');
      assert.equal(stanzas(events).length, 2);
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    }
  });

  it('whitespace around "=" is bounded', () => {
    assert.equal(stanzas(inStream(`<m a${' '.repeat(512)}=${' '.repeat(512)}'1'/>`)).length, 1);
    assertError(inStream(`<m a${' '.repeat(512)}=${' '.repeat(513)}'1'/>`), 'policy-violation');
  });

  it('the stream header size is limited', () => {
    const header = (extra: number): string => HEADER.replace("to='example.com'", `to='${'e'.repeat(extra)}'`);
    const base = Buffer.byteLength(header(0));
    assert.deepEqual(
      feed([header(100)], { maxHeaderBytes: base + 100 }).map((e) => e.kind),
      ['open'],
    );
    assertError(feed([header(101)], { maxHeaderBytes: base + 100 }), 'policy-violation');
    // An endless header is refused once it passes the limit.
    const { parser, events } = recorder();
    parser.write("<stream:stream to='");
    for (let i = 0; i < 100 && errors(events).length === 0; i++) parser.write('x'.repeat(1024));
    assertError(events, 'policy-violation');
  });

  it('maxDepth: the stanza element is level 1', () => {
    const nest = (levels: number): string => '<a>'.repeat(levels) + '</a>'.repeat(levels);
    assert.equal(stanzas(inStream(nest(64))).length, 1);
    assertError(inStream(nest(65)), 'policy-violation');
    assert.equal(stanzas(inStream(nest(3), { maxDepth: 3 })).length, 1);
    assertError(inStream(nest(4), { maxDepth: 3 }), 'policy-violation');
  });

  it('maxAttributes counts every attribute, namespace declarations included', () => {
    const attrs = (n: number): string => Array.from({ length: n }, (_, i) => ` a${i}='${i}'`).join('');
    assert.equal(stanzas(inStream(`<m${attrs(64)}/>`)).length, 1);
    assertError(inStream(`<m${attrs(65)}/>`), 'policy-violation');
    assert.equal(stanzas(inStream(`<m xmlns='urn:x'${attrs(63)}/>`)).length, 1);
    assertError(inStream(`<m xmlns='urn:x'${attrs(64)}/>`), 'policy-violation');
  });

  it('maxNameLength applies to element names, attribute names and prefixes', () => {
    const n256 = 'n'.repeat(256);
    const n257 = 'n'.repeat(257);
    assert.equal(stanzas(inStream(`<${n256}/>`)).length, 1);
    assertError(inStream(`<${n257}/>`), 'policy-violation');
    assert.equal(stanzas(inStream(`<m ${n256}='1'/>`)).length, 1);
    assertError(inStream(`<m ${n257}='1'/>`), 'policy-violation');
    assert.equal(stanzas(inStream(`<${n256}:m xmlns:${n256}='urn:x'/>`)).length, 1);
    assertError(inStream(`<${n257}:m xmlns:${n257}='urn:x'/>`), 'policy-violation');
    // A name that never ends is refused as soon as it is too long.
    const { parser, events } = recorder();
    parser.write(HEADER + '<');
    for (let i = 0; i < 300 && errors(events).length === 0; i++) parser.write('n');
    assertError(events, 'policy-violation');
  });

  it('limits are options', () => {
    assertError(inStream("<m a='1' b='2'/>", { maxAttributes: 1 }), 'policy-violation');
    // 'version' in the header is 7 characters long.
    assertError(inStream('<messages/>', { maxNameLength: 7 }), 'policy-violation');
    assert.equal(stanzas(inStream('<message/>', { maxNameLength: 7 })).length, 1);
  });
});
