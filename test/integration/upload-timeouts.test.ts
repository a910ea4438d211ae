/**
 * Upload PUTs are timed by the gaps between chunks, not by `[modules.http] request_timeout`:
 * with request_timeout 1 s, an upload that takes several seconds but keeps sending is stored;
 * one that stalls for `[modules.upload] idle_timeout` is answered 408, its connection closed and
 * its partial file removed. (The HTTP layer's timers: http-timeouts.test.ts.)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient } from '../helpers/xmpp-client.js';
import { https, NS_UPLOAD, rawTls, serverCa, statusOf, UPLOAD, uploadDirs } from '../helpers/upload.js';
import { waitFor } from '../../src/testing/index.js';

const REQUEST_TIMEOUT_MS = 1000;
const IDLE_TIMEOUT_MS = 1500;
let ts: TestServer;
let ca: string;
let romeo: LoggedInClient;

before(async () => {
  ts = await startTestServer((c) => {
    c.http.tls_ports = [0];
    c.component = [{ domain: UPLOAD, module: 'upload' }];
    c.modules.http = { request_timeout: '1s' };
    c.modules.upload = { max_file_size: '8 MiB', idle_timeout: '1.5s' };
  });
  ca = serverCa(ts.server);
  await createAccount(ts, 'romeo', 'pw');
  romeo = await loginClient(ts, 'romeo', 'pw', 'phone');
});
after(async () => {
  await (romeo as LoggedInClient | undefined)?.stop();
  await (ts as TestServer | undefined)?.stop();
});

async function slot(filename: string, size: number): Promise<{ put: string; get: string; authorization: string }> {
  const r = await romeo.iq(xml('iq', { type: 'get', to: UPLOAD }, xml('request', { xmlns: NS_UPLOAD, filename, size: String(size) })));
  const s = r.getChild('slot', NS_UPLOAD);
  return { put: s?.getChild('put')?.attrs.url ?? '', get: s?.getChild('get')?.attrs.url ?? '', authorization: s?.getChild('put')?.getChild('header')?.getText() ?? '' };
}

/** A PUT written by hand: headers now, the body as the test decides. */
async function startPut(s: { put: string; authorization: string }, size: number) {
  const c = await rawTls(ca, s.put);
  const u = new URL(s.put);
  c.socket.write(`PUT ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: ${s.authorization}\r\nContent-Length: ${size}\r\n\r\n`);
  return c;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('a slow upload that keeps sending outlives request_timeout and is stored', async () => {
  const data = randomBytes(200 * 1024);
  const s = await slot('slow.bin', data.length);
  const c = await startPut(s, data.length);
  const started = Date.now();
  // 10 chunks, one every 400 ms: about 4 s in all, four times request_timeout, every gap well under idle_timeout.
  const pieces = 10;
  const step = data.length / pieces;
  for (let i = 0; i < pieces; i++) {
    c.socket.write(data.subarray(i * step, (i + 1) * step));
    if (i < pieces - 1) await new Promise((r) => setTimeout(r, 400)); // pacing the client, not waiting for the server
    assert.equal(c.received(), '', `nothing answered while the body is still arriving (chunk ${i})`);
  }
  const raw = await c.response(true);
  assert.equal(statusOf(raw), 201, raw);
  assert.ok(Date.now() - started > 3 * REQUEST_TIMEOUT_MS, 'the upload did take longer than request_timeout');
  c.socket.destroy();
  assert.equal(sha256((await https(ca, s.get)).body), sha256(data));
});

test('a stalled upload is cut after idle_timeout: 408, connection closed, no partial file', async () => {
  const data = randomBytes(200 * 1024);
  const s = await slot('stalled.bin', data.length);
  const filesBefore = uploadDirs(ts.dataDir).files.length;
  const c = await startPut(s, data.length);
  c.socket.write(data.subarray(0, 50_000));
  await waitFor(() => uploadDirs(ts.dataDir).tmp.length === 1, { message: 'the upload is being written' });
  const stalledAt = Date.now();
  const raw = await c.response(); // until the server closes
  assert.equal(statusOf(raw), 408, raw);
  assert.match(raw, /connection: close/i);
  assert.ok(Date.now() - stalledAt >= IDLE_TIMEOUT_MS - 200, 'not before idle_timeout');
  await waitFor(() => uploadDirs(ts.dataDir).tmp.length === 0, { message: 'the partial file is removed' });
  assert.equal(uploadDirs(ts.dataDir).files.length, filesBefore);
  assert.equal((await https(ca, s.get)).status, 404);
});
