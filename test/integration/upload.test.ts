/**
 * XEP-0363 HTTP File Upload (`[[component]] domain = "upload.localhost" module = "upload"`) with
 * @xmpp/client over STARTTLS for the slots and node's https for the files: a 5 MB upload and
 * download of identical bytes, HEAD, ranges, caching and the headers that keep uploaded HTML
 * harmless, CORS, and every kind of bad input — forged tokens, reused slots, wrong types and
 * lengths, a 1 GB attempt, cut and slow uploads, huge headers, bad names and sizes — each refused
 * with its HTTP or XMPP error and nothing written. Time-dependent parts (slot and file expiry,
 * quotas over a day) and who may upload are in upload-clock.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, errorCondition, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { https, NS_UPLOAD, rawTls, serverCa, statusOf, tamper, UPLOAD, uploadDirs } from '../helpers/upload.js';
import { waitFor } from '../../src/testing/index.js';

const MAX = 8 * 1024 * 1024;
let ts: TestServer;
let ca: string;
let romeo: LoggedInClient;

before(async () => {
  ts = await startTestServer((c) => {
    c.http.tls_ports = [0];
    c.component = [{ domain: UPLOAD, module: 'upload' }];
    c.modules.upload = { max_file_size: MAX, quota: '64 MiB', daily_quota: '64 MiB' };
  });
  ca = serverCa(ts.server);
  await createAccount(ts, 'romeo', 'pw');
  romeo = await loginClient(ts, 'romeo', 'pw', 'phone');
});
after(async () => {
  await (romeo as LoggedInClient | undefined)?.stop();
  await (ts as TestServer | undefined)?.stop();
});

interface Slot {
  put: string;
  get: string;
  authorization: string;
}

async function ask(c: LoggedInClient, el: XElement): Promise<XElement> {
  try {
    return await c.iq(el);
  } catch (err) {
    const stanza = (err as { stanza?: XElement }).stanza;
    if (stanza) return stanza;
    throw err;
  }
}

const slotRequest = (attrs: Record<string, string | undefined>) => xml('iq', { type: 'get', to: UPLOAD }, xml('request', { xmlns: NS_UPLOAD, ...attrs }));

async function slot(filename: string, size: number, type?: string, c = romeo): Promise<Slot> {
  const r = await c.iq(slotRequest({ filename, size: String(size), 'content-type': type }));
  const s = r.getChild('slot', NS_UPLOAD);
  const put = s?.getChild('put');
  const header = put?.getChild('header');
  assert.equal(header?.attrs.name, 'Authorization');
  return { put: put?.attrs.url ?? '', get: s?.getChild('get')?.attrs.url ?? '', authorization: header?.getText() ?? '' };
}

const put = (s: Slot, body: Buffer, type = 'application/octet-stream', headers: Record<string, string> = {}) =>
  https(ca, s.put, { method: 'PUT', body, headers: { Authorization: s.authorization, 'Content-Type': type, 'Content-Length': String(body.length), ...headers } });

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('disco: the server lists the service; it is store/file with max-file-size', async () => {
  const items = await romeo.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items' })));
  assert.ok(items.getChild('query')?.getChildren('item').some((i) => i.attrs.jid === UPLOAD));
  const info = await romeo.iq(xml('iq', { type: 'get', to: UPLOAD }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
  const q = info.getChild('query');
  assert.deepEqual({ ...q?.getChild('identity')?.attrs }, { category: 'store', type: 'file', name: 'HTTP File Upload' });
  assert.ok(q?.getChildren('feature').some((f) => f.attrs.var === NS_UPLOAD));
  const fields = q?.getChild('x', 'jabber:x:data')?.getChildren('field') ?? [];
  assert.equal(fields.find((f) => f.attrs.var === 'FORM_TYPE')?.getChildText('value'), NS_UPLOAD);
  assert.equal(fields.find((f) => f.attrs.var === 'max-file-size')?.getChildText('value'), String(MAX));
});

test('5 MB: slot, PUT, GET of identical bytes, HEAD, ranges, caching, safe headers', async () => {
  const data = randomBytes(5 * 1024 * 1024);
  const s = await slot('photo of us.png', data.length, 'image/png');
  assert.equal(s.put, s.get);
  assert.match(s.put, /^https:\/\/localhost:\d+\/upload\/upload\.localhost\/[A-Za-z0-9_-]{24}\/photo%20of%20us\.png$/);
  assert.equal((await put(s, data, 'image/png')).status, 201);

  const got = await https(ca, s.get);
  assert.equal(got.status, 200);
  assert.equal(sha256(got.body), sha256(data));
  const h = got.headers;
  assert.equal(h['content-type'], 'image/png');
  assert.equal(h['content-length'], String(data.length));
  assert.equal(h['content-disposition'], `inline; filename="photo of us.png"; filename*=UTF-8''photo%20of%20us.png`);
  assert.equal(h['x-content-type-options'], 'nosniff');
  assert.equal(h['content-security-policy'], "default-src 'none'; sandbox");
  assert.equal(h['accept-ranges'], 'bytes');
  assert.match(String(h['cache-control']), /^public, max-age=\d+, immutable$/);
  assert.ok(h.etag && h['last-modified']);

  const head = await https(ca, s.get, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(data.length));
  assert.equal(head.body.length, 0);

  const range = async (r: string, extra: Record<string, string> = {}) => https(ca, s.get, { headers: { Range: r, ...extra } });
  const first = await range('bytes=0-99');
  assert.equal(first.status, 206);
  assert.equal(first.headers['content-range'], `bytes 0-99/${data.length}`);
  assert.deepEqual(first.body, data.subarray(0, 100));
  const last = await range('bytes=-10');
  assert.equal(last.status, 206);
  assert.deepEqual(last.body, data.subarray(data.length - 10));
  const tail = await range(`bytes=${data.length - 5}-`);
  assert.deepEqual(tail.body, data.subarray(data.length - 5));
  const past = await range(`bytes=${data.length}-`);
  assert.equal(past.status, 416);
  assert.equal(past.headers['content-range'], `bytes */${data.length}`);
  assert.equal((await range('bytes=0-1,5-6')).status, 200, 'several ranges: the whole file');
  assert.equal((await range('bytes=0-1', { 'If-Range': '"another"' })).status, 200, 'If-Range of another version: the whole file');

  assert.equal((await https(ca, s.get, { headers: { 'If-None-Match': String(h.etag) } })).status, 304);
  assert.equal((await https(ca, s.get, { headers: { 'If-Modified-Since': String(h['last-modified']) } })).status, 304);
  assert.equal((await https(ca, s.get.replace('photo%20of%20us.png', 'other.png'))).status, 404, 'the id with another name');
  assert.ok(await ts.server.metrics.render().then((m) => /canto_upload_bytes_served_total\{host="upload.localhost"\} \d+/.test(m)));
});

test('uploaded HTML and SVG are attachments under a sandboxing CSP; CORS for web clients', async () => {
  for (const [name, type] of [['page.html', 'text/html'], ['drawing.svg', 'image/svg+xml']] as const) {
    const body = Buffer.from('<script>alert(1)</script>');
    const s = await slot(name, body.length, type);
    assert.equal((await put(s, body, type)).status, 201);
    const got = await https(ca, s.get, { headers: { Origin: 'https://web.example' } });
    assert.equal(got.headers['content-type'], type);
    assert.match(String(got.headers['content-disposition']), /^attachment; /);
    assert.equal(got.headers['content-security-policy'], "default-src 'none'; sandbox");
    assert.equal(got.headers['access-control-allow-origin'], '*');
  }
  const pre = await https(ca, `https://localhost:${new URL((await slot('x.bin', 1)).put).port}/upload/${UPLOAD}/AAAAAAAAAAAAAAAAAAAAAAAA/x.bin`, {
    method: 'OPTIONS',
    headers: { Origin: 'https://web.example', 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'authorization, content-type' },
  });
  assert.equal(pre.status, 204);
  assert.match(String(pre.headers['access-control-allow-methods']), /PUT/);
  assert.match(String(pre.headers['access-control-allow-headers']), /Authorization/);
});

test('forged, expired-by-edit, misplaced and missing tokens: 403 (401 without one); a used slot: 409', async () => {
  const body = Buffer.from('hello world');
  const s = await slot('note.txt', body.length, 'text/plain');
  const other = await slot('other.txt', body.length, 'text/plain');
  const cases: Array<[string, Slot, number]> = [
    ['size changed', { ...s, authorization: tamper(s.authorization, (c) => (c.size = 10_000)) }, 403],
    ['type changed', { ...s, authorization: tamper(s.authorization, (c) => (c.type = 'text/html')) }, 403],
    ['expiry changed', { ...s, authorization: tamper(s.authorization, (c) => (c.exp = Number(c.exp) + 86_400_000)) }, 403],
    ['owner changed', { ...s, authorization: tamper(s.authorization, (c) => (c.owner = 'juliet@localhost')) }, 403],
    ['path changed (another slot id)', { ...s, put: other.put.replace('other.txt', 'note.txt') }, 403],
    ['path changed (another name)', { ...s, put: s.put.replace('note.txt', 'note.html') }, 403],
    ['not a token', { ...s, authorization: 'Bearer abc.def' }, 403],
    ['no token', { ...s, authorization: '' }, 401],
  ];
  for (const [name, forged, status] of cases) {
    const r = await https(ca, forged.put, { method: 'PUT', body, headers: { ...(forged.authorization ? { Authorization: forged.authorization } : {}), 'Content-Type': 'text/plain' } });
    assert.equal(r.status, status, name);
  }
  assert.equal((await https(ca, s.get)).status, 404, 'nothing stored by the forgeries');
  assert.equal((await put(s, body, 'text/plain')).status, 201);
  assert.equal((await put(s, body, 'text/plain')).status, 409, 'the slot was used');
  assert.equal((await https(ca, s.get)).body.toString(), 'hello world', 'the first upload stays');
});

test('wrong content type, missing or wrong Content-Length, too many bytes: refused, nothing written', async () => {
  const body = Buffer.from('0123456789');
  const s = await slot('digits.txt', body.length, 'text/plain; charset=utf-8');
  const before = uploadDirs(ts.dataDir).files.length;
  assert.equal((await put(s, body, 'text/html')).status, 415);
  assert.equal((await put(s, body, 'text/plain')).status, 415, 'the parameters are part of the type');
  assert.equal((await put(s, body.subarray(0, 5), 'text/plain; charset=utf-8')).status, 400, 'fewer bytes than the slot');
  assert.equal((await put(s, Buffer.concat([body, body]), 'text/plain; charset=utf-8')).status, 413, 'more bytes than the slot');
  // Chunked (no Content-Length): refused before reading.
  const chunked = await rawTls(ca, s.put);
  const u = new URL(s.put);
  chunked.socket.write(`PUT ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: ${s.authorization}\r\nContent-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n`);
  assert.equal(statusOf(await chunked.response(true)), 411);
  chunked.socket.destroy();
  assert.equal(uploadDirs(ts.dataDir).files.length, before);
  assert.equal((await put(s, body, 'Text/Plain;Charset=utf-8')).status, 201, 'the same type written otherwise');
});

test('a 1 GB upload is refused before its body is read', async () => {
  const s = await slot('small.bin', 1000);
  const gig = 1024 * 1024 * 1024;
  for (const url of [s.put, s.put]) {
    const c = await rawTls(ca, url);
    const u = new URL(url);
    // Over the slot's size, then over max_file_size: both refused on the headers alone.
    c.socket.write(`PUT ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: ${s.authorization}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${gig}\r\n\r\n`);
    c.socket.write(randomBytes(64 * 1024));
    const raw = await c.response(true);
    assert.equal(statusOf(raw), 413, raw);
    assert.match(raw, /connection: close/i);
    c.socket.destroy();
  }
  const big = await slot('big.bin', MAX);
  const c = await rawTls(ca, big.put);
  const u = new URL(big.put);
  c.socket.write(`PUT ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: ${big.authorization}\r\nContent-Length: ${gig}\r\n\r\n`);
  assert.equal(statusOf(await c.response(true)), 413, 'over max_file_size: the HTTP server refuses it');
  c.socket.destroy();
  assert.deepEqual(uploadDirs(ts.dataDir).tmp, []);
});

test('a cut upload and a lying Content-Length leave nothing; a slow one is invisible until complete', async () => {
  const data = randomBytes(256 * 1024);
  const send = async (s: Slot, first: Buffer) => {
    const c = await rawTls(ca, s.put);
    const u = new URL(s.put);
    c.socket.write(`PUT ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: ${s.authorization}\r\nContent-Length: ${data.length}\r\n\r\n`);
    c.socket.write(first);
    return c;
  };
  const before = uploadDirs(ts.dataDir).files.length;

  const cut = await slot('cut.bin', data.length);
  const c1 = await send(cut, data.subarray(0, 100_000));
  await waitFor(() => uploadDirs(ts.dataDir).tmp.length === 1, { message: 'the upload is being written' });
  c1.socket.destroy();
  await waitFor(() => uploadDirs(ts.dataDir).tmp.length === 0, { message: 'the partial file is removed' });
  assert.equal((await https(ca, cut.get)).status, 404);

  const lying = await slot('lying.bin', data.length);
  const c2 = await send(lying, data.subarray(0, 1000));
  c2.socket.end(); // says 256 KiB, sends 1000 bytes and stops
  await c2.response();
  await waitFor(() => uploadDirs(ts.dataDir).tmp.length === 0, { message: 'the partial file is removed' });
  assert.equal((await https(ca, lying.get)).status, 404);
  assert.equal(uploadDirs(ts.dataDir).files.length, before);

  const slow = await slot('slow.bin', data.length);
  const c3 = await send(slow, data.subarray(0, 200_000));
  await waitFor(() => uploadDirs(ts.dataDir).tmp.length === 1, { message: 'the upload is being written' });
  assert.equal((await https(ca, slow.get)).status, 404, 'not served while incomplete');
  assert.equal(uploadDirs(ts.dataDir).files.length, before);
  assert.equal((await put(slow, data)).status, 409, 'a second PUT of a slot in progress');
  c3.socket.write(data.subarray(200_000));
  assert.equal(statusOf(await c3.response(true)), 201);
  c3.socket.destroy();
  assert.equal(sha256((await https(ca, slow.get)).body), sha256(data));
});

test('huge headers: 431 from the HTTP server, nothing written', async () => {
  const s = await slot('h.bin', 4);
  const r = await https(ca, s.put, { method: 'PUT', body: Buffer.from('abcd'), headers: { Authorization: s.authorization, 'X-Padding': 'x'.repeat(20_000) } }).catch((err: unknown) => err);
  // node:http answers 431 and closes; a client may see the answer or the reset.
  if (!(r instanceof Error)) assert.equal((r as { status: number }).status, 431);
  assert.equal((await https(ca, s.get)).status, 404);
});

test('bad slot requests: the XEP-0363 errors, and nothing stored', async () => {
  const before = uploadDirs(ts.dataDir).files.length;
  const cases: Array<[string, Record<string, string | undefined>, string, string]> = [
    ['path traversal', { filename: '../../etc/passwd', size: '10' }, 'modify', 'not-acceptable'],
    ['a slash', { filename: 'a/b.txt', size: '10' }, 'modify', 'not-acceptable'],
    ['a backslash', { filename: '..\\..\\boot.ini', size: '10' }, 'modify', 'not-acceptable'],
    ['dot-dot', { filename: '..', size: '10' }, 'modify', 'not-acceptable'],
    ['empty name', { filename: '  ', size: '10' }, 'modify', 'not-acceptable'],
    ['no name', { size: '10' }, 'modify', 'not-acceptable'],
    ['a C1 control character', { filename: 'a\u009bb', size: '10' }, 'modify', 'not-acceptable'],
    ['a right-to-left override', { filename: 'photo\u202Egpj.exe', size: '10' }, 'modify', 'not-acceptable'],
    ['a 300-byte name', { filename: 'x'.repeat(300), size: '10' }, 'modify', 'not-acceptable'],
    ['no size', { filename: 'a.txt' }, 'modify', 'not-acceptable'],
    ['size 0', { filename: 'a.txt', size: '0' }, 'modify', 'not-acceptable'],
    ['negative size', { filename: 'a.txt', size: '-5' }, 'modify', 'not-acceptable'],
    ['size in words', { filename: 'a.txt', size: 'ten' }, 'modify', 'not-acceptable'],
    ['size as an exponent', { filename: 'a.txt', size: '1e3' }, 'modify', 'not-acceptable'],
    ['not a content type', { filename: 'a.txt', size: '10', 'content-type': 'text' }, 'modify', 'not-acceptable'],
    ['a header injection in the type', { filename: 'a.txt', size: '10', 'content-type': 'text/plain\r\nX-Evil: 1' }, 'modify', 'not-acceptable'],
  ];
  for (const [name, attrs, type, condition] of cases) {
    const r = await ask(romeo, slotRequest(attrs));
    assert.equal(r.attrs.type, 'error', name);
    assert.equal(r.getChild('error')?.attrs.type, type, name);
    assert.equal(errorCondition(r), condition, name);
  }
  const big = await ask(romeo, slotRequest({ filename: 'big.iso', size: String(MAX + 1) }));
  assert.equal(errorCondition(big), 'not-acceptable');
  assert.equal(big.getChild('error')?.getChild('file-too-large', NS_UPLOAD)?.getChildText('max-file-size'), String(MAX));
  assert.equal(uploadDirs(ts.dataDir).files.length, before);
  const metrics = await ts.server.metrics.render();
  assert.match(metrics, /canto_upload_refusals_total\{reason="bad_filename",host="upload.localhost"\} 9/);
});

test("an account's files are deleted with the account", async () => {
  await createAccount(ts, 'mercutio', 'pw');
  const m = await loginClient(ts, 'mercutio', 'pw', 'x');
  const body = Buffer.from('a plague on both your houses');
  const s = await slot('curse.txt', body.length, 'text/plain', m);
  assert.equal((await put(s, body, 'text/plain')).status, 201);
  const id = new URL(s.get).pathname.split('/')[3] ?? '';
  assert.ok(uploadDirs(ts.dataDir).files.includes(id));
  await m.send(xml('iq', { type: 'set', id: 'rm' }, xml('query', { xmlns: 'jabber:iq:register' }, xml('remove'))));
  await waitFor(() => !uploadDirs(ts.dataDir).files.includes(id), { message: 'the file is deleted' });
  assert.equal((await https(ca, s.get)).status, 404);
  await m.stop();
});
