/**
 * Trusted proxies behind a real nginx running the documented config (docs/nginx-canto.conf,
 * which docs/web-clients.md includes verbatim). nginx terminates TLS on loopback and proxies to
 * Canto's plain HTTP port; Canto trusts 127.0.0.1 only. The client connects from 127.0.0.5, so
 * through nginx its address must be 127.0.0.5 and the session secure, while the same forged
 * headers sent straight to Canto from 127.0.0.5 (untrusted) are ignored.
 *
 * Needs the nginx package (scripts/install-test-deps.sh). Without it the nginx tests are skipped,
 * except under CI, where they fail.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { openFrame } from '../helpers/ws-client.js';
import { findNginx, startNginx, NGINX_DOC_CONF, WEB_CLIENTS_DOC, type RunningNginx } from '../helpers/nginx.js';
import { makeSelfSigned } from '../../src/net/certificates.js';
import type { StreamSession } from '../../src/core/session.js';

/** A loopback address other than the proxy's 127.0.0.1, so "client" and "proxy" differ. */
const CLIENT_ADDRESS = '127.0.0.5';
const FORGED = { 'X-Forwarded-For': '203.0.113.9', 'X-Forwarded-Proto': 'https' };

const nginxBinary = findNginx();
const skip = nginxBinary === undefined && !process.env.CI ? 'nginx is not installed (scripts/install-test-deps.sh installs it)' : false;
if (skip) console.log(`# nginx-proxy: skipped: ${skip}`);

// Set by before() unless skipped; after() copes with a start-up that failed half-way.
let ts: TestServer | undefined;
let nginx: RunningNginx | undefined;
let certDir: string | undefined;

before(async () => {
  if (skip) return;
  assert.ok(nginxBinary, 'nginx is required under CI (scripts/install-test-deps.sh installs it)');
  const server = await startTestServer((c) => {
    c.http.ports = [0];
    c.http.trusted_proxies = ['127.0.0.1'];
    c.modules_enabled.push('websocket', 'hostmeta');
    // c2s.require_encryption stays on (the default): SASL is offered only on secure streams.
  });
  ts = server;
  const dir = (certDir = tempDir('canto-nginx-cert-'));
  const paths = { certificate: join(dir, 'proxy.crt'), key: join(dir, 'proxy.key') };
  await makeSelfSigned('localhost', paths);
  nginx = await startNginx({ binary: nginxBinary, upstreamPort: server.server.port('http'), ...paths });
});

after(async () => {
  await nginx?.stop();
  await ts?.stop();
  if (certDir !== undefined) rmSync(certDir, { recursive: true, force: true });
});

test('the nginx example in docs/web-clients.md is docs/nginx-canto.conf, verbatim', () => {
  const md = readFileSync(WEB_CLIENTS_DOC, 'utf8');
  const blocks = [...md.matchAll(/```nginx\n([\s\S]*?)```/g)].map((m) => m[1]);
  const conf = readFileSync(NGINX_DOC_CONF, 'utf8');
  const example = blocks.find((b) => b?.includes('location /xmpp-websocket'));
  assert.equal(example, conf, 'the guide shows the file the test runs');
  assert.match(md, /nginx-canto\.conf/, 'the guide names the file');
});

function running(): { ts: TestServer; nginx: RunningNginx } {
  assert.ok(ts && nginx, 'the server and nginx were started');
  return { ts, nginx };
}

interface Opened {
  session: StreamSession;
  features: string;
  ws: WebSocket;
}

/**
 * Open a WebSocket from CLIENT_ADDRESS with `headers`, send <open/>, wait for the features;
 * return the server's new session for it.
 */
async function openStream(url: string, headers: Record<string, string>): Promise<Opened> {
  const { ts, nginx } = running();
  const known = new Set(ts.server.sessions.all);
  const ws = new WebSocket(url, ['xmpp'], { headers, localAddress: CLIENT_ADDRESS, rejectUnauthorized: false });
  const features = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no stream features from ${url}; nginx log:\n${nginx.errorLog()}`)), 5000);
    ws.on('message', (data) => {
      const text = String(data);
      if (/stream:features/.test(text)) {
        clearTimeout(timer);
        resolve(text);
      }
    });
    ws.once('open', () => ws.send(openFrame()));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${String(res.statusCode)} from ${url}`)));
    ws.once('error', reject);
  });
  const session = [...ts.server.sessions.all].find((s) => !known.has(s));
  assert.ok(session, 'a new session');
  return { session, features, ws };
}

function httpsGet(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, localAddress: CLIENT_ADDRESS, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('through nginx, session.ip is the client address and the session is secure', { skip }, async () => {
  const { nginx } = running();
  // The client forges the headers too: nginx appends the real peer, and only that entry counts.
  const { session, features, ws } = await openStream(`wss://127.0.0.1:${nginx.port}/xmpp-websocket`, FORGED);
  try {
    assert.equal(session.ip, CLIENT_ADDRESS);
    assert.equal(session.conn.remoteAddress, '127.0.0.1', 'the TCP peer is nginx');
    assert.equal(session.conn.transport, 'websocket');
    assert.equal(session.secure, true, 'nginx says the client used https');
    assert.match(features, /<mechanism>SCRAM-SHA-256<\/mechanism>/, 'SASL is offered on the secure stream');
  } finally {
    ws.terminate();
  }
});

test('straight to Canto from an untrusted address, forged X-Forwarded-* headers are ignored', { skip }, async () => {
  const { ts } = running();
  const { session, features, ws } = await openStream(`ws://127.0.0.1:${ts.server.port('http')}/xmpp-websocket`, FORGED);
  try {
    assert.equal(session.ip, CLIENT_ADDRESS);
    assert.equal(session.conn.remoteAddress, CLIENT_ADDRESS);
    assert.equal(session.secure, false);
    assert.doesNotMatch(features, /<mechanisms/, 'no SASL on an insecure stream with require_encryption');
  } finally {
    ws.terminate();
  }
});

test('plain HTTP through nginx: the index page and host-meta', { skip }, async () => {
  const { nginx } = running();
  const index = await httpsGet(nginx.port, '/');
  assert.equal(index.status, 200, nginx.errorLog());
  assert.match(index.type, /^text\/html/);
  assert.match(index.body, /Canto XMPP server/);
  // The page links the endpoint with the scheme the client used, as forwarded by nginx.
  assert.match(index.body, /href="wss:\/\/127\.0\.0\.1[^"]*\/xmpp-websocket"/);

  const hostMeta = await httpsGet(nginx.port, '/.well-known/host-meta.json');
  assert.equal(hostMeta.status, 200);
  const links = (JSON.parse(hostMeta.body) as { links: Array<{ rel: string }> }).links;
  assert.ok(links.some((l) => l.rel === 'urn:xmpp:alt-connections:websocket'));
});
