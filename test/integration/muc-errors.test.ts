/**
 * Bad input to the MUC service, table-driven: malformed or refused presences, messages, admin,
 * owner and registration queries and forms, each answered with its XEP-0045 error condition.
 * One owner (romeo) holds the rooms; outsider (bernardo) and occupant (juliet) send the rest.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { adminSet, createInstant, form, join, joinPresence, NS, outcome, ownerSubmit, roomJid, withMuc } from '../helpers/muc.js';

let ts: TestServer;
let romeo: LoggedInClient;
let juliet: LoggedInClient;
let bernardo: LoggedInClient;

before(async () => {
  ts = await startTestServer((c) => {
    withMuc(c);
    c.modules.muc = { creators: 'local', message_rate: 0.01, message_burst: 3, room_defaults: { persistent: false } };
  });
  for (const u of ['romeo', 'juliet', 'bernardo']) await createAccount(ts, u, 'pw');
  romeo = await loginClient(ts, 'romeo', 'pw', 'phone');
  juliet = await loginClient(ts, 'juliet', 'pw', 'balcony');
  bernardo = await loginClient(ts, 'bernardo', 'pw', 'watch');
  await createInstant(romeo, 'open', 'Romeo');
  await join(juliet, 'open', 'Juliet');
  await createInstant(romeo, 'members', 'Romeo');
  await romeo.iq(ownerSubmit('members', { 'muc#roomconfig_membersonly': true }));
  await createInstant(romeo, 'tiny', 'Romeo');
  await romeo.iq(ownerSubmit('tiny', { 'muc#roomconfig_maxusers': '1' }));
  await createInstant(romeo, 'quiet', 'Romeo');
  await romeo.iq(ownerSubmit('quiet', { 'muc#roomconfig_allowpm': 'none' }));
  await join(juliet, 'quiet', 'Juliet');
  await join(romeo, 'locked', 'Romeo'); // left locked
});
after(async () => {
  for (const c of [romeo, juliet, bernardo]) await (c as LoggedInClient | undefined)?.stop();
  await (ts as TestServer | undefined)?.stop();
});

const iq = (type: 'get' | 'set', room: string, ns: string, ...children: XElement[]) => xml('iq', { type, to: roomJid(room) }, xml('query', { xmlns: ns }, ...children));
const msg = (to: string, attrs: Record<string, string>, ...children: XElement[]) => xml('message', { to, ...attrs }, ...children);

type Who = () => LoggedInClient;
const cases: Array<[string, Who, () => XElement, string]> = [
  // Presence (§7.2)
  ['join without a nickname', () => bernardo, () => xml('presence', { to: roomJid('open') }, xml('x', { xmlns: NS.muc })), 'jid-malformed'],
  ['join with a nickname of only spaces', () => bernardo, () => joinPresence('open', ' '), 'jid-malformed'],
  ['join with a variation selector in the nickname', () => bernardo, () => joinPresence('open', '\u{1f916}\ufe0f'), 'jid-malformed'],
  ['join a locked room', () => bernardo, () => joinPresence('locked', 'Bernardo'), 'item-not-found'],
  ['join a members-only room', () => bernardo, () => joinPresence('members', 'Bernardo'), 'registration-required'],
  ['join a full room', () => bernardo, () => joinPresence('tiny', 'Bernardo'), 'service-unavailable'],
  ['join with an occupant nickname', () => bernardo, () => joinPresence('open', 'juliet'), 'conflict'],
  ['join with a lookalike nickname', () => bernardo, () => joinPresence('open', 'Jul\u0456et'), 'conflict'],
  // Messages (§7.4, §7.5, §8.1)
  ['groupchat from a non-occupant', () => bernardo, () => msg(roomJid('open'), { type: 'groupchat' }, xml('body', {}, 'x')), 'not-acceptable'],
  ['chat to the room itself', () => juliet, () => msg(roomJid('open'), { type: 'chat' }, xml('body', {}, 'x')), 'bad-request'],
  ['groupchat to a missing room', () => juliet, () => msg(roomJid('nowhere'), { type: 'groupchat' }, xml('body', {}, 'x')), 'item-not-found'],
  ['private message of type groupchat', () => juliet, () => msg(`${roomJid('open')}/Romeo`, { type: 'groupchat' }, xml('body', {}, 'x')), 'bad-request'],
  ['private message to nobody', () => juliet, () => msg(`${roomJid('open')}/Ghost`, { type: 'chat' }, xml('body', {}, 'x')), 'item-not-found'],
  ['private message from a non-occupant', () => bernardo, () => msg(`${roomJid('open')}/Romeo`, { type: 'chat' }, xml('body', {}, 'x')), 'not-acceptable'],
  ['private message where they are off', () => juliet, () => msg(`${roomJid('quiet')}/Romeo`, { type: 'chat' }, xml('body', {}, 'x')), 'forbidden'],
  ['subject change by a participant', () => juliet, () => msg(roomJid('open'), { type: 'groupchat' }, xml('subject', {}, 'x')), 'forbidden'],
  ['invitation without a to', () => juliet, () => msg(roomJid('open'), {}, xml('x', { xmlns: NS.user }, xml('invite'))), 'forbidden'],
  ['invitation with a bad JID (by the owner)', () => romeo, () => msg(roomJid('open'), {}, xml('x', { xmlns: NS.user }, xml('invite', { to: '@@' }))), 'jid-malformed'],
  ['voice request that is not a submission', () => juliet, () => msg(roomJid('open'), {}, form('http://jabber.org/protocol/muc#request', { 'muc#role': 'participant' }, 'form')), 'bad-request'],
  // muc#admin (§8–10)
  ['admin query without items', () => romeo, () => iq('set', 'open', NS.admin), 'bad-request'],
  ['admin item without role or affiliation', () => romeo, () => adminSet('open', { nick: 'Juliet' }), 'bad-request'],
  ['unknown affiliation', () => romeo, () => adminSet('open', { jid: 'juliet@localhost', affiliation: 'king' }), 'bad-request'],
  ['unknown role', () => romeo, () => adminSet('open', { nick: 'Juliet', role: 'queen' }), 'bad-request'],
  ['affiliation without a jid', () => romeo, () => adminSet('open', { affiliation: 'member' }), 'bad-request'],
  ['role for a missing nickname', () => romeo, () => adminSet('open', { nick: 'Ghost', role: 'none' }), 'item-not-found'],
  ['kick by a participant', () => juliet, () => adminSet('open', { nick: 'Romeo', role: 'none' }), 'forbidden'],
  ['ban by an outsider', () => bernardo, () => adminSet('open', { jid: 'juliet@localhost', affiliation: 'outcast' }), 'forbidden'],
  ['list by a participant', () => juliet, () => iq('get', 'open', NS.admin, xml('item', { affiliation: 'member' })), 'forbidden'],
  ['list of affiliation none', () => romeo, () => iq('get', 'open', NS.admin, xml('item', { affiliation: 'none' })), 'bad-request'],
  ['the last owner steps down', () => romeo, () => adminSet('open', { jid: 'romeo@localhost', affiliation: 'member' }), 'conflict'],
  ['admin query to a missing room', () => romeo, () => iq('get', 'nowhere', NS.admin, xml('item', { affiliation: 'member' })), 'item-not-found'],
  // muc#owner (§10)
  ['config form by a participant', () => juliet, () => iq('get', 'open', NS.owner), 'forbidden'],
  ['config submission by a participant', () => juliet, () => ownerSubmit('open', {}), 'forbidden'],
  ['config with a bad boolean', () => romeo, () => ownerSubmit('open', { 'muc#roomconfig_persistentroom': 'maybe' }), 'not-acceptable'],
  ['config with too many users', () => romeo, () => ownerSubmit('open', { 'muc#roomconfig_maxusers': '99999999' }), 'not-acceptable'],
  ['config with a bad allowpm', () => romeo, () => ownerSubmit('open', { 'muc#roomconfig_allowpm': 'everyone' }), 'not-acceptable'],
  ['config with history beyond the limit', () => romeo, () => ownerSubmit('open', { 'muc#maxhistoryfetch': '100000' }), 'not-acceptable'],
  ['password protection without a password', () => romeo, () => ownerSubmit('open', { 'muc#roomconfig_passwordprotectedroom': true }), 'not-acceptable'],
  ['config of another form type', () => romeo, () => iq('set', 'open', NS.owner, form('urn:example:other', {})), 'bad-request'],
  ['owner query without form or destroy', () => romeo, () => iq('set', 'open', NS.owner), 'bad-request'],
  ['destroy with a bad alternate venue', () => romeo, () => iq('set', 'open', NS.owner, xml('destroy', { jid: '@@' })), 'jid-malformed'],
  // jabber:iq:register (§7.10)
  ['registration form of a members-only room by a non-member', () => bernardo, () => iq('get', 'members', NS.register), 'forbidden'],
  ['registration without the form', () => juliet, () => iq('set', 'open', NS.register), 'bad-request'],
  ['registration with another form type', () => juliet, () => iq('set', 'open', NS.register, form('urn:example:other', { 'muc#register_roomnick': 'J' })), 'bad-request'],
  ['registration without a nickname', () => juliet, () => iq('set', 'open', NS.register, form('http://jabber.org/protocol/muc#register', {})), 'not-acceptable'],
  ['registration of an occupant nickname', () => juliet, () => iq('set', 'open', NS.register, form('http://jabber.org/protocol/muc#register', { 'muc#register_roomnick': 'ROMEO' })), 'conflict'],
  ['unregistering when not registered', () => bernardo, () => iq('set', 'open', NS.register, xml('remove')), 'item-not-found'],
  // disco (§6)
  ['disco#info of a locked room by another', () => bernardo, () => iq('get', 'locked', NS.discoInfo), 'item-not-found'],
  ['disco#info of an unknown node', () => bernardo, () => xml('iq', { type: 'get', to: roomJid('open') }, xml('query', { xmlns: NS.discoInfo, node: 'nope' })), 'item-not-found'],
  ['an iq to an occupant from a non-occupant', () => bernardo, () => xml('iq', { type: 'get', to: `${roomJid('open')}/Juliet` }, xml('query', { xmlns: 'jabber:iq:version' })), 'not-acceptable'],
];

for (const [name, who, stanza, want] of cases) {
  test(`${name} → ${want}`, async () => {
    const c = who();
    const s = stanza();
    const id = `e${Math.random().toString(36).slice(2)}`;
    s.attrs.id = id;
    await c.send(s);
    const answer = await c.waitFor((x) => x.attrs.id === id && (x.attrs.type === 'error' || x.attrs.type === 'result' || (x.is('presence') && x.attrs.type === undefined)) );
    assert.equal(answer.attrs.type, 'error', answer.toString());
    assert.equal(outcome(answer), want, answer.toString());
    // A room never echoes a password back.
    assert.equal(answer.getChild('x', NS.muc)?.getChild('password'), undefined);
  });
}

test('the per-occupant rate limit: a burst, then resource-constraint (wait)', async () => {
  await join(bernardo, 'open', 'Bernardo'); // a fresh occupant, a full bucket
  const results: string[] = [];
  for (let i = 0; i < 5; i++) {
    const id = `rate${i}`;
    await bernardo.send(msg(roomJid('open'), { type: 'groupchat', id }, xml('body', {}, `n${i}`)));
    const back = await bernardo.waitFor((x) => x.is('message') && x.attrs.id === id);
    results.push(back.attrs.type === 'error' ? `${outcome(back)}/${back.getChild('error')?.attrs.type}` : 'ok');
  }
  // The burst is 3 (at 0.01 per second nothing comes back meanwhile): the fourth and fifth are refused.
  assert.deepEqual(results, ['ok', 'ok', 'ok', 'resource-constraint/wait', 'resource-constraint/wait']);
});
