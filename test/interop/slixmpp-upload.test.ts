/**
 * Issue 16, interop: slixmpp (Debian python3-slixmpp and aiohttp) finds the upload service by
 * disco, and its xep_0363 plugin asks for a slot and PUTs a 5 MB file with aiohttp (slixmpp_upload.py);
 * the test downloads it and compares the bytes. In CI a missing slixmpp fails the file; elsewhere
 * the test is skipped with a message.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount } from '../helpers/xmpp-client.js';
import { runSlixmppScript, slixmppSkip, writeServerCa } from '../helpers/slixmpp.js';
import { https, serverCa, UPLOAD } from '../helpers/upload.js';

const PASSWORD = 'slix-upload-pässword';
const skip = slixmppSkip();

let ts: TestServer;
let caFile: string;
before(async () => {
  if (skip) return;
  ts = await startTestServer((c) => {
    c.http.tls_ports = [0];
    c.component = [{ domain: UPLOAD, module: 'upload' }];
  });
  await createAccount(ts, 'slixup', PASSWORD);
  caFile = writeServerCa(ts);
});
after(async () => {
  if (skip) return;
  await ts.stop();
});

test('slixmpp xep_0363 uploads 5 MB; the download has the same bytes', { skip, timeout: 90_000 }, async () => {
  const data = randomBytes(5 * 1024 * 1024);
  const file = join(ts.dataDir, 'holiday.jpg');
  writeFileSync(file, data);
  const { status, events, stderr } = await runSlixmppScript(
    'slixmpp_upload.py',
    ['--jid', 'slixup@localhost/up', '--password', PASSWORD, '--port', String(ts.c2sPort), '--ca', caFile, '--domain', 'localhost', '--file', file, '--content-type', 'image/jpeg'],
    60_000,
  );
  const diagnostics = `events: ${JSON.stringify(events)}\nstderr: ${stderr}`;
  const discover = events.find((e) => e.name === 'discover');
  const upload = events.find((e) => e.name === 'upload');
  assert.ok(discover?.ok && upload?.ok, diagnostics);
  assert.equal(status, 0, diagnostics);
  assert.equal(discover.service, UPLOAD);
  assert.equal(discover.max_file_size, 100 * 1024 * 1024, 'max-file-size read from the disco form');
  const got = await https(serverCa(ts.server), String(upload.url));
  assert.equal(got.status, 200);
  assert.equal(got.headers['content-type'], 'image/jpeg');
  assert.equal(createHash('sha256').update(got.body).digest('hex'), createHash('sha256').update(data).digest('hex'));
});
