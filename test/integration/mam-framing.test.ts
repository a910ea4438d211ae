/**
 * MAM results carry the archived text as Canto stored it, not parsed and written again
 * (RawElement): real @xmpp/client clients over a TCP stream and over WebSocket (RFC 7395,
 * where every stanza is a document of its own) read the same, intact messages back — escapes,
 * non-ASCII, namespaced and prefixed payloads included.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';

// xmpp.js uses the global WebSocket, which Node 20 does not have; `ws` is API-compatible.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

const NS_MAM = 'urn:xmpp:mam:2';
const NS_X = 'urn:example:payload';
const BODIES = ['plain', 'Grüße <b> & "quotes" \'apostrophes\' ]]> 日本語 😀', 'two\nlines\tand a tab', '<stream:error/> as text'];

let ts: TestServer;
before(async () => {
  ts = await startTestServer((c) => {
    c.http.ports = [0];
    c.modules_enabled.push('websocket');
    c.c2s.require_encryption = false;
  });
  await createAccount(ts, 'romeo', 'r-pass');
  await createAccount(ts, 'juliet', 'j-pass');
});
after(async () => {
  await (ts as TestServer | undefined)?.stop();
});

async function archived(client: LoggedInClient, queryid: string): Promise<XElement[]> {
  await client.iq(xml('iq', { type: 'set' }, xml('query', { xmlns: NS_MAM, queryid })));
  const out: XElement[] = [];
  for (const s of client.received) {
    const r = s.is('message') ? s.getChild('result', NS_MAM) : undefined;
    const m = r?.attrs.queryid === queryid ? r.getChild('forwarded', 'urn:xmpp:forward:0')?.getChild('message') : undefined;
    if (m) out.push(m);
  }
  return out;
}

test('archived messages come back intact over a TCP stream and over WebSocket', async () => {
  const romeo = await loginClient(ts, 'romeo', 'r-pass', 'desk');
  const tcp = await loginClient(ts, 'juliet', 'j-pass', 'desk');
  const ws = await loginClient(ts, 'juliet', 'j-pass', 'web', { service: `ws://127.0.0.1:${ts.server.port('http')}/xmpp-websocket` });
  try {
    for (const c of [romeo, tcp, ws]) await c.send(xml('presence'));
    for (const [i, body] of BODIES.entries()) {
      await romeo.send(
        xml('message', { to: 'juliet@localhost', type: 'chat', id: `m${i}` }, xml('body', {}, body), xml('p:extra', { 'xmlns:p': NS_X, 'p:n': `${i}&<"` }, xml('p:inner', {}, 'x'))),
      );
    }
    await tcp.waitFor((s) => s.is('message') && s.attrs.id === `m${BODIES.length - 1}`);
    for (const [client, qid] of [[tcp, 'q-tcp'], [ws, 'q-ws']] as const) {
      const got = await archived(client, qid);
      assert.equal(got.length, BODIES.length, qid);
      for (const [i, m] of got.entries()) {
        assert.equal(m.attrs.xmlns, 'jabber:client', `${qid}: the forwarded message declares its namespace`);
        assert.equal(m.attrs.from, romeo.jid);
        assert.equal(m.attrs.id, `m${i}`);
        assert.equal(m.getChildText('body'), BODIES[i]);
        const extra = m.getChild('extra', NS_X);
        assert.equal(extra?.attrs['p:n'], `${i}&<"`, `${qid}: a prefixed payload keeps its prefix declaration`);
        assert.equal(extra?.getChildText('inner'), 'x');
      }
    }
  } finally {
    await Promise.all([romeo.stop(), tcp.stop(), ws.stop()]);
  }
});
