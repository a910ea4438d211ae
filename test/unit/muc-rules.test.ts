/**
 * The MUC module's pure rules: the role and affiliation permission tables (XEP-0045 §8–10), the
 * history limits (§7.2.15), the PRECIS Nickname profile (RFC 8266) and the lookalike key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAffiliationChange, checkRoleChange, defaultRole, mayChangeSubject, mayPrivateMessage, mayReadList, seesRealJids, type Affiliation, type Role } from '../../src/modules/muc/roles.js';
import { parseHistoryRequest, selectHistory, MemoryHistory, type HistoryEntry } from '../../src/modules/muc/history.js';
import { enforceNickname, nicknameComparisonKey } from '../../src/jid/nickname.js';
import { nicknameSkeleton } from '../../src/modules/muc/nick.js';
import { Element } from '../../src/xml/element.js';
import { message } from '../../src/xml/stanza.js';
import { Room, type RoomConfig } from '../../src/modules/muc/room.js';

test('default roles by affiliation (§5.1–5.2)', () => {
  const table: Array<[Affiliation, boolean, Role]> = [
    ['owner', false, 'moderator'], ['admin', false, 'moderator'], ['member', false, 'participant'], ['none', false, 'participant'],
    ['none', true, 'visitor'], ['member', true, 'participant'], ['outcast', false, 'none'],
  ];
  for (const [aff, moderated, role] of table) assert.equal(defaultRole(aff, moderated), role, `${aff} moderated=${moderated}`);
});

test('role changes (§8.2–8.4, §9.6–9.7)', () => {
  const p = (role: Role, affiliation: Affiliation) => ({ role, affiliation });
  const table: Array<[ReturnType<typeof p>, ReturnType<typeof p>, Role, string]> = [
    [p('participant', 'member'), p('participant', 'none'), 'none', 'forbidden'], // only moderators
    [p('moderator', 'none'), p('participant', 'none'), 'none', 'ok'], // a moderator kicks a participant
    [p('moderator', 'none'), p('participant', 'member'), 'none', 'not-allowed'], // …not one with a higher affiliation
    [p('moderator', 'member'), p('moderator', 'admin'), 'none', 'forbidden'], // touching a moderator needs admin
    [p('moderator', 'owner'), p('moderator', 'admin'), 'none', 'not-allowed'], // nobody kicks an admin
    [p('moderator', 'owner'), p('moderator', 'owner'), 'visitor', 'not-allowed'],
    [p('moderator', 'none'), p('visitor', 'none'), 'participant', 'ok'], // voice
    [p('moderator', 'none'), p('participant', 'none'), 'visitor', 'ok'],
    [p('moderator', 'none'), p('participant', 'none'), 'moderator', 'forbidden'], // only admins make moderators
    [p('moderator', 'admin'), p('participant', 'member'), 'moderator', 'ok'],
    [p('moderator', 'admin'), p('moderator', 'member'), 'participant', 'ok'],
    [p('moderator', 'admin'), p('moderator', 'owner'), 'participant', 'not-allowed'],
  ];
  for (const [actor, target, to, want] of table) assert.equal(checkRoleChange(actor, target, to), want, `${JSON.stringify(actor)} → ${JSON.stringify(target)} as ${to}`);
});

test('affiliation changes (§9, §10)', () => {
  const table: Array<[Affiliation, Affiliation, Affiliation, string]> = [
    ['member', 'none', 'member', 'forbidden'],
    ['none', 'none', 'outcast', 'forbidden'],
    ['admin', 'none', 'member', 'ok'],
    ['admin', 'member', 'outcast', 'ok'],
    ['admin', 'none', 'admin', 'forbidden'],
    ['admin', 'none', 'owner', 'forbidden'],
    ['admin', 'admin', 'member', 'not-allowed'],
    ['admin', 'owner', 'outcast', 'not-allowed'],
    ['owner', 'owner', 'admin', 'ok'],
    ['owner', 'none', 'owner', 'ok'],
    ['owner', 'admin', 'outcast', 'ok'],
  ];
  for (const [actor, target, to, want] of table) assert.equal(checkAffiliationChange(actor, target, to), want, `${actor}: ${target} → ${to}`);
});

test('lists, private messages, real JIDs, subject', () => {
  assert.equal(mayReadList({ role: 'moderator', affiliation: 'none' }, { role: 'participant' }), true);
  assert.equal(mayReadList({ role: 'participant', affiliation: 'member' }, { role: 'participant' }), false);
  assert.equal(mayReadList({ role: 'moderator', affiliation: 'none' }, { affiliation: 'member' }), false);
  assert.equal(mayReadList({ role: 'none', affiliation: 'admin' }, { affiliation: 'outcast' }), true);
  assert.equal(mayPrivateMessage('visitor', 'anyone'), true);
  assert.equal(mayPrivateMessage('visitor', 'participants'), false);
  assert.equal(mayPrivateMessage('participant', 'moderators'), false);
  assert.equal(mayPrivateMessage('moderator', 'none'), false);
  assert.equal(seesRealJids('participant', 'anyone'), true);
  assert.equal(seesRealJids('participant', 'moderators'), false);
  assert.equal(seesRealJids('moderator', 'moderators'), true);
  assert.equal(mayChangeSubject('participant', false), false);
  assert.equal(mayChangeSubject('participant', true), true);
  assert.equal(mayChangeSubject('visitor', true), false);
  assert.equal(mayChangeSubject('moderator', false), true);
});

const entry = (i: number, when: number): HistoryEntry => ({ stanza: message({ from: 'r@c/n', type: 'groupchat' }).c('body').t(`message ${i}`).root(), when });

test('history limits: room length, maxstanzas, seconds, since, maxchars (whole stanzas from the newest back)', () => {
  const now = 1_000_000;
  const entries = [1, 2, 3, 4, 5].map((i) => entry(i, now - (6 - i) * 10_000)); // 50 s … 10 s ago
  const bodies = (es: HistoryEntry[]) => es.map((e) => e.stanza.getChildText('body'));
  assert.deepEqual(bodies(selectHistory(entries, {}, 20, now)), ['message 1', 'message 2', 'message 3', 'message 4', 'message 5']);
  assert.deepEqual(bodies(selectHistory(entries, {}, 3, now)), ['message 3', 'message 4', 'message 5']);
  assert.deepEqual(bodies(selectHistory(entries, { maxstanzas: 2 }, 20, now)), ['message 4', 'message 5']);
  assert.deepEqual(bodies(selectHistory(entries, { maxstanzas: 0 }, 20, now)), []);
  assert.deepEqual(bodies(selectHistory(entries, { seconds: 25 }, 20, now)), ['message 4', 'message 5']);
  assert.deepEqual(bodies(selectHistory(entries, { since: now - 30_000 }, 20, now)), ['message 3', 'message 4', 'message 5']);
  const one = entries[0]!.stanza.toString().length;
  assert.deepEqual(bodies(selectHistory(entries, { maxchars: one * 2 }, 20, now)), ['message 4', 'message 5']);
  assert.deepEqual(bodies(selectHistory(entries, { maxchars: one * 2 - 1 }, 20, now)), ['message 5']);
  assert.deepEqual(bodies(selectHistory(entries, { maxchars: 0 }, 20, now)), []);
  assert.deepEqual(bodies(selectHistory(entries, { maxstanzas: 4, seconds: 35, maxchars: one * 10 }, 20, now)), ['message 3', 'message 4', 'message 5']);
});

test('history request parsing and the in-memory ring', () => {
  const h = new Element('history', { maxchars: '100', maxstanzas: 'x', seconds: '60', since: '1970-01-01T00:00:10Z' });
  assert.deepEqual(parseHistoryRequest(h), { maxchars: 100, seconds: 60, since: 10_000 });
  assert.deepEqual(parseHistoryRequest(undefined), {});
  const config = { historyLength: 3 } as RoomConfig;
  const room = new Room('r', 'c', config, 0, 'a@b');
  const ring = new MemoryHistory(100);
  for (let i = 1; i <= 5; i++) ring.record(room, entry(i, i));
  assert.deepEqual(ring.fetch(room, {}, 10).map((e) => e.when), [3, 4, 5]);
  ring.forget(room);
  assert.deepEqual(ring.fetch(room, {}, 10), []);
});

test('the PRECIS Nickname profile: spaces, NFKC, case kept for display and folded for comparison', () => {
  const ok = (s: string) => {
    const r = enforceNickname(s);
    return r.ok ? r.value : `!${r.problem}`;
  };
  assert.equal(ok('  Romeo   Montague '), 'Romeo Montague');
  assert.equal(ok('Romeo\u00a0M'), 'Romeo M'); // a no-break space is a space
  assert.equal(ok('ｒｏｍｅｏ'), 'romeo'); // fullwidth → NFKC
  assert.equal(ok('Ⅳ'), 'IV');
  assert.equal(ok(''), '!empty');
  assert.equal(ok('   '), '!empty');
  assert.equal(ok('a\u0007b'), '!disallowed'); // control character
  assert.equal(ok('🤖'), '🤖'); // symbols are in FreeformClass…
  assert.equal(ok('🤖\ufe0f'), '!disallowed'); // …a variation selector (default ignorable) is not (Prosody's muc_nickname_robotface)
  assert.equal(nicknameComparisonKey('Romeo'), nicknameComparisonKey('ROMEO'));
  assert.notEqual(nicknameComparisonKey('Romeo'), nicknameComparisonKey('Romea'));
});

test('lookalike keys: case, accents, Cyrillic and Greek letters, digits, zero-width characters', () => {
  const same = ['Romeo', 'ROMEO', 'Rómeo', 'Rоmeo' /* Cyrillic о */, 'R0meo', 'Ro\u200dmeo', 'Romeο' /* Greek ο */];
  for (const n of same) assert.equal(nicknameSkeleton(n), nicknameSkeleton('romeo'), n);
  assert.equal(nicknameSkeleton('AIice'), nicknameSkeleton('Alice'));
  assert.notEqual(nicknameSkeleton('Romeo'), nicknameSkeleton('Juliet'));
});
