/** XEP-0191 Blocking Command: matching rules, the IQs and pushes, and the effects on stanzas. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeClient, settle } from '../../src/testing/index.js';
import { iq, message, presence } from '../../src/xml/stanza.js';
import type { Element } from '../../src/xml/element.js';
import type { StanzaEvent } from '../../src/core/event-map.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { parseJid } from '../../src/jid/index.js';
import { Blocklist } from '../../src/modules/blocking/blocklist.js';
import { BlocklistCache } from '../../src/modules/blocking/cache.js';
import { parseItems } from '../../src/modules/blocking/commands.js';
import { presenceTargets, rosterSubscribers } from '../../src/modules/blocking/presence-effects.js';
import type { ModuleApi } from '../../src/core/modules.js';
import { NS_BLOCKING, NS_BLOCKING_ERRORS } from '../../src/modules/blocking/index.js';
import { openMemoryStorage } from '../../src/storage/memory.js';

// ---- pure parts ----

test('JID matching follows XEP-0191 §6', () => {
  const list = new Blocklist(['romeo@montague.lit', 'iago@venice.lit/evil', 'shakespeare.lit', 'chat.example/bot', '127.0.0.1']);
  const m = (j: string) => list.matches(parseJid(j));
  assert.ok(m('romeo@montague.lit'));
  assert.ok(m('romeo@montague.lit/phone'), 'a bare item matches every resource');
  assert.ok(!m('montague.lit'));
  assert.ok(!m('tybalt@montague.lit'));
  assert.ok(m('iago@venice.lit/evil'));
  assert.ok(!m('iago@venice.lit'), 'a full item matches only that resource');
  assert.ok(!m('iago@venice.lit/good'));
  assert.ok(m('shakespeare.lit'));
  assert.ok(m('anyone@shakespeare.lit/x'), 'a domain item matches everything at the domain');
  assert.ok(m('muc.shakespeare.lit'), 'and its subdomains');
  assert.ok(m('a@b.muc.shakespeare.lit/r'));
  assert.ok(!m('notshakespeare.lit'));
  assert.ok(m('chat.example/bot'));
  assert.ok(!m('chat.example/other'));
  assert.ok(!m('chat.example'));
  assert.ok(m('127.0.0.1'));
  assert.ok(!new Blocklist(['0.1']).matches(parseJid('127.0.0.1')), 'IP literals have no parent domains');
  assert.ok(!new Blocklist().matches(parseJid('romeo@montague.lit')));
});

test('Blocklist add/remove/clear report what changed and keep order', () => {
  const list = new Blocklist(['a@x']);
  assert.deepEqual(list.add(['b@x', 'a@x', 'c@x']), ['b@x', 'c@x']);
  assert.deepEqual(list.items(), ['a@x', 'b@x', 'c@x']);
  assert.deepEqual(list.remove(['b@x', 'zzz@x']), ['b@x']);
  assert.deepEqual(list.clear(), ['a@x', 'c@x']);
  assert.equal(list.size, 0);
});

test('parseItems prepares, deduplicates, and rejects bad items', () => {
  const cmd = iq({ type: 'set' }).c('block', { xmlns: NS_BLOCKING });
  cmd.c('item', { jid: 'Romeo@Montague.LIT' });
  cmd.c('item', { jid: 'romeo@montague.lit' });
  assert.deepEqual(parseItems(cmd), { ok: true, items: ['romeo@montague.lit'] });
  cmd.c('item');
  assert.equal((parseItems(cmd) as { condition: string }).condition, 'bad-request');
  const bad = iq({ type: 'set' }).c('block', { xmlns: NS_BLOCKING });
  bad.c('item', { jid: 'a@b@c/' });
  assert.equal((parseItems(bad) as { condition: string }).condition, 'jid-malformed');
});

test('presenceTargets: users only without a roster; subscribers the items match with one', () => {
  assert.deepEqual(presenceTargets(['romeo@m.lit', 'evil.lit', 'x@y.lit/r'], undefined), ['romeo@m.lit', 'x@y.lit/r']);
  const subs = new Set(['romeo@m.lit', 'a@evil.lit', 'x@y.lit', 'other@z.lit']);
  assert.deepEqual(presenceTargets(['romeo@m.lit', 'evil.lit', 'x@y.lit/r'], subs).sort(), ['a@evil.lit', 'romeo@m.lit', 'x@y.lit/r']);
  // On unblock, contacts still matched by another item get nothing.
  assert.deepEqual(presenceTargets(['a@evil.lit'], subs, new Blocklist(['evil.lit'])), []);
});

test('the cache pins online users, keeps a bounded LRU of others, and serializes storage', async () => {
  const store = openMemoryStorage().keyval<string[]>('h', 'blocklist');
  await store.set('a', ['x@y']);
  const cache = new BlocklistCache(store, 2);
  assert.equal(cache.peek('a'), undefined);
  assert.deepEqual((await cache.load('a')).items(), ['x@y']);
  cache.userOnline('b');
  const b = await cache.load('b');
  b.add(['q@r']);
  const saved = cache.save('b', b);
  // A load queued behind the save sees the saved list (here: from memory, pinned).
  assert.equal(await cache.load('b'), b);
  await saved;
  assert.deepEqual(await store.get('b'), ['q@r']);
  await cache.load('c');
  await cache.load('d');
  assert.deepEqual(cache.stats(), { pinned: 1, recent: 2 });
  assert.equal(cache.peek('a'), undefined, 'the least recently used offline list was evicted');
  cache.userOffline('b');
  assert.deepEqual(cache.stats(), { pinned: 0, recent: 2 });
  b.clear();
  await cache.save('b', b);
  assert.equal(await store.get('b'), undefined, 'an empty list is deleted from storage');
});

// ---- in a server ----

let ts: TestServer;
const creds = makeCredentials('pw', { iterations: 4096, hashes: ['SHA-1'] });
/** Stanzas that reached presence/bare|full (no presence module in these tests). */
const presences: Element[] = [];
before(async () => {
  ts = await startTestServer((c) => {
    c.modules_enabled = ['blocking', 'message', 'offline'];
    c.modules.blocking = { max_items: 5 };
  });
  for (const u of ['juliet', 'romeo', 'nurse', 'friar', 'tybalt', 'paris', 'capulet']) await ts.server.storage.accounts.create('localhost', u, creds);
  const ctx = ts.server.hosts.get('localhost');
  assert.ok(ctx);
  const capture = ({ stanza }: StanzaEvent) => {
    presences.push(stanza);
    return true;
  };
  ctx.events.on('presence/bare', capture);
  ctx.events.on('presence/full', capture);
});
after(async () => {
  await ts.stop();
});

function online(c: FakeClient): FakeClient {
  c.session.priority = 0;
  c.session.presence = presence();
  return c;
}
let n = 0;
async function command(c: FakeClient, type: 'get' | 'set', name: string, jids?: string[], to?: string): Promise<Element> {
  const id = `b${++n}`;
  const stanza = iq({ type, id, to });
  const el = stanza.c(name, { xmlns: NS_BLOCKING });
  for (const j of jids ?? []) el.c('item', { jid: j });
  const answer = c.receives((e) => e.attrs.id === id, { timeoutMs: 3000 });
  c.send(stanza);
  return answer;
}
const condition = (e: Element | undefined) => e?.getChild('error')?.elements.find((c) => c.name !== 'text')?.name;
const items = (e: Element) => (e.getChild('blocklist', NS_BLOCKING)?.getChildren('item') ?? []).map((i) => i.attrs.jid);
const pushes = (c: FakeClient) => c.sent.filter((e) => e.name === 'iq' && e.attrs.type === 'set');
const chat = (to: string, body: string) => message({ to, type: 'chat', id: body }).c('body').t(body).up();

test('urn:xmpp:blocking is advertised', () => {
  assert.ok(ts.server.hosts.get('localhost')?.features.includes(NS_BLOCKING));
});

test('blocklist, block, unblock, unblock-all, with pushes to interested resources only', async () => {
  const a = new FakeClient(ts.server, 'juliet@localhost/a');
  const b = new FakeClient(ts.server, 'juliet@localhost/b');
  const quiet = new FakeClient(ts.server, 'juliet@localhost/quiet');
  const empty = await command(a, 'get', 'blocklist');
  assert.equal(empty.attrs.type, 'result');
  assert.deepEqual(items(empty), []);
  assert.ok(empty.getChild('blocklist', NS_BLOCKING));
  await command(b, 'get', 'blocklist');

  const res = await command(a, 'set', 'block', ['romeo@localhost', 'Evil.Example']);
  assert.equal(res.attrs.type, 'result');
  for (const c of [a, b]) {
    const [push, ...more] = pushes(c);
    assert.equal(more.length, 0);
    assert.equal(push?.attrs.to, c.session.fullJid);
    assert.deepEqual(push?.getChild('block', NS_BLOCKING)?.getChildren('item').map((i) => i.attrs.jid), ['romeo@localhost', 'evil.example']);
  }
  assert.deepEqual(pushes(quiet), [], 'a resource that never asked for the blocklist gets no push');
  assert.deepEqual(items(await command(quiet, 'get', 'blocklist')), ['romeo@localhost', 'evil.example']);
  assert.deepEqual(await ts.server.storage.keyval('localhost', 'blocklist').get('juliet'), ['romeo@localhost', 'evil.example']);

  a.sent.length = 0;
  assert.equal((await command(b, 'set', 'unblock', ['evil.example'])).attrs.type, 'result');
  assert.deepEqual(pushes(a)[0]?.getChild('unblock', NS_BLOCKING)?.getChildren('item').map((i) => i.attrs.jid), ['evil.example']);
  assert.deepEqual(items(await command(a, 'get', 'blocklist')), ['romeo@localhost']);

  a.sent.length = 0;
  await command(a, 'set', 'block', ['x@y.example', 'z.example']);
  a.sent.length = 0;
  assert.equal((await command(a, 'set', 'unblock')).attrs.type, 'result');
  const all = pushes(a)[0]?.getChild('unblock', NS_BLOCKING);
  assert.ok(all);
  assert.equal(all.children.length, 0, 'unblock-all is pushed as an empty <unblock/>');
  assert.deepEqual(items(await command(a, 'get', 'blocklist')), []);
  assert.equal(await ts.server.storage.keyval('localhost', 'blocklist').get('juliet'), undefined);
  for (const c of [a, b, quiet]) c.session.close();
});

test('command errors: bad-request, jid-malformed, forbidden, policy-violation', async () => {
  const p = new FakeClient(ts.server, 'paris@localhost/p');
  assert.equal(condition(await command(p, 'set', 'block')), 'bad-request');
  assert.equal(condition(await command(p, 'set', 'block', ['@bad'])), 'jid-malformed');
  assert.equal(condition(await command(p, 'set', 'unblock', ['a@b/'])), 'jid-malformed');
  const foreign = await command(p, 'get', 'blocklist', undefined, 'juliet@localhost');
  assert.equal(condition(foreign), 'forbidden');
  assert.equal(condition(await command(p, 'set', 'block', ['x@y'], 'juliet@localhost')), 'forbidden');
  assert.equal(condition(await command(p, 'get', 'block', ['x@y'])), 'bad-request');
  assert.equal(condition(await command(p, 'set', 'blocklist')), 'bad-request');
  assert.equal((await command(p, 'set', 'block', ['1@x', '2@x', '3@x', '4@x'])).attrs.type, 'result');
  assert.equal(condition(await command(p, 'set', 'block', ['5@x', '6@x'])), 'policy-violation');
  assert.equal((await command(p, 'set', 'block', ['1@x', '5@x'])).attrs.type, 'result', 'items already blocked do not count');
  assert.equal(items(await command(p, 'get', 'blocklist')).length, 5);
  await command(p, 'set', 'unblock');
  p.session.close();
});

test('a blocked contact: messages and iq get/set bounce with service-unavailable, presence and results are dropped', async () => {
  const juliet = online(new FakeClient(ts.server, 'juliet@localhost/balcony'));
  const romeo = online(new FakeClient(ts.server, 'romeo@localhost/garden'));
  await command(juliet, 'set', 'block', ['romeo@localhost']);
  juliet.sent.length = 0;
  presences.length = 0;

  ts.server.router.fromClient(romeo.session, chat('juliet@localhost', 'm1'));
  ts.server.router.fromClient(romeo.session, chat('juliet@localhost/balcony', 'm2'));
  ts.server.router.fromClient(romeo.session, presence({ to: 'juliet@localhost' }));
  ts.server.router.fromClient(romeo.session, presence({ to: 'juliet@localhost', type: 'subscribe' }));
  const get = iq({ type: 'get', id: 'ig', to: 'juliet@localhost/balcony' });
  get.c('query', { xmlns: 'jabber:iq:version' });
  ts.server.router.fromClient(romeo.session, get);
  const res = iq({ type: 'result', id: 'ir', to: 'juliet@localhost/balcony' });
  ts.server.router.fromClient(romeo.session, res);
  await settle();
  assert.deepEqual(juliet.sent, [], 'nothing from romeo reaches juliet');
  assert.deepEqual(presences, []);
  const errs = romeo.sent.filter((e) => e.attrs.type === 'error');
  assert.deepEqual(errs.map((e) => `${e.name}:${e.attrs.id}:${condition(e)}`), ['message:m1:service-unavailable', 'message:m2:service-unavailable', 'iq:ig:service-unavailable']);
  assert.equal(errs[0]?.attrs.from, 'juliet@localhost', 'the error comes from the user, who looks offline');
  assert.equal(romeo.sent.length, 3);

  // The nurse is not blocked.
  const nurse = new FakeClient(ts.server, 'nurse@localhost/n');
  ts.server.router.fromClient(nurse.session, chat('juliet@localhost', 'hello'));
  await settle();
  assert.equal(juliet.last()?.getChildText('body'), 'hello');
  for (const c of [juliet, romeo, nurse]) c.session.close();
});

test('the user sending to a blocked JID gets not-acceptable with <blocked/>; presence is dropped silently', async () => {
  const juliet = online(new FakeClient(ts.server, 'juliet@localhost/balcony2'));
  const romeo = online(new FakeClient(ts.server, 'romeo@localhost/garden2'));
  await command(juliet, 'set', 'block', ['romeo@localhost']);
  juliet.sent.length = 0;
  presences.length = 0;
  ts.server.router.fromClient(juliet.session, chat('romeo@localhost/garden2', 'can you hear me'));
  const get = iq({ type: 'get', id: 'jg', to: 'romeo@localhost/garden2' });
  get.c('ping', { xmlns: 'urn:xmpp:ping' });
  ts.server.router.fromClient(juliet.session, get);
  ts.server.router.fromClient(juliet.session, presence({ to: 'romeo@localhost' }));
  ts.server.router.fromClient(juliet.session, chat('someone@remote.example', 'far away'));
  ts.server.router.fromClient(juliet.session, message({ to: 'romeo@localhost', type: 'error', id: 'e1' }));
  await settle();
  assert.deepEqual(romeo.sent, []);
  assert.deepEqual(presences, []);
  const errs = juliet.sent.filter((e) => e.attrs.type === 'error' && e.attrs.from?.startsWith('romeo@'));
  assert.equal(errs.length, 2, juliet.sent.map(String).join('\n'));
  for (const e of errs) {
    const error = e.getChild('error');
    assert.equal(condition(e), 'not-acceptable');
    assert.equal(error?.attrs.type, 'cancel');
    assert.ok(error?.getChild('blocked', NS_BLOCKING_ERRORS), e.toString());
    assert.equal(e.attrs.from, 'romeo@localhost/garden2');
  }
  assert.equal(errs[0]?.getChildText('body'), 'can you hear me', 'a message error carries the original payload');
  // A remote domain nobody blocked still gets the usual routing answer (no s2s here).
  const remote = juliet.sent.filter((e) => e.attrs.id === 'far away');
  assert.equal(condition(remote[0]), 'remote-server-not-found');
  // Messages to the user's own account and server are never blocked.
  ts.server.router.fromClient(juliet.session, chat('juliet@localhost', 'note to self'));
  await settle();
  assert.ok(juliet.sent.some((e) => e.getChildText('body') === 'note to self' && e.attrs.type === 'chat'));
  await command(juliet, 'set', 'unblock');
  for (const c of [juliet, romeo]) c.session.close();
});

test('domain and full-JID items, and remote destinations', async () => {
  const friar = new FakeClient(ts.server, 'friar@localhost/cell');
  const tybaltA = online(new FakeClient(ts.server, 'tybalt@localhost/sword'));
  const tybaltB = online(new FakeClient(ts.server, 'tybalt@localhost/home'));
  await command(friar, 'set', 'block', ['tybalt@localhost/sword', 'evil.example']);
  friar.sent.length = 0;
  ts.server.router.fromClient(tybaltA.session, chat('friar@localhost/cell', 'from sword'));
  ts.server.router.fromClient(tybaltB.session, chat('friar@localhost/cell', 'from home'));
  ts.server.router.fromClient(friar.session, chat('a@chat.evil.example/x', 'to a subdomain'));
  await settle();
  assert.deepEqual(friar.sent.filter((e) => e.attrs.type === 'chat').map((e) => e.getChildText('body')), ['from home']);
  assert.equal(condition(tybaltA.sent.find((e) => e.attrs.id === 'from sword')), 'service-unavailable');
  const sub = friar.sent.find((e) => e.attrs.id === 'to a subdomain');
  assert.ok(sub?.getChild('error')?.getChild('blocked', NS_BLOCKING_ERRORS), 'route/remote is checked too');
  await command(friar, 'set', 'unblock');
  for (const c of [friar, tybaltA, tybaltB]) c.session.close();
});

test('an offline user’s stored blocklist is loaded on demand: blocked messages bounce, others go offline', async () => {
  await ts.server.storage.keyval<string[]>('localhost', 'blocklist').set('capulet', ['romeo@localhost']);
  const romeo = new FakeClient(ts.server, 'romeo@localhost/r9');
  const nurse = new FakeClient(ts.server, 'nurse@localhost/n9');
  ts.server.router.fromClient(romeo.session, chat('capulet@localhost', 'first'));
  ts.server.router.fromClient(romeo.session, chat('capulet@localhost', 'second'));
  ts.server.router.fromClient(nurse.session, chat('capulet@localhost', 'allowed'));
  await settle();
  assert.deepEqual(romeo.sent.map((e) => `${e.attrs.id}:${condition(e)}`), ['first:service-unavailable', 'second:service-unavailable']);
  assert.deepEqual(nurse.sent, [], 'the allowed message was stored offline, not bounced');
  const offline = await ts.server.storage.archive('localhost', 'offline').count('capulet');
  assert.equal(offline, 1);
  for (const c of [romeo, nurse]) c.session.close();
});

test('blocking sends unavailable presence from each available resource; unblocking without a roster sends none', async () => {
  const juliet1 = online(new FakeClient(ts.server, 'juliet@localhost/p1'));
  const juliet2 = online(new FakeClient(ts.server, 'juliet@localhost/p2'));
  const juliet3 = new FakeClient(ts.server, 'juliet@localhost/p3'); // not available
  presences.length = 0;
  await command(juliet1, 'set', 'block', ['romeo@localhost', 'evil.example']);
  await settle();
  assert.deepEqual(
    presences.map((p) => `${p.attrs.type}:${p.attrs.from}->${p.attrs.to}`).sort(),
    ['unavailable:juliet@localhost/p1->romeo@localhost', 'unavailable:juliet@localhost/p2->romeo@localhost'],
  );
  presences.length = 0;
  await command(juliet1, 'set', 'unblock', ['romeo@localhost']);
  await settle();
  assert.deepEqual(presences, []);
  await command(juliet1, 'set', 'unblock');
  for (const c of [juliet1, juliet2, juliet3]) c.session.close();
});

test('rosterSubscribers reads subscribers from the roster store only when the roster module runs', async () => {
  await ts.server.storage.keyval('localhost', 'roster').set('nurse', {
    epoch: 'e',
    version: 1,
    items: {
      'romeo@localhost': { groups: [], subscription: 'from' },
      'tybalt@localhost': { groups: [], subscription: 'to' },
      'friar@localhost': { groups: [], subscription: 'both' },
    },
    pending: {},
  });
  const fakeMod = (modules: string[]) =>
    ({ server: ts.server, host: 'localhost', context: { modules: new Map(modules.map((m) => [m, {}])) } }) as unknown as ModuleApi;
  const subs = await rosterSubscribers(fakeMod(['roster']))('nurse');
  assert.deepEqual([...(subs ?? [])].sort(), ['friar@localhost', 'romeo@localhost']);
  assert.equal(await rosterSubscribers(fakeMod([]))('nurse'), undefined);
});
