/**
 * The BOSH building blocks that need no server: parsing request bodies, building response
 * bodies, version negotiation, the rid window, and the connection's output queue.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { intAttr, negotiateVersion, NS_HTTPBIND, parseBody, placeRid, responseBody, terminateBody } from '../../src/modules/bosh/body.js';
import { BoshConnection } from '../../src/modules/bosh/connection.js';

const LIMITS = { maxBytes: 4096, maxDepth: 8, maxAttributes: 16, maxNameLength: 64 };
const parse = (s: string) => parseBody(Buffer.from(s), LIMITS);

test('parseBody accepts one httpbind <body/> and detaches its children', () => {
  const r = parse(`<body xmlns='${NS_HTTPBIND}' rid='42' sid='abc'><message xmlns='jabber:client' to='a@b'><body>hi</body></message><presence xmlns='jabber:client'/></body>`);
  assert.ok(r.ok);
  assert.equal(r.body.attrs.rid, '42');
  const [m, p] = r.body.getChildren();
  assert.equal(m?.name, 'message');
  assert.equal(m?.xmlns, 'jabber:client');
  assert.equal(m?.parent, undefined);
  assert.equal(m?.getChildText('body'), 'hi');
  assert.equal(p?.name, 'presence');
});

test('parseBody takes stanzas left in the httpbind namespace as jabber:client, deeply', () => {
  const r = parse(`<body xmlns='${NS_HTTPBIND}' rid='1'><message to='a@b'><body>x</body><x xmlns='jabber:x:oob'/></message></body>`);
  assert.ok(r.ok);
  const m = r.body.getChildren()[0];
  assert.equal(m?.xmlns, 'jabber:client');
  assert.equal(m?.getChild('body')?.xmlns, 'jabber:client');
  assert.equal(m?.getChild('x')?.xmlns, 'jabber:x:oob');
});

test('parseBody keeps the xmpp: attributes by their prefixed names', () => {
  const r = parse(`<body xmlns='${NS_HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh' rid='7' xmpp:version='1.0' xmpp:restart='true'/>`);
  assert.ok(r.ok);
  assert.equal(r.body.attrs['xmpp:version'], '1.0');
  assert.equal(r.body.attrs['xmpp:restart'], 'true');
});

test('parseBody refuses what is not exactly one well-formed httpbind body', () => {
  for (const bad of [
    '',
    '<body',
    `<body xmlns='urn:other'/>`,
    `<bodyx xmlns='${NS_HTTPBIND}'/>`,
    `<body xmlns='${NS_HTTPBIND}'/><body xmlns='${NS_HTTPBIND}'/>`,
    `<body xmlns='${NS_HTTPBIND}'><a></b></body>`,
    `<body xmlns='${NS_HTTPBIND}'>${'<a>'.repeat(20)}${'</a>'.repeat(20)}</body>`,
    `<body xmlns='${NS_HTTPBIND}'>${'x'.repeat(5000)}</body>`,
  ]) {
    assert.equal(parse(bad).ok, false, bad.slice(0, 60));
  }
});

test('intAttr reads non-negative integers only', () => {
  const r = parse(`<body xmlns='${NS_HTTPBIND}' rid='123' hold='-1' wait='1.5' big='99999999999999999999'/>`);
  assert.ok(r.ok);
  assert.equal(intAttr(r.body, 'rid'), 123);
  assert.equal(intAttr(r.body, 'hold'), undefined);
  assert.equal(intAttr(r.body, 'wait'), undefined);
  assert.equal(intAttr(r.body, 'big'), undefined);
  assert.equal(intAttr(r.body, 'absent'), undefined);
});

test('negotiateVersion picks the lower version', () => {
  assert.equal(negotiateVersion('1.6'), '1.6');
  assert.equal(negotiateVersion('1.11'), '1.11');
  assert.equal(negotiateVersion('1.12'), '1.11');
  assert.equal(negotiateVersion('2.0'), '1.11');
  assert.equal(negotiateVersion('0.9'), '0.9');
  assert.equal(negotiateVersion(undefined), '1.11');
  assert.equal(negotiateVersion('garbage'), '1.11');
});

test('placeRid: next, ahead within the window, repeats within it, the rest out of window', () => {
  // last processed 100, requests 2
  assert.equal(placeRid(101, 100, 2), 'next');
  assert.equal(placeRid(102, 100, 2), 'ahead');
  assert.equal(placeRid(103, 100, 2), 'out-of-window');
  assert.equal(placeRid(100, 100, 2), 'repeat');
  assert.equal(placeRid(99, 100, 2), 'repeat');
  assert.equal(placeRid(98, 100, 2), 'out-of-window');
  assert.equal(placeRid(0, 100, 2), 'out-of-window');
  // requests 1 (hold=0): nothing ahead, only the last is a repeat
  assert.equal(placeRid(102, 100, 1), 'out-of-window');
  assert.equal(placeRid(99, 100, 1), 'out-of-window');
});

test('responseBody and terminateBody declare the prefixes and escape attributes', () => {
  const b = responseBody({ sid: "a'b", wait: 60, skipped: undefined }, '<x/>');
  assert.equal(b, `<body xmlns='${NS_HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh' xmlns:stream='http://etherx.jabber.org/streams' sid='a&apos;b' wait='60'><x/></body>`);
  assert.match(terminateBody(), /^<body [^>]* type='terminate'\/>$/);
  assert.match(terminateBody('item-not-found'), / type='terminate' condition='item-not-found'\/>$/);
  const parsed = parse(terminateBody('remote-stream-error', '<stream:error><host-unknown xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>'));
  assert.ok(parsed.ok, 'our output parses');
  assert.equal(parsed.body.getChildren()[0]?.xmlns, 'http://etherx.jabber.org/streams');
});

test('BoshConnection queues writes, counts bytes, and hands them over at once', () => {
  const seen: string[] = [];
  const c = new BoshConnection('127.0.0.1', 1234, true, { queued: () => seen.push('queued'), ended: () => seen.push('ended'), destroyed: () => seen.push('destroyed') }, 10);
  assert.equal(c.transport, 'bosh');
  assert.equal(c.write('<a/>'), true);
  assert.equal(c.write('<é/>'), true);
  assert.equal(c.bufferedBytes, 9);
  assert.equal(c.write('<long/>'), false, 'above the high-water mark');
  assert.equal(c.take(), '<a/><é/><long/>');
  assert.equal(c.bufferedBytes, 0);
  c.end();
  c.end();
  assert.equal(c.write('<late/>'), false);
  c.destroy();
  assert.deepEqual(seen, ['queued', 'queued', 'queued', 'ended', 'destroyed']);
});
