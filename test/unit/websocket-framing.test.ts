/** WebSocketFraming without sockets: what it writes, what it reports, backpressure. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketFraming, serializeMessage, NS_FRAMING } from '../../src/modules/websocket/framing.js';
import type { Connection } from '../../src/core/session.js';
import type { StreamOpen } from '../../src/modules/c2s/client-session.js';
import { Element, NS_STREAM } from '../../src/xml/element.js';
import { createLogger } from '../../src/core/logging.js';

const log = createLogger({ level: 'silent', format: 'json', destination: process.stderr });
const limits = { max_stanza_size: 1000, max_depth: 16, max_attributes: 16, max_name_length: 64, max_send_buffer: 100 };

function harness() {
  const written: string[] = [];
  const state = { buffered: 0, ended: false, destroyed: false };
  const conn: Connection = {
    transport: 'websocket',
    remoteAddress: '127.0.0.1',
    remotePort: 1,
    encrypted: false,
    write: (d) => (written.push(d), true),
    get bufferedBytes() {
      return state.buffered;
    },
    end: () => (state.ended = true),
    destroy: () => (state.destroyed = true),
  };
  const opens: StreamOpen[] = [];
  const elements: Element[] = [];
  let peerClosed = 0;
  const framing = new WebSocketFraming(conn, limits, log, {
    streamOpen: (o) => opens.push(o),
    element: (el) => elements.push(el),
    streamClose: () => peerClosed++,
  });
  const msg = (s: string) => framing.message(Buffer.from(s), false);
  return { framing, written, state, opens, elements, msg, peerClosed: () => peerClosed };
}

test('stream-namespace elements declare the stream prefix; stanzas carry their namespace', () => {
  const f = new Element('features', undefined, NS_STREAM);
  f.c('bind', { xmlns: 'urn:ietf:params:xml:ns:xmpp-bind' });
  assert.equal(serializeMessage(f), `<stream:features xmlns:stream='${NS_STREAM}'><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></stream:features>`);
  assert.equal(serializeMessage(new Element('message', { to: 'a@b' }, 'jabber:client')), '<message xmlns="jabber:client" to="a@b"/>');
});

test('<open/> is reported with its attributes; elements follow; our <open/> has the attributes RFC 7395 asks for', () => {
  const h = harness();
  h.msg(`<open xmlns='${NS_FRAMING}' to='example.com' version='1.0' xml:lang='de'/>`);
  assert.deepEqual(h.opens, [{ to: 'example.com', from: undefined, version: '1.0', lang: 'de' }]);
  const id = h.framing.openStream({ from: 'example.com', lang: 'de' });
  assert.equal(h.written[0], `<open xmlns='${NS_FRAMING}' id='${id}' from='example.com' version='1.0' xml:lang='de'/>`);
  h.msg(`<iq xmlns='jabber:client' type='get' id='1'/>`);
  assert.equal(h.elements[0]?.name, 'iq');
  assert.equal(h.elements[0]?.xmlns, 'jabber:client');
});

test('restart(): a new <open/> is expected before other elements', () => {
  const h = harness();
  h.msg(`<open xmlns='${NS_FRAMING}' to='example.com' version='1.0'/>`);
  h.framing.openStream({ from: 'example.com' });
  h.framing.restart();
  h.msg(`<iq xmlns='jabber:client' type='get' id='1'/>`);
  assert.equal(h.elements.length, 0);
  assert.match(h.written.join(''), /<bad-format /);
  assert.equal(h.framing.closeReason !== undefined, true);
});

test('<close/> from the client is answered with <close/> and ends the connection', () => {
  const h = harness();
  h.msg(`<open xmlns='${NS_FRAMING}' to='example.com' version='1.0'/>`);
  h.framing.openStream({ from: 'example.com' });
  h.msg(`<close xmlns='${NS_FRAMING}'/>`);
  assert.equal(h.written.at(-1), `<close xmlns='${NS_FRAMING}'/>`);
  assert.equal(h.state.ended, true);
  assert.equal(h.peerClosed(), 1);
  h.framing.disposed();
});

test('sending past max_send_buffer closes with policy-violation and sends nothing more', () => {
  const h = harness();
  h.framing.send(new Element('message', {}, 'jabber:client'));
  assert.equal(h.framing.closeReason, undefined);
  h.state.buffered = 101;
  h.framing.send(new Element('message', { id: 'late' }, 'jabber:client'));
  assert.deepEqual(h.framing.closeReason, { condition: 'policy-violation', text: 'too much unread data queued for this connection' });
  assert.match(h.written.at(-2) ?? '', /^<stream:error xmlns:stream='http:\/\/etherx.jabber.org\/streams'><policy-violation /);
  assert.equal(h.written.at(-1), `<close xmlns='${NS_FRAMING}'/>`);
  const count = h.written.length;
  h.framing.send(new Element('message', { id: 'after' }, 'jabber:client'));
  assert.equal(h.written.length, count);
  h.framing.disposed();
});

test('redirect() sends <close see-other-uri/>; binary messages are bad-format', () => {
  const h = harness();
  h.framing.redirect('wss://b.example/ws?x=1&y=2');
  assert.deepEqual(h.written, [`<close xmlns='${NS_FRAMING}' see-other-uri='wss://b.example/ws?x=1&amp;y=2'/>`]);
  h.framing.disposed();
  const b = harness();
  b.framing.message(Buffer.from('<open/>'), true);
  assert.match(b.written[0] ?? '', /<bad-format /);
  b.framing.disposed();
});
