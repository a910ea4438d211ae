/**
 * `canto export` → `canto import` into a fresh Canto (src/cli/migrate.ts, src/migrate/): real
 * clients make the data on one server (roster with a group and subscriptions pending both ways,
 * vCard, private XML, blocklist, PEP avatar, bookmarks and OMEMO device list, an offline message, MAM, a persistent
 * MUC room with its archive); the real `canto` commands export it, dry-run, import it twice into
 * an empty data directory, and export again; a server on that directory then lets the same users
 * log in with their old passwords and find their data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { assertJulietBasics } from '../helpers/migration.js';
import { runCanto } from '../helpers/cli.js';
import { startTestServer, tempDir } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient } from '../helpers/xmpp-client.js';
import { withMuc, MUC, createInstant, groupchat, ownerSubmit, roomJid, isGroupchat } from '../helpers/muc.js';
import { pepPublish, pepItems, itemIds } from '../helpers/pep.js';
import { waitFor } from '../../src/testing/index.js';

const NS_ROSTER = 'jabber:iq:roster';
const NS_MAM = 'urn:xmpp:mam:2';

function configFile(dataDir: string): string {
  const file = join(tempDir(), 'canto.toml');
  writeFileSync(file, `data_dir = ${JSON.stringify(dataDir)}\nlog_level = "warn"\n\n[[virtualhost]]\ndomain = "localhost"\n\n[[component]]\ndomain = "${MUC}"\nmodule = "muc"\n`);
  return file;
}

/** The bodies of the archived messages (the user's archive, or a room's). */
async function mamBodies(c: LoggedInClient, to?: string): Promise<string[]> {
  const queryid = `q${Math.random().toString(36).slice(2)}`;
  await c.iq(xml('iq', { type: 'set', to }, xml('query', { xmlns: NS_MAM, queryid })));
  return c.received
    .filter((s) => s.getChild('result', NS_MAM)?.attrs.queryid === queryid)
    .map((s) => s.getChild('result', NS_MAM)?.getChild('forwarded')?.getChild('message')?.getChildText('body') ?? '');
}

async function makeData(): Promise<{ dir: string; stop: () => Promise<void> }> {
  const ts = await startTestServer(withMuc);
  await createAccount(ts, 'juliet', 'juliet-secret-1');
  await createAccount(ts, 'romeo', 'romeo-secret-2');
  await createAccount(ts, 'nurse', 'nurse-secret-3');
  const juliet = await loginClient(ts, 'juliet', 'juliet-secret-1', 'balcony');
  await juliet.iq(xml('iq', { type: 'set' }, xml('query', { xmlns: NS_ROSTER }, xml('item', { jid: 'romeo@localhost', name: 'Romeo' }, xml('group', {}, 'Montague')))));
  await juliet.send(xml('presence', { to: 'romeo@localhost', type: 'subscribe' })); // pending out (juliet), pending in (romeo)
  await juliet.send(xml('presence', {}));
  await juliet.iq(xml('iq', { type: 'set' }, xml('vCard', { xmlns: 'vcard-temp' }, xml('FN', {}, 'Juliet Capulet'))));
  await juliet.iq(xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:private' }, xml('notes', { xmlns: 'http://example.org/notes' }, 'buy poison'))));
  await juliet.iq(xml('iq', { type: 'set' }, xml('block', { xmlns: 'urn:xmpp:blocking' }, xml('item', { jid: 'tybalt@evil.example' }))));
  await juliet.iq(pepPublish('urn:xmpp:avatar:metadata', 'abc123', xml('metadata', { xmlns: 'urn:xmpp:avatar:metadata' }, xml('info', { id: 'abc123', bytes: '4', type: 'image/png' }))));
  await juliet.iq(pepPublish('urn:xmpp:bookmarks:1', `balcony@${MUC}`, xml('conference', { xmlns: 'urn:xmpp:bookmarks:1', name: 'Balcony', autojoin: 'true' }, xml('nick', {}, 'jul'))));
  const omemo = 'eu.siacs.conversations.axolotl.devicelist';
  await juliet.iq(pepPublish(omemo, 'current', xml('list', { xmlns: 'eu.siacs.conversations.axolotl' }, xml('device', { id: '31415' })), { 'pubsub#access_model': 'open' }));
  await juliet.send(xml('message', { to: 'romeo@localhost', type: 'chat', id: 'm1' }, xml('body', {}, 'Wherefore art thou?')));
  await createInstant(juliet, 'balcony', 'jul');
  await juliet.iq(ownerSubmit('balcony', { 'muc#roomconfig_persistentroom': true, 'muc#roomconfig_roomname': 'The Balcony', 'muc#roomconfig_enablearchiving': true }));
  await juliet.iq(xml('iq', { type: 'set', to: roomJid('balcony') }, xml('query', { xmlns: 'http://jabber.org/protocol/muc#admin' }, xml('item', { jid: 'nurse@localhost', affiliation: 'member' }))));
  await juliet.send(groupchat('balcony', 'Good night'));
  await juliet.waitFor(isGroupchat(`${roomJid('balcony')}/jul`, 'Good night'));
  await waitFor(async () => (await ts.server.storage.archive('localhost', 'offline').count('romeo')) === 1, { message: 'no offline message stored' });
  await waitFor(async () => (await ts.server.storage.archive(MUC, 'muc_archive').count('balcony')) === 1, { message: 'room message not archived' });
  await juliet.stop();
  return { dir: ts.dataDir, stop: () => ts.stop() };
}

test('export → import into a fresh Canto → identical export; dry run writes nothing; a second import changes nothing; users log in and find their data', { timeout: 120_000 }, async () => {
  const source = await makeData();
  try {
    const sourceConfig = configFile(source.dir);
    const exportFile = join(tempDir(), 'export.xml');
    const exported = await runCanto(['export', '--out', exportFile, '--config', sourceConfig]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /exported 3 account\(s\) and 1 room\(s\)/);
    assert.equal(statSync(exportFile).mode & 0o777, 0o600, 'the export holds password verifiers: owner only');
    const text = readFileSync(exportFile, 'utf8');
    assert.match(text, /<scram-credentials xmlns="urn:xmpp:pie:0#scram" mechanism="SCRAM-SHA-256">/);

    const targetDir = tempDir();
    const targetConfig = configFile(targetDir);
    const dry = await runCanto(['import', exportFile, '--dry-run', '--config', targetConfig]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /dry run: nothing written/);
    assert.match(dry.stdout, /account: 3 created, 0 updated, 0 unchanged/);
    assert.match(dry.stdout, /roster: 2 created/);
    assert.match(dry.stdout, /room: 1 created/);
    const afterDry = await runCanto(['export', '--config', targetConfig]);
    assert.doesNotMatch(afterDry.stdout, /<user /, 'the dry run wrote something');

    const first = await runCanto(['import', exportFile, '--config', targetConfig]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /imported 3 account\(s\) and 1 room\(s\)/);
    assert.match(first.stdout, /pep: [2-9] created/); // avatar, bookmarks (and what the server derives from them)
    assert.match(first.stdout, /offline: 1 created/);
    assert.match(first.stdout, /room-archive: 1 created/);
    const second = await runCanto(['import', exportFile, '--config', targetConfig]);
    assert.equal(second.code, 0, second.stderr);
    assert.doesNotMatch(second.stdout, /[1-9]\d* (created|updated)/, `the second import changed something:\n${second.stdout}`);

    const again = await runCanto(['export', '--config', targetConfig]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, text, 'the export of the imported data differs from the original export');

    // One file per account (Prosody's mod_storage_xep0227 layout) imports the same.
    const perUser = join(tempDir(), 'per-user') + '/';
    const split = await runCanto(['export', '--out', perUser, '--config', sourceConfig]);
    assert.equal(split.code, 0, split.stderr);
    assert.deepEqual(readdirSync(perUser).sort(), [`${MUC}.rooms.xml`, 'juliet@localhost.xml', 'nurse@localhost.xml', 'romeo@localhost.xml']);
    const splitImport = await runCanto(['import', perUser, '--config', targetConfig]);
    assert.doesNotMatch(splitImport.stdout, /[1-9]\d* (created|updated)/, splitImport.stdout);

    const target = await startTestServer((c) => {
      withMuc(c);
      c.data_dir = targetDir;
    });
    try {
      const juliet = await loginClient(target, 'juliet', 'juliet-secret-1', 'balcony');
      await assertJulietBasics(juliet);
      assert.deepEqual(itemIds(await juliet.iq(pepItems(undefined, 'urn:xmpp:bookmarks:1'))), [`balcony@${MUC}`]);
      assert.deepEqual(itemIds(await juliet.iq(pepItems(undefined, 'urn:xmpp:avatar:metadata'))), ['abc123']);
      const devices = await juliet.iq(pepItems(undefined, 'eu.siacs.conversations.axolotl.devicelist'));
      assert.equal(devices.getChild('pubsub')?.getChild('items')?.getChild('item')?.getChild('list')?.getChild('device')?.attrs.id, '31415');
      assert.ok((await mamBodies(juliet)).includes('Wherefore art thou?'));
      assert.deepEqual(await mamBodies(juliet, roomJid('balcony')), ['Good night']);
      const info = await juliet.iq(xml('iq', { type: 'get', to: roomJid('balcony') }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
      assert.equal(info.getChild('query')?.getChild('identity')?.attrs.name, 'The Balcony');
      await juliet.stop();

      const romeo = await loginClient(target, 'romeo', 'romeo-secret-2', 'garden');
      await romeo.send(xml('presence', {}));
      const offline = await romeo.waitFor((s) => s.is('message') && s.getChildText('body') === 'Wherefore art thou?');
      assert.equal(offline.attrs.from, 'juliet@localhost/balcony');
      await romeo.waitFor((s) => s.is('presence') && s.attrs.type === 'subscribe' && s.attrs.from === 'juliet@localhost');
      await romeo.stop();
    } finally {
      await target.stop();
    }
  } finally {
    await source.stop();
  }
});

test('import refuses a malformed element, names it, and writes nothing', { timeout: 60_000 }, async () => {
  const dir = tempDir();
  const config = configFile(dir);
  const file = join(tempDir(), 'bad.xml');
  const scram = `<scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>4096</iter-count><salt>c2FsdA==</salt><server-key>AAAA</server-key><stored-key>AAAA</stored-key></scram-credentials>`;
  writeFileSync(
    file,
    `<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'>` +
      `<user name='good' password='good-password'/>` +
      `<user name='bad'>${scram}<query xmlns='jabber:iq:roster'><item jid='a@b' subscription='sometimes'/></query></user>` +
      `</host></server-data>`,
  );
  const r = await runCanto(['import', file, '--config', config]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nothing imported: .*<user name='bad'> on localhost: <item jid='a@b'> in the roster has an unknown subscription 'sometimes'/);
  const listed = await runCanto(['export', '--config', config]);
  assert.doesNotMatch(listed.stdout, /<user /);

  writeFileSync(file, `<server-data xmlns='urn:xmpp:pie:0'><host jid='example.net'><user name='x' password='p'/></host></server-data>`);
  const foreign = await runCanto(['import', file, '--config', config]);
  assert.equal(foreign.code, 1);
  assert.match(foreign.stderr, /example\.net, which this configuration does not serve/);

  writeFileSync(file, `<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'><user name='x' password='p'></host></server-data>`);
  const broken = await runCanto(['import', file, '--config', config]);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /not well-formed XML/);
});
