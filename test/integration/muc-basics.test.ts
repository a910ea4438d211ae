/**
 * Multi-user chat with real @xmpp/client clients against the built-in `conference.localhost`:
 * creation (locked until configured, instant, reserved with the form), joins with their status
 * codes, groupchat and private messages, nickname changes and conflicts, one nickname shared by
 * two resources, history limits, the subject. Expected stanzas follow XEP-0045 (and Prosody's
 * scansion scripts where they show XEP behaviour).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient } from '../helpers/xmpp-client.js';
import {
  ask, codes, createInstant, groupchat, isGroupchat, isPresenceFrom, isSelfPresence, isSubject, item, join, joinPresence, NS, outcome, ownerSubmit, roomJid, withMuc,
} from '../helpers/muc.js';

let ts: TestServer;
const clients: LoggedInClient[] = [];
let romeo: LoggedInClient;
let juliet: LoggedInClient;
let mercutio: LoggedInClient;

before(async () => {
  ts = await startTestServer(withMuc);
  for (const u of ['romeo', 'juliet', 'mercutio', 'benvolio']) await createAccount(ts, u, 'pw');
  romeo = await loginClient(ts, 'romeo', 'pw', 'phone');
  juliet = await loginClient(ts, 'juliet', 'pw', 'balcony');
  mercutio = await loginClient(ts, 'mercutio', 'pw', 'street');
  clients.push(romeo, juliet, mercutio);
});
after(async () => {
  for (const c of clients) await c.stop();
  await (ts as TestServer | undefined)?.stop();
});

test('a new room is locked until configured; an empty submission makes it instant', async () => {
  const self = await join(romeo, 'garden', 'Romeo');
  assert.deepEqual(codes(self), [110, 201]);
  assert.deepEqual(item(self), { affiliation: 'owner', role: 'moderator', jid: romeo.jid });
  // Locked: others are told it does not exist.
  await juliet.send(joinPresence('garden', 'Juliet'));
  const refused = await juliet.waitFor((s) => s.is('presence') && s.attrs.type === 'error');
  assert.equal(refused.getChild('error')?.getChild('item-not-found', NS.stanzas) !== undefined, true);
  const result = await romeo.iq(ownerSubmit('garden', {}));
  assert.equal(result.attrs.type, 'result');

  const jself = await join(juliet, 'garden', 'Juliet');
  assert.deepEqual(codes(jself), [110]);
  assert.deepEqual(item(jself), { affiliation: 'none', role: 'participant', jid: juliet.jid });
  // Juliet saw Romeo first, without his real JID (semi-anonymous by default).
  const seen = juliet.received.find(isPresenceFrom(`${roomJid('garden')}/Romeo`)) ?? (await juliet.waitFor(isPresenceFrom(`${roomJid('garden')}/Romeo`)));
  assert.equal(item(seen).jid, undefined);
  // Romeo (a moderator) sees Juliet's real JID.
  const toRomeo = await romeo.waitFor(isPresenceFrom(`${roomJid('garden')}/Juliet`));
  assert.equal(item(toRomeo).jid, juliet.jid);
  assert.deepEqual(codes(toRomeo), []);
});

test('groupchat messages reach every occupant, sender included, with the sender id kept', async () => {
  await romeo.send(groupchat('garden', 'Where art thou?', 'rm1'));
  for (const c of [romeo, juliet]) {
    const m = await c.waitFor(isGroupchat(`${roomJid('garden')}/Romeo`, 'Where art thou?'));
    assert.equal(m.attrs.id, 'rm1');
  }
  // A non-occupant may not send (not-acceptable).
  await mercutio.send(groupchat('garden', 'hello?'));
  const err = await mercutio.waitFor((s) => s.is('message') && s.attrs.type === 'error');
  assert.equal(err.getChild('error')?.getChild('not-acceptable', NS.stanzas) !== undefined, true);
});

test('a reserved room: the configuration form, non-anonymous (100), then semi-anonymous again (173)', async () => {
  await join(mercutio, 'plaza', 'Mercutio');
  const formReply = await mercutio.iq(xml('iq', { type: 'get', to: roomJid('plaza') }, xml('query', { xmlns: NS.owner })));
  const fields = formReply.getChild('query', NS.owner)?.getChild('x', NS.data)?.getChildren('field').map((f) => f.attrs.var) ?? [];
  for (const f of ['muc#roomconfig_roomname', 'muc#roomconfig_persistentroom', 'muc#roomconfig_membersonly', 'muc#roomconfig_whois', 'muc#roomconfig_roomsecret', 'muc#roomconfig_allowpm']) {
    assert.ok(fields.includes(f), `${f} in ${fields.join()}`);
  }
  await mercutio.iq(ownerSubmit('plaza', { 'muc#roomconfig_roomname': 'The Plaza', 'muc#roomconfig_whois': 'anyone' }));
  const bself = await join(juliet, 'plaza', 'Juliet');
  assert.deepEqual(codes(bself), [100, 110]);
  const m = await juliet.waitFor(isPresenceFrom(`${roomJid('plaza')}/Mercutio`));
  assert.equal(item(m).jid, mercutio.jid); // everyone sees real JIDs
  // A later change of anonymity is announced with 173.
  await mercutio.iq(ownerSubmit('plaza', { 'muc#roomconfig_whois': 'moderators' }));
  const note = await juliet.waitFor((s) => s.is('message') && s.attrs.from === roomJid('plaza') && codes(s).length > 0);
  assert.deepEqual(codes(note), [173]);
  // A bad value refuses the whole submission.
  assert.equal(outcome(await ask(mercutio, ownerSubmit('plaza', { 'muc#roomconfig_whois': 'everybody' }))), 'not-acceptable');
  await juliet.send(xml('presence', { to: `${roomJid('plaza')}/Juliet`, type: 'unavailable' }));
  await juliet.waitFor(isSelfPresence(`${roomJid('plaza')}/Juliet`, 'unavailable'));
});

test('private messages go through the room, marked with muc#user; groupchat type is refused', async () => {
  await juliet.send(xml('message', { to: `${roomJid('garden')}/Romeo`, type: 'chat' }, xml('body', {}, 'psst')));
  const pm = await romeo.waitFor((s) => s.is('message') && s.attrs.type === 'chat' && s.getChildText('body') === 'psst');
  assert.equal(pm.attrs.from, `${roomJid('garden')}/Juliet`);
  assert.ok(pm.getChild('x', NS.user));
  await juliet.send(xml('message', { to: `${roomJid('garden')}/Romeo`, type: 'groupchat' }, xml('body', {}, 'x')));
  const err = await juliet.waitFor((s) => s.is('message') && s.attrs.type === 'error');
  assert.ok(err.getChild('error')?.getChild('bad-request', NS.stanzas));
  await juliet.send(xml('message', { to: `${roomJid('garden')}/Nobody`, type: 'chat' }, xml('body', {}, 'x')));
  const gone = await juliet.waitFor((s) => s.is('message') && s.attrs.type === 'error');
  assert.ok(gone.getChild('error')?.getChild('item-not-found', NS.stanzas));
});

test('nickname change (303 then the new presence), conflicts and lookalikes', async () => {
  await juliet.send(xml('presence', { to: `${roomJid('garden')}/Jules` }));
  const gone = await romeo.waitFor(isPresenceFrom(`${roomJid('garden')}/Juliet`, 'unavailable'));
  assert.deepEqual(codes(gone), [303]);
  assert.equal(item(gone).nick, 'Jules');
  const self303 = await juliet.waitFor(isSelfPresence(`${roomJid('garden')}/Juliet`, 'unavailable'));
  assert.deepEqual(codes(self303), [110, 303]);
  await romeo.waitFor(isPresenceFrom(`${roomJid('garden')}/Jules`));
  await juliet.waitFor(isSelfPresence(`${roomJid('garden')}/Jules`));
  // Romeo's nickname is taken, whatever its case or lookalike letters.
  for (const nick of ['Romeo', 'romeo', 'ROMEO', 'Rоmeo' /* Cyrillic о */, 'Rómeo']) {
    await juliet.send(xml('presence', { to: `${roomJid('garden')}/${nick}` }));
    const err = await juliet.waitFor((s) => s.is('presence') && s.attrs.type === 'error');
    assert.ok(err.getChild('error')?.getChild('conflict', NS.stanzas), `${nick}: ${err.toString()}`);
  }
  // A newcomer cannot take it either.
  await mercutio.send(joinPresence('garden', 'ROMEO'));
  const err = await mercutio.waitFor((s) => s.is('presence') && s.attrs.type === 'error');
  assert.ok(err.getChild('error')?.getChild('conflict', NS.stanzas));
});

test('one nickname, two resources of the same account', async () => {
  const phone2 = await loginClient(ts, 'juliet', 'pw', 'tablet');
  clients.push(phone2);
  const self = await join(phone2, 'garden', 'Jules');
  assert.deepEqual(codes(self), [110]);
  // Messages reach both resources.
  await romeo.send(groupchat('garden', 'both of you'));
  await juliet.waitFor(isGroupchat(`${roomJid('garden')}/Romeo`, 'both of you'));
  await phone2.waitFor(isGroupchat(`${roomJid('garden')}/Romeo`, 'both of you'));
  // One resource leaving does not take the nickname out of the room.
  await phone2.send(xml('presence', { to: `${roomJid('garden')}/Jules`, type: 'unavailable' }));
  await phone2.waitFor(isSelfPresence(`${roomJid('garden')}/Jules`, 'unavailable'));
  assert.ok(await romeo.nothing(isPresenceFrom(`${roomJid('garden')}/Jules`, 'unavailable'), 300));
  await romeo.send(groupchat('garden', 'still there'));
  await juliet.waitFor(isGroupchat(`${roomJid('garden')}/Romeo`, 'still there'));
  await phone2.stop();
});

test('history on join, with maxstanzas, maxchars, seconds and since', async () => {
  await createInstant(romeo, 'library', 'Romeo');
  for (let i = 1; i <= 5; i++) await romeo.send(groupchat('library', `line ${i}`));
  await romeo.waitFor(isGroupchat(`${roomJid('library')}/Romeo`, 'line 5'));
  const replay = async (history: Record<string, string> | undefined): Promise<string[]> => {
    await mercutio.send(joinPresence('library', 'Merc', history ? { history } : {}));
    await mercutio.waitFor(isSelfPresence(`${roomJid('library')}/Merc`));
    const bodies: string[] = [];
    for (;;) {
      const s = await mercutio.waitFor((x) => x.is('message') && x.attrs.from?.startsWith(roomJid('library')) === true);
      if (s.getChild('subject') && !s.getChild('body')) break;
      assert.ok(s.getChild('delay', NS.delay), 'history carries a delay stamp');
      assert.equal(s.getChild('delay', NS.delay)?.attrs.from, roomJid('library'));
      bodies.push(s.getChildText('body') ?? '');
    }
    await mercutio.send(xml('presence', { to: `${roomJid('library')}/Merc`, type: 'unavailable' }));
    await mercutio.waitFor(isSelfPresence(`${roomJid('library')}/Merc`, 'unavailable'));
    return bodies;
  };
  assert.deepEqual(await replay(undefined), ['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
  assert.deepEqual(await replay({ maxstanzas: '2' }), ['line 4', 'line 5']);
  assert.deepEqual(await replay({ maxchars: '0' }), []);
  assert.deepEqual(await replay({ seconds: '3600' }), ['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
  assert.deepEqual(await replay({ since: new Date(Date.now() + 60_000).toISOString() }), []);
  // Room stanzas carry a stanza-id and an occupant-id (about 320 characters each): 600 fits one or two.
  const one = await replay({ maxchars: '600' });
  assert.ok(one.length >= 1 && one.length < 5 && one[one.length - 1] === 'line 5', one.join());
});

test('the subject: set by a moderator, refused to a participant, sent on join', async () => {
  await romeo.send(xml('message', { to: roomJid('garden'), type: 'groupchat' }, xml('subject', {}, 'Fair Verona')));
  const s = await juliet.waitFor((x) => isSubject('garden')(x) && x.getChildText('subject') === 'Fair Verona');
  assert.equal(s.attrs.from, `${roomJid('garden')}/Romeo`);
  await juliet.send(xml('message', { to: roomJid('garden'), type: 'groupchat' }, xml('subject', {}, 'Mine')));
  const err = await juliet.waitFor((x) => x.is('message') && x.attrs.type === 'error');
  assert.ok(err.getChild('error')?.getChild('forbidden', NS.stanzas));
  // With a body it is a message, not a subject change (Prosody issue #667).
  await juliet.send(xml('message', { to: roomJid('garden'), type: 'groupchat' }, xml('subject', {}, 'Hi'), xml('body', {}, 'Hello')));
  await romeo.waitFor(isGroupchat(`${roomJid('garden')}/Jules`, 'Hello'));
  await mercutio.send(joinPresence('garden', 'Mercutio'));
  await mercutio.waitFor(isSelfPresence(`${roomJid('garden')}/Mercutio`));
  const subject = await mercutio.waitFor(isSubject('garden'));
  assert.equal(subject.getChildText('subject'), 'Fair Verona');
  assert.equal(subject.attrs.from, `${roomJid('garden')}/Romeo`);
  await mercutio.send(xml('presence', { to: `${roomJid('garden')}/Mercutio`, type: 'unavailable' }));
  await mercutio.waitFor(isSelfPresence(`${roomJid('garden')}/Mercutio`, 'unavailable'));
});
