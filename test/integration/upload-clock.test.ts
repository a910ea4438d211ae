/**
 * The upload service against a fake clock (canto/testing harness with its HTTPS listener): slot
 * URLs that expire, files that expire and are cleaned up in batches by the module's timer, the
 * per-account quota and the daily quota (with the time it lifts), the quota checked again at PUT
 * time, and who may upload.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, errorCondition, startHarness, waitFor, type FakeClient, type Harness } from '../../src/testing/index.js';
import { iq } from '../../src/xml/stanza.js';
import type { Element } from '../../src/xml/element.js';
import { https, NS_UPLOAD, serverCa, UPLOAD, uploadDirs } from '../helpers/upload.js';

const DAY = 24 * 60 * 60 * 1000;

async function withService(options: Record<string, unknown>, run: (h: Harness & { dataDir: string }, clock: FakeClock, ca: string) => Promise<void>): Promise<void> {
  const clock = new FakeClock();
  const h = await startHarness({
    listen: true,
    clock,
    config: (c) => {
      c.http.tls_ports = [0];
      c.component = [{ domain: UPLOAD, module: 'upload' }];
      c.modules.upload = options;
      // The fake clients do not answer keepalive pings, which days of fake time would send.
      c.modules_enabled = c.modules_enabled.filter((m) => m !== 'ping');
    },
  });
  try {
    assert.ok(h.dataDir);
    await run(h as Harness & { dataDir: string }, clock, serverCa(h.server));
  } finally {
    await h.stop();
  }
}

const request = (filename: string, size: number) => iq({ type: 'get', to: UPLOAD, id: `r${Math.random()}` }).c('request', { xmlns: NS_UPLOAD, filename, size }).root();

async function slot(c: FakeClient, name: string, size: number): Promise<{ url: string; authorization: string }> {
  const r = await c.ask(request(name, size));
  const put = r.getChild('slot', NS_UPLOAD)?.getChild('put');
  assert.ok(put, r.toString());
  return { url: put.attrs.url ?? '', authorization: put.getChildText('header') ?? '' };
}

const put = (ca: string, s: { url: string; authorization: string }, body: Buffer) =>
  https(ca, s.url, { method: 'PUT', body, headers: { Authorization: s.authorization, 'Content-Length': String(body.length) } });

const condition = (r: Element) => errorCondition(r);

test('a slot URL expires after slot_lifetime; a stored file after expire_after, then the clean-up deletes it', async () => {
  await withService({ slot_lifetime: '5 minutes', expire_after: '2 days', cleanup_interval: '1 hour', cleanup_batch: 2 }, async (h, clock, ca) => {
    const romeo = await h.client('romeo@localhost/a');
    const late = await slot(romeo, 'late.txt', 3);
    clock.advance(5 * 60 * 1000);
    assert.equal((await put(ca, late, Buffer.from('abc'))).status, 403, 'the slot has expired');

    const files = [];
    for (let i = 0; i < 5; i++) {
      const s = await slot(romeo, `f${i}.txt`, 3);
      assert.equal((await put(ca, s, Buffer.from('abc'))).status, 201);
      files.push(s);
    }
    assert.equal(uploadDirs(h.dataDir).files.length, 5);
    clock.advance(2 * DAY - 1);
    assert.equal((await https(ca, files[0]?.url ?? '')).status, 200, 'not yet expired');
    clock.advance(1);
    assert.equal((await https(ca, files[0]?.url ?? '')).status, 404, 'past its time a file is not served, clean-up or not');
    assert.equal(uploadDirs(h.dataDir).files.length, 5);
    clock.advance(60 * 60 * 1000); // the hourly clean-up: three batches of two
    await waitFor(() => uploadDirs(h.dataDir).files.length === 0, { message: 'expired files deleted' });
    await waitFor(async () => (await h.server.storage.archive(UPLOAD, 'upload_files').count('')) === 0, { message: 'records deleted' });
    assert.match(await h.server.metrics.render(), /canto_upload_files_deleted_total\{why="expired",host="upload.localhost"\} 5/);
  });
});

test('quota and daily quota: resource-constraint (with the retry time), lifted by time; checked again at PUT', async () => {
  await withService({ quota: 3000, daily_quota: 2000, expire_after: '3 days' }, async (h, clock, ca) => {
    const juliet = await h.client('juliet@localhost/a');
    const kb = Buffer.alloc(1000, 1);
    const first = clock.now();
    assert.equal((await put(ca, await slot(juliet, 'a.bin', 1000), kb)).status, 201);
    clock.advance(60 * 60 * 1000);
    assert.equal((await put(ca, await slot(juliet, 'b.bin', 1000), kb)).status, 201);

    const daily = await juliet.ask(request('c.bin', 1000));
    assert.equal(condition(daily), 'wait/resource-constraint');
    assert.equal(daily.getChild('error')?.getChild('retry', NS_UPLOAD)?.attrs.stamp, new Date(first + DAY).toISOString());

    clock.advance(DAY);
    // Two slots at once, each within the quota alone; the second PUT would pass it.
    const c = await slot(juliet, 'c.bin', 1000);
    const d = await slot(juliet, 'd.bin', 1000);
    assert.equal((await put(ca, c, kb)).status, 201);
    assert.equal((await put(ca, d, kb)).status, 413, 'quota reached at PUT time');
    const full = await juliet.ask(request('e.bin', 1));
    assert.equal(condition(full), 'wait/resource-constraint');
    assert.equal(full.getChild('error')?.getChild('retry', NS_UPLOAD), undefined, 'the stored quota has no retry time');
    assert.equal(uploadDirs(h.dataDir).files.length, 3);
  });
});

test('only users of the allowed domains get slots; the file-too-large error names the maximum', async () => {
  await withService({ allowed_domains: ['elsewhere.test'], max_file_size: '1 KiB' }, async (h) => {
    const romeo = await h.client('romeo@localhost/a');
    const r = await romeo.ask(request('a.txt', 10));
    assert.equal(condition(r), 'cancel/not-allowed');
  });
  await withService({ max_file_size: '1 KiB' }, async (h) => {
    const romeo = await h.client('romeo@localhost/a');
    const r = await romeo.ask(request('a.txt', 1025));
    assert.equal(condition(r), 'modify/not-acceptable');
    assert.equal(r.getChild('error')?.getChild('file-too-large', NS_UPLOAD)?.getChildText('max-file-size'), '1024');
  });
});
