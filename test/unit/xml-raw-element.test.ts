/**
 * RawElement: stored XML written by Canto's serializer, sent again as it is (MAM results). The
 * text must come out byte for byte as the old way (parse it, nest the tree, serialize) did.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Element, RawElement, approximateSize, serialize, serializedStanza } from '../../src/xml/element.js';
import { parseRawElements, parseXmlFragment } from '../../src/xml/parse-fragment.js';
import { asClientStanza } from '../../src/xml/stanza.js';
import { NS } from '../../src/xml/ns.js';

/** Stanzas as a client might send them: namespaces, prefixes, escapes, non-ASCII, empty elements. */
const SENT = [
  `<message to='juliet@localhost' type='chat' id='a1'><body>plain</body></message>`,
  `<message to='juliet@localhost' type='chat' id='a&amp;2' xml:lang='de'><body>Grüße &lt;b&gt; &amp; "quotes" 'apostrophes' ]]&gt; 日本語 😀</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`,
  `<message xmlns='jabber:server' from='mercutio@example.net/x' to='juliet@localhost' type='chat'><body>from a server</body><thread parent='p'>t</thread></message>`,
  `<message to='juliet@localhost' type='chat'><body>a</body><x:custom xmlns:x='urn:example:x' x:attr='v&quot;&lt;'><x:inner>text</x:inner><plain/></x:custom><encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><key rid='2'>a2V5</key><iv>aXY=</iv></header><payload>cGF5</payload></encrypted></message>`,
  `<message to='juliet@localhost' type='chat'><body>
multi-line
	with a tab</body><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p style='color:red'>hi<br/>there</p></body></html></message>`,
];

/** What the archiver stores for a stanza (src/modules/mam/archiver.ts). */
const stored = (xml: string): string => asClientStanza(parseXmlFragment(xml)).toString();

/** A MAM result wrapping `original`, serialized as a c2s stream (jabber:client context) would. */
function result(original: Element): string {
  const msg = new Element('message', { xmlns: NS.client, to: 'juliet@localhost/balcony', id: 'r1' });
  msg.c('result', { xmlns: 'urn:xmpp:mam:2', id: 'x1' }).c('forwarded', { xmlns: 'urn:xmpp:forward:0' }).c('delay', { xmlns: 'urn:xmpp:delay', stamp: '2025-01-01T00:00:00.000Z' }).up().cnode(original);
  return serialize(msg, NS.client);
}

test('the archiver’s text is accepted as a RawElement and serializes exactly as the parsed tree did', () => {
  for (const sent of SENT) {
    const text = stored(sent);
    const raw = serializedStanza(text, 'message', NS.client);
    assert.ok(raw, `accepted: ${text}`);
    assert.equal(raw.name, 'message');
    assert.equal(raw.xmlns, NS.client);
    const parsed = parseXmlFragment(text);
    // Nested in another namespace (a forwarded message) or standalone (WebSocket, BOSH): the same bytes.
    for (const context of [undefined, 'urn:xmpp:forward:0', 'http://jabber.org/protocol/httpbind']) {
      assert.equal(serialize(raw, context), serialize(parsed, context), `${context}: ${text}`);
    }
    // Where jabber:client is already in scope the raw text declares it again: the same tree.
    assert.equal(serialize(raw, NS.client), text);
    assert.equal(parseXmlFragment(serialize(raw, NS.client)).toString(), parseXmlFragment(serialize(parsed, NS.client)).toString());
    assert.equal(result(raw), result(parsed));
    // The page a client reads parses to the same tree as before.
    assert.equal(parseXmlFragment(result(raw)).toString(), parseXmlFragment(result(parsed)).toString());
  }
});

test('text not in the serializer’s form is refused (parsed instead by the caller)', () => {
  const refused = [
    `<message from='a@b' to='c@d'><body>hand-written, no namespace</body></message>`,
    `<message xmlns='jabber:client' to='c@d'><body>single quotes</body></message>`,
    `<message xmlns="jabber:server" to="c@d"><body>other namespace</body></message>`,
    `<messages xmlns="jabber:client"><body>longer name</body></messages>`,
    `<message xmlns="jabber:client"><body>an undeclared stream prefix</body><stream:error/></message>`,
    `<message xmlns="jabber:client"><body>truncated</body></messag`,
    `<presence xmlns="jabber:client"/>`,
    '',
  ];
  for (const text of refused) assert.equal(serializedStanza(text, 'message', NS.client), undefined, text);
  assert.ok(serializedStanza(`<message xmlns="jabber:client"/>`, 'message', NS.client), 'an empty element');
  assert.ok(serializedStanza(`<message xmlns="jabber:client"><body>&lt;stream:error/&gt; as text</body></message>`, 'message', NS.client), 'escaped text is not a tag');
});

test('a RawElement is an opaque, frozen leaf: walking sees no children, changing it throws', () => {
  const text = stored(SENT[1]!);
  const raw = serializedStanza(text, 'message', NS.client)!;
  assert.deepEqual(raw.children, []);
  assert.deepEqual(raw.attrs, {});
  assert.equal(raw.getChild('body'), undefined);
  assert.throws(() => raw.c('body'), TypeError);
  assert.throws(() => raw.t('text'), TypeError);
  assert.throws(() => raw.setAttr('id', 'x'), TypeError);
  const copy = raw.clone();
  assert.ok(copy instanceof RawElement);
  assert.notEqual(copy, raw);
  assert.equal(copy.toString(), text);
  // A clone of a tree holding one keeps it raw (error replies and carbons copy trees).
  const wrapper = new Element('forwarded', { xmlns: 'urn:xmpp:forward:0' }).cnode(raw);
  assert.equal(wrapper.clone().toString(), wrapper.toString());
  // Byte bounds (stream management's queue) count the text.
  assert.equal(approximateSize(raw), text.length);
  assert.ok(approximateSize(wrapper) > text.length);
});

test('parseRawElements gives the tree a client reads, and leaves trees without raw text alone', () => {
  const text = stored(SENT[3]!);
  const msg = new Element('message', { xmlns: NS.client, id: 'r' });
  msg.c('result', { xmlns: 'urn:xmpp:mam:2' }).c('forwarded', { xmlns: 'urn:xmpp:forward:0' }).cnode(serializedStanza(text, 'message', NS.client)!);
  const seen = parseRawElements(msg);
  assert.notEqual(seen, msg);
  const inner = seen.getChild('result')?.getChild('forwarded')?.getChild('message');
  assert.ok(inner && !(inner instanceof RawElement));
  assert.equal(inner.parent, seen.getChild('result')?.getChild('forwarded'));
  assert.equal(inner.getChildText('body'), 'a');
  assert.equal(inner.getChild('custom', 'urn:example:x')?.attrs['x:attr'], 'v"<');
  assert.equal(seen.toString(), msg.toString());
  const plain = parseXmlFragment(SENT[0]!);
  assert.equal(parseRawElements(plain), plain);
});
