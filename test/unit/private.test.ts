/** XEP-0049 Private XML Storage through the real router, with in-process fake sessions. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeClient } from '../../src/testing/index.js';
import { iq } from '../../src/xml/stanza.js';
import { Element } from '../../src/xml/element.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { NS_PRIVATE } from '../../src/modules/private/index.js';
import { checkNamespace } from '../../src/modules/private/payload.js';

let ts: TestServer;
let hamlet: FakeClient;
let macbeth: FakeClient;
before(async () => {
  ts = await startTestServer((c) => {
    c.modules_enabled = ['private'];
    c.modules.private = { max_size: 500, max_namespaces: 4 };
  });
  const creds = makeCredentials('pw', { iterations: 4096, hashes: ['SHA-1'] });
  for (const u of ['hamlet', 'macbeth', 'full']) await ts.server.storage.accounts.create('localhost', u, creds);
  hamlet = new FakeClient(ts.server, 'hamlet@localhost/denmark');
  macbeth = new FakeClient(ts.server, 'macbeth@localhost/scotland');
});
after(async () => {
  await ts.stop();
});

let n = 0;
async function ask(c: FakeClient, type: 'get' | 'set', children: Element[], to?: string): Promise<Element> {
  const id = `p${++n}`;
  const stanza = iq({ type, id, to });
  const q = stanza.c('query', { xmlns: NS_PRIVATE });
  for (const child of children) q.cnode(child);
  const answer = c.receives((e) => e.attrs.id === id, { timeoutMs: 3000 });
  c.send(stanza);
  return answer;
}
const el = (name: string, ns: string, text?: string) => {
  const e = new Element(name, { xmlns: ns });
  if (text !== undefined) e.c('v').t(text);
  return e;
};
const condition = (e: Element) => e.getChild('error')?.elements.find((c) => c.name !== 'text')?.name;
const stored = (r: Element) => r.getChild('query', NS_PRIVATE)?.elements ?? [];

test('get of a namespace never stored returns the empty element asked for', async () => {
  const r = await ask(hamlet, 'get', [el('exodus', 'exodus:prefs')]);
  assert.equal(r.attrs.type, 'result');
  const [only, ...rest] = stored(r);
  assert.equal(rest.length, 0);
  assert.ok(only?.is('exodus', 'exodus:prefs'));
  assert.equal(only?.children.length, 0);
});

test('set then get returns the stored element; a later set of the namespace replaces it', async () => {
  assert.equal((await ask(hamlet, 'set', [el('exodus', 'exodus:prefs', 'Hamlet')])).attrs.type, 'result');
  let r = await ask(hamlet, 'get', [el('exodus', 'exodus:prefs')]);
  assert.equal(stored(r)[0]?.getChild('v')?.getText(), 'Hamlet');
  assert.equal(stored(r)[0]?.getChild('v')?.xmlns, 'exodus:prefs');
  await ask(hamlet, 'set', [el('exodus', 'exodus:prefs', 'Prince')]);
  r = await ask(hamlet, 'get', [el('exodus', 'exodus:prefs')]);
  assert.equal(stored(r).length, 1);
  assert.equal(stored(r)[0]?.getChild('v')?.getText(), 'Prince');
});

test('one set may hold several namespaces, and several elements of one namespace', async () => {
  const r = await ask(hamlet, 'set', [el('storage', 'storage:bookmarks', 'b'), el('a', 'urn:x:multi', '1'), el('b', 'urn:x:multi', '2')]);
  assert.equal(r.attrs.type, 'result');
  const b = await ask(hamlet, 'get', [el('storage', 'storage:bookmarks')]);
  assert.equal(stored(b)[0]?.getChild('v')?.getText(), 'b');
  const m = await ask(hamlet, 'get', [el('a', 'urn:x:multi')]);
  assert.deepEqual(stored(m).map((e) => `${e.name}=${e.getChild('v')?.getText()}`), ['a=1', 'b=2']);
  // Other namespaces were not touched by this set.
  const e = await ask(hamlet, 'get', [el('exodus', 'exodus:prefs')]);
  assert.equal(stored(e)[0]?.getChild('v')?.getText(), 'Prince');
});

test('an empty query, or an element without its own namespace, is not-acceptable', async () => {
  for (const type of ['get', 'set'] as const) {
    const r = await ask(hamlet, type, []);
    assert.equal(condition(r), 'not-acceptable', type);
    assert.equal(r.getChild('error')?.attrs.type, 'modify');
    // <query xmlns='jabber:iq:private'><prefs/></query>: prefs inherits jabber:iq:private.
    const inherited = await ask(hamlet, type, [new Element('prefs', undefined, NS_PRIVATE)]);
    assert.equal(condition(inherited), 'not-acceptable', type);
  }
});

test('reserved namespaces (jabber:*, http://jabber.org/*, vcard-temp) are not-acceptable', async () => {
  for (const ns of ['jabber:client', 'jabber:server', 'jabber:iq:roster', 'http://jabber.org/protocol/disco#info', 'vcard-temp']) {
    assert.equal(condition(await ask(hamlet, 'set', [el('x', ns, 'v')])), 'not-acceptable', ns);
    assert.equal(condition(await ask(hamlet, 'get', [el('x', ns)])), 'not-acceptable', ns);
  }
  // A set is all or nothing: one bad child refuses the whole set.
  const r = await ask(hamlet, 'set', [el('ok', 'urn:x:fine', 'v'), el('x', 'jabber:client')]);
  assert.equal(condition(r), 'not-acceptable');
  const fine = await ask(hamlet, 'get', [el('ok', 'urn:x:fine')]);
  assert.equal(stored(fine)[0]?.children.length, 0);
  assert.equal(checkNamespace('storage:bookmarks'), undefined);
  assert.ok(checkNamespace(''));
});

test('a get for more than one namespace is bad-request', async () => {
  const r = await ask(hamlet, 'get', [el('a', 'urn:x:a'), el('b', 'urn:x:b')]);
  assert.equal(condition(r), 'bad-request');
});

test("another user's private storage is forbidden, for get and set", async () => {
  const set = await ask(macbeth, 'set', [el('exodus', 'exodus:prefs', 'Macbeth')], 'hamlet@localhost');
  assert.equal(condition(set), 'forbidden');
  assert.equal(set.getChild('error')?.attrs.type, 'auth');
  const get = await ask(macbeth, 'get', [el('exodus', 'exodus:prefs')], 'hamlet@localhost');
  assert.equal(condition(get), 'forbidden');
  const mine = await ask(hamlet, 'get', [el('exodus', 'exodus:prefs')], 'hamlet@localhost');
  assert.equal(stored(mine)[0]?.getChild('v')?.getText(), 'Prince');
  // Each user has their own storage.
  const his = await ask(macbeth, 'get', [el('exodus', 'exodus:prefs')]);
  assert.equal(stored(his)[0]?.children.length, 0);
});

test('max_size and max_namespaces are enforced with policy-violation', async () => {
  const big = await ask(macbeth, 'set', [el('big', 'urn:x:big', 'x'.repeat(600))]);
  assert.equal(condition(big), 'policy-violation');
  const full = new FakeClient(ts.server, 'full@localhost/r');
  for (const i of [1, 2, 3, 4]) assert.equal((await ask(full, 'set', [el('x', `urn:x:${i}`, 'v')])).attrs.type, 'result');
  // Replacing an existing namespace is still fine; a fifth is not.
  assert.equal((await ask(full, 'set', [el('x', 'urn:x:1', 'w')])).attrs.type, 'result');
  assert.equal(condition(await ask(full, 'set', [el('x', 'urn:x:5', 'v')])), 'policy-violation');
  full.session.close();
});
