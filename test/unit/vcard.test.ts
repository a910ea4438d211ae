/** XEP-0054 vcard-temp through the real router, with in-process fake sessions. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeClient, settle } from '../../src/testing/index.js';
import { iq } from '../../src/xml/stanza.js';
import type { Element } from '../../src/xml/element.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { NS_VCARD } from '../../src/modules/vcard/index.js';

let ts: TestServer;
let romeo: FakeClient;
let juliet: FakeClient;
before(async () => {
  ts = await startTestServer((c) => {
    c.modules_enabled = ['vcard'];
    c.modules.vcard = { max_size: 300 };
  });
  const creds = makeCredentials('pw', { iterations: 4096, hashes: ['SHA-1'] });
  for (const u of ['romeo', 'juliet']) await ts.server.storage.accounts.create('localhost', u, creds);
  romeo = new FakeClient(ts.server, 'romeo@localhost/r');
  juliet = new FakeClient(ts.server, 'juliet@localhost/j');
});
after(async () => {
  await ts.stop();
});

let n = 0;
/** Send an iq from the client and wait for the answer with its id. */
async function ask(c: FakeClient, type: 'get' | 'set', to: string | undefined, fill?: (v: Element) => void): Promise<Element> {
  const id = `v${++n}`;
  const stanza = iq({ type, id, to });
  const v = stanza.c('vCard', { xmlns: NS_VCARD });
  fill?.(v);
  const answer = c.receives((e) => e.attrs.id === id, { timeoutMs: 3000 });
  c.send(stanza);
  return answer;
}
const condition = (e: Element) => e.getChild('error')?.elements.find((c) => c.name !== 'text')?.name;

test('vcard-temp is advertised on the host', () => {
  assert.ok(ts.server.hosts.get('localhost')?.features.includes('vcard-temp'));
});

test('a user without a vCard gets an empty one for themselves, others get item-not-found', async () => {
  const own = await ask(romeo, 'get', undefined);
  assert.equal(own.attrs.type, 'result');
  const v = own.getChild('vCard', NS_VCARD);
  assert.ok(v);
  assert.equal(v.children.length, 0);
  const other = await ask(juliet, 'get', 'romeo@localhost');
  assert.equal(other.attrs.type, 'error');
  assert.equal(condition(other), 'item-not-found');
  const nobody = await ask(juliet, 'get', 'nobody@localhost');
  assert.equal(condition(nobody), 'item-not-found');
});

test('set stores the vCard, replaces it, and anyone can read it at the bare JID', async () => {
  const set1 = await ask(romeo, 'set', undefined, (v) => v.c('FN').t('Romeo Montague'));
  assert.equal(set1.attrs.type, 'result');
  assert.equal(set1.elements.length, 0);
  const set2 = await ask(romeo, 'set', 'romeo@localhost', (v) => {
    v.c('FN').t('Romeo');
    v.c('NICKNAME').t('r <&> "m"');
  });
  assert.equal(set2.attrs.type, 'result');
  const own = await ask(romeo, 'get', undefined);
  assert.equal(own.getChild('vCard', NS_VCARD)?.getChildText('FN'), 'Romeo');
  const read = await ask(juliet, 'get', 'romeo@localhost');
  assert.equal(read.attrs.type, 'result');
  assert.equal(read.attrs.from, 'romeo@localhost');
  assert.equal(read.attrs.to, 'juliet@localhost/j');
  const v = read.getChild('vCard', NS_VCARD);
  assert.equal(v?.getChildText('FN'), 'Romeo');
  assert.equal(v?.getChildText('NICKNAME'), 'r <&> "m"');
  assert.equal(v?.getChild('NICKNAME')?.xmlns, NS_VCARD);
  // Stored as one string in the user's keyval store.
  const stored = await ts.server.storage.keyval<string>('localhost', 'vcard').get('romeo');
  assert.match(stored ?? '', /^<vCard xmlns="vcard-temp">/);
});

test("setting another user's vCard (or the host's) is forbidden and changes nothing", async () => {
  const res = await ask(juliet, 'set', 'romeo@localhost', (v) => v.c('FN').t('Mallory'));
  assert.equal(res.attrs.type, 'error');
  assert.equal(condition(res), 'forbidden');
  assert.equal(res.getChild('error')?.attrs.type, 'auth');
  const host = await ask(juliet, 'set', 'localhost', (v) => v.c('FN').t('Mallory'));
  assert.equal(condition(host), 'forbidden');
  const read = await ask(juliet, 'get', 'romeo@localhost');
  assert.equal(read.getChild('vCard', NS_VCARD)?.getChildText('FN'), 'Romeo');
});

test('a vCard over max_size is refused with policy-violation and the old one kept', async () => {
  const res = await ask(romeo, 'set', undefined, (v) => v.c('DESC').t('x'.repeat(400)));
  assert.equal(condition(res), 'policy-violation');
  assert.equal(res.getChild('error')?.attrs.type, 'modify');
  const own = await ask(romeo, 'get', undefined);
  assert.equal(own.getChild('vCard', NS_VCARD)?.getChildText('FN'), 'Romeo');
});

test('an empty vCard deletes the stored one', async () => {
  const res = await ask(juliet, 'set', undefined, (v) => v.c('FN').t('Juliet'));
  assert.equal(res.attrs.type, 'result');
  assert.equal((await ask(romeo, 'get', 'juliet@localhost')).attrs.type, 'result');
  await ask(juliet, 'set', undefined);
  assert.equal(await ts.server.storage.keyval<string>('localhost', 'vcard').get('juliet'), undefined);
  assert.equal(condition(await ask(romeo, 'get', 'juliet@localhost')), 'item-not-found');
  const own = await ask(juliet, 'get', undefined);
  assert.equal(own.attrs.type, 'result');
});

test("a vCard request to a user's full JID is delivered to that resource, not answered", async () => {
  const stanza = iq({ type: 'get', id: 'full1', to: 'romeo@localhost/r' });
  stanza.c('vCard', { xmlns: NS_VCARD });
  juliet.send(stanza);
  await romeo.receives((e) => e.attrs.id === 'full1');
  await settle();
  assert.equal(juliet.sent.find((e) => e.attrs.id === 'full1'), undefined);
});
