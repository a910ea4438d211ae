/**
 * The MUC's modern extensions with real @xmpp/client clients: the room archive (XEP-0313 on the
 * room JID, stanza-ids by the room, RSM both ways, filters, who may read, archiving off, history
 * on join from the archive, a persistent room's archive across a restart, retention), self-ping
 * (XEP-0410), occupant ids (XEP-0421), moderation (XEP-0425), room avatars (XEP-0486), and a
 * table of bad requests.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { bootServer } from '../../src/app/boot.js';
import { testConfig, testLogger, tempDir, waitFor } from '../../src/testing/index.js';
import type { TestServer } from '../helpers/server.js';
import { startTestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { adminSet, ask, createInstant, isGroupchat, join, joinPresence, NS, outcome, ownerSubmit, roomJid, withMuc } from '../helpers/muc.js';

const MAM = 'urn:xmpp:mam:2';
const SID = 'urn:xmpp:sid:0';
const OID = 'urn:xmpp:occupant-id:0';
const RSM = 'http://jabber.org/protocol/rsm';
const MOD = 'urn:xmpp:message-moderate:1';
const RETRACT = 'urn:xmpp:message-retract:1';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

let qid = 0;
/** Run a room archive query; returns the results (forwarded messages with their ids) and the fin. */
async function mamQuery(c: LoggedInClient, room: string, fields: Record<string, string> = {}, rsm: XElement[] = [], extra: XElement[] = []): Promise<{ reply: XElement; items: Array<{ id: string; msg: XElement }>; fin?: XElement }> {
  const queryid = `q${++qid}`;
  const formFields = Object.entries(fields).map(([k, v]) => xml('field', { var: k }, xml('value', {}, v)));
  const x = formFields.length ? [xml('x', { xmlns: NS.data, type: 'submit' }, xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, MAM)), ...formFields)] : [];
  const set = rsm.length ? [xml('set', { xmlns: RSM }, ...rsm)] : [];
  const reply = await ask(c, xml('iq', { type: 'set', to: roomJid(room) }, xml('query', { xmlns: MAM, queryid }, ...x, ...set, ...extra)));
  const items: Array<{ id: string; msg: XElement }> = [];
  if (reply.attrs.type === 'result') {
    for (;;) {
      const i = c.received.findIndex((s) => s.is('message') && s.getChild('result', MAM)?.attrs.queryid === queryid);
      if (i < 0) break;
      const m = c.received.splice(i, 1)[0]!;
      const r = m.getChild('result', MAM)!;
      items.push({ id: r.attrs.id!, msg: r.getChild('forwarded', 'urn:xmpp:forward:0')!.getChild('message')! });
    }
  }
  return { reply, items, fin: reply.getChild('fin', MAM) };
}
const bodies = (items: Array<{ msg: XElement }>) => items.map((i) => i.msg.getChildText('body'));

async function say(c: LoggedInClient, room: string, nick: string, body: string, extra: XElement[] = []): Promise<XElement> {
  await c.send(xml('message', { to: roomJid(room), type: 'groupchat', id: `m-${body}` }, xml('body', {}, body), ...extra));
  return c.waitFor(isGroupchat(`${roomJid(room)}/${nick}`, body));
}

test('room archive: stanza-ids by the room, RSM both ways, filters, metadata, readers, archiving off, history from the archive', async () => {
  const ts = await startTestServer(withMuc);
  const clients: LoggedInClient[] = [];
  try {
    for (const u of ['romeo', 'juliet', 'tybalt']) await createAccount(ts, u, 'pw');
    const romeo = await loginClient(ts, 'romeo', 'pw', 'phone');
    const juliet = await loginClient(ts, 'juliet', 'pw', 'balcony');
    const tybalt = await loginClient(ts, 'tybalt', 'pw', 'street');
    clients.push(romeo, juliet, tybalt);
    await createInstant(romeo, 'arch', 'Romeo');
    await join(juliet, 'arch', 'Juliet');
    // A forged room stanza-id and occupant-id are removed; the room stamps its own.
    const forged = [xml('stanza-id', { xmlns: SID, by: roomJid('arch'), id: 'forged' }), xml('occupant-id', { xmlns: OID, id: 'forged' })];
    const first = await say(romeo, 'arch', 'Romeo', 'one', forged);
    const sids = first.getChildren('stanza-id', SID).filter((s) => s.attrs.by === roomJid('arch'));
    assert.equal(sids.length, 1);
    assert.notEqual(sids[0]!.attrs.id, 'forged');
    assert.equal(first.attrs.id, 'm-one', 'muc#stable_id: the sender id is kept');
    const oids = first.getChildren('occupant-id', OID);
    assert.equal(oids.length, 1);
    assert.notEqual(oids[0]!.attrs.id, 'forged');
    const atJuliet = await juliet.waitFor(isGroupchat(`${roomJid('arch')}/Romeo`, 'one'));
    assert.equal(atJuliet.getChild('stanza-id', SID)?.attrs.id, sids[0]!.attrs.id);
    for (const b of ['two', 'three']) await say(juliet, 'arch', 'Juliet', b);
    for (const b of ['four', 'five']) await say(romeo, 'arch', 'Romeo', b);

    // Forward paging with RSM after, then backward with before.
    const p1 = await mamQuery(juliet, 'arch', {}, [xml('max', {}, '2')]);
    assert.deepEqual(bodies(p1.items), ['one', 'two']);
    assert.equal(p1.items[0]!.id, sids[0]!.attrs.id);
    assert.equal(p1.fin?.attrs.complete, 'false');
    assert.equal(p1.fin?.getChild('set', RSM)?.getChildText('count'), '5');
    const p2 = await mamQuery(juliet, 'arch', {}, [xml('max', {}, '10'), xml('after', {}, p1.items[1]!.id)]);
    assert.deepEqual(bodies(p2.items), ['three', 'four', 'five']);
    assert.equal(p2.fin?.attrs.complete, 'true');
    const last = await mamQuery(juliet, 'arch', {}, [xml('max', {}, '2'), xml('before')]);
    assert.deepEqual(bodies(last.items), ['four', 'five']);
    const prev = await mamQuery(juliet, 'arch', {}, [xml('max', {}, '10'), xml('before', {}, last.items[0]!.id)]);
    assert.deepEqual(bodies(prev.items), ['one', 'two', 'three']);
    assert.equal(prev.fin?.attrs.complete, 'true');
    const flipped = await mamQuery(juliet, 'arch', {}, [xml('max', {}, '2'), xml('before')], [xml('flip-page')]);
    assert.deepEqual(bodies(flipped.items), ['five', 'four']);
    // Filters: an occupant JID; ids; a real JID is not a room archive filter.
    assert.deepEqual(bodies((await mamQuery(juliet, 'arch', { with: `${roomJid('arch')}/Juliet` })).items), ['two', 'three']);
    assert.deepEqual(bodies((await mamQuery(juliet, 'arch', { ids: p1.items[1]!.id })).items), ['two']);
    assert.equal(outcome((await mamQuery(juliet, 'arch', { with: 'romeo@localhost' })).reply), 'bad-request');
    assert.deepEqual(bodies((await mamQuery(juliet, 'arch', { start: new Date(Date.now() + 60_000).toISOString() })).items), []);
    // Real JIDs in results only for those who may see them (semi-anonymous room: the owner, not Juliet).
    assert.equal(p1.items[0]!.msg.getChild('x', NS.user), undefined);
    const byOwner = await mamQuery(romeo, 'arch', {}, [xml('max', {}, '1')]);
    assert.equal(byOwner.items[0]!.msg.getChild('x', NS.user)?.getChild('item')?.attrs.jid, 'romeo@localhost');
    // Metadata and disco.
    const meta = await romeo.iq(xml('iq', { type: 'get', to: roomJid('arch') }, xml('metadata', { xmlns: MAM })));
    assert.equal(meta.getChild('metadata', MAM)?.getChild('start')?.attrs.id, sids[0]!.attrs.id);
    const info = await tybalt.iq(xml('iq', { type: 'get', to: roomJid('arch') }, xml('query', { xmlns: NS.discoInfo })));
    const features = info.getChild('query', NS.discoInfo)!.getChildren('feature').map((f) => f.attrs.var);
    for (const f of [MAM, SID, OID, MOD, 'http://jabber.org/protocol/muc#self-ping-optimization', 'http://jabber.org/protocol/muc#stable_id', 'vcard-temp']) assert.ok(features.includes(f), f);
    // Anyone who could enter an open room may read it (Tybalt is not in the room).
    assert.equal((await mamQuery(tybalt, 'arch')).items.length, 5);

    // History on join comes from the archive (with the room's stanza-id), within maxstanzas.
    await join(tybalt, 'arch', 'Tybalt', { history: { maxstanzas: '2' } });
    const hist = tybalt.received.filter((s) => s.is('message') && s.getChild('delay', NS.delay) !== undefined);
    assert.deepEqual(hist.map((s) => s.getChildText('body')), ['four', 'five']);
    assert.ok(hist[0]!.getChild('stanza-id', SID)?.attrs.id);

    // Members-only: a non-member may not read; a member may.
    await romeo.iq(ownerSubmit('arch', { 'muc#roomconfig_membersonly': true }));
    await romeo.iq(adminSet('arch', { jid: 'juliet@localhost', affiliation: 'member' }));
    assert.equal(outcome((await mamQuery(tybalt, 'arch')).reply), 'forbidden');
    assert.equal((await mamQuery(juliet, 'arch')).items.length, 5);

    // Archiving off: nothing archived, no stanza-id, the archive is not offered.
    await romeo.iq(ownerSubmit('arch', { 'muc#roomconfig_enablearchiving': false }));
    const unarchived = await say(romeo, 'arch', 'Romeo', 'off the record');
    assert.equal(unarchived.getChild('stanza-id', SID), undefined);
    assert.equal(outcome((await mamQuery(romeo, 'arch')).reply), 'service-unavailable');
    await romeo.iq(ownerSubmit('arch', { 'muc#roomconfig_enablearchiving': true }));
    assert.equal((await mamQuery(romeo, 'arch')).items.length, 5);
  } finally {
    for (const c of clients) await c.stop();
    await ts.stop();
  }
});

test('self-ping, occupant ids, moderation with a tombstone, room avatars, bad requests', async () => {
  const ts = await startTestServer(withMuc);
  const clients: LoggedInClient[] = [];
  try {
    for (const u of ['romeo', 'juliet', 'nurse']) await createAccount(ts, u, 'pw');
    const romeo = await loginClient(ts, 'romeo', 'pw', 'phone');
    const juliet = await loginClient(ts, 'juliet', 'pw', 'balcony');
    const nurse = await loginClient(ts, 'nurse', 'pw', 'kitchen');
    clients.push(romeo, juliet, nurse);
    const self = await createInstant(romeo, 'ext', 'Romeo');
    await join(juliet, 'ext', 'Juliet');
    const ping = (c: LoggedInClient, nick: string) => ask(c, xml('iq', { type: 'get', to: `${roomJid('ext')}/${nick}` }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    assert.equal(outcome(await ping(juliet, 'Juliet')), 'result');
    assert.equal(outcome(await ping(nurse, 'Juliet')), 'not-acceptable');
    assert.equal(outcome(await ping(nurse, 'Nobody')), 'not-acceptable');

    // Occupant ids: the same for a user across a rejoin, different per user.
    const romeoId = self.getChild('occupant-id', OID)?.attrs.id;
    assert.ok(romeoId);
    await juliet.send(xml('presence', { to: `${roomJid('ext')}/Juliet`, type: 'unavailable' }));
    await romeo.waitFor((s) => s.is('presence') && s.attrs.from === `${roomJid('ext')}/Juliet` && s.attrs.type === 'unavailable');
    await juliet.send(joinPresence('ext', 'Jules'));
    const j1 = await romeo.waitFor((s) => s.is('presence') && s.attrs.from === `${roomJid('ext')}/Jules` && s.attrs.type === undefined);
    const julietId = j1.getChild('occupant-id', OID)?.attrs.id;
    assert.ok(julietId);
    assert.notEqual(julietId, romeoId);
    await juliet.waitFor((s) => s.is('message') && s.getChild('subject') !== undefined);
    await juliet.send(xml('presence', { to: `${roomJid('ext')}/Jules`, type: 'unavailable' }));
    await romeo.waitFor((s) => s.is('presence') && s.attrs.from === `${roomJid('ext')}/Jules` && s.attrs.type === 'unavailable');
    await juliet.send(joinPresence('ext', 'Juliet'));
    const j2 = await romeo.waitFor((s) => s.is('presence') && s.attrs.from === `${roomJid('ext')}/Juliet` && s.attrs.type === undefined);
    assert.equal(j2.getChild('occupant-id', OID)?.attrs.id, julietId);
    await juliet.waitFor((s) => s.is('message') && s.getChild('subject') !== undefined);

    // Moderation: a participant is refused; the moderator retracts; notice and tombstone.
    const spam = await say(juliet, 'ext', 'Juliet', 'spam spam');
    const sid = spam.getChild('stanza-id', SID)!.attrs.id!;
    await romeo.waitFor(isGroupchat(`${roomJid('ext')}/Juliet`, 'spam spam'));
    const moderate = (id: string | undefined, withRetract = true) =>
      xml('iq', { type: 'set', to: roomJid('ext') }, xml('moderate', { xmlns: MOD, id }, ...(withRetract ? [xml('retract', { xmlns: RETRACT })] : []), xml('reason', {}, 'Spam')));
    assert.equal(outcome(await ask(juliet, moderate(sid))), 'forbidden');
    assert.equal(outcome(await ask(romeo, moderate('no-such-id'))), 'item-not-found');
    assert.equal(outcome(await ask(romeo, moderate(sid))), 'result');
    const notice = await juliet.waitFor((s) => s.is('message') && s.attrs.from === roomJid('ext') && s.getChild('retract', RETRACT) !== undefined);
    const retract = notice.getChild('retract', RETRACT)!;
    assert.equal(retract.attrs.id, sid);
    assert.equal(retract.getChild('moderated', MOD)?.attrs.by, `${roomJid('ext')}/Romeo`);
    assert.equal(retract.getChildText('reason'), 'Spam');
    const archived = await mamQuery(juliet, 'ext', { ids: sid });
    const tomb = archived.items[0]!.msg;
    assert.equal(tomb.getChild('body'), undefined, 'the body is gone');
    assert.equal(tomb.getChild('retracted', RETRACT)?.getChild('moderated', MOD)?.attrs.by, `${roomJid('ext')}/Romeo`);
    assert.equal(tomb.getChild('occupant-id', OID)?.attrs.id, julietId);

    // Room avatar: owners set it, anyone gets it; the hash in disco and a presence from the room.
    const photo = Buffer.from('not really a png').toString('base64');
    const vcard = xml('vCard', { xmlns: 'vcard-temp' }, xml('PHOTO', {}, xml('TYPE', {}, 'image/png'), xml('BINVAL', {}, photo)));
    assert.equal(outcome(await ask(juliet, xml('iq', { type: 'set', to: roomJid('ext') }, vcard))), 'forbidden');
    assert.equal(outcome(await ask(romeo, xml('iq', { type: 'set', to: roomJid('ext') }, vcard))), 'result');
    const update = await juliet.waitFor((s) => s.is('presence') && s.attrs.from === roomJid('ext') && s.getChild('x', 'vcard-temp:x:update') !== undefined);
    const hash = update.getChild('x', 'vcard-temp:x:update')?.getChildText('photo');
    assert.match(hash ?? '', /^[0-9a-f]{40}$/);
    const got = await nurse.iq(xml('iq', { type: 'get', to: roomJid('ext') }, xml('vCard', { xmlns: 'vcard-temp' })));
    assert.equal(got.getChild('vCard', 'vcard-temp')?.getChild('PHOTO')?.getChildText('BINVAL'), photo);
    const info = await nurse.iq(xml('iq', { type: 'get', to: roomJid('ext') }, xml('query', { xmlns: NS.discoInfo })));
    const fields = info.getChild('query', NS.discoInfo)!.getChild('x', NS.data)!.getChildren('field');
    assert.equal(fields.find((f) => f.attrs.var === 'muc#roominfo_avatarhash')?.getChildText('value'), hash);

    // Bad requests to the new handlers, each with its error.
    const cases: Array<[string, LoggedInClient, XElement, string]> = [
      ['moderate without id', romeo, moderate(undefined), 'bad-request'],
      ['moderate without retract', romeo, moderate(sid, false), 'bad-request'],
      ['moderate by a non-occupant', nurse, moderate(sid), 'forbidden'],
      ['moderate in no room', romeo, xml('iq', { type: 'set', to: roomJid('nowhere') }, xml('moderate', { xmlns: MOD, id: sid }, xml('retract', { xmlns: RETRACT }))), 'item-not-found'],
      ['mam: two forms', juliet, xml('iq', { type: 'set', to: roomJid('ext') }, xml('query', { xmlns: MAM }, xml('x', { xmlns: NS.data, type: 'submit' }), xml('x', { xmlns: NS.data, type: 'submit' }))), 'bad-request'],
      ['mam: bad max', juliet, xml('iq', { type: 'set', to: roomJid('ext') }, xml('query', { xmlns: MAM }, xml('set', { xmlns: RSM }, xml('max', {}, '-1')))), 'bad-request'],
      ['mam: unknown after', juliet, xml('iq', { type: 'set', to: roomJid('ext') }, xml('query', { xmlns: MAM }, xml('set', { xmlns: RSM }, xml('after', {}, 'nope')))), 'item-not-found'],
      ['mam: no such room', juliet, xml('iq', { type: 'set', to: roomJid('nowhere') }, xml('query', { xmlns: MAM })), 'item-not-found'],
      ['vcard set with a PHOTO that is not base64', romeo, xml('iq', { type: 'set', to: roomJid('ext') }, xml('vCard', { xmlns: 'vcard-temp' }, xml('PHOTO', {}, xml('BINVAL', {}, '*** not base64 ***')))), 'bad-request'],
      ['vcard in no room', romeo, xml('iq', { type: 'get', to: roomJid('nowhere') }, xml('vCard', { xmlns: 'vcard-temp' })), 'item-not-found'],
      ['self-ping set', juliet, xml('iq', { type: 'set', to: `${roomJid('ext')}/Juliet` }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 'service-unavailable'],
    ];
    for (const [name, c, iq, want] of cases) assert.equal(outcome(await ask(c, iq)), want, name);
  } finally {
    for (const c of clients) await c.stop();
    await ts.stop();
  }
});

/** A server on a data directory that outlives it (as muc-lifecycle.test.ts). */
async function serverOn(dataDir: string, muc: Record<string, unknown> = {}): Promise<TestServer> {
  const config = testConfig(dataDir);
  config.c2s.ports = [0];
  withMuc(config);
  config.modules.muc = muc;
  const server = await bootServer({ config, log: testLogger(config) });
  return { server, config, dataDir, c2sPort: server.port('c2s'), stop: () => server.stop('test finished', 500) };
}

test('a persistent room keeps its affiliations and archive across a restart; retention prunes it; destroy deletes it', async () => {
  const dataDir = tempDir('canto-mucext-');
  dirs.push(dataDir);
  const first = await serverOn(dataDir);
  try {
    for (const u of ['romeo', 'juliet']) await createAccount(first, u, 'pw');
    const romeo = await loginClient(first, 'romeo', 'pw', 'phone');
    try {
      await createInstant(romeo, 'keep', 'Romeo');
      await romeo.iq(ownerSubmit('keep', { 'muc#roomconfig_persistentroom': true, 'muc#roomconfig_membersonly': true }));
      await romeo.iq(adminSet('keep', { jid: 'juliet@localhost', affiliation: 'member' }));
      for (const b of ['before', 'the', 'restart']) await say(romeo, 'keep', 'Romeo', b);
    } finally {
      await romeo.stop();
    }
  } finally {
    await first.server.stop('restart', 500);
  }

  // Restarted: the member reads the archive and gets history from it.
  const second = await serverOn(dataDir);
  try {
    const juliet = await loginClient(second, 'juliet', 'pw', 'balcony');
    const romeo = await loginClient(second, 'romeo', 'pw', 'phone');
    try {
      const kept = await mamQuery(juliet, 'keep');
      assert.deepEqual(bodies(kept.items), ['before', 'the', 'restart']);
      await join(juliet, 'keep', 'Juliet', { history: { maxstanzas: '1' } });
      const hist = juliet.received.filter((s) => s.is('message') && s.getChild('delay', NS.delay) !== undefined);
      assert.deepEqual(hist.map((s) => s.getChildText('body')), ['restart']);
      // Destroy: the archive goes with the room (a new room of that name starts empty).
      await romeo.iq(xml('iq', { type: 'set', to: roomJid('keep') }, xml('query', { xmlns: NS.owner }, xml('destroy', {}, xml('reason', {}, 'done')))));
      await createInstant(romeo, 'keep', 'Romeo');
      assert.equal((await mamQuery(romeo, 'keep')).items.length, 0);
    } finally {
      await juliet.stop();
      await romeo.stop();
    }
  } finally {
    await second.server.stop('restart', 500);
  }

  // Retention: items older than archive_expires_after are pruned in the background.
  const third = await serverOn(dataDir, { archive_expires_after: '1s', archive_prune_interval: '1s' });
  try {
    const romeo = await loginClient(third, 'romeo', 'pw', 'phone');
    try {
      await createInstant(romeo, 'brief', 'Romeo');
      await say(romeo, 'brief', 'Romeo', 'soon gone');
      assert.ok((await mamQuery(romeo, 'brief')).items.length <= 1);
      await waitFor(async () => (await mamQuery(romeo, 'brief')).items.length === 0, { timeoutMs: 10_000, intervalMs: 200 });
    } finally {
      await romeo.stop();
    }
  } finally {
    await third.server.stop();
  }
});
