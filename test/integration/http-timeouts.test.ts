/**
 * Body timeouts of the HTTP server (src/net/http-timeout.ts) over real HTTP on loopback: a body
 * must arrive within requestTimeoutMs (408 and the connection closed otherwise, a response held
 * longer than it is fine), and a streaming route with an idle limit takes a body as long as it
 * keeps coming and fails one that stalls.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { createLogger } from '../../src/core/logging.js';
import { DEFAULT_HTTP_LIMITS, sendText } from '../../src/net/http.js';
import { HttpRouter } from '../../src/net/http-router.js';
import { createHttpServer } from '../../src/net/http-server.js';
import { TrustedProxies } from '../../src/net/proxy.js';
import { waitFor } from '../../src/testing/index.js';

const REQUEST_TIMEOUT_MS = 500;
const IDLE_TIMEOUT_MS = 800;
let server: Server;
let port: number;
const streamOutcomes: Array<{ bytes: number; error?: string }> = [];

before(async () => {
  const router = new HttpRouter();
  router.route({ path: '/buffered', methods: ['POST'], handler: (_req, res, ctx) => sendText(res, 200, `got ${ctx.body.length}`) });
  router.route({
    path: '/held',
    methods: ['POST'],
    handler: async (_req, res) => {
      await new Promise((r) => setTimeout(r, REQUEST_TIMEOUT_MS * 2)); // the handler is slow, not the client
      sendText(res, 200, 'late answer');
    },
  });
  router.route({
    path: '/stream',
    methods: ['PUT'],
    stream: true,
    idleTimeoutMs: IDLE_TIMEOUT_MS,
    maxBodyBytes: 1 << 20,
    handler: async (_req, res, ctx) => {
      let bytes = 0;
      try {
        for await (const chunk of ctx.body as Readable) bytes += (chunk as Buffer).length;
      } catch (err) {
        streamOutcomes.push({ bytes, error: (err as Error).message });
        return;
      }
      streamOutcomes.push({ bytes });
      sendText(res, 200, `got ${bytes}`);
    },
  });
  const limits = { ...DEFAULT_HTTP_LIMITS, requestTimeoutMs: REQUEST_TIMEOUT_MS, headersTimeoutMs: REQUEST_TIMEOUT_MS };
  server = createHttpServer({ router, proxies: new TrustedProxies([]), limits, log: createLogger({ level: 'silent', format: 'json' }) });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

/** A raw connection: what the server sent until it closed. */
async function raw(): Promise<{ socket: Socket; closed: Promise<string> }> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((r) => socket.once('connect', () => r()));
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d));
  const closed = new Promise<string>((r) => socket.once('close', () => r(text)));
  return { socket, closed };
}

const pace = (ms: number) => new Promise((r) => setTimeout(r, ms)); // the client's pacing, not a wait for the server
const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);

test('a body that does not arrive within request_timeout: 408 and the connection closed', async () => {
  const c = await raw();
  const started = Date.now();
  c.socket.write('POST /buffered HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789');
  const text = await c.closed;
  assert.equal(statusOf(text), 408, text);
  assert.match(text, /connection: close/i);
  assert.ok(Date.now() - started >= REQUEST_TIMEOUT_MS - 100, 'not before request_timeout');
});

test('a body in time is answered; a handler slower than request_timeout still answers', async () => {
  for (const path of ['/buffered', '/held']) {
    const c = await raw();
    c.socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789`);
    const text = await c.closed;
    assert.equal(statusOf(text), 200, `${path}: ${text}`);
  }
});

test('an idle-timed streaming route: a body taking 4× request_timeout arrives whole; a stalled one fails with 408', async () => {
  const c = await raw();
  const started = Date.now();
  c.socket.write('PUT /stream HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\nConnection: close\r\n\r\n');
  for (let i = 0; i < 10; i++) {
    c.socket.write(Buffer.alloc(2000, 0x61));
    await pace(REQUEST_TIMEOUT_MS / 2.5);
  }
  const text = await c.closed;
  assert.equal(statusOf(text), 200, text);
  assert.match(text, /got 20000/);
  assert.ok(Date.now() - started >= 3 * REQUEST_TIMEOUT_MS, 'it took longer than request_timeout');
  assert.deepEqual(streamOutcomes.shift(), { bytes: 20000 });

  const s = await raw();
  const stalledAt = Date.now();
  s.socket.write('PUT /stream HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n');
  s.socket.write(Buffer.alloc(5000, 0x61));
  const stalled = await s.closed;
  assert.equal(statusOf(stalled), 408, stalled);
  assert.ok(Date.now() - stalledAt >= IDLE_TIMEOUT_MS - 100, 'not before the idle limit');
  await waitFor(() => streamOutcomes.length === 1, { message: 'the handler saw its body end' });
  const outcome = streamOutcomes.shift();
  assert.equal(outcome?.bytes, 5000);
  assert.ok(outcome?.error, 'the handler saw its body fail');
});
