/**
 * The HTTP server: index page, 404/405, header and body limits, host-meta (XEP-0156), and
 * trusted-proxy headers on WebSocket sessions (trusted vs untrusted source).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { WsClient, openFrame, wsUrl } from '../helpers/ws-client.js';
import type { CantoConfig } from '../../src/core/config.js';
import type { StreamSession } from '../../src/core/session.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

function webServer(adjust?: (c: CantoConfig) => void): Promise<TestServer> {
  return startTestServer((c) => {
    c.http.ports = [0];
    c.modules_enabled.push('websocket', 'hostmeta');
    adjust?.(c);
  });
}

let ts: TestServer;
let port: number;
before(async () => {
  ts = await webServer();
  port = ts.server.port('http');
});
after(async () => {
  await ts.stop();
});

test('/ says what is running and links the endpoints', async () => {
  const r = await get(port, '/', { headers: { Host: 'example.com:5280' } });
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/html/);
  assert.match(r.body, /Canto XMPP server \d+\.\d+\.\d+/);
  assert.match(r.body, /href="ws:\/\/example.com:5280\/xmpp-websocket"/);
  assert.match(r.body, /href="\/.well-known\/host-meta"/);
});

test('unknown paths are 404; a wrong method is 405 with Allow', async () => {
  assert.equal((await get(port, '/nope')).status, 404);
  assert.equal((await get(port, '/xmpp-websocket')).status, 404, 'a plain GET of the WebSocket path is not a page');
  const r = await get(port, '/.well-known/host-meta', { method: 'POST', body: 'x' });
  assert.equal(r.status, 405);
  assert.match(String(r.headers.allow), /GET/);
});

test('oversized request headers are refused with 431', async () => {
  const r = await get(port, '/', { headers: { 'X-Big': 'a'.repeat(20000) } });
  assert.equal(r.status, 431);
});

test('host-meta (XRD and JSON) advertises the WebSocket and BOSH endpoints for the Host asked for', async () => {
  const xrd = await get(port, '/.well-known/host-meta', { headers: { Host: 'localhost:5280' } });
  assert.equal(xrd.status, 200);
  assert.match(String(xrd.headers['content-type']), /^application\/xrd\+xml/);
  assert.equal(xrd.headers['access-control-allow-origin'], '*');
  assert.match(xrd.body, /<XRD xmlns='http:\/\/docs.oasis-open.org\/ns\/xri\/xrd-1.0'>/);
  assert.match(xrd.body, /<Link rel='urn:xmpp:alt-connections:websocket' href='ws:\/\/localhost:5280\/xmpp-websocket'\/>/);
  const json = await get(port, '/.well-known/host-meta.json', { headers: { Host: 'localhost:5280' } });
  assert.equal(json.status, 200);
  assert.match(String(json.headers['content-type']), /^application\/json/);
  assert.deepEqual(JSON.parse(json.body), {
    links: [
      { rel: 'urn:xmpp:alt-connections:websocket', href: 'ws://localhost:5280/xmpp-websocket' },
      { rel: 'urn:xmpp:alt-connections:xbosh', href: 'http://localhost:5280/http-bind' },
    ],
  });
  assert.match(xrd.body, /<Link rel='urn:xmpp:alt-connections:xbosh' href='http:\/\/localhost:5280\/http-bind'\/>/);
});

test('host-meta uses http.public_url when set', async () => {
  const t = await webServer((c) => (c.http.public_url = 'https://chat.example.com'));
  try {
    const json = await get(t.server.port('http'), '/.well-known/host-meta.json');
    assert.deepEqual(JSON.parse(json.body).links, [
      { rel: 'urn:xmpp:alt-connections:websocket', href: 'wss://chat.example.com/xmpp-websocket' },
      { rel: 'urn:xmpp:alt-connections:xbosh', href: 'https://chat.example.com/http-bind' },
    ]);
  } finally {
    await t.stop();
  }
});

/** Open a WebSocket stream with `headers`; return the server's session for it. */
async function sessionFor(t: TestServer, headers: Record<string, string>): Promise<{ session: StreamSession; features: string; client: WsClient }> {
  const before = new Set(t.server.sessions.all);
  const client = await WsClient.connect(wsUrl(t), { headers });
  client.send(openFrame());
  const features = await client.waitFor(/stream:features/);
  const session = [...t.server.sessions.all].find((s) => !before.has(s));
  assert.ok(session);
  return { session, features, client };
}

const PROXY_HEADERS = { 'X-Forwarded-For': '6.6.6.6, 203.0.113.9', 'X-Forwarded-Proto': 'https' };

test('from an untrusted source, X-Forwarded-For and X-Forwarded-Proto are ignored', async () => {
  const { session, features, client } = await sessionFor(ts, PROXY_HEADERS);
  assert.equal(session.ip, '127.0.0.1');
  assert.equal(session.secure, false);
  assert.doesNotMatch(features, /mechanisms/);
  client.close();
});

test('from a trusted proxy, the forwarded client address and https are believed', async () => {
  const t = await webServer((c) => (c.http.trusted_proxies = ['127.0.0.1', '::1']));
  try {
    const { session, features, client } = await sessionFor(t, PROXY_HEADERS);
    assert.equal(session.ip, '203.0.113.9');
    assert.equal(session.conn.remoteAddress, '127.0.0.1');
    assert.equal(session.secure, true);
    assert.match(features, /<mechanism>SCRAM-SHA-256<\/mechanism>/, 'SASL is offered on a secure stream');
    client.close();
    const plain = await sessionFor(t, { 'X-Forwarded-For': '203.0.113.10' });
    assert.equal(plain.session.ip, '203.0.113.10');
    assert.equal(plain.session.secure, false);
    plain.client.close();
  } finally {
    await t.stop();
  }
});

test('modules mount routes through the http service; the default body limit is enforced with 413', async () => {
  const { sendText } = await import('../../src/net/http.js');
  const http = ts.server.services.get('http');
  assert.ok(http, 'the http module provides its service server-wide');
  const limit = http.limits.maxBodyBytes;
  const off = http.route({ path: '/echo', methods: ['POST'], handler: (_req, res, ctx) => sendText(res, 200, ctx.body.toString('utf8')) });
  try {
    const ok = await get(port, '/echo', { method: 'POST', body: 'hello' });
    assert.equal(ok.status, 200);
    assert.equal(ok.body, 'hello');
    const big = await get(port, '/echo', { method: 'POST', body: 'a'.repeat(limit + 1) }).catch((err: Error) => err);
    // The server answers 413 (or cuts a client still sending).
    if (!(big instanceof Error)) assert.equal(big.status, 413);
  } finally {
    off();
  }
  assert.equal((await get(port, '/echo', { method: 'POST', body: 'x' })).status, 404, 'unmounted');
});
