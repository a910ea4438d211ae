/** vcard-temp (XEP-0054) with real @xmpp/client clients over STARTTLS. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, errorCondition, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';

let ts: TestServer;
let romeo: LoggedInClient;
let juliet: LoggedInClient;
before(async () => {
  ts = await startTestServer((c) => {
    c.modules_enabled = ['vcard', 'disco'];
    c.modules.vcard = { max_size: '1 KiB' };
  });
  await createAccount(ts, 'romeo', 'pw');
  await createAccount(ts, 'juliet', 'pw');
  romeo = await loginClient(ts, 'romeo', 'pw', 'phone');
  juliet = await loginClient(ts, 'juliet', 'pw', 'balcony');
});
after(async () => {
  await (romeo as LoggedInClient | undefined)?.stop(); // unset when the login in before() failed
  await (juliet as LoggedInClient | undefined)?.stop(); // unset when the login in before() failed
  await (ts as TestServer | undefined)?.stop();
});

const failure = (p: Promise<XElement>) => p.then(() => undefined, (e: { stanza?: XElement }) => e.stanza);

test('a real client stores its vCard and another reads it', async () => {
  const empty = await romeo.iq(xml('iq', { type: 'get' }, xml('vCard', { xmlns: 'vcard-temp' })));
  assert.equal(empty.getChild('vCard', 'vcard-temp')?.children.length, 0);
  await romeo.iq(xml('iq', { type: 'set' }, xml('vCard', { xmlns: 'vcard-temp' }, xml('FN', {}, 'Romeo Montague'), xml('NICKNAME', {}, 'romeo'))));
  const read = await juliet.iq(xml('iq', { type: 'get', to: 'romeo@localhost' }, xml('vCard', { xmlns: 'vcard-temp' })));
  assert.equal(read.attrs.from, 'romeo@localhost');
  assert.equal(read.getChild('vCard', 'vcard-temp')?.getChildText('FN'), 'Romeo Montague');
});

test('errors: forbidden for another user, policy-violation when too large, item-not-found when absent', async () => {
  const forbidden = await failure(juliet.iq(xml('iq', { type: 'set', to: 'romeo@localhost' }, xml('vCard', { xmlns: 'vcard-temp' }, xml('FN', {}, 'x')))));
  assert.equal(errorCondition(forbidden), 'forbidden');
  const big = await failure(juliet.iq(xml('iq', { type: 'set' }, xml('vCard', { xmlns: 'vcard-temp' }, xml('DESC', {}, 'y'.repeat(2000))))));
  assert.equal(errorCondition(big), 'policy-violation');
  const absent = await failure(romeo.iq(xml('iq', { type: 'get', to: 'juliet@localhost' }, xml('vCard', { xmlns: 'vcard-temp' }))));
  assert.equal(errorCondition(absent), 'item-not-found');
});
