/** Issue 14: XEP-0048 storage ↔ XEP-0402 items, the conversions of the bookmarks module. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXmlFragment } from '../../src/xml/parse-fragment.js';
import { Element } from '../../src/xml/element.js';
import {
  NS_BOOKMARKS2, NS_LEGACY, diffBookmarks, fromConference2, fromItems, isTrue, parseLegacy, toConference2, toLegacy, type Bookmark,
} from '../../src/modules/bookmarks/convert.js';

const legacy = (xml: string) => parseXmlFragment(`<storage xmlns='storage:bookmarks'>${xml}</storage>`);

test('autojoin: true and 1 are true; anything else false', () => {
  assert.deepEqual(['true', '1', 'false', '0', 'yes', undefined].map(isTrue), [true, true, false, false, false, false]);
});

test('XEP-0048 storage → bookmarks: names, autojoin true/1, nick, password, extensions; url kept aside; duplicates once', () => {
  const s = legacy(
    `<conference jid='council@conference.example.com' name='The Council' autojoin='1'><nick>Romeo</nick><password>secret</password><state xmlns='urn:example:state' pinned='yes'/></conference>` +
      `<conference jid='lobby@conference.example.com' autojoin='false'/>` +
      `<conference jid='council@conference.example.com' name='again'/>` +
      `<conference name='no jid'/>` +
      `<url name='Home' url='https://example.com/'/>`,
  );
  const { bookmarks, others } = parseLegacy([s]);
  assert.equal(bookmarks.length, 2);
  const [council, lobby] = bookmarks;
  assert.deepEqual(
    { jid: council?.jid, name: council?.name, autojoin: council?.autojoin, nick: council?.nick, password: council?.password },
    { jid: 'council@conference.example.com', name: 'The Council', autojoin: true, nick: 'Romeo', password: 'secret' },
  );
  assert.equal(council?.extensions.length, 1);
  assert.ok(council?.extensions[0]?.is('state', 'urn:example:state'));
  assert.deepEqual({ jid: lobby?.jid, name: lobby?.name, autojoin: lobby?.autojoin, nick: lobby?.nick }, { jid: 'lobby@conference.example.com', name: undefined, autojoin: false, nick: undefined });
  assert.deepEqual(others.map((o) => o.name), ['conference', 'url'], 'a conference without jid and the url bookmark are kept aside');
});

test('bookmark → XEP-0402 item payload and back', () => {
  const b: Bookmark = { jid: 'council@conference.example.com', name: 'The Council', autojoin: true, nick: 'Romeo', password: 'pw', extensions: [new Element('state', { xmlns: 'urn:example:state' })] };
  const c = toConference2(b);
  assert.ok(c.is('conference', NS_BOOKMARKS2));
  assert.deepEqual(c.attrs, { name: 'The Council', autojoin: 'true' });
  assert.equal(c.getChildText('nick', NS_BOOKMARKS2), 'Romeo');
  assert.equal(c.getChildText('password', NS_BOOKMARKS2), 'pw');
  assert.ok(c.getChild('extensions', NS_BOOKMARKS2)?.getChild('state', 'urn:example:state'));
  const back = fromConference2(b.jid, parseXmlFragment(c.toString()));
  assert.ok(back);
  assert.equal(toConference2(back).toString(), c.toString());
  // A minimal one: no name, no children, autojoin false.
  const minimal = toConference2({ jid: 'r@c', autojoin: false, extensions: [] });
  assert.deepEqual([minimal.attrs, minimal.children.length], [{ autojoin: 'false' }, 0]);
  assert.equal(fromConference2('r@c', parseXmlFragment(`<conference xmlns='${NS_BOOKMARKS2}' autojoin='1'/>`))?.autojoin, true);
  assert.equal(fromConference2('r@c', parseXmlFragment(`<storage xmlns='${NS_LEGACY}'/>`)), undefined);
  assert.equal(fromConference2('', toConference2(b)), undefined);
});

test('XEP-0402 items → XEP-0048 storage: sorted by room, extensions as conference children, others kept', () => {
  const items = [
    { id: 'b@conference.example.com', payload: parseXmlFragment(`<conference xmlns='${NS_BOOKMARKS2}' name='B' autojoin='true'><nick>n</nick><extensions><pin xmlns='urn:example:pin'/></extensions></conference>`) },
    { id: 'a@conference.example.com', payload: parseXmlFragment(`<conference xmlns='${NS_BOOKMARKS2}'/>`) },
    { id: 'junk', payload: parseXmlFragment(`<other xmlns='urn:example'/>`) },
  ];
  const bookmarks = fromItems(items);
  assert.deepEqual(bookmarks.map((b) => b.jid), ['a@conference.example.com', 'b@conference.example.com']);
  const storage = toLegacy(bookmarks, [parseXmlFragment(`<url xmlns='${NS_LEGACY}' name='Home' url='https://example.com/'/>`)]);
  assert.ok(storage.is('storage', NS_LEGACY));
  const confs = storage.getChildren('conference', NS_LEGACY);
  assert.deepEqual(confs.map((c) => [c.attrs.jid, c.attrs.name, c.attrs.autojoin]), [
    ['a@conference.example.com', undefined, 'false'],
    ['b@conference.example.com', 'B', 'true'],
  ]);
  assert.equal(confs[1]?.getChildText('nick', NS_LEGACY), 'n');
  assert.ok(confs[1]?.getChild('pin', 'urn:example:pin'), 'the extension is a child of the XEP-0048 conference');
  assert.ok(storage.getChild('url', NS_LEGACY));
  // Round trip: the storage reads back as the same bookmarks.
  const again = parseLegacy([parseXmlFragment(storage.toString())]);
  assert.deepEqual(again.bookmarks.map((b) => toConference2(b).toString()), bookmarks.map((b) => toConference2(b).toString()));
});

test('diff: new and changed rooms published, removed ones retracted, unchanged ones left alone', () => {
  const current = new Map<string, Element | undefined>([
    ['same@c', parseXmlFragment(`<conference xmlns='${NS_BOOKMARKS2}' autojoin='1' name='Same'/>`)],
    ['changed@c', parseXmlFragment(`<conference xmlns='${NS_BOOKMARKS2}' autojoin='true'/>`)],
    ['gone@c', parseXmlFragment(`<conference xmlns='${NS_BOOKMARKS2}'/>`)],
    ['broken@c', parseXmlFragment(`<whatever xmlns='urn:example'/>`)],
  ]);
  const wanted = parseLegacy([
    legacy(`<conference jid='same@c' name='Same' autojoin='true'/><conference jid='changed@c' autojoin='false'/><conference jid='new@c'/><conference jid='broken@c'/>`),
  ]).bookmarks;
  const { publish, retract } = diffBookmarks(current, wanted);
  assert.deepEqual(publish.map((b) => b.jid), ['changed@c', 'new@c', 'broken@c']);
  assert.deepEqual(retract, ['gone@c']);
  assert.deepEqual(diffBookmarks(new Map(), []), { publish: [], retract: [] });
});
