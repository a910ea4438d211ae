/**
 * Block list handling of the rtbl module (src/modules/rtbl/blocklist.ts): the two item formats,
 * matching a sender by bare JID or domain, full replacement with its diff, limits, the
 * allow-list.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { AllowList, BlockList, SenderKeys, defaultFormat, normaliseEntry, sha256Hex } from '../../src/modules/rtbl/blocklist.js';

const h = (s: string) => createHash('sha256').update(s).digest('hex');

test('the digest is the lowercase hex SHA-256 of the UTF-8 text (xmppbl.org item ids)', () => {
  assert.equal(sha256Hex('spammer@example.net'), h('spammer@example.net'));
  assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(sha256Hex('müller@example.net'), createHash('sha256').update(Buffer.from('müller@example.net', 'utf8')).digest('hex'));
});

test('nodes named …_sha256 are hashed, others plain', () => {
  assert.equal(defaultFormat('muc_bans_sha256'), 'sha256');
  assert.equal(defaultFormat('spam_source_jids_sha256'), 'sha256');
  assert.equal(defaultFormat('spam_source_domains'), 'plain');
});

test('item ids that cannot be entries are ignored', () => {
  assert.equal(normaliseEntry('sha256', h('a@b').toUpperCase()), h('a@b'));
  assert.equal(normaliseEntry('sha256', 'not-a-digest'), undefined);
  assert.equal(normaliseEntry('sha256', h('a@b').slice(1)), undefined);
  assert.equal(normaliseEntry('plain', 'Spam.Example'), 'spam.example');
  assert.equal(normaliseEntry('plain', ''), undefined);
  assert.equal(normaliseEntry('plain', 'a b'), undefined);
  assert.equal(normaliseEntry('plain', 'user@host/resource'), undefined);
  assert.equal(normaliseEntry('plain', 'x'.repeat(3000)), undefined);
});

test('a hashed list matches the bare JID or the domain of a sender', () => {
  const list = new BlockList('sha256', 100);
  assert.equal(list.add(h('spammer@example.net')), h('spammer@example.net'));
  assert.equal(list.add(h('spam.example')), h('spam.example'));
  assert.equal(list.add(h('spam.example')), undefined, 'known already');
  assert.equal(list.add('garbage'), undefined);
  assert.equal(list.size, 2);
  assert.ok(list.matches(new SenderKeys('spammer@example.net', 'example.net')));
  assert.ok(!list.matches(new SenderKeys('friend@example.net', 'example.net')), 'the rest of the domain is not listed');
  assert.ok(list.matches(new SenderKeys('anyone@spam.example', 'spam.example')), 'a listed domain lists every JID on it');
  assert.ok(list.matches(new SenderKeys('spam.example', 'spam.example')), 'and the domain itself');
  assert.ok(!list.matches(new SenderKeys('a@sub.spam.example', 'sub.spam.example')), 'not its subdomains');
  assert.ok(list.matchesDomain('spam.example'));
  assert.ok(!list.matchesDomain('example.net'));
  assert.equal(list.remove(h('spammer@example.net')), h('spammer@example.net'));
  assert.equal(list.remove(h('spammer@example.net')), undefined);
  assert.ok(!list.matches(new SenderKeys('spammer@example.net', 'example.net')));
});

test('a plain list matches JIDs and domains as written', () => {
  const list = new BlockList('plain', 100);
  list.add('Spam.Example');
  list.add('bot@example.org');
  assert.ok(list.matches(new SenderKeys('x@spam.example', 'spam.example')));
  assert.ok(list.matches(new SenderKeys('bot@example.org', 'example.org')));
  assert.ok(!list.matches(new SenderKeys('human@example.org', 'example.org')));
  assert.ok(list.matchesDomain('spam.example'));
});

test('replace makes the list exactly the fetched ids and says what changed', () => {
  const list = new BlockList('sha256', 100);
  list.add(h('a@x'));
  list.add(h('b@x'));
  const r = list.replace([h('b@x'), h('c@x'), 'junk', h('c@x')]);
  assert.deepEqual(r.added, [h('c@x')]);
  assert.deepEqual(r.removed, [h('a@x')]);
  assert.equal(r.ignored, 1);
  assert.deepEqual(list.values().sort(), [h('b@x'), h('c@x')].sort());
  assert.deepEqual(list.clear().sort(), [h('b@x'), h('c@x')].sort());
  assert.equal(list.size, 0);
  assert.ok(!list.matches(new SenderKeys('b@x', 'x')));
});

test('a list never holds more than max_entries', () => {
  const list = new BlockList('plain', 2);
  assert.ok(list.add('a.example'));
  assert.ok(list.add('b.example'));
  assert.equal(list.add('c.example'), undefined);
  assert.equal(list.size, 2);
  const r = list.replace(['x.example', 'y.example', 'z.example']);
  assert.equal(list.size, 2);
  assert.equal(r.ignored, 1);
});

test('the allow-list names bare JIDs and whole domains', () => {
  const allow = new AllowList(['Friend@Spam.Example', 'partner.example']);
  assert.ok(allow.allows('friend@spam.example', 'spam.example'));
  assert.ok(!allow.allows('other@spam.example', 'spam.example'));
  assert.ok(allow.allows('anyone@partner.example', 'partner.example'));
  assert.ok(!allow.allows('a@sub.partner.example', 'sub.partner.example'));
});
