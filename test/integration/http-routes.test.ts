/**
 * The HTTP seam over real HTTP on loopback port 0 (createHttpServer with a router, no XMPP
 * server): matching (parameters, precedence, 404/405/Allow, HEAD), body limits (413 by
 * Content-Length and while reading; a streaming route), and auth hooks (401 + challenge, the
 * principal passed on, a throwing hook answered 500 and logged once).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, type ClientRequest, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/core/logging.js';
import { DEFAULT_HTTP_LIMITS, HttpError, sendText } from '../../src/net/http.js';
import { HttpRouter } from '../../src/net/http-router.js';
import { createHttpServer } from '../../src/net/http-server.js';
import { TrustedProxies } from '../../src/net/proxy.js';

const DEFAULT_LIMIT = 1024;
const STREAM_LIMIT = 4 * 1024 * 1024;

interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** Deferred: a promise and its resolver, for waiting on what a handler saw. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Bounded wait: fails the test instead of hanging it. */
function within<T>(p: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function replyOf(res: IncomingMessage): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => (body += d));
    res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    res.on('error', reject);
  });
}

let server: Server;
let port: number;
const logLines: Array<{ msg?: string }> = [];
const seen = { limitedCalls: 0, streamedFirstChunk: deferred<void>(), streamError: deferred<unknown>() };

function call(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers }, (res) => void replyOf(res).then(resolve, reject));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * Send headers and `first` (chunked unless `headers` give a Content-Length) and wait for the
 * answer without ending the request: an answer can only be the server's refusal.
 */
function sendAndWait(path: string, method: string, first: Buffer | undefined, headers: Record<string, string> = {}): Promise<{ reply: Reply; req: ClientRequest }> {
  const answered = new Promise<{ reply: Reply; req: ClientRequest }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => void replyOf(res).then((reply) => resolve({ reply, req }), reject));
    req.on('error', reject);
    if (first) req.write(first);
    else req.flushHeaders();
  });
  return within(answered, `an answer to ${method} ${path} before its body ends`);
}

before(async () => {
  const log = createLogger({
    level: 'debug',
    format: 'json',
    destination: new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line) logLines.push(JSON.parse(line) as { msg?: string });
        done();
      },
    }),
  });
  const router = new HttpRouter();
  const text = (body: string) => (_req: IncomingMessage, res: Parameters<typeof sendText>[0]) => sendText(res, 200, body);
  router.route({ path: '/files/special', handler: text('exact') });
  router.route({ path: '/files/:id', handler: (_req, res, ctx) => sendText(res, 200, `get ${ctx.params.id ?? ''}`) });
  router.route({ path: '/files/:name', methods: ['PUT'], handler: (_req, res, ctx) => sendText(res, 200, `put ${ctx.params.name ?? ''} ${ctx.body.toString('utf8')}`) });
  router.route({ path: '/files/*', handler: (_req, res, ctx) => sendText(res, 200, `prefix ${ctx.rest}`) });
  router.route({ path: '/files/deep/*', handler: (_req, res, ctx) => sendText(res, 200, `deep ${ctx.rest}`) });
  router.route({
    path: '/limited',
    methods: ['POST'],
    handler: (_req, res, ctx) => {
      seen.limitedCalls++;
      sendText(res, 200, `got ${ctx.body.length}`);
    },
  });
  router.route({ path: '/bigger', methods: ['POST'], maxBodyBytes: 4 * DEFAULT_LIMIT, handler: (_req, res, ctx) => sendText(res, 200, `got ${ctx.body.length}`) });
  router.route({
    path: '/upload/:slot',
    methods: ['PUT'],
    stream: true,
    maxBodyBytes: STREAM_LIMIT,
    handler: async (_req, res, ctx) => {
      let size = 0;
      try {
        for await (const chunk of ctx.body) {
          if (size === 0) seen.streamedFirstChunk.resolve();
          size += (chunk as Buffer).length;
        }
      } catch (err) {
        seen.streamError.resolve(err);
        throw err;
      }
      sendText(res, 201, `${ctx.params.slot ?? ''} ${size}`);
    },
  });
  interface User {
    name: string;
    admin: boolean;
  }
  router.route({
    path: '/admin/*',
    methods: ['GET', 'POST'],
    challenge: 'Bearer realm="canto-test"',
    auth: async (req): Promise<User | undefined> => (req.headers.authorization === 'Bearer good' ? { name: 'alice', admin: true } : undefined),
    handler: (_req, res, ctx) => sendText(res, 200, `${ctx.principal.name} ${String(ctx.principal.admin)} ${ctx.rest}`),
  });
  router.route({
    path: '/broken-auth',
    challenge: 'Basic realm="x"',
    auth: () => Promise.reject(new Error('the user store is down')),
    handler: text('unreachable'),
  });
  router.route({
    path: '/broken-handler',
    handler: () => {
      throw new Error('bug');
    },
  });
  router.route({
    path: '/teapot',
    handler: () => {
      throw new HttpError(418, 'short and stout', { 'X-Kind': 'teapot' });
    },
  });
  server = createHttpServer({ router, proxies: new TrustedProxies([]), limits: { ...DEFAULT_HTTP_LIMITS, maxBodyBytes: DEFAULT_LIMIT }, log });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('matching over HTTP: exact, decoded parameters, prefixes by length; 400 for a bad escape; 404', async () => {
  const cases: Array<[string, number, string]> = [
    ['/files/special', 200, 'exact'],
    ['/files/caf%C3%A9', 200, 'get café'],
    ['/files/a%2Fb', 200, 'get a/b'],
    ['/files/a/b/c', 200, 'prefix a/b/c'],
    ['/files', 200, 'prefix '],
    ['/files/deep/x/y', 200, 'deep x/y'],
    ['/files/deep', 200, 'get deep'],
    ['/files/%E0%A4%A', 400, 'malformed %-escape in the path'],
    ['/nothing', 404, 'not found'],
  ];
  for (const [path, status, body] of cases) {
    const r = await call(path);
    assert.deepEqual([r.status, r.body], [status, body], path);
  }
});

test('methods: 405 with Allow for a known path; routes on one pattern by method; HEAD answered from GET without a body', async () => {
  const r = await call('/files/x', { method: 'DELETE' });
  assert.equal(r.status, 405);
  assert.equal(r.headers.allow, 'GET, HEAD, PUT');
  assert.equal((await call('/files/special', { method: 'POST', body: 'x' })).headers.allow, 'GET, HEAD');
  assert.equal((await call('/files/x', { method: 'PUT', body: 'data' })).body, 'put x data');

  // HEAD over a raw socket, to see that no body follows the headers.
  const raw = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end('HEAD /files/special HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (data += d));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
  assert.match(raw, /^HTTP\/1\.1 200 /);
  assert.match(raw, /\r\ncontent-length: 5\r\n/i, 'the length GET would send');
  assert.ok(raw.endsWith('\r\n\r\n'), `nothing after the headers: ${JSON.stringify(raw)}`);
});

test('body limits: the default and a route\'s own; 413 by Content-Length before reading, and while reading', async () => {
  assert.equal((await call('/limited', { method: 'POST', body: 'a'.repeat(DEFAULT_LIMIT) })).body, `got ${DEFAULT_LIMIT}`);
  assert.equal((await call('/bigger', { method: 'POST', body: 'a'.repeat(3 * DEFAULT_LIMIT) })).body, `got ${3 * DEFAULT_LIMIT}`);
  const callsBefore = seen.limitedCalls;

  // Declared too large: refused on the headers alone (nothing of the body is sent).
  const declared = await sendAndWait('/limited', 'POST', undefined, { 'Content-Length': String(DEFAULT_LIMIT + 1) });
  assert.equal(declared.reply.status, 413);
  assert.equal(declared.reply.headers.connection, 'close');
  declared.req.destroy();

  // Chunked, so only reading tells: one byte past the limit, and the request left open.
  const read = await sendAndWait('/bigger', 'POST', Buffer.alloc(4 * DEFAULT_LIMIT + 1, 0x61));
  assert.equal(read.reply.status, 413);
  read.req.destroy();
  assert.equal(seen.limitedCalls, callsBefore, 'no handler ran for an oversized body');
});

test('a streaming route gets the body as it arrives, many MiB past the default limit, and still bounded by its own', async () => {
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  const total = await new Promise<Reply>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/upload/s1', method: 'PUT' }, (res) => void replyOf(res).then(resolve, reject));
    req.on('error', reject);
    req.write(chunk);
    // The rest is sent only once the handler has the first chunk: a buffered route would wait for the end.
    void within(seen.streamedFirstChunk.promise, 'the first chunk in the handler').then(() => {
      for (let i = 1; i < 48; i++) req.write(chunk); // 3 MiB in all
      req.end();
    }, reject);
  });
  assert.deepEqual([total.status, total.body], [201, `s1 ${48 * chunk.length}`]);

  const over = await sendAndWait('/upload/s2', 'PUT', Buffer.alloc(STREAM_LIMIT + 1, 0x62));
  assert.equal(over.reply.status, 413);
  over.req.destroy();
  const err = await within(seen.streamError.promise, 'the handler to see the stream fail');
  assert.ok(err instanceof HttpError && err.status === 413, 'the stream fails with a 413 HttpError');

  const declared = await sendAndWait('/upload/s3', 'PUT', undefined, { 'Content-Length': String(STREAM_LIMIT + 1) });
  assert.equal(declared.reply.status, 413);
  declared.req.destroy();
});

test('auth: 401 with the route\'s challenge; the principal reaches the handler; a throwing hook is a 500 logged once', async () => {
  const denied = await call('/admin/users');
  assert.equal(denied.status, 401);
  assert.equal(denied.headers['www-authenticate'], 'Bearer realm="canto-test"');
  assert.equal((await call('/admin/users', { headers: { Authorization: 'Bearer bad' } })).status, 401);
  const ok = await call('/admin/users/alice', { headers: { Authorization: 'Bearer good' } });
  assert.deepEqual([ok.status, ok.body], [200, 'alice true users/alice']);

  const failed = await call('/broken-auth');
  assert.equal(failed.status, 500);
  assert.equal(failed.body, 'internal server error', 'the error is not shown to the client');
  assert.equal(logLines.filter((l) => l.msg === 'HTTP auth hook failed').length, 1);
  assert.equal((await call('/files/special')).status, 200, 'the server goes on');
});

test('a throwing handler is a 500 logged once; an HttpError it throws is answered as it says', async () => {
  const r = await call('/broken-handler');
  assert.equal(r.status, 500);
  assert.equal(logLines.filter((l) => l.msg === 'HTTP handler failed').length, 1);
  const teapot = await call('/teapot');
  assert.deepEqual([teapot.status, teapot.body, teapot.headers['x-kind']], [418, 'short and stout', 'teapot']);
});

test('an idle keep-alive connection is kept 65 s, longer than clients and load balancers keep theirs', async () => {
  // Node closes idle keep-alive connections after 5 s by default; a client (the upload bench,
  // a phone between its slot request and its PUT) that reuses one just then gets EPIPE.
  assert.equal(server.keepAliveTimeout, 65_000);
  // What clients are told (waiting out 5 s to see the connection survive would be a fixed sleep).
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/files/special', headers: { Connection: 'keep-alive' } }, resolve);
    req.on('error', reject);
    req.end();
  });
  res.resume();
  assert.match(String(res.headers['keep-alive'] ?? ''), /timeout=65/);
});
