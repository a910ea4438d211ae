/**
 * Issue 15, interop: slixmpp's xep_0045 plugin (Debian python3-slixmpp, /usr/bin/python3)
 * against the built-in `conference.localhost`: create (201) and instant room, join, groupchat
 * messages both ways, nickname change (303), subject, leave, by two slixmpp clients in
 * `slixmpp_muc.py`. In CI a missing slixmpp fails the file; elsewhere the test is skipped.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount } from '../helpers/xmpp-client.js';
import { runSlixmppScript, slixmppSkip, writeServerCa } from '../helpers/slixmpp.js';
import { roomJid, withMuc } from '../helpers/muc.js';

const PASSWORD = 'slix-muc-pässword';
const skip = slixmppSkip();

interface Step {
  event: string;
  name: string;
  ok: boolean;
  [key: string]: unknown;
}

let ts: TestServer;
let caFile: string;
before(async () => {
  if (skip) return;
  ts = await startTestServer(withMuc);
  await createAccount(ts, 'slixowner', PASSWORD);
  await createAccount(ts, 'slixguest', PASSWORD);
  caFile = writeServerCa(ts);
});
after(async () => {
  if (skip) return;
  await ts.stop();
});

test('slixmpp xep_0045: create, join, messages, nickname change, subject, leave on conference.localhost', { skip, timeout: 90_000 }, async () => {
  const room = roomJid('slixroom');
  const { status, events, stderr } = await runSlixmppScript('slixmpp_muc.py', [
    '--owner', 'slixowner@localhost/own',
    '--guest', 'slixguest@localhost/guest',
    '--password', PASSWORD,
    '--port', String(ts.c2sPort),
    '--ca', caFile,
    '--room', room,
  ], 60_000);
  const steps = events as Step[];
  const diagnostics = `steps: ${JSON.stringify(steps)}\nstderr: ${stderr}`;
  const step = (name: string) => {
    const s = steps.find((x) => x.name === name);
    assert.ok(s?.ok, `${name}: ${diagnostics}`);
    return s;
  };
  step('login');
  assert.deepEqual(step('create').codes, [110, 201]);
  assert.equal(step('instant').type, 'result');
  const join = step('join');
  assert.deepEqual(join.codes, [110]);
  assert.deepEqual(join.occupants, ['Guest', 'Owner']); // slixmpp counts itself
  assert.equal(step('owner_sees_guest').role, 'participant');
  const messages = step('messages');
  assert.equal(messages.guest_got_from, `${room}/Owner`);
  assert.equal(messages.owner_got_from, `${room}/Guest`);
  const nick = step('nick_change');
  assert.deepEqual(nick.codes, [303]);
  assert.equal(nick.new_nick, 'Visitor');
  assert.equal(nick.online, 'Visitor');
  assert.equal(step('subject').from, `${room}/Owner`);
  assert.equal(step('leave').type, 'unavailable');
  assert.equal(status, 0, diagnostics);
});
