/**
 * Issue 14, interop: slixmpp's xep_0084 (User Avatar), xep_0153 (vCard-based avatars), xep_0054
 * (vcard-temp) and xep_0048 (bookmarks in private XML) against Canto's avatar and bookmarks
 * modules: an avatar published with XEP-0084 is in the vCard and the presence hash, one set
 * through vCard-temp is in PEP; bookmarks written with XEP-0048 are XEP-0402 items and a XEP-0402
 * item is a XEP-0048 bookmark. slixmpp 1.8 has no xep_0402 plugin: its items are read and
 * published with xep_0060. The agent is slixmpp_avatar.py (see its docstring). In CI a missing
 * slixmpp fails the file; elsewhere the test is skipped with a message.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount } from '../helpers/xmpp-client.js';
import { makeContacts } from '../helpers/pubsub.js';
import { runSlixmppScript, slixmppSkip, writeServerCa } from '../helpers/slixmpp.js';

const PASSWORD = 'slix-avatar-pässword';
const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');
/** The script's images (same bytes). */
const PNG_A = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const PNG_B = (() => {
  const b = Buffer.alloc(40);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]).copy(b, 0);
  b.write('IHDR', 12, 'latin1');
  b.writeUInt32BE(64, 16);
  b.writeUInt32BE(48, 20);
  return b;
})();

const skip = slixmppSkip();

interface Step {
  event: string;
  name: string;
  ok: boolean;
  [key: string]: unknown;
}

let ts: TestServer;
let caFile: string;
before(async () => {
  if (skip) return;
  ts = await startTestServer();
  await createAccount(ts, 'slixava', PASSWORD);
  await createAccount(ts, 'slixfan', PASSWORD);
  await makeContacts(ts, 'slixava', 'slixfan', []);
  caFile = writeServerCa(ts);
});
after(async () => {
  if (skip) return;
  await ts.stop();
});

async function runScript(args: string[]): Promise<{ status: number | null; steps: Step[]; stderr: string }> {
  const { status, events, stderr } = await runSlixmppScript('slixmpp_avatar.py', args, 90_000);
  return { status, steps: events as Step[], stderr };
}

test('slixmpp xep_0084/xep_0153/xep_0054/xep_0048: avatars and bookmarks converted both ways', { skip, timeout: 120_000 }, async () => {
  const { status, steps, stderr } = await runScript([
    '--publisher', 'slixava@localhost/phone',
    '--contact', 'slixfan@localhost/desk',
    '--password', PASSWORD,
    '--port', String(ts.c2sPort),
    '--ca', caFile,
  ]);
  const diagnostics = `steps: ${JSON.stringify(steps)}\nstderr: ${stderr}`;
  const step = (name: string) => {
    const s = steps.find((x) => x.name === name);
    assert.ok(s?.ok, `${name}: ${diagnostics}`);
    return s;
  };
  assert.deepEqual(steps.map((s) => s.name), ['login', 'avatar_pep', 'vcard', 'presence_hash', 'avatar_vcard', 'bookmarks_private', 'bookmarks_pep'], diagnostics);
  // XEP-0084 → vCard and presence.
  assert.deepEqual([step('vcard').type, step('vcard').sha1], ['image/png', sha1(PNG_A)]);
  assert.equal(step('presence_hash').photo, sha1(PNG_A));
  // vCard (xep_0153) → XEP-0084.
  const v = step('avatar_vcard');
  assert.deepEqual([v.id, v.info_id, v.bytes, v.width, v.height, v.data_sha1], [sha1(PNG_B), sha1(PNG_B), String(PNG_B.length), '64', '48', sha1(PNG_B)]);
  // XEP-0048 → XEP-0402.
  const b = step('bookmarks_private');
  assert.deepEqual([b.ids, b.room_name, b.autojoin, b.nick], [['verona@conference.localhost'], 'Verona', 'true', 'Romeo']);
  // XEP-0402 → XEP-0048 (the url bookmark kept).
  const back = step('bookmarks_pep');
  assert.deepEqual(back.jids, ['mantua@conference.localhost', 'verona@conference.localhost']);
  assert.deepEqual(back.urls, ['https://globe.example/']);
  assert.equal(status, 0, diagnostics);
});
