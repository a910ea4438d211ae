/**
 * Group chat across federation (issue 15's done-when line): romeo@a.test owns a room on the
 * first Canto's conference component `conference.a.test`; juliet@b.test, on a second Canto
 * (s2s-harness.ts, both on loopback), joins it over s2s and both chat: groupchat each way, a
 * presence change, a private message through the room, and the leave. Every stanza between
 * b.test and the room goes through dialback-authenticated s2s streams in both directions
 * (b.test → conference.a.test and conference.a.test → b.test).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { FakeClient } from '../../src/testing/index.js';
import type { Server } from '../../src/core/server.js';
import type { Element } from '../../src/xml/element.js';
import { iq, message, presence } from '../../src/xml/stanza.js';
import { makeTestCa, startPair, type TestCa } from './s2s-harness.js';

const MUC = 'conference.a.test';
const ROOM = `garden@${MUC}`;
const NS_MUC = 'http://jabber.org/protocol/muc';
const NS_USER = `${NS_MUC}#user`;
/** Over s2s: the first stanza may wait for a connection and dialback both ways. */
const S2S_WAIT = { timeoutMs: 10_000 };

let ca: TestCa;
before(async () => {
  ca = await makeTestCa(['a.test', 'b.test']);
});
after(() => {
  rmSync(ca.dir, { recursive: true, force: true });
});

function online(server: Server, jid: string): FakeClient {
  const c = new FakeClient(server, jid);
  server.sessions.setPresence(c.session, presence(), 0);
  return c;
}

const codes = (s: Element) => (s.getChild('x', NS_USER)?.getChildren('status') ?? []).map((c) => Number(c.attrs.code)).sort((a, b) => a - b);
const item = (s: Element) => s.getChild('x', NS_USER)?.getChild('item')?.attrs ?? {};
const presenceFrom = (from: string, type?: string) => (s: Element) => s.name === 'presence' && s.attrs.from === from && s.attrs.type === type;
const groupchatFrom = (from: string, body: string) => (s: Element) => s.name === 'message' && s.attrs.type === 'groupchat' && s.attrs.from === from && s.getChildText('body') === body;

test('a remote user on a second Canto joins a room, chats both ways, changes presence and leaves', async () => {
  const pair = await startPair(ca, {
    trustCa: false,
    adjustA: (c) => c.component.push({ domain: MUC, module: 'muc' }),
  });
  try {
    const a = pair.a.server;
    const b = pair.b.server;
    // b.test reaches the component's domain at a.test's s2s port (a.test's own entry is set by the harness).
    b.config.s2s.hosts[MUC] = `127.0.0.1:${a.port('s2s')}`;
    const romeo = online(a, 'romeo@a.test/phone');
    const juliet = online(b, 'juliet@b.test/balcony');

    // romeo (local) creates an instant room.
    romeo.send(presence({ to: `${ROOM}/Romeo` }).c('x', { xmlns: NS_MUC }).root());
    const created = await romeo.receives(presenceFrom(`${ROOM}/Romeo`));
    assert.deepEqual(codes(created), [110, 201]);
    const configured = await romeo.ask(iq({ type: 'set', id: 'cfg', to: ROOM }).c('query', { xmlns: `${NS_MUC}#owner` }).c('x', { xmlns: 'jabber:x:data', type: 'submit' }).root());
    assert.equal(configured.attrs.type, 'result');

    // juliet (remote) joins over s2s: romeo's presence first, then her own (110), then the subject.
    juliet.send(presence({ to: `${ROOM}/Juliet` }).c('x', { xmlns: NS_MUC }).root());
    const self = await juliet.receives(presenceFrom(`${ROOM}/Juliet`), S2S_WAIT);
    assert.deepEqual(codes(self), [110]);
    assert.deepEqual(item(self), { affiliation: 'none', role: 'participant', jid: 'juliet@b.test/balcony' });
    const romeoSeen = juliet.sent.findIndex(presenceFrom(`${ROOM}/Romeo`));
    assert.ok(romeoSeen !== -1 && romeoSeen < juliet.sent.indexOf(self), 'the occupants before the self-presence');
    assert.equal(item(juliet.sent[romeoSeen]!).jid, undefined, 'semi-anonymous: a participant does not see real JIDs');
    await juliet.receives((s) => s.name === 'message' && s.attrs.from === ROOM && s.getChild('subject') !== undefined, S2S_WAIT);
    // romeo, a moderator, sees juliet arrive with her real (remote) JID.
    const arrived = await romeo.receives(presenceFrom(`${ROOM}/Juliet`));
    assert.equal(item(arrived).jid, 'juliet@b.test/balcony');

    // Groupchat both ways; each sender gets the room's echo.
    romeo.send(message({ to: ROOM, type: 'groupchat', id: 'r1' }).c('body').t('from a.test').root());
    const atJuliet = await juliet.receives(groupchatFrom(`${ROOM}/Romeo`, 'from a.test'), S2S_WAIT);
    assert.equal(atJuliet.attrs.to, 'juliet@b.test/balcony');
    assert.equal(atJuliet.attrs.id, 'r1', "the sender's id is kept");
    await romeo.receives(groupchatFrom(`${ROOM}/Romeo`, 'from a.test'));
    juliet.send(message({ to: ROOM, type: 'groupchat', id: 'j1' }).c('body').t('from b.test').root());
    await romeo.receives(groupchatFrom(`${ROOM}/Juliet`, 'from b.test'), S2S_WAIT);
    await juliet.receives(groupchatFrom(`${ROOM}/Juliet`, 'from b.test'), S2S_WAIT);

    // A presence change of the remote occupant reaches the room.
    juliet.send(presence({ to: `${ROOM}/Juliet` }).c('show').t('away').root());
    const away = await romeo.receives((s) => presenceFrom(`${ROOM}/Juliet`)(s) && s.getChildText('show') === 'away', S2S_WAIT);
    assert.equal(item(away).role, 'participant');

    // A private message through the room, remote to local, marked as such (§7.5).
    juliet.send(message({ to: `${ROOM}/Romeo`, type: 'chat', id: 'pm' }).c('body').t('psst').root());
    const pm = await romeo.receives((s) => s.name === 'message' && s.attrs.from === `${ROOM}/Juliet` && s.getChildText('body') === 'psst', S2S_WAIT);
    assert.ok(pm.getChild('x', NS_USER), 'a private message carries <x xmlns=muc#user/>');

    // juliet leaves: her own unavailable (110), and romeo sees her go.
    juliet.send(presence({ to: `${ROOM}/Juliet`, type: 'unavailable' }));
    const gone = await juliet.receives(presenceFrom(`${ROOM}/Juliet`, 'unavailable'), S2S_WAIT);
    assert.deepEqual(codes(gone), [110]);
    await romeo.receives(presenceFrom(`${ROOM}/Juliet`, 'unavailable'), S2S_WAIT);
    // After the leave she is no occupant: her groupchat is refused.
    juliet.send(message({ to: ROOM, type: 'groupchat', id: 'late' }).c('body').t('too late').root());
    const refused = await juliet.receives((s) => s.name === 'message' && s.attrs.id === 'late' && s.attrs.type === 'error', S2S_WAIT);
    assert.equal(refused.getChild('error')?.getChild('not-acceptable', 'urn:ietf:params:xml:ns:xmpp-stanzas')?.name, 'not-acceptable');
    assert.ok(!romeo.sent.some(groupchatFrom(`${ROOM}/Juliet`, 'too late')));
  } finally {
    await pair.stop();
  }
});
