/** The router's decisions, through in-process fake sessions. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeClient } from '../../src/testing/index.js';
import { iq, message } from '../../src/xml/stanza.js';
import { NS } from '../../src/xml/ns.js';
import type { StanzaEvent } from '../../src/core/event-map.js';

declare module '../../src/core/event-map.js' {
  interface EventMap {
    'iq-get/host/urn:example:stamp:q': StanzaEvent;
    'iq-get/host/urn:example:boom:q': StanzaEvent;
  }
}

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => {
  await ts.stop();
});

const condition = (el: { getChild(n: string): { elements: Array<{ name: string }> } | undefined } | undefined) =>
  el?.getChild('error')?.elements[0]?.name;

test('the router stamps the full JID on what a client sends', () => {
  const romeo = new FakeClient(ts.server, 'romeo@localhost/phone');
  let seen: string | undefined;
  const off = ts.server.hosts.get('localhost')?.events.on('iq-get/host/urn:example:stamp:q', ({ stanza, origin }) => {
    seen = stanza.attrs.from;
    origin.send(iq({ type: 'result', id: stanza.attrs.id }));
    return true;
  });
  const q = iq({ type: 'get', id: '1', to: 'localhost' });
  q.c('q', { xmlns: 'urn:example:stamp' });
  ts.server.router.fromClient(romeo.session, q);
  off?.();
  assert.equal(seen, 'romeo@localhost/phone');
  assert.equal(romeo.last()?.attrs.type, 'result');
});

test('a spoofed from closes the stream with invalid-from', () => {
  const romeo = new FakeClient(ts.server, 'romeo2@localhost/phone');
  ts.server.router.fromClient(romeo.session, message({ to: 'juliet@localhost', from: 'juliet@localhost/x' }).c('body').t('hi').up());
  assert.deepEqual(romeo.closedWith.map((r) => (typeof r === 'object' && r !== null && 'condition' in r ? r.condition : r)), ['invalid-from']);
});

test('the bare JID is an acceptable from', () => {
  const romeo = new FakeClient(ts.server, 'romeo3@localhost/phone');
  const q = iq({ type: 'get', id: 'b', from: 'romeo3@localhost' });
  q.c('nothing', { xmlns: 'urn:example:none' });
  ts.server.router.fromClient(romeo.session, q);
  assert.equal(romeo.closedWith.length, 0);
  assert.equal(condition(romeo.last()), 'service-unavailable');
});

test("an unhandled iq without 'to' (for the own account) is answered without 'from' (RFC 6120 §8.1.2.1)", () => {
  const romeo = new FakeClient(ts.server, 'romeo4@localhost/phone');
  const q = iq({ type: 'set', id: 'nt' });
  q.c('pubsub', { xmlns: 'urn:example:none' });
  ts.server.router.fromClient(romeo.session, q);
  assert.equal(condition(romeo.last()), 'service-unavailable');
  assert.equal(romeo.last()?.attrs.from, undefined);
  assert.equal(romeo.last()?.attrs.to, 'romeo4@localhost/phone');
});

test('an iq nobody handles gets service-unavailable; malformed iqs get bad-request', () => {
  const c = new FakeClient(ts.server, 'mercutio@localhost');
  const unknown = iq({ type: 'get', id: 'u1', to: 'localhost' });
  unknown.c('query', { xmlns: 'urn:example:unknown' });
  ts.server.router.fromClient(c.session, unknown);
  assert.equal(c.last()?.attrs.type, 'error');
  assert.equal(c.last()?.attrs.id, 'u1');
  assert.equal(condition(c.last()), 'service-unavailable');

  const noId = iq({ type: 'get', to: 'localhost' });
  noId.c('query', { xmlns: 'urn:example:unknown' });
  ts.server.router.fromClient(c.session, noId);
  assert.equal(condition(c.last()), 'bad-request');

  const badType = iq({ type: 'fetch', id: 'x', to: 'localhost' });
  badType.c('query', { xmlns: 'urn:example:unknown' });
  ts.server.router.fromClient(c.session, badType);
  assert.equal(condition(c.last()), 'bad-request');

  const twoPayloads = iq({ type: 'set', id: 'y', to: 'localhost' });
  twoPayloads.c('a', { xmlns: 'urn:example:a' });
  twoPayloads.c('b', { xmlns: 'urn:example:b' });
  ts.server.router.fromClient(c.session, twoPayloads);
  assert.equal(condition(c.last()), 'bad-request');

  const count = c.sent.length;
  ts.server.router.fromClient(c.session, iq({ type: 'result', id: 'z', to: 'localhost' }));
  ts.server.router.fromClient(c.session, iq({ type: 'error', id: 'z', to: 'localhost' }));
  assert.equal(c.sent.length, count, 'results and errors are never answered with errors');
});

test('bad addresses and unknown domains get jid-malformed and remote-server-not-found', async () => {
  const c = new FakeClient(ts.server, 'tybalt@localhost');
  ts.server.router.fromClient(c.session, message({ to: 'a@b@c', id: 'm1' }).c('body').t('x').up());
  assert.equal(condition(c.last()), 'jid-malformed');
  ts.server.router.fromClient(c.session, message({ to: 'someone@remote.example', id: 'm2' }).c('body').t('x').up());
  // Modules may hold a stanza briefly (e.g. while a blocklist loads) before it is bounced.
  await c.receives((e) => e.attrs.id === 'm2');
  assert.equal(condition(c.last()), 'remote-server-not-found');
  assert.equal(c.last()?.attrs.from, 'someone@remote.example');
  assert.equal(c.last()?.getChildText('body'), 'x', 'message errors keep the payload');
});

test('a throwing handler gives internal-server-error', () => {
  const c = new FakeClient(ts.server, 'benvolio@localhost');
  const off = ts.server.hosts.get('localhost')?.events.on('iq-get/host/urn:example:boom:q', () => {
    throw new Error('boom');
  });
  const q = iq({ type: 'get', id: 'e1', to: 'localhost' });
  q.c('q', { xmlns: 'urn:example:boom' });
  ts.server.router.fromClient(c.session, q);
  off?.();
  assert.equal(condition(c.last()), 'internal-server-error');
});

test('a second session binding the same resource replaces the first with conflict', () => {
  const a = new FakeClient(ts.server, 'paris@localhost/desk');
  const b = new FakeClient(ts.server, 'paris@localhost/desk');
  assert.equal(a.closedWith.length, 1);
  assert.equal(a.session.destroyed, true);
  assert.equal(ts.server.sessions.getSession('localhost', 'paris', 'desk'), b.session);
  assert.equal(NS.client, 'jabber:client');
});
