/**
 * The migration readers on hand-written input: the Lua data subset (src/migrate/lua-data.ts)
 * reads what Prosody writes and refuses code, oversized nesting and broken syntax; the XEP-0227
 * reader (src/migrate/xep0227-read.ts) names the element it refuses, derives SCRAM credentials
 * from a plain password, and reads ejabberd's privacy-list blocklist; and what a real ejabberd
 * 23.01 export looks like (copied from one written by test/interop/ejabberd-migration.test.ts):
 * per-host files rooted at `<host>`, an index of `<xi:include>`s, SCRAM values base64-encoded twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LuaSyntaxError, LuaTable, parseLuaItems, parseLuaReturn, utf8 } from '../../src/migrate/lua-data.js';
import { readXep0227, readXep0227Files } from '../../src/migrate/xep0227-read.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImportReport, MigrationInputError } from '../../src/migrate/model.js';
import { importUser } from '../../src/migrate/canto-store.js';
import { openMemoryStorage } from '../../src/storage/memory.js';
import { makeCredentials, verifyPassword } from '../../src/sasl/scram-credentials.js';

const derive = (password: string) => makeCredentials(password, { iterations: 4096, hashes: ['SHA-1'] });

test('Lua data: tables, keys of every kind, escapes, numbers, comments, long strings', () => {
  const v = parseLuaReturn(`-- a comment
return {
  [false] = { ["version"] = 2; pending = {} };
  ["caf\\195\\169"] = "line\\nnext \\"q\\" \\x41\\z
       B";
  [1] = 10; 2.5e1, -0x10;
  long = [==[a]]b]==];
  yes = true, no = false, none = nil;
};`);
  assert.ok(v instanceof LuaTable);
  assert.equal((v.table(false)?.number('version')), 2);
  assert.equal(v.string('caf\u00c3\u00a9') !== undefined, true, 'keys are bytes');
  assert.equal(utf8([...v.entries.keys()].find((k) => typeof k === 'string' && k.startsWith('caf')) as string), 'café');
  assert.equal(v.string('caf\u00c3\u00a9'), 'line\nnext "q" AB');
  assert.deepEqual(v.array(), [25, -16], 'positional items count from 1, as in Lua, replacing [1] = 10');
  assert.equal(v.string('long'), 'a]]b');
  assert.equal(v.get('yes'), true);
  assert.equal(v.get('no'), false);
  assert.equal(v.entries.has('none'), false);
  const items = parseLuaItems(`item({ key = "a"; when = 1.5 });\nitem({ key = "b"; when = 2 });\n`);
  assert.deepEqual(items.map((i) => (i as LuaTable).string('key')), ['a', 'b']);
});

test('Lua data: code, calls, unbounded nesting and broken syntax are refused, never run', () => {
  const refused = [
    'return os.execute("touch /tmp/x")',
    'return { a = os.time() }',
    'return { a = x }',
    'return "unterminated',
    'return { a = 1 ',
    'return {} trailing',
    'return { ["a"] = "\\q" }',
    'return { [{}] = 1 }',
    `return ${'{'.repeat(100)}${'}'.repeat(100)}`,
  ];
  for (const text of refused) assert.throws(() => parseLuaReturn(text), LuaSyntaxError, text.slice(0, 40));
  assert.throws(() => parseLuaItems('item({}); print("x")'), LuaSyntaxError);
});

const server = (users: string) => `<server-data xmlns='urn:xmpp:pie:0'><host jid='example.com'>${users}</host></server-data>`;

test('XEP-0227 reader: a plain password becomes SCRAM credentials that verify it', () => {
  const r = readXep0227(server(`<user name='Alice' password='s3cret-pass'/>`), { derive, source: 'x.xml' });
  const [alice] = r.users;
  assert.equal(alice?.username, 'alice', 'usernames are prepared');
  assert.ok(alice && verifyPassword(alice.credentials, 's3cret-pass'));
});

test('XEP-0227 reader: ejabberd privacy lists become the blocklist; unknown elements are counted, not fatal', () => {
  const r = readXep0227(
    server(
      `<user name='bob' password='p-4567'><query xmlns='jabber:iq:privacy'><default name='blocked'/><list name='blocked'>` +
        `<item type='jid' value='spam@bad.example' action='deny' order='1'/><item type='jid' value='ok@good.example' action='allow' order='2'/></list></query>` +
        `<last xmlns='jabber:iq:last' seconds='5'/></user>`,
    ),
    { derive, source: 'x.xml' },
  );
  assert.deepEqual(r.users[0]?.blocklist, ['spam@bad.example']);
  assert.equal(r.skipped.get('{jabber:iq:last}last'), 1);
});

test('XEP-0227 reader: malformed input is refused with the element named', () => {
  const cases: Array<[string, RegExp]> = [
    [`<user name='c'/>`, /<user name='c'> on example.com: it has neither a password nor <scram-credentials>/],
    [`<user name='c'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-MD5'/></user>`, /unsupported mechanism 'SCRAM-MD5'/],
    [`<user name='c'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>10</iter-count><salt>AA==</salt><server-key>AA==</server-key><stored-key>AA==</stored-key></scram-credentials></user>`, /<iter-count> must be an integer of at least 4096/],
    [`<user name='c' password='p-1234'><query xmlns='jabber:iq:roster'><item subscription='both'/></query></user>`, /<item> has no jid/],
    [`<user name='c' password='p-1234'><archive xmlns='urn:xmpp:pie:0#mam'><result xmlns='urn:xmpp:mam:2' id='1'/></archive></user>`, /<result id='1'> has no <forwarded> message/],
    [`<user name='c' password='p-1234'><offline-messages><iq/></offline-messages></user>`, /<offline-messages> holds a <iq>/],
    [`<user name='a@b' password='p-1234'/>`, /not a valid username/],
  ];
  for (const [user, message] of cases) {
    assert.throws(() => readXep0227(server(user), { derive, source: 'x.xml' }), (err: unknown) => err instanceof MigrationInputError && message.test(err.message), user);
  }
  assert.throws(() => readXep0227(`<other xmlns='x'/>`, { derive, source: 'x.xml' }), /the root element is <other xmlns='x'>/);
});

test("XEP-0227 reader: ejabberd's scram: password form becomes credentials that verify the password", () => {
  const c = makeCredentials('ej-pass-9876', { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] });
  const sha1 = c['SCRAM-SHA-1'];
  const sha256 = c['SCRAM-SHA-256'];
  assert.ok(sha1 && sha256);
  const plain = `scram:${sha1.storedKey},${sha1.serverKey},${sha1.salt},${sha1.iterations}`;
  const twice = (b64: string) => Buffer.from(b64).toString('base64');
  const doubled = `scram:${twice(sha1.storedKey)},${twice(sha1.serverKey)},${sha1.salt},${sha1.iterations}`;
  const named = `scram:sha256:${sha256.storedKey},${sha256.serverKey},${sha256.salt},${sha256.iterations}`;
  for (const password of [plain, doubled, named]) {
    const r = readXep0227(server(`<user name='ej' password='${password}'/>`), { derive, source: 'x.xml' });
    const creds = r.users[0]?.credentials;
    assert.ok(creds && verifyPassword(creds, 'ej-pass-9876'), password);
    assert.ok(creds && !verifyPassword(creds, 'wrong-pass'), password);
  }
  assert.throws(() => readXep0227(server(`<user name='ej' password='scram:a,b,c'/>`), { derive, source: 'x.xml' }), /has 3 parts, not 4/);
});

// As ejabberd 23.01's export_piefxis wrote them (auth_password_format: scram, auth_scram_hash: sha256;
// the password is 'juliet-ejabberd-pw'); on plain.localhost passwords are kept plain.
const EJ_JULIET =
  `<user name='juliet'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-256'><iter-count>4096</iter-count>` +
  `<salt>eUlVNUxDUlMvVDN1SDZ2eUdMRkQzdz09</salt><server-key>ZVJTZDJGMXpGeWZsaW1Zc2JKSXdUb1NXTEpsY1ptRkswRmlKRkFrV0hwcz0=</server-key>` +
  `<stored-key>Y1lZdXNuaWVWREwxdDVScnJjdE55eUtKQVVsenJYR0l3OStJOEVncTF2Yz0=</stored-key></scram-credentials>` +
  `<query xmlns='jabber:iq:roster'><item ask='subscribe' subscription='none' name='Romeo' jid='romeo@localhost'><group>Montague</group></item></query></user>`;
const EJ_ROMEO =
  `<user name='romeo'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-256'><iter-count>4096</iter-count>` +
  `<salt>MWFvRU1MeFkrUThxVXNxclRyT3dRZz09</salt><server-key>R2RkN1NPQThJZVZCZ0hwMG9IQ1FYOWVkTVYzM0FtakpUam56Z2VLc3R5QT0=</server-key>` +
  `<stored-key>RU15UmlvcTFRWlZGbjNPRDVxbkdPd1gvYkhES3dGRWlzY3JHQmc2dW9jMD0=</stored-key></scram-credentials>` +
  `<offline-messages><message xml:lang='en' to='romeo@localhost' from='juliet@localhost/balcony' type='chat' id='m1' xmlns='jabber:client'>` +
  `<delay from='localhost' stamp='2026-12-05T21:17:12.696469Z' xmlns='urn:xmpp:delay'>Offline storage</delay><body>Wherefore art thou?</body></message></offline-messages>` +
  `<query xmlns='jabber:iq:roster'/><presence to='romeo@localhost' from='juliet@localhost' type='subscribe' xmlns='jabber:client'/></user>`;
const ejHost = (host: string, users: string) =>
  `<?xml version='1.0' encoding='UTF-8'?><host xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude' jid='${host}'>${users}</host>`;
const ejIndex = (...hrefs: string[]) =>
  `<?xml version='1.0' encoding='UTF-8'?><server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'>${hrefs.map((h) => `<xi:include href='${h}'/>`).join('')}</server-data>`;

test("XEP-0227 reader: ejabberd 23.01's per-host file (root <host>) with SCRAM values base64-encoded twice", () => {
  const r = readXep0227(ejHost('localhost', EJ_JULIET + EJ_ROMEO), { derive, source: 'x_localhost.xml' });
  assert.deepEqual(r.users.map((u) => `${u.username}@${u.host}`), ['juliet@localhost', 'romeo@localhost']);
  const [juliet, romeo] = r.users;
  const cred = juliet?.credentials['SCRAM-SHA-256'];
  assert.equal(cred?.salt, 'yIU5LCRS/T3uH6vyGLFD3w==', 'the salt, decoded once');
  assert.equal(Buffer.from(cred?.storedKey ?? '', 'base64').length, 32);
  assert.ok(juliet && verifyPassword(juliet.credentials, 'juliet-ejabberd-pw'));
  assert.ok(juliet && !verifyPassword(juliet.credentials, 'juliet-ejabberd-px'));
  assert.equal(juliet?.plainPassword, undefined);
  assert.deepEqual(juliet?.roster?.items, [{ jid: 'romeo@localhost', name: 'Romeo', groups: ['Montague'], subscription: 'none', ask: true, approved: false }]);
  assert.equal(romeo?.offline?.length, 1);
  assert.equal(romeo?.offline?.[0]?.when, Date.parse('2026-12-05T21:17:12.696Z'));
  assert.match(romeo?.roster?.pending.get('juliet@localhost') ?? '', /type="subscribe"/);
  assert.equal(r.skipped.size, 0);

  // Once-encoded values (Prosody, Canto) are taken as they are; twice-encoded keys with a once-encoded salt are refused.
  const c = makeCredentials('p-once-1234', { iterations: 4096, hashes: ['SHA-256'] })['SCRAM-SHA-256'];
  assert.ok(c);
  const el = (salt: string, stored: string, server: string) =>
    `<user name='u'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-256'><iter-count>4096</iter-count><salt>${salt}</salt><server-key>${server}</server-key><stored-key>${stored}</stored-key></scram-credentials></user>`;
  const once = readXep0227(server(el(c.salt, c.storedKey, c.serverKey)), { derive, source: 'x.xml' });
  assert.deepEqual(once.users[0]?.credentials['SCRAM-SHA-256'], c);
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  assert.throws(() => readXep0227(server(el('AAECAwQFBgc=', b64(c.storedKey), b64(c.serverKey))), { derive, source: 'x.xml' }), /keys are base64-encoded twice .* but <salt> is not/);
});

test("XEP-0227 reader: ejabberd's plain password keeps it for the re-import check; the index's xi:includes are followed once", () => {
  const dir = mkdtempSync(join(tmpdir(), 'canto-ej-export-'));
  try {
    writeFileSync(join(dir, '20261205-211713.xml'), ejIndex('20261205-211713_localhost.xml', '20261205-211713_plain_localhost.xml'));
    writeFileSync(join(dir, '20261205-211713_localhost.xml'), ejHost('localhost', EJ_JULIET + EJ_ROMEO));
    writeFileSync(join(dir, '20261205-211713_plain_localhost.xml'), ejHost('plain.localhost', `<user name='nurse' password='nurse-pw-1234'/>`));
    const names = (r: ReturnType<typeof readXep0227Files>) => r.users.map((u) => `${u.username}@${u.host}`).sort();
    const all = ['juliet@localhost', 'nurse@plain.localhost', 'romeo@localhost'];
    // The directory: the index and the files it includes, each once.
    const fromDir = readXep0227Files(dir, { derive });
    assert.deepEqual(names(fromDir), all);
    assert.equal(fromDir.skipped.size, 0, 'xi:include is understood, not skipped');
    const nurse = fromDir.users.find((u) => u.username === 'nurse');
    assert.equal(nurse?.plainPassword, 'nurse-pw-1234');
    assert.ok(nurse && verifyPassword(nurse.credentials, 'nurse-pw-1234'));
    // The index alone, and one host file alone.
    assert.deepEqual(names(readXep0227Files(join(dir, '20261205-211713.xml'), { derive })), all);
    assert.deepEqual(names(readXep0227Files(join(dir, '20261205-211713_plain_localhost.xml'), { derive })), ['nurse@plain.localhost']);
    // An include that is missing, leaves the directory, or is not XML is refused with the file named.
    const refused: Array<[string, RegExp]> = [
      [ejIndex('gone.xml'), /bad\.xml: <xi:include href='gone\.xml'>: cannot read .*gone\.xml \(ENOENT\)/],
      [ejIndex('../x.xml'), /must name a file next to this one/],
      [ejIndex('/etc/passwd'), /must name a file next to this one/],
      [ejIndex('file:///etc/passwd'), /must name a file next to this one/],
      [`<server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='a.txt' parse='text'/></server-data>`, /parse='text'; only XML is read/],
      [`<server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include/></server-data>`, /an <xi:include> has no href/],
    ];
    for (const [text, message] of refused) {
      writeFileSync(join(dir, 'bad.xml'), text);
      assert.throws(() => readXep0227Files(join(dir, 'bad.xml'), { derive }), (err: unknown) => err instanceof MigrationInputError && message.test(err.message), text);
    }
    // Includes that include each other are read once each.
    writeFileSync(join(dir, 'bad.xml'), ejIndex('bad.xml', '20261205-211713_plain_localhost.xml'));
    assert.deepEqual(names(readXep0227Files(join(dir, 'bad.xml'), { derive })), ['nurse@plain.localhost']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('import: an account from a plain password is unchanged on the next import (a new salt is no change) unless the password or hashes differ', async () => {
  const storage = openMemoryStorage();
  const run = async (password: string, hashes: Array<'SHA-1' | 'SHA-256'> = ['SHA-1']) => {
    const report = new ImportReport();
    const read = readXep0227(server(`<user name='nurse' password='${password}'/>`), {
      derive: (p) => makeCredentials(p, { iterations: 4096, hashes }),
      source: 'x.xml',
    });
    await importUser(storage, read.users[0] as (typeof read.users)[number], { dryRun: false, report });
    return report.lines().join('\n');
  };
  assert.equal(await run('nurse-pw-1234'), 'account: 1 created, 0 updated, 0 unchanged');
  const first = (await storage.accounts.get('example.com', 'nurse'))?.credentials;
  assert.equal(await run('nurse-pw-1234'), 'account: 0 created, 0 updated, 1 unchanged');
  assert.deepEqual((await storage.accounts.get('example.com', 'nurse'))?.credentials, first, 'the stored credentials were not rewritten');
  assert.equal(await run('nurse-pw-5678'), 'account: 0 created, 1 updated, 0 unchanged');
  assert.equal(await run('nurse-pw-5678', ['SHA-1', 'SHA-256']), 'account: 0 created, 1 updated, 0 unchanged');
  assert.equal(await run('nurse-pw-5678', ['SHA-1', 'SHA-256']), 'account: 0 created, 0 updated, 1 unchanged');
});
