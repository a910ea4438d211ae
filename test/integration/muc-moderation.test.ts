/**
 * Multi-user chat administration with real @xmpp/client clients: kick (307) and ban (301) with
 * reasons and actors, the affiliation lists and their changes (member, admin, owner, outcast, the
 * last owner kept), a members-only room with a member who registers a nickname (321 when
 * membership goes), a moderated room with a voice request approved, a password room, mediated
 * invitations and declines, and a room destroyed with an alternate venue.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient } from '../helpers/xmpp-client.js';
import {
  adminGet, adminSet, ask, codes, createInstant, form, groupchat, isGroupchat, isPresenceFrom, isSelfPresence, item, join, joinPresence, listJids, NS, outcome, ownerSubmit, roomJid, withMuc,
} from '../helpers/muc.js';

let ts: TestServer;
let romeo: LoggedInClient;
let juliet: LoggedInClient;
let tybalt: LoggedInClient;
let nurse: LoggedInClient;

before(async () => {
  ts = await startTestServer(withMuc);
  for (const u of ['romeo', 'juliet', 'tybalt', 'nurse']) await createAccount(ts, u, 'pw');
  romeo = await loginClient(ts, 'romeo', 'pw', 'phone');
  juliet = await loginClient(ts, 'juliet', 'pw', 'balcony');
  tybalt = await loginClient(ts, 'tybalt', 'pw', 'sword');
  nurse = await loginClient(ts, 'nurse', 'pw', 'kitchen');
  for (const c of [romeo, juliet, tybalt, nurse]) await c.send(xml('presence'));
});
after(async () => {
  for (const c of [romeo, juliet, tybalt, nurse]) await (c as LoggedInClient | undefined)?.stop();
  await (ts as TestServer | undefined)?.stop();
});

const errorOf = (c: LoggedInClient, from: string) => c.waitFor((s) => s.is('presence') && s.attrs.type === 'error' && s.attrs.from === from);
const condition = (s: { getChild(n: string, ns?: string): unknown }) => outcome(s as Parameters<typeof outcome>[0]);

test('kick (307) and ban (301) with reason and actor; a banned user cannot come back', async () => {
  await createInstant(romeo, 'square', 'Romeo');
  await join(tybalt, 'square', 'Tybalt');
  await join(juliet, 'square', 'Juliet');
  // A participant may not kick.
  assert.equal(outcome(await ask(juliet, adminSet('square', { nick: 'Tybalt', role: 'none' }))), 'forbidden');
  await romeo.iq(adminSet('square', { nick: 'Tybalt', role: 'none', reason: 'Put up thy sword' }));
  const kicked = await tybalt.waitFor(isSelfPresence(`${roomJid('square')}/Tybalt`, 'unavailable'));
  assert.deepEqual(codes(kicked), [110, 307]);
  assert.equal(kicked.getChild('x', NS.user)?.getChild('item')?.getChildText('reason'), 'Put up thy sword');
  assert.equal(kicked.getChild('x', NS.user)?.getChild('item')?.getChild('actor')?.attrs.nick, 'Romeo');
  const seen = await juliet.waitFor(isPresenceFrom(`${roomJid('square')}/Tybalt`, 'unavailable'));
  assert.deepEqual(codes(seen), [307]);
  assert.equal(item(seen).role, 'none');

  await join(tybalt, 'square', 'Tybalt');
  await romeo.iq(adminSet('square', { jid: 'tybalt@localhost', affiliation: 'outcast', reason: 'Banished' }));
  const banned = await tybalt.waitFor(isSelfPresence(`${roomJid('square')}/Tybalt`, 'unavailable'));
  assert.deepEqual(codes(banned), [110, 301]);
  assert.equal(item(banned).affiliation, 'outcast');
  await tybalt.send(joinPresence('square', 'Tybalt'));
  assert.equal(condition(await errorOf(tybalt, `${roomJid('square')}/Tybalt`)), 'forbidden');
  const outcasts = await romeo.iq(adminGet('square', { affiliation: 'outcast' }));
  assert.deepEqual(listJids(outcasts), ['tybalt@localhost']);
  assert.equal(outcasts.getChild('query', NS.admin)?.getChild('item')?.getChildText('reason'), 'Banished');
  // Lists are for admins and owners.
  assert.equal(outcome(await ask(juliet, adminGet('square', { affiliation: 'outcast' }))), 'forbidden');
});

test('affiliation lists and changes: member, admin, owner; an admin cannot touch an owner; the last owner stays', async () => {
  await romeo.iq(adminSet('square', { jid: 'juliet@localhost', affiliation: 'admin' }));
  const promoted = await juliet.waitFor(isSelfPresence(`${roomJid('square')}/Juliet`));
  assert.equal(item(promoted).affiliation, 'admin');
  assert.equal(item(promoted).role, 'moderator');
  await romeo.iq(adminSet('square', { jid: 'nurse@localhost', affiliation: 'member' }));
  assert.deepEqual(listJids(await juliet.iq(adminGet('square', { affiliation: 'member' }))), ['nurse@localhost']);
  assert.deepEqual(listJids(await juliet.iq(adminGet('square', { affiliation: 'admin' }))), ['juliet@localhost']);
  assert.deepEqual(listJids(await romeo.iq(adminGet('square', { affiliation: 'owner' }))), ['romeo@localhost']);
  assert.deepEqual((await romeo.iq(adminGet('square', { role: 'moderator' }))).getChild('query', NS.admin)?.getChildren('item').map((i) => i.attrs.nick).sort(), ['Juliet', 'Romeo']);
  // An admin may not demote an owner (not-allowed) nor make owners (forbidden).
  assert.equal(outcome(await ask(juliet, adminSet('square', { jid: 'romeo@localhost', affiliation: 'member' }))), 'not-allowed');
  assert.equal(outcome(await ask(juliet, adminSet('square', { jid: 'nurse@localhost', affiliation: 'owner' }))), 'forbidden');
  // The only owner cannot step down.
  assert.equal(outcome(await ask(romeo, adminSet('square', { jid: 'romeo@localhost', affiliation: 'admin' }))), 'conflict');
  // A moderator cannot kick an admin.
  assert.equal(outcome(await ask(romeo, adminSet('square', { nick: 'Juliet', role: 'none' }))), 'not-allowed');
  await romeo.iq(adminSet('square', { jid: 'juliet@localhost', affiliation: 'owner' }));
  assert.deepEqual(listJids(await romeo.iq(adminGet('square', { affiliation: 'owner' }))), ['juliet@localhost', 'romeo@localhost']);
  await romeo.iq(adminSet('square', { jid: 'juliet@localhost', affiliation: 'none' }));
  const back = await juliet.waitFor((s) => isSelfPresence(`${roomJid('square')}/Juliet`)(s) && item(s).affiliation === 'none');
  assert.equal(item(back).role, 'participant');
});

test('members-only: non-members are refused, a member registers a nickname, losing membership removes (321)', async () => {
  await createInstant(romeo, 'crypt', 'Romeo');
  await romeo.iq(ownerSubmit('crypt', { 'muc#roomconfig_membersonly': true }));
  await juliet.send(joinPresence('crypt', 'Juliet'));
  assert.equal(condition(await errorOf(juliet, `${roomJid('crypt')}/Juliet`)), 'registration-required');
  await romeo.iq(adminSet('crypt', { jid: 'juliet@localhost', affiliation: 'member' }));
  // Registration: the form, then the nickname.
  const regForm = await juliet.iq(xml('iq', { type: 'get', to: roomJid('crypt') }, xml('query', { xmlns: NS.register })));
  assert.equal(regForm.getChild('query', NS.register)?.getChild('x', NS.data)?.getChildren('field').some((f) => f.attrs.var === 'muc#register_roomnick'), true);
  // The nurse is no member: she may not register here.
  assert.equal(outcome(await ask(nurse, xml('iq', { type: 'get', to: roomJid('crypt') }, xml('query', { xmlns: NS.register })))), 'forbidden');
  await juliet.iq(xml('iq', { type: 'set', to: roomJid('crypt') }, xml('query', { xmlns: NS.register }, form('http://jabber.org/protocol/muc#register', { 'muc#register_roomnick': 'Capulet' }))));
  const registered = await juliet.iq(xml('iq', { type: 'get', to: roomJid('crypt') }, xml('query', { xmlns: NS.register })));
  assert.equal(registered.getChild('query', NS.register)?.getChildText('username'), 'Capulet');
  const nickInfo = await juliet.iq(xml('iq', { type: 'get', to: roomJid('crypt') }, xml('query', { xmlns: NS.discoInfo, node: 'x-roomuser-item' })));
  assert.equal(nickInfo.getChild('query', NS.discoInfo)?.getChild('identity')?.attrs.name, 'Capulet');
  // The room gives her the registered nickname (210), whatever she asks for.
  await juliet.send(joinPresence('crypt', 'Juliet'));
  const self = await juliet.waitFor(isSelfPresence(`${roomJid('crypt')}/Capulet`));
  assert.deepEqual(codes(self), [110, 210]);
  assert.equal(item(self).affiliation, 'member');
  // Another member cannot take the registered nickname.
  await romeo.iq(adminSet('crypt', { jid: 'nurse@localhost', affiliation: 'member' }));
  await nurse.send(joinPresence('crypt', 'Capulet'));
  assert.equal(condition(await errorOf(nurse, `${roomJid('crypt')}/Capulet`)), 'conflict');
  // Membership revoked: she is removed with 321.
  await romeo.iq(adminSet('crypt', { jid: 'juliet@localhost', affiliation: 'none' }));
  const removed = await juliet.waitFor(isSelfPresence(`${roomJid('crypt')}/Capulet`, 'unavailable'));
  assert.deepEqual(codes(removed), [110, 321]);
});

test('a moderated room: visitors cannot speak, a voice request is approved by a moderator', async () => {
  await createInstant(romeo, 'court', 'Romeo');
  await romeo.iq(ownerSubmit('court', { 'muc#roomconfig_moderatedroom': true }));
  const self = await join(nurse, 'court', 'Nurse');
  assert.equal(item(self).role, 'visitor');
  await nurse.send(groupchat('court', 'may I?'));
  const err = await nurse.waitFor((s) => s.is('message') && s.attrs.type === 'error');
  assert.equal(outcome(err), 'forbidden');
  await nurse.send(xml('message', { to: roomJid('court') }, form('http://jabber.org/protocol/muc#request', { 'muc#role': 'participant' })));
  const request = await romeo.waitFor((s) => s.is('message') && s.attrs.from === roomJid('court') && s.getChild('x', NS.data) !== undefined);
  const fields = Object.fromEntries((request.getChild('x', NS.data)?.getChildren('field') ?? []).map((f) => [f.attrs.var, f.getChildText('value')]));
  assert.equal(fields['FORM_TYPE'], 'http://jabber.org/protocol/muc#request');
  assert.equal(fields['muc#roomnick'], 'Nurse');
  assert.equal(fields['muc#jid'], 'nurse@localhost');
  await romeo.send(xml('message', { to: roomJid('court') }, form('http://jabber.org/protocol/muc#request', { 'muc#role': 'participant', 'muc#jid': 'nurse@localhost', 'muc#roomnick': 'Nurse', 'muc#request_allow': true })));
  const voiced = await nurse.waitFor((s) => isSelfPresence(`${roomJid('court')}/Nurse`)(s) && item(s).role === 'participant');
  assert.ok(voiced);
  await nurse.send(groupchat('court', 'thank you'));
  await romeo.waitFor(isGroupchat(`${roomJid('court')}/Nurse`, 'thank you'));
  // And voice can be taken again.
  await romeo.iq(adminSet('court', { nick: 'Nurse', role: 'visitor' }));
  await nurse.waitFor((s) => isSelfPresence(`${roomJid('court')}/Nurse`)(s) && item(s).role === 'visitor');
});

test('a password room: refused without it (not-authorized), entered with it', async () => {
  await createInstant(romeo, 'vault', 'Romeo');
  await romeo.iq(ownerSubmit('vault', { 'muc#roomconfig_passwordprotectedroom': true, 'muc#roomconfig_roomsecret': 'cauldronburn' }));
  await juliet.send(joinPresence('vault', 'Juliet'));
  const err = await errorOf(juliet, `${roomJid('vault')}/Juliet`);
  assert.equal(condition(err), 'not-authorized');
  await juliet.send(joinPresence('vault', 'Juliet', { password: 'wrong' }));
  assert.equal(condition(await errorOf(juliet, `${roomJid('vault')}/Juliet`)), 'not-authorized');
  await join(juliet, 'vault', 'Juliet', { password: 'cauldronburn' });
  const info = await tybalt.iq(xml('iq', { type: 'get', to: roomJid('vault') }, xml('query', { xmlns: NS.discoInfo })));
  const features = info.getChild('query', NS.discoInfo)?.getChildren('feature').map((f) => f.attrs.var) ?? [];
  assert.ok(features.includes('muc_passwordprotected') && features.includes('muc_temporary') && features.includes('muc_semianonymous'), features.join());
});

test('mediated invitations and declines; a members-only room adds the invitee as a member', async () => {
  await createInstant(romeo, 'chapel', 'Romeo');
  await romeo.iq(ownerSubmit('chapel', { 'muc#roomconfig_membersonly': true }));
  await romeo.send(xml('message', { to: roomJid('chapel') }, xml('x', { xmlns: NS.user }, xml('invite', { to: 'juliet@localhost', from: 'forged@localhost' }, xml('reason', {}, 'Come wed')))));
  const inv = await juliet.waitFor((s) => s.is('message') && s.attrs.from === roomJid('chapel'));
  const invite = inv.getChild('x', NS.user)?.getChild('invite');
  assert.equal(invite?.attrs.from, `${roomJid('chapel')}/Romeo`); // stamped by the room, not the forged one
  assert.equal(invite?.getChildText('reason'), 'Come wed');
  assert.equal(inv.getChild('x', 'jabber:x:conference')?.attrs.jid, roomJid('chapel'));
  await join(juliet, 'chapel', 'Juliet'); // a member now
  await juliet.send(xml('presence', { to: `${roomJid('chapel')}/Juliet`, type: 'unavailable' }));
  // A decline goes back to the inviter, from the room.
  await nurse.send(xml('message', { to: roomJid('chapel') }, xml('x', { xmlns: NS.user }, xml('decline', { to: 'romeo@localhost/phone' }, xml('reason', {}, 'Too busy')))));
  const decline = await romeo.waitFor((s) => s.is('message') && s.getChild('x', NS.user)?.getChild('decline') !== undefined);
  assert.equal(decline.attrs.from, roomJid('chapel'));
  assert.equal(decline.getChild('x', NS.user)?.getChild('decline')?.attrs.from, 'nurse@localhost');
  // Without allowinvites only moderators invite.
  await join(juliet, 'chapel', 'Juliet');
  await juliet.send(xml('message', { to: roomJid('chapel') }, xml('x', { xmlns: NS.user }, xml('invite', { to: 'nurse@localhost' }))));
  const refused = await juliet.waitFor((s) => s.is('message') && s.attrs.type === 'error');
  assert.equal(outcome(refused), 'forbidden');
});

test('destroying a room: everyone leaves with the reason and the alternate venue; the room is gone', async () => {
  await createInstant(romeo, 'tomb', 'Romeo');
  await join(juliet, 'tomb', 'Juliet');
  assert.equal(outcome(await ask(juliet, xml('iq', { type: 'set', to: roomJid('tomb') }, xml('query', { xmlns: NS.owner }, xml('destroy'))))), 'forbidden');
  await romeo.iq(xml('iq', { type: 'set', to: roomJid('tomb') }, xml('query', { xmlns: NS.owner }, xml('destroy', { jid: roomJid('heaven') }, xml('reason', {}, 'A plague'), xml('password', {}, 'amen')))));
  const gone = await juliet.waitFor(isSelfPresence(`${roomJid('tomb')}/Juliet`, 'unavailable'));
  const destroy = gone.getChild('x', NS.user)?.getChild('destroy');
  assert.equal(destroy?.attrs.jid, roomJid('heaven'));
  assert.equal(destroy?.getChildText('reason'), 'A plague');
  assert.equal(destroy?.getChildText('password'), 'amen');
  assert.equal(item(gone).role, 'none');
  const info = await ask(juliet, xml('iq', { type: 'get', to: roomJid('tomb') }, xml('query', { xmlns: NS.discoInfo })));
  assert.equal(outcome(info), 'item-not-found');
});
