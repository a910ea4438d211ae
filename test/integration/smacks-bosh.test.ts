/**
 * XEP-0198 over BOSH: a BOSH client that enabled resumable stream management stops polling (its
 * BOSH session times out, as when a phone's browser tab is frozen); the session hibernates; a
 * new BOSH session authenticates and resumes, and gets exactly the unacknowledged stanzas,
 * including what arrived while it was away.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml } from '../helpers/xmpp-client.js';
import { BoshClient, boshPost, boshUrl, creationAttrs } from '../helpers/bosh-client.js';
import { waitFor } from '../../src/testing/index.js';

const SM = 'urn:xmpp:sm:3';
/** As behind a TLS-terminating reverse proxy (trusted), so PLAIN is allowed over plain HTTP here. */
const VIA_PROXY = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '198.51.100.21' };

test('BOSH: hibernation when the BOSH session times out, then resumption on a new BOSH session', { timeout: 60_000 }, async () => {
  const ts = await startTestServer((c) => {
    c.http.ports = [0];
    c.http.trusted_proxies = ['127.0.0.1'];
    c.modules.bosh = { inactivity: '2s' };
    c.modules.smacks = { request_after: 1000, request_delay: '10 minutes' };
  });
  try {
    await createAccount(ts, 'romeo', 'r-pass');
    await createAccount(ts, 'juliet', 'j-pass');
    const url = boshUrl(ts);
    const juliet = new BoshClient(url, VIA_PROXY);
    await juliet.login('juliet', 'j-pass', 'tab');
    await juliet.send(`<enable xmlns='${SM}' resume='true'/>`);
    const enabled = await juliet.waitFor((e) => e.is('enabled', SM));
    const previd = enabled.attrs.id;
    assert.ok(previd, 'a resumption id');
    await juliet.send(`<presence xmlns='jabber:client'/>`);

    const romeo = await loginClient(ts, 'romeo', 'r-pass', 'desk');
    await romeo.send(xml('message', { to: 'juliet@localhost/tab', type: 'chat', id: 'b1' }, xml('body', {}, 'one')));
    await juliet.waitFor((e) => e.attrs.id === 'b1');

    // The tab freezes: no more requests; the BOSH session times out and the XMPP session hibernates.
    juliet.abandon();
    await waitFor(() => ts.server.sessions.getSession('localhost', 'juliet', 'tab')?.hibernating === true, { timeoutMs: 15_000, message: 'juliet hibernates' });
    await romeo.send(xml('message', { to: 'juliet@localhost/tab', type: 'chat', id: 'b2' }, xml('body', {}, 'two')));

    // A new BOSH session: SASL, restart, resume (no bind).
    let rid = 5000;
    const created = await boshPost(url, creationAttrs(rid, { wait: 5 }), '', VIA_PROXY);
    const sid = created.body?.attrs.sid;
    assert.ok(sid);
    const post = (attrs: Record<string, string>, payload = '') => boshPost(url, { rid: ++rid, sid, ...attrs }, payload, VIA_PROXY);
    const auth = Buffer.from('\0juliet\0j-pass').toString('base64');
    assert.match((await post({}, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${auth}</auth>`)).text, /<success/);
    const features = await post({ 'xmpp:restart': 'true', to: 'localhost', 'xml:lang': 'en' });
    assert.match(features.text, /urn:xmpp:sm:3/, 'stream management offered after SASL');
    let text = (await post({}, `<resume xmlns='${SM}' previd='${previd}' h='0'/>`)).text;
    // The re-sent stanzas may come in this answer or the next poll.
    for (let i = 0; i < 5 && !/id=["']b2["']/.test(text); i++) text += (await post({})).text;
    assert.match(text, /<resumed[^>]*previd=/);
    assert.match(text, /id=["']b1["']/, 'the unacknowledged message is re-sent');
    assert.match(text, /id=["']b2["']/, 'the message that arrived while away is delivered');
    assert.equal(ts.server.sessions.getSession('localhost', 'juliet', 'tab')?.hibernating, false);
    await romeo.stop();
  } finally {
    await ts.stop();
  }
});
