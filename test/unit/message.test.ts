/** RFC 6121 §8.5 delivery rules and XEP-0160 offline storage, with in-process fake sessions. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeClient, settle } from '../../src/testing/index.js';
import { message, presence } from '../../src/xml/stanza.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';

let ts: TestServer;
const creds = makeCredentials('pw', { iterations: 4096, hashes: ['SHA-1'] });
before(async () => {
  ts = await startTestServer((c) => {
    c.modules_enabled = ['message', 'offline'];
    c.modules.offline = { max_messages: 2 };
  });
  for (const u of ['romeo', 'juliet', 'nurse', 'friar', 'lonely']) await ts.server.storage.accounts.create('localhost', u, creds);
});
after(async () => {
  await ts.stop();
});

function online(c: FakeClient, priority = 0): FakeClient {
  c.session.priority = priority;
  c.session.presence = presence(priority ? { from: c.session.fullJid } : {});
  return c;
}
const chat = (to: string, body: string, type = 'chat') => message({ to, type, id: body }).c('body').t(body).up();
const bodies = (c: FakeClient) => c.sent.filter((s) => s.name === 'message' && s.attrs.type !== 'error').map((s) => s.getChildText('body'));
const errors = (c: FakeClient) => c.sent.filter((s) => s.attrs.type === 'error').map((s) => s.getChild('error')?.elements[0]?.name);

test('a bare-JID message reaches only the highest-priority resources, never negative ones', async () => {
  const romeo = new FakeClient(ts.server, 'romeo@localhost/r');
  const a = online(new FakeClient(ts.server, 'juliet@localhost/a'), 5);
  const b = online(new FakeClient(ts.server, 'juliet@localhost/b'), 5);
  const c = online(new FakeClient(ts.server, 'juliet@localhost/c'), 1);
  const d = online(new FakeClient(ts.server, 'juliet@localhost/d'), -1);
  const e = new FakeClient(ts.server, 'juliet@localhost/e'); // bound, no presence
  ts.server.router.fromClient(romeo.session, chat('juliet@localhost', 'hello'));
  await settle();
  assert.deepEqual(bodies(a), ['hello']);
  assert.deepEqual(bodies(b), ['hello']);
  assert.deepEqual(bodies(c), []);
  assert.deepEqual(bodies(d), []);
  assert.deepEqual(bodies(e), []);
  ts.server.router.fromClient(romeo.session, chat('juliet@localhost', 'news', 'headline'));
  await settle();
  assert.deepEqual(bodies(c), ['news'], 'headlines go to every non-negative resource');
  assert.deepEqual(bodies(d), []);
  // A full JID reaches exactly that resource, even with negative priority.
  ts.server.router.fromClient(romeo.session, chat('juliet@localhost/d', 'direct'));
  await settle();
  assert.deepEqual(bodies(d), ['direct']);
  for (const x of [a, b, c, d, e]) x.session.close();
});

test('a full JID that is gone falls back to the bare-JID rules; groupchat gets an error', async () => {
  const romeo = new FakeClient(ts.server, 'romeo@localhost/r2');
  const nurse = online(new FakeClient(ts.server, 'nurse@localhost/home'));
  ts.server.router.fromClient(romeo.session, chat('nurse@localhost/gone', 'fallback'));
  ts.server.router.fromClient(romeo.session, chat('nurse@localhost/gone', 'gc', 'groupchat'));
  ts.server.router.fromClient(romeo.session, chat('nurse@localhost', 'gc2', 'groupchat'));
  await settle();
  assert.deepEqual(bodies(nurse), ['fallback']);
  assert.deepEqual(errors(romeo), ['service-unavailable', 'service-unavailable']);
  nurse.session.close();
});

test('messages to unknown users get service-unavailable, headlines and errors are dropped', async () => {
  const romeo = new FakeClient(ts.server, 'romeo@localhost/r3');
  ts.server.router.fromClient(romeo.session, chat('nobody@localhost', 'x'));
  ts.server.router.fromClient(romeo.session, chat('nobody@localhost', 'y', 'headline'));
  ts.server.router.fromClient(romeo.session, chat('nobody@localhost', 'z', 'error'));
  await settle();
  assert.deepEqual(errors(romeo), ['service-unavailable']);
  assert.equal(romeo.sent[0]?.attrs.from, 'nobody@localhost');
});

test('offline messages are stored with a delay stamp and delivered at the next initial presence', async () => {
  const romeo = new FakeClient(ts.server, 'romeo@localhost/r4');
  ts.server.router.fromClient(romeo.session, chat('friar@localhost', 'first'));
  ts.server.router.fromClient(romeo.session, message({ to: 'friar@localhost', type: 'chat' }).c('composing', { xmlns: 'http://jabber.org/protocol/chatstates' }).up());
  ts.server.router.fromClient(romeo.session, chat('friar@localhost', 'second', 'normal'));
  await settle();
  assert.equal(await ts.server.storage.archive('localhost', 'offline').count('friar'), 2, 'the chat state alone is not stored');
  ts.server.router.fromClient(romeo.session, chat('friar@localhost', 'third'));
  await settle();
  assert.deepEqual(errors(romeo), ['service-unavailable'], 'over the limit, the sender is told');

  const friar = online(new FakeClient(ts.server, 'friar@localhost/cell'));
  ts.server.hosts.get('localhost')?.events.fire('presence/initial', { session: friar.session, presence: presence() });
  await settle();
  assert.deepEqual(bodies(friar), ['first', 'second']);
  const delay = friar.sent[0]?.getChild('delay', 'urn:xmpp:delay');
  assert.equal(delay?.attrs.from, 'localhost');
  assert.match(delay?.attrs.stamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assert.equal(friar.sent[0]?.attrs.from, 'romeo@localhost/r4');
  assert.equal(await ts.server.storage.archive('localhost', 'offline').count('friar'), 0);
});

test('negative priority does not trigger offline delivery', async () => {
  const romeo = new FakeClient(ts.server, 'romeo@localhost/r5');
  ts.server.router.fromClient(romeo.session, chat('lonely@localhost', 'wait'));
  await settle();
  const lonely = online(new FakeClient(ts.server, 'lonely@localhost/x'), -5);
  ts.server.hosts.get('localhost')?.events.fire('presence/initial', { session: lonely.session, presence: presence() });
  await settle();
  assert.deepEqual(bodies(lonely), []);
  assert.equal(await ts.server.storage.archive('localhost', 'offline').count('lonely'), 1);
});

test('an iq to a connected full JID is delivered; to a missing one it gets service-unavailable', async () => {
  const romeo = new FakeClient(ts.server, 'romeo@localhost/r6');
  const juliet = new FakeClient(ts.server, 'juliet@localhost/phone');
  const { iq } = await import('../../src/xml/stanza.js');
  const q = iq({ type: 'get', id: 'q1', to: 'juliet@localhost/phone' });
  q.c('query', { xmlns: 'jabber:iq:version' });
  ts.server.router.fromClient(romeo.session, q);
  assert.equal(juliet.last()?.attrs.id, 'q1');
  const q2 = iq({ type: 'get', id: 'q2', to: 'juliet@localhost/laptop' });
  q2.c('query', { xmlns: 'jabber:iq:version' });
  ts.server.router.fromClient(romeo.session, q2);
  assert.deepEqual(errors(romeo), ['service-unavailable']);
});

test('a message stored while its recipient comes online is delivered at once, not at the next login', async () => {
  const romeo = new FakeClient(ts.server, 'romeo@localhost/r9');
  await ts.server.storage.accounts.create('localhost', 'latecomer', creds);
  // The race: message/offline decided "offline" just before the recipient's initial presence,
  // whose read of the store then found nothing. Fired directly so the order is certain.
  const late = online(new FakeClient(ts.server, 'latecomer@localhost/desk'));
  ts.server.hosts.get('localhost')?.events.fire('presence/initial', { session: late.session, presence: presence() });
  await settle();
  const stanza = chat('latecomer@localhost', 'just in time');
  stanza.attrs.from = 'romeo@localhost/r9';
  const { parseJid } = await import('../../src/jid/index.js');
  ts.server.hosts.get('localhost')?.events.fire('message/offline', {
    origin: romeo.session, stanza, from: parseJid('romeo@localhost/r9'), to: parseJid('latecomer@localhost'), username: 'latecomer', host: 'localhost',
  });
  await settle();
  assert.deepEqual(bodies(late), ['just in time']);
  assert.equal(await ts.server.storage.archive('localhost', 'offline').count('latecomer'), 0);
});
