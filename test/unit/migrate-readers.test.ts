/**
 * The migration readers on hand-written input: the Lua data subset (src/migrate/lua-data.ts)
 * reads what Prosody writes and refuses code, oversized nesting and broken syntax; the XEP-0227
 * reader (src/migrate/xep0227-read.ts) names the element it refuses, derives SCRAM credentials
 * from a plain password, and reads ejabberd's privacy-list blocklist.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LuaSyntaxError, LuaTable, parseLuaItems, parseLuaReturn, utf8 } from '../../src/migrate/lua-data.js';
import { readXep0227 } from '../../src/migrate/xep0227-read.js';
import { MigrationInputError } from '../../src/migrate/model.js';
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
