/**
 * XEP-0377 spam reports end to end with @xmpp/client and the `canto reports` command: a report
 * in a block command pointing at an archived message (stanza-id) and at a held message request
 * (origin-id), stored with the message, forwarded to the abuse address (XEP-0297), listed and
 * shown by the CLI and the admin API, resolved with --confirm into the server's own block list
 * (a pubsub item whose id is the SHA-256 of the JID).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { runCanto } from '../helpers/cli.js';
import { rtblItemId } from '../../src/modules/spam_reporting/index.js';
import { parseJid } from '../../src/jid/index.js';
import { waitFor } from '../../src/testing/index.js';
import { createInstant, groupchat, isGroupchat, join as joinRoom, roomJid, withMuc } from '../helpers/muc.js';

const NS_REPORTING = 'urn:xmpp:reporting:1';
const NS_SID = 'urn:xmpp:sid:0';
const NS_BLOCKING = 'urn:xmpp:blocking';
let ts: TestServer;
let cfg: string;
const clients: LoggedInClient[] = [];

before(async () => {
  ts = await startTestServer((c) => {
    c.admins = ['admin@localhost'];
    c.component = [{ domain: 'pubsub.localhost', module: 'pubsub' }];
    withMuc(c);
    c.modules.spam_reporting = { forward_to: ['abuse@localhost'], rtbl_service: 'pubsub.localhost', rtbl_node: 'spam' };
    // Local senders are held too, so a message request needs no second server here.
    c.modules.stranger = { local_senders: 'policy', notify: false };
  });
  for (const u of ['romeo', 'juliet', 'tybalt', 'abuse', 'admin', 'prince', 'troll']) await createAccount(ts, u, 'secret');
  cfg = join(ts.dataDir, 'canto.toml');
  writeFileSync(cfg, `data_dir = ${JSON.stringify(ts.dataDir)}\nlog_level = "warn"\n\n[[virtualhost]]\ndomain = "localhost"\n`);
});
after(async () => {
  await Promise.all(clients.map((c) => c.stop()));
  await ts.stop();
});

async function login(name: string): Promise<LoggedInClient> {
  const c = await loginClient(ts, name, 'secret', 'r');
  clients.push(c);
  await c.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  await c.send(xml('presence'));
  return c;
}

const blockWithReport = (jid: string, reason: string, refs: XElement[], text?: string) =>
  xml('iq', { type: 'set' }, xml('block', { xmlns: NS_BLOCKING }, xml('item', { jid }, xml('report', { xmlns: NS_REPORTING, reason }, ...refs, ...(text !== undefined ? [xml('text', {}, text)] : [])))));

interface CliReport {
  id: string;
  jid: string;
  reason: string;
  reporter: string;
  text?: string;
  status: string;
  evidence?: { source: string; stanza: string };
}

async function cliReports(all = false): Promise<CliReport[]> {
  const r = await runCanto(['reports', 'list', '--json', ...(all ? ['--all'] : []), '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as CliReport[];
}

test('disco advertises reporting and its reasons', async () => {
  const romeo = await login('romeo');
  const info = await romeo.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
  const features = info.getChild('query')?.getChildren('feature').map((f) => f.attrs.var) ?? [];
  for (const f of [NS_REPORTING, 'urn:xmpp:reporting:spam', 'urn:xmpp:reporting:abuse']) assert.ok(features.includes(f), f);
  await romeo.stop();
});

test('a report of an archived message (stanza-id) is stored with it, forwarded to the abuse address and listed by the CLI', async () => {
  const romeo = await login('romeo');
  const juliet = await login('juliet');
  const abuse = await login('abuse');
  // romeo writes first, so juliet is no stranger to him and her message is delivered (and
  // archived). (His is a request at juliet's.) The ping's answer comes after r1 was handled.
  await romeo.send(xml('message', { to: 'juliet@localhost', type: 'chat', id: 'r1' }, xml('body', {}, 'hi')));
  await romeo.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
  await juliet.send(xml('message', { to: 'romeo@localhost', type: 'chat', id: 'j1' }, xml('body', {}, 'buy cheap pills')));
  const got = await romeo.waitFor((s) => s.attrs.id === 'j1');
  const sid = got.getChildren('stanza-id', NS_SID).find((e) => e.attrs.by === 'romeo@localhost')?.attrs.id;
  assert.ok(sid, got.toString());

  await romeo.iq(blockWithReport('juliet@localhost', 'urn:xmpp:reporting:spam', [xml('stanza-id', { xmlns: NS_SID, by: 'romeo@localhost', id: sid })], 'sells pills'));
  // The block's result comes once the report is stored.
  const [report] = (await cliReports()).filter((r) => r.jid === 'juliet@localhost');
  assert.ok(report);
  assert.equal(report.reason, 'spam');
  assert.equal(report.reporter, 'romeo@localhost');
  assert.equal(report.text, 'sells pills');
  assert.equal(report.evidence?.source, 'archive');
  assert.match(report.evidence.stanza, /buy cheap pills/);
  // Blocked as well.
  const list = await romeo.iq(xml('iq', { type: 'get' }, xml('blocklist', { xmlns: NS_BLOCKING })));
  assert.deepEqual(list.getChild('blocklist')?.getChildren('item').map((i) => i.attrs.jid), ['juliet@localhost']);

  // Forwarded to abuse@localhost with the message (XEP-0297).
  const fwd = await abuse.waitFor((s) => s.is('message') && s.attrs.from === 'localhost' && s.getChild('forwarded', 'urn:xmpp:forward:0') !== undefined);
  assert.equal(fwd.getChild('report', NS_REPORTING)?.attrs.reason, 'urn:xmpp:reporting:spam');
  assert.equal(fwd.getChild('forwarded', 'urn:xmpp:forward:0')?.getChild('message')?.getChildText('body'), 'buy cheap pills');

  // The human-readable list and show.
  const listed = await runCanto(['reports', '--config', cfg]);
  assert.match(listed.stdout, new RegExp(`${report.id} .* open +spam +juliet@localhost +by romeo@localhost +"buy cheap pills"`));
  const shown = await runCanto(['reports', 'show', report.id, '--config', cfg]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /body: buy cheap pills/);
  assert.match(shown.stdout, /text: +sells pills/);
  assert.equal((await runCanto(['reports', 'show', 'nosuchreport', '--config', cfg])).code, 1);
  const metrics = await ts.server.metrics.render();
  const line = metrics.split('\n').find((l) => l.startsWith('canto_spam_reporting_reports_total{') && l.includes('evidence="archive"') && l.includes('reason="spam"'));
  assert.match(line ?? metrics, / 1$/);
});

test('a report of a held message request (origin-id) carries it and dismisses the request; resolve --confirm publishes to the block list', async () => {
  const romeo = await login('romeo');
  const tybalt = await login('tybalt');
  await tybalt.send(xml('message', { to: 'romeo@localhost', type: 'chat', id: 't1' }, xml('body', {}, 'click this link'), xml('origin-id', { xmlns: NS_SID, id: 'origin-t1' })));
  const stranger = ts.server.hosts.get('localhost')?.services.get('stranger');
  assert.ok(stranger);
  await waitFor(async () => (await stranger.list('romeo')).length === 1, { timeoutMs: 5000, message: 'the request is held' });

  await romeo.iq(blockWithReport('tybalt@localhost', 'urn:xmpp:reporting:abuse', [xml('origin-id', { xmlns: NS_SID, id: 'origin-t1' })]));
  const report = (await cliReports()).find((r) => r.jid === 'tybalt@localhost');
  assert.ok(report);
  assert.equal(report.reason, 'abuse');
  assert.equal(report.evidence?.source, 'message-requests');
  assert.match(report.evidence.stanza, /click this link/);
  assert.deepEqual(await stranger.list('romeo'), [], 'the blocked sender\'s request is gone');

  // The admin API's view is the same store.
  const { listReports, reportsStore } = await import('../../src/modules/spam_reporting/index.js');
  assert.ok((await listReports(reportsStore(ts.server.storage, 'localhost'))).some((r) => r.id === report.id));

  const resolved = await runCanto(['reports', 'resolve', report.id, '--confirm', '--config', cfg]);
  assert.equal(resolved.code, 0, resolved.stderr);
  assert.match(resolved.stdout, /tybalt@localhost published to the block list/);
  const pubsub = ts.server.components.get('pubsub.localhost');
  const service = pubsub?.kind === 'internal' ? pubsub.context?.services.get('pubsub') : undefined;
  assert.ok(service);
  const ids = await service.itemIds(parseJid('admin@localhost'), 'spam');
  // The block list format: SHA-256 hex of the bare JID as the item id.
  assert.deepEqual(ids, [createHash('sha256').update('tybalt@localhost').digest('hex')]);
  assert.equal(rtblItemId('tybalt@localhost/phone'), ids[0]);
  assert.equal((await cliReports()).some((r) => r.id === report.id), false, 'no longer open');
  assert.equal((await cliReports(true)).find((r) => r.id === report.id)?.status, 'resolved');
});

test('a room moderator reports and bans in one step: the ban happens and the report carries the occupant\'s message', async () => {
  const prince = await login('prince');
  const troll = await login('troll');
  await createInstant(prince, 'square', 'Prince');
  await joinRoom(troll, 'square', 'Troll');
  await troll.send(groupchat('square', 'spam spam spam'));
  await prince.waitFor(isGroupchat(`${roomJid('square')}/Troll`, 'spam spam spam'));

  await prince.iq(xml('iq', { type: 'set', to: roomJid('square') }, xml('query', { xmlns: 'http://jabber.org/protocol/muc#admin' },
    xml('item', { affiliation: 'outcast', jid: 'troll@localhost' }, xml('reason', {}, 'spam'), xml('report', { xmlns: NS_REPORTING, reason: 'urn:xmpp:reporting:spam' }, xml('text', {}, 'floods the square'))))));
  // Banned: the troll is told (301).
  await troll.waitFor((s) => s.is('presence') && s.attrs.type === 'unavailable' && s.attrs.from === `${roomJid('square')}/Troll`);
  const report = (await cliReports()).find((r) => r.jid === 'troll@localhost') as (CliReport & { via: string; room?: string }) | undefined;
  assert.ok(report);
  assert.equal(report.reporter, 'prince@localhost');
  assert.equal(report.via, 'muc');
  assert.equal(report.room, roomJid('square'));
  assert.equal(report.text, 'floods the square');
  assert.equal(report.evidence?.source, 'room');
  assert.match(report.evidence.stanza, /spam spam spam/);
  const listed = await runCanto(['reports', '--config', cfg]);
  assert.match(listed.stdout, /troll@localhost +by prince@localhost in square@conference\.localhost +"spam spam spam"/);
});
