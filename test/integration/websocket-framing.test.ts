/**
 * RFC 7395 at the byte level with a raw `ws` client: the open/features/close exchange, stream
 * errors as <stream:error xmlns:stream=…/> + <close/>, subprotocol and origin refusal, size
 * limit, auth timeout, see-other-uri, and the shared per-IP cap.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { WsClient, NS_FRAMING, openFrame, wsUrl } from '../helpers/ws-client.js';
import { RawClient, clientHeader } from '../helpers/raw-client.js';
import type { CantoConfig } from '../../src/core/config.js';
import { waitFor } from '../../src/testing/index.js';

const SE = 'urn:ietf:params:xml:ns:xmpp-streams';
const STREAM_ERROR = (cond: string) =>
  new RegExp(`^<stream:error xmlns:stream='http://etherx.jabber.org/streams'><${cond} xmlns="${SE}"/>`);
const CLOSE = new RegExp(`^<close xmlns='${NS_FRAMING}'/>$`);

function withWebSocket(adjust?: (c: CantoConfig) => void): (c: CantoConfig) => void {
  return (c) => {
    c.http.ports = [0];
    c.modules_enabled.push('websocket');
    c.limits.max_stanza_size = 4096;
    adjust?.(c);
  };
}

let ts: TestServer;
before(async () => {
  ts = await startTestServer(withWebSocket());
});
after(async () => {
  await ts.stop();
});

/** Expect a stream error with `cond`, then <close/>, then the WebSocket closed. */
async function expectStreamError(c: WsClient, cond: string): Promise<void> {
  await c.waitClosed();
  const i = c.messages.findIndex((m) => STREAM_ERROR(cond).test(m));
  assert.ok(i >= 0, `a ${cond} stream error; got:\n${c.messages.join('\n')}`);
  assert.match(c.messages[i] ?? '', /<\/stream:error>$/);
  assert.match(c.messages[i + 1] ?? '', CLOSE, 'the stream error is followed by <close/>');
  assert.equal(c.messages.length, i + 2, 'nothing after <close/>');
}

test('<open/> gets our <open/> and the features; <close/> is answered with <close/> and the socket closes', async () => {
  const c = await WsClient.connect(wsUrl(ts));
  assert.equal(c.ws.protocol, 'xmpp');
  c.send(openFrame());
  await c.waitFor(/stream:features/);
  const [open, features] = c.messages;
  assert.match(open ?? '', new RegExp(`^<open xmlns='${NS_FRAMING}' id='[A-Za-z0-9_-]{8,}' from='localhost' version='1.0' xml:lang='en'/>$`));
  // Plain ws with require_encryption on: no SASL offered, and no STARTTLS on a WebSocket.
  assert.match(features ?? '', /^<stream:features xmlns:stream='http:\/\/etherx.jabber.org\/streams'(\/>|>)/);
  assert.doesNotMatch(features ?? '', /starttls|mechanisms/);
  c.send(`<close xmlns='${NS_FRAMING}'/>`);
  await c.waitClosed();
  assert.match(c.messages[2] ?? '', CLOSE);
  assert.equal(c.messages.length, 3);
  assert.equal(c.closeCode, 1000);
});

test('whitespace messages are keepalives', async () => {
  const c = await WsClient.connect(wsUrl(ts));
  c.send(openFrame());
  await c.waitFor(/stream:features/);
  c.send(' \n');
  c.send(`<close xmlns='${NS_FRAMING}'/>`);
  await c.waitClosed();
  assert.ok(!c.messages.some((m) => m.includes('stream:error')), c.messages.join('\n'));
});

test('without the xmpp subprotocol the upgrade is refused', async () => {
  await assert.rejects(WsClient.connect(wsUrl(ts), { protocols: ['chat'] }), (err: { status?: number }) => err.status === 400);
  await assert.rejects(WsClient.connect(wsUrl(ts), { protocols: [] }), (err: { status?: number }) => err.status === 400);
});

test('an unknown host is host-unknown, then <close/>', async () => {
  const c = await WsClient.connect(wsUrl(ts));
  c.send(openFrame('nowhere.example'));
  await expectStreamError(c, 'host-unknown');
});

test('a stream version other than 1.x is unsupported-version (after our <open/>)', async () => {
  const c = await WsClient.connect(wsUrl(ts));
  c.send(`<open xmlns='${NS_FRAMING}' to='localhost' version='2.0'/>`);
  await expectStreamError(c, 'unsupported-version');
  assert.match(c.messages[0] ?? '', /^<open /);
});

test('a stanza before authentication is not-authorized', async () => {
  const c = await WsClient.connect(wsUrl(ts));
  c.send(openFrame());
  await c.waitFor(/stream:features/);
  c.send(`<message xmlns='jabber:client' to='someone@localhost'><body>hi</body></message>`);
  await expectStreamError(c, 'not-authorized');
});

test('anything before <open/> is bad-format; an <open/> in another namespace is invalid-namespace', async () => {
  const c = await WsClient.connect(wsUrl(ts));
  c.send(`<iq xmlns='jabber:client' type='get' id='x'><ping xmlns='urn:xmpp:ping'/></iq>`);
  await expectStreamError(c, 'bad-format');
  const d = await WsClient.connect(wsUrl(ts));
  d.send(`<open xmlns='jabber:client' to='localhost' version='1.0'/>`);
  await expectStreamError(d, 'invalid-namespace');
});

test('bad XML is not-well-formed; an incomplete element in a message is refused too', async () => {
  const c = await WsClient.connect(wsUrl(ts));
  c.send(openFrame());
  await c.waitFor(/stream:features/);
  c.send(`<message xmlns='jabber:client'><body></message>`);
  await expectStreamError(c, 'not-well-formed');
  const d = await WsClient.connect(wsUrl(ts));
  d.send(openFrame());
  await d.waitFor(/stream:features/);
  d.send(`<message xmlns='jabber:client'><body>half`);
  await expectStreamError(d, 'not-well-formed');
});

test('a message over limits.max_stanza_size is policy-violation', async () => {
  const c = await WsClient.connect(wsUrl(ts));
  c.send(openFrame());
  await c.waitFor(/stream:features/);
  c.send(`<message xmlns='jabber:client' to='x@localhost'><body>${'a'.repeat(5000)}</body></message>`);
  await expectStreamError(c, 'policy-violation');
});

test('an unknown top-level element is unsupported-stanza-type', async () => {
  const c = await WsClient.connect(wsUrl(ts));
  c.send(openFrame());
  await c.waitFor(/stream:features/);
  c.send(`<foo xmlns='urn:example:foo'/>`);
  await expectStreamError(c, 'unsupported-stanza-type');
});

test('the session is closed by session.close() with the same framing', async () => {
  const before = new Set(ts.server.sessions.all);
  const c = await WsClient.connect(wsUrl(ts));
  c.send(openFrame());
  await c.waitFor(/stream:features/);
  const session = [...ts.server.sessions.all].find((s) => !before.has(s));
  assert.ok(session);
  assert.equal(session.conn.transport, 'websocket');
  assert.equal(session.ip, '127.0.0.1');
  assert.equal(session.secure, false);
  session.close({ condition: 'conflict', text: 'replaced' });
  await expectStreamError(c, 'conflict');
  assert.match(c.messages[2] ?? '', /<text xmlns="urn:ietf:params:xml:ns:xmpp-streams" xml:lang="en">replaced<\/text><\/stream:error>$/);
  await waitFor(() => session.destroyed, { timeoutMs: 1000, message: 'the session is destroyed' });
});

test('unknown paths are 404 and not upgraded', async () => {
  await assert.rejects(WsClient.connect(wsUrl(ts, '/elsewhere')), (err: { status?: number }) => err.status === 404);
});

test('auth timeout: an unauthenticated WebSocket is closed with connection-timeout', async () => {
  const t = await startTestServer(withWebSocket((c) => (c.c2s.auth_timeout = 300)));
  try {
    const c = await WsClient.connect(wsUrl(t));
    c.send(openFrame());
    await c.waitFor(/stream:features/);
    await expectStreamError(c, 'connection-timeout');
  } finally {
    await t.stop();
  }
});

test('see_other_uri: every <open/> is answered with <close see-other-uri=…/>', async () => {
  const t = await startTestServer(withWebSocket((c) => (c.modules.websocket = { see_other_uri: 'wss://other.example/xmpp-websocket' })));
  try {
    const c = await WsClient.connect(wsUrl(t));
    c.send(openFrame());
    await c.waitClosed();
    assert.deepEqual(c.messages, [`<close xmlns='${NS_FRAMING}' see-other-uri='wss://other.example/xmpp-websocket'/>`]);
  } finally {
    await t.stop();
  }
});

test('the path is configurable', async () => {
  const t = await startTestServer(withWebSocket((c) => (c.modules.websocket = { path: '/ws' })));
  try {
    await assert.rejects(WsClient.connect(wsUrl(t)), (err: { status?: number }) => err.status === 404);
    const c = await WsClient.connect(wsUrl(t, '/ws'));
    c.send(openFrame());
    await c.waitFor(/stream:features/);
    c.close();
  } finally {
    await t.stop();
  }
});

test('http.cors_origins: a browser Origin not in the list is refused with 403', async () => {
  const t = await startTestServer(withWebSocket((c) => (c.http.cors_origins = ['https://chat.example.com'])));
  try {
    await assert.rejects(WsClient.connect(wsUrl(t), { headers: { Origin: 'https://evil.example' } }), (err: { status?: number }) => err.status === 403);
    const ok = await WsClient.connect(wsUrl(t), { headers: { Origin: 'https://chat.example.com' } });
    ok.send(openFrame());
    await ok.waitFor(/stream:features/);
    ok.close();
    // Non-browser clients send no Origin.
    const native = await WsClient.connect(wsUrl(t));
    native.close();
  } finally {
    await t.stop();
  }
});

test('max_unauthed_per_ip counts TCP and WebSocket connections together', async () => {
  const t = await startTestServer(withWebSocket((c) => (c.c2s.max_unauthed_per_ip = 1)));
  try {
    const tcp = await RawClient.connect(t.c2sPort);
    tcp.send(clientHeader());
    await tcp.waitFor(/<stream:features/);
    const c = await WsClient.connect(wsUrl(t));
    await expectStreamError(c, 'policy-violation');
    tcp.close();
  } finally {
    await t.stop();
  }
});

test('a socket that stops answering WebSocket pings is cut', async () => {
  const t = await startTestServer(withWebSocket((c) => (c.modules.websocket = { ping_interval: 0.2 })));
  try {
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(wsUrl(t), ['xmpp'], { autoPong: false });
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    await new Promise((r) => ws.once('open', r));
    const started = Date.now();
    await closed;
    const took = Date.now() - started;
    assert.ok(took >= 150 && took < 3000, `cut after ${took} ms`);
    // A client that answers pings stays.
    const alive = await WsClient.connect(wsUrl(t));
    // A sleep is the point: longer than the ping timeout that cut the silent client above.
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(alive.closed, false);
    alive.close();
  } finally {
    await t.stop();
  }
});
