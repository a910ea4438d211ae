/**
 * Real @xmpp/client clients against the disco, ping, version, time, last and contact modules.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, errorCondition, type XElement } from '../helpers/xmpp-client.js';
import { waitFor } from '../../src/testing/index.js';

const INFO = 'http://jabber.org/protocol/disco#info';
const ITEMS = 'http://jabber.org/protocol/disco#items';

let ts: TestServer;
before(async () => {
  ts = await startTestServer((c) => {
    c.component = [{ domain: 'gateway.localhost', secret: 'x' }];
    c.modules.contact = { abuse: ['mailto:abuse@localhost'], admin: ['xmpp:admin@localhost'] };
  });
  await createAccount(ts, 'alice', 'wonderland');
  await createAccount(ts, 'bob', 'builder');
});
after(async () => {
  await ts.stop();
});

const failed = (p: Promise<XElement>) => p.then(
  (r) => assert.fail(`expected an error, got ${r.toString()}`),
  (e: { stanza?: XElement }) => e.stanza,
);

test('disco#info and #items of the server', async () => {
  const alice = await loginClient(ts, 'alice', 'wonderland', 'disco');
  try {
    const info = (await alice.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: INFO })))).getChild('query', INFO);
    assert.ok(info);
    const ids = info.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}/${i.attrs.name}`);
    assert.ok(ids.includes('server/im/Canto'), ids.join());
    const features = info.getChildren('feature').map((f) => f.attrs.var);
    for (const ns of [INFO, ITEMS, 'urn:xmpp:ping', 'jabber:iq:version', 'urn:xmpp:time', 'jabber:iq:last']) {
      assert.ok(features.includes(ns), `${ns} in ${features.join()}`);
    }
    const form = info.getChild('x', 'jabber:x:data');
    const field = (v: string) => form?.getChildren('field').find((f) => f.attrs.var === v)?.getChildren('value').map((x) => x.getText());
    assert.deepEqual(field('FORM_TYPE'), ['http://jabber.org/network/serverinfo']);
    assert.deepEqual(field('abuse-addresses'), ['mailto:abuse@localhost']);
    assert.deepEqual(field('admin-addresses'), ['xmpp:admin@localhost']);

    const items = (await alice.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: ITEMS })))).getChild('query', ITEMS);
    assert.deepEqual(items?.getChildren('item').map((i) => i.attrs.jid), ['gateway.localhost']);

    const unknownNode = await failed(alice.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: INFO, node: 'urn:nope' }))));
    assert.equal(errorCondition(unknownNode), 'item-not-found');
  } finally {
    await alice.stop();
  }
});

test('disco#info of accounts: own account answered, a stranger refused', async () => {
  const alice = await loginClient(ts, 'alice', 'wonderland', 'acct');
  try {
    const own = (await alice.iq(xml('iq', { type: 'get', to: 'alice@localhost' }, xml('query', { xmlns: INFO })))).getChild('query', INFO);
    assert.deepEqual(own?.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}`), ['account/registered', 'pubsub/pep']); // PEP is on by default
    const bob = await failed(alice.iq(xml('iq', { type: 'get', to: 'bob@localhost' }, xml('query', { xmlns: INFO }))));
    assert.equal(errorCondition(bob), 'service-unavailable');
    const bobItems = await alice.iq(xml('iq', { type: 'get', to: 'bob@localhost' }, xml('query', { xmlns: ITEMS })));
    assert.equal(bobItems.getChild('query', ITEMS)?.getChildren('item').length, 0);
  } finally {
    await alice.stop();
  }
});

test('ping, version and time of the server', async () => {
  const alice = await loginClient(ts, 'alice', 'wonderland', 'misc');
  try {
    const pong = await alice.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    assert.equal(pong.attrs.type, 'result');
    const v = (await alice.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: 'jabber:iq:version' })))).getChild('query', 'jabber:iq:version');
    assert.equal(v?.getChildText('name'), 'Canto');
    assert.equal(v?.getChildText('version'), (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version);
    assert.equal(v?.getChild('os'), undefined);
    const t = (await alice.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('time', { xmlns: 'urn:xmpp:time' })))).getChild('time', 'urn:xmpp:time');
    assert.match(t?.getChildText('tzo') ?? '', /^[+-]\d\d:\d\d$/);
    assert.ok(Math.abs(Date.parse(t?.getChildText('utc') ?? '') - Date.now()) < 5000);
  } finally {
    await alice.stop();
  }
});

test('last activity: server uptime, own last logout with status, forbidden for strangers', async () => {
  const bob = await loginClient(ts, 'bob', 'builder', 'first');
  await bob.send(xml('presence', { type: 'unavailable' }, xml('status', {}, 'Gone fishing')));
  await bob.stop();
  // The server notices the closed stream; wait until bob's session is gone.
  await waitFor(() => ts.server.sessions.getUserSessions('localhost', 'bob').length === 0, { timeoutMs: 1000, message: "bob's session is gone" });

  const alice = await loginClient(ts, 'alice', 'wonderland', 'last');
  const bob2 = await loginClient(ts, 'bob', 'builder', 'second');
  try {
    const up = await alice.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: 'jabber:iq:last' })));
    assert.ok(Number(up.getChild('query', 'jabber:iq:last')?.attrs.seconds) >= 0);
    const forbidden = await failed(alice.iq(xml('iq', { type: 'get', to: 'bob@localhost' }, xml('query', { xmlns: 'jabber:iq:last' }))));
    assert.equal(errorCondition(forbidden), 'forbidden');
    // bob's new session has sent no presence, so the answer is his last logout.
    const own = (await bob2.iq(xml('iq', { type: 'get', to: 'bob@localhost' }, xml('query', { xmlns: 'jabber:iq:last' })))).getChild('query', 'jabber:iq:last');
    assert.equal(own?.getText(), 'Gone fishing');
    assert.ok(Number(own?.attrs.seconds) >= 0 && Number(own?.attrs.seconds) < 10);
  } finally {
    await alice.stop();
    await bob2.stop();
  }
});
