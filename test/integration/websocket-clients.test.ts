/**
 * Real clients over WebSocket: @xmpp/client logs in over ws (require_encryption off, since plain
 * ws is not secure) and over wss, and exchanges messages and presence with a TCP client.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml } from '../helpers/xmpp-client.js';
import { WsClient, openFrame } from '../helpers/ws-client.js';

// xmpp.js uses the global WebSocket, which Node 20 does not have; `ws` is API-compatible.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

let ts: TestServer;
before(async () => {
  ts = await startTestServer((c) => {
    c.http.ports = [0];
    c.http.tls_ports = [0];
    c.modules_enabled.push('websocket');
    c.c2s.require_encryption = false;
  });
  await createAccount(ts, 'romeo', 'r-pass');
  await createAccount(ts, 'juliet', 'j-pass');
});
after(async () => {
  await ts.stop();
});

test('@xmpp/client over ws logs in and exchanges messages and presence with a TCP client', async () => {
  const ws = await loginClient(ts, 'romeo', 'r-pass', 'web', { service: `ws://127.0.0.1:${ts.server.port('http')}/xmpp-websocket` });
  const tcp = await loginClient(ts, 'juliet', 'j-pass', 'desk');
  try {
    assert.equal(ws.jid, 'romeo@localhost/web');
    const session = [...ts.server.sessions.all].find((s) => s.type === 'c2s' && s.fullJid === ws.jid);
    assert.equal(session?.conn.transport, 'websocket');

    await ws.send(xml('message', { to: tcp.jid, type: 'chat', id: 'w2t' }, xml('body', {}, 'from the web')));
    const m1 = await tcp.waitFor((s) => s.is('message') && s.attrs.id === 'w2t');
    assert.equal(m1.attrs.from, ws.jid);
    assert.equal(m1.getChildText('body'), 'from the web');

    await tcp.send(xml('message', { to: ws.jid, type: 'chat', id: 't2w' }, xml('body', {}, 'from the desk')));
    const m2 = await ws.waitFor((s) => s.is('message') && s.attrs.id === 't2w');
    assert.equal(m2.attrs.from, tcp.jid);
    assert.equal(m2.getChildText('body'), 'from the desk');

    // Directed presence both ways.
    await ws.send(xml('presence', { to: tcp.jid }, xml('status', {}, 'online on the web')));
    const p1 = await tcp.waitFor((s) => s.is('presence') && s.attrs.from === ws.jid);
    assert.equal(p1.getChildText('status'), 'online on the web');
    await tcp.send(xml('presence', { to: ws.jid }, xml('show', {}, 'away')));
    const p2 = await ws.waitFor((s) => s.is('presence') && s.attrs.from === tcp.jid);
    assert.equal(p2.getChildText('show'), 'away');

    // iq round trip to the server.
    const r = await ws.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: 'jabber:iq:version' })));
    assert.equal(r.getChild('query', 'jabber:iq:version')?.getChildText('name'), 'Canto');
  } finally {
    await ws.stop();
    await tcp.stop();
  }
});

test('@xmpp/client over wss logs in with SCRAM-SHA-256', async () => {
  const c = await loginClient(ts, 'juliet', 'j-pass', 'secure-web', { service: `wss://127.0.0.1:${ts.server.port('https')}/xmpp-websocket`, mechanism: 'SCRAM-SHA-256' });
  try {
    const session = [...ts.server.sessions.all].find((s) => s.type === 'c2s' && s.fullJid === c.jid);
    assert.equal(session?.secure, true);
    assert.equal(session?.conn.transport, 'websocket');
  } finally {
    await c.stop();
  }
});

test('wss is secure: SASL is offered even with require_encryption on', async () => {
  const t = await startTestServer((c) => {
    c.http.tls_ports = [0];
    c.modules_enabled.push('websocket');
  });
  try {
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    const c = await WsClient.connect(`wss://127.0.0.1:${t.server.port('https')}/xmpp-websocket`);
    c.send(openFrame());
    const features = await c.waitFor(/stream:features/);
    assert.match(features, /<mechanism>SCRAM-SHA-256<\/mechanism>/);
    assert.match(features, /<mechanism>PLAIN<\/mechanism>/);
    assert.doesNotMatch(features, /-PLUS/, 'no channel binding over WebSocket');
    c.close();
  } finally {
    await t.stop();
  }
});
