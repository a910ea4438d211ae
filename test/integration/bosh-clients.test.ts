/**
 * A real client over BOSH (test/helpers/bosh-client.ts: SASL PLAIN, restart, bind, long-polling
 * with hold=1) behind a trusted proxy that reports HTTPS, exchanging messages and presence with
 * an @xmpp/client TCP client; ending the session (terminate, or inactivity) is the normal
 * session end that other sessions see.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml } from '../helpers/xmpp-client.js';
import { BoshClient, boshUrl } from '../helpers/bosh-client.js';

const VIA_PROXY = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '198.51.100.20' };

let ts: TestServer;
before(async () => {
  ts = await startTestServer((c) => {
    c.http.ports = [0];
    c.http.trusted_proxies = ['127.0.0.1'];
    c.modules.bosh = { inactivity: '2s' };
  });
  await createAccount(ts, 'romeo', 'r-pass');
  await createAccount(ts, 'juliet', 'j-pass');
});
after(async () => {
  await ts.stop();
});

function sessionOf(jid: string) {
  return [...ts.server.sessions.all].find((s) => s.type === 'c2s' && s.fullJid === jid);
}

test('a BOSH client logs in and exchanges messages and presence with a TCP client', async () => {
  const bosh = new BoshClient(boshUrl(ts), VIA_PROXY);
  await bosh.login('romeo', 'r-pass', 'web');
  const tcp = await loginClient(ts, 'juliet', 'j-pass', 'desk');
  try {
    assert.equal(bosh.jid, 'romeo@localhost/web');
    const session = sessionOf(bosh.jid);
    assert.equal(session?.conn.transport, 'bosh');
    assert.equal(session?.secure, true);
    assert.equal(session?.ip, '198.51.100.20');

    await bosh.send(`<message xmlns='jabber:client' to='${tcp.jid}' type='chat' id='b2t'><body>over BOSH</body></message>`);
    const m1 = await tcp.waitFor((s) => s.is('message') && s.attrs.id === 'b2t');
    assert.equal(m1.attrs.from, bosh.jid);
    assert.equal(m1.getChildText('body'), 'over BOSH');

    // Several stanzas while the client's poll is held: all arrive, in order.
    for (let i = 0; i < 3; i++) await tcp.send(xml('message', { to: bosh.jid, type: 'chat', id: `t2b${i}` }, xml('body', {}, `n${i}`)));
    for (let i = 0; i < 3; i++) {
      const m = await bosh.waitFor((s) => s.is('message') && s.attrs.id === `t2b${i}`);
      assert.equal(m.getChildText('body'), `n${i}`);
      assert.equal(m.attrs.from, tcp.jid);
    }

    await bosh.send(`<presence xmlns='jabber:client' to='${tcp.jid}'><status>on the web</status></presence>`);
    const p = await tcp.waitFor((s) => s.is('presence') && s.attrs.from === bosh.jid);
    assert.equal(p.getChildText('status'), 'on the web');

    await bosh.send(`<iq xmlns='jabber:client' type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>`);
    const v = await bosh.waitFor((s) => s.is('iq') && s.attrs.id === 'v1');
    assert.equal(v.attrs.type, 'result');
    assert.equal(v.getChild('query')?.getChildText('name'), 'Canto');

    const ended = await bosh.stop();
    assert.equal(ended.body?.attrs.type, 'terminate');
    assert.equal(sessionOf(bosh.jid), undefined, 'the session is gone');
    const gone = await tcp.waitFor((s) => s.is('presence') && s.attrs.from === bosh.jid);
    assert.equal(gone.attrs.type, 'unavailable');
  } finally {
    await tcp.stop();
  }
});

test('an idle BOSH session is destroyed after `inactivity`: contacts see it go unavailable', async () => {
  const bosh = new BoshClient(boshUrl(ts), VIA_PROXY);
  await bosh.login('romeo', 'r-pass', 'idle');
  const tcp = await loginClient(ts, 'juliet', 'j-pass', 'watcher');
  try {
    const jid = bosh.jid;
    await bosh.send(`<presence xmlns='jabber:client' to='${tcp.jid}'/>`);
    await tcp.waitFor((s) => s.is('presence') && s.attrs.from === jid && s.attrs.type === undefined);
    // The client vanishes: it stops polling and drops its open request without a terminate.
    bosh.abandon();
    const started = Date.now();
    const gone = await tcp.waitFor((s) => s.is('presence') && s.attrs.from === jid, 8000);
    assert.equal(gone.attrs.type, 'unavailable');
    assert.ok(Date.now() - started >= 1500, 'not before the 2 s inactivity period');
    assert.equal(sessionOf(jid), undefined, 'destroyed by the inactivity timeout');
  } finally {
    await tcp.stop();
  }
});
