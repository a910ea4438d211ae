/** Blocking command (XEP-0191) with real @xmpp/client clients over STARTTLS. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, errorCondition, type LoggedInClient } from '../helpers/xmpp-client.js';

let ts: TestServer;
let juliet: LoggedInClient;
let juliet2: LoggedInClient;
let romeo: LoggedInClient;
before(async () => {
  ts = await startTestServer((c) => {
    c.modules_enabled = ['blocking', 'message', 'offline'];
  });
  for (const u of ['juliet', 'romeo']) await createAccount(ts, u, 'pw');
  juliet = await loginClient(ts, 'juliet', 'pw', 'balcony');
  juliet2 = await loginClient(ts, 'juliet', 'pw', 'chamber');
  romeo = await loginClient(ts, 'romeo', 'pw', 'garden');
  for (const c of [juliet, juliet2, romeo]) await c.send(xml('presence'));
});
after(async () => {
  for (const c of [juliet, juliet2, romeo]) await c.stop();
  await ts.stop();
});

const blockItems = (...jids: string[]) => jids.map((jid) => xml('item', { jid }));

test('block, push, enforcement both ways, unblock', async () => {
  const list = await juliet.iq(xml('iq', { type: 'get' }, xml('blocklist', { xmlns: 'urn:xmpp:blocking' })));
  assert.equal(list.getChild('blocklist', 'urn:xmpp:blocking')?.children.length, 0);
  await juliet2.iq(xml('iq', { type: 'get' }, xml('blocklist', { xmlns: 'urn:xmpp:blocking' })));

  await juliet.iq(xml('iq', { type: 'set' }, xml('block', { xmlns: 'urn:xmpp:blocking' }, ...blockItems('romeo@localhost'))));
  for (const c of [juliet, juliet2]) {
    const push = await c.waitFor((s) => s.is('iq') && s.attrs.type === 'set' && s.getChild('block', 'urn:xmpp:blocking') !== undefined);
    assert.equal(push.getChild('block', 'urn:xmpp:blocking')?.getChild('item')?.attrs.jid, 'romeo@localhost');
  }

  await romeo.send(xml('message', { to: 'juliet@localhost', type: 'chat', id: 'in1' }, xml('body', {}, 'hello?')));
  const bounced = await romeo.waitFor((s) => s.is('message') && s.attrs.id === 'in1');
  assert.equal(bounced.attrs.type, 'error');
  assert.equal(errorCondition(bounced), 'service-unavailable');
  assert.ok(await juliet.nothing((s) => s.is('message') && s.attrs.id === 'in1'));

  await juliet.send(xml('message', { to: 'romeo@localhost', type: 'chat', id: 'out1' }, xml('body', {}, 'psst')));
  const refused = await juliet.waitFor((s) => s.is('message') && s.attrs.id === 'out1');
  assert.equal(errorCondition(refused), 'not-acceptable');
  assert.ok(refused.getChild('error')?.getChild('blocked', 'urn:xmpp:blocking:errors'));

  await juliet2.iq(xml('iq', { type: 'set' }, xml('unblock', { xmlns: 'urn:xmpp:blocking' }, ...blockItems('romeo@localhost'))));
  await juliet.waitFor((s) => s.is('iq') && s.attrs.type === 'set' && s.getChild('unblock', 'urn:xmpp:blocking') !== undefined);
  await romeo.send(xml('message', { to: 'juliet@localhost/balcony', type: 'chat', id: 'in2' }, xml('body', {}, 'now?')));
  const delivered = await juliet.waitFor((s) => s.is('message') && s.attrs.id === 'in2');
  assert.equal(delivered.getChildText('body'), 'now?');
});

test('a block without items is bad-request', async () => {
  const err = await juliet.iq(xml('iq', { type: 'set' }, xml('block', { xmlns: 'urn:xmpp:blocking' }))).catch((e: { stanza?: never }) => e.stanza);
  assert.equal(errorCondition(err), 'bad-request');
});
