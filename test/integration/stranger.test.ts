/**
 * Stranger handling over federation, with @xmpp/client on two Canto servers (a.test holds the
 * accounts under test, b.test the remote senders): quarantine with the accept and dismiss flows
 * through ad-hoc commands, contacts (written to first, in the roster) unaffected, the drop
 * policy's service-unavailable, the new-account daily limit, and the counters.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { CantoConfig } from '../../src/core/config.js';
import { createAccount, errorCondition, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { command, fieldValues, notes, NS_COMMANDS, submit } from '../helpers/adhoc.js';
import { makeTestCa, startPair, type TestCa } from './s2s-harness.js';
import type { TestServer } from '../helpers/server.js';
import { waitFor } from '../../src/testing/index.js';
import { NODE_ACCEPT_REQUESTS, NODE_DISMISS_REQUESTS, NODE_LIST_REQUESTS } from '../../src/modules/stranger/index.js';

let ca: TestCa;
before(async () => {
  ca = await makeTestCa(['a.test', 'b.test']);
});
after(() => {
  rmSync(ca.dir, { recursive: true, force: true });
});

type Pair = Awaited<ReturnType<typeof startPair>>;

async function user(ts: TestServer, name: string, domain: string, clients: LoggedInClient[]): Promise<LoggedInClient> {
  await createAccount(ts, name, 'secret', domain);
  const c = await loginClient(ts, name, 'secret', 'r', { domain });
  clients.push(c);
  await c.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  await c.send(xml('presence'));
  return c;
}

async function withPair(adjustA: (c: CantoConfig) => void, fn: (pair: Pair, clients: LoggedInClient[]) => Promise<void>): Promise<void> {
  // b.test lets everything in: what is under test is a.test's policy.
  const pair = await startPair(ca, { trustCa: false, adjustA, adjustB: (c) => (c.modules.stranger = { policy: 'allow' }) });
  const clients: LoggedInClient[] = [];
  try {
    await fn(pair, clients);
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    await pair.stop();
  }
}

const chat = (to: string, id: string, body: string) => xml('message', { to, id, type: 'chat' }, xml('body', {}, body));
const withId = (id: string) => (s: XElement) => s.is('message') && s.attrs.id === id;
const isNotice = (sender: string) => (s: XElement) => s.is('message') && s.attrs.from === 'a.test' && s.getChildText('subject') === 'Message request' && (s.getChildText('body') ?? '').includes(sender);
const metric = async (ts: TestServer, re: RegExp) => re.test(await ts.server.metrics.render());

/** Run a one-stage request command on a.test choosing `senders`; returns the completion. */
async function choose(c: LoggedInClient, node: string, senders: string[]): Promise<XElement> {
  const first = await command(c, node, { to: 'a.test' });
  assert.equal(first.attrs.type, 'result', first.toString());
  const options = (first.getChild('command', NS_COMMANDS)?.getChild('x', 'jabber:x:data')?.getChildren('field') ?? []).flatMap((f) => f.getChildren('option').map((o) => o.getChildText('value')));
  for (const s of senders) assert.ok(options.includes(s), `${s} is offered: ${first.toString()}`);
  const sessionid = first.getChild('command', NS_COMMANDS)?.attrs.sessionid;
  return command(c, node, { to: 'a.test', sessionid, action: 'complete', form: submit({ senders }) });
}

test('quarantine: a stranger\'s messages wait as a request until accepted; contacts and roster items are unaffected', async () => {
  await withPair((c) => (c.modules.stranger = {}), async (pair, clients) => {
    const a = pair.a;
    const romeo = await user(a, 'romeo', 'a.test', clients);
    const juliet = await user(pair.b, 'juliet', 'b.test', clients);
    const nurse = await user(pair.b, 'nurse', 'b.test', clients);
    const benvolio = await user(pair.b, 'benvolio', 'b.test', clients);

    // A contact romeo wrote to first: the reply is delivered at once.
    await romeo.send(chat('nurse@b.test', 'n0', 'hello nurse'));
    await nurse.waitFor(withId('n0'), 15_000);
    await nurse.send(chat('romeo@a.test', 'n1', 'hello romeo'));
    const n1 = await romeo.waitFor(withId('n1'), 15_000);
    assert.equal(n1.getChild('delay', 'urn:xmpp:delay'), undefined);

    // A roster item: delivered at once.
    await romeo.iq(xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:roster' }, xml('item', { jid: 'benvolio@b.test' }))));
    await benvolio.send(chat('romeo@a.test', 'b1', 'cousin'));
    await romeo.waitFor(withId('b1'), 15_000);

    // A stranger: held; romeo is told once.
    await juliet.send(chat('romeo@a.test', 'j1', 'wherefore art thou'));
    await juliet.send(chat('romeo@a.test', 'j2', 'deny thy father'));
    await romeo.waitFor(isNotice('juliet@b.test'), 15_000);
    await juliet.send(chat('romeo@a.test/r', 'j3', 'to the full JID'));
    const listed = async () => fieldValues(await command(romeo, NODE_LIST_REQUESTS, { to: 'a.test' })).get('juliet@b.test')?.[0] ?? '';
    // The third is held too (its hold is done when the list shows it).
    await waitFor(async () => (await listed()).startsWith('3 messages'), { timeoutMs: 10_000, message: 'three held messages' });
    assert.match(await listed(), /^3 messages since .*: wherefore art thou$/);
    assert.ok(romeo.received.every((s) => !['j1', 'j2', 'j3'].includes(s.attrs.id ?? '')), 'nothing held was delivered');
    assert.equal(romeo.received.filter(isNotice('juliet@b.test')).length, 0, 'one notice per sender');
    assert.ok(await metric(a, /canto_stranger_messages_total\{[^}]*verdict="quarantined"[^}]*\} 3/));

    // Accept: the held messages arrive in order with their delay; later ones arrive directly.
    const done = await choose(romeo, NODE_ACCEPT_REQUESTS, ['juliet@b.test']);
    assert.equal(done.getChild('command', NS_COMMANDS)?.attrs.status, 'completed', done.toString());
    assert.match(notes(done)[0] ?? '', /3 held message/);
    for (const id of ['j1', 'j2', 'j3']) {
      const m = await romeo.waitFor(withId(id), 5000);
      assert.equal(m.attrs.from, 'juliet@b.test/r');
      assert.equal(m.getChild('delay', 'urn:xmpp:delay')?.attrs.from, 'a.test');
    }
    await juliet.send(chat('romeo@a.test', 'j4', 'again'));
    const j4 = await romeo.waitFor(withId('j4'), 15_000);
    assert.equal(j4.getChild('delay', 'urn:xmpp:delay'), undefined);
    assert.ok(await metric(a, /canto_stranger_requests_total\{[^}]*outcome="accepted"[^}]*\} 1/));

    // Dismiss: another stranger's request is deleted, nothing delivered.
    const tybalt = await user(pair.b, 'tybalt', 'b.test', clients);
    await tybalt.send(chat('romeo@a.test', 't1', 'draw'));
    await romeo.waitFor(isNotice('tybalt@b.test'), 15_000);
    const dismissed = await choose(romeo, NODE_DISMISS_REQUESTS, ['tybalt@b.test']);
    assert.match(notes(dismissed)[0] ?? '', /1 held message/);
    const empty = await command(romeo, NODE_LIST_REQUESTS, { to: 'a.test' });
    assert.match(notes(empty)[0] ?? '', /no message requests/);
    assert.ok(await romeo.nothing(withId('t1'), 300));
    // A chat state from a stranger is not held (nothing to read) and not delivered.
    await tybalt.send(xml('message', { to: 'romeo@a.test', type: 'chat', id: 't2' }, xml('composing', { xmlns: 'http://jabber.org/protocol/chatstates' })));
    await tybalt.send(chat('romeo@a.test', 't3', 'once more'));
    await romeo.waitFor(isNotice('tybalt@b.test'), 15_000);
    assert.ok(romeo.received.every((s) => s.attrs.id !== 't2'));
    assert.ok(await metric(a, /canto_stranger_messages_total\{[^}]*verdict="discarded"[^}]*\} 1/));
  });
});

test('drop: a stranger gets service-unavailable; contacts still get through', async () => {
  await withPair((c) => (c.modules.stranger = { policy: 'drop' }), async (pair, clients) => {
    const romeo = await user(pair.a, 'romeo', 'a.test', clients);
    const juliet = await user(pair.b, 'juliet', 'b.test', clients);
    const nurse = await user(pair.b, 'nurse', 'b.test', clients);
    await juliet.send(chat('romeo@a.test', 'j1', 'hello?'));
    const err = await juliet.waitFor((s) => s.is('message') && s.attrs.id === 'j1' && s.attrs.type === 'error', 15_000);
    assert.equal(errorCondition(err), 'service-unavailable');
    assert.equal(err.attrs.from, 'romeo@a.test');
    await romeo.send(chat('nurse@b.test', 'n0', 'hi'));
    await nurse.waitFor(withId('n0'), 15_000);
    await nurse.send(chat('romeo@a.test', 'n1', 'hi back'));
    await romeo.waitFor(withId('n1'), 15_000);
    assert.ok(romeo.received.every((s) => s.attrs.id !== 'j1'));
    assert.ok(await metric(pair.a, /canto_stranger_messages_total\{[^}]*verdict="dropped"[^}]*\} 1/));
  });
});

test('a new account may write to only so many strangers a day; contacts and local users are not counted', async () => {
  await withPair((c) => (c.modules.stranger = { new_account_strangers_per_day: 2 }), async (pair, clients) => {
    const romeo = await user(pair.a, 'romeo', 'a.test', clients);
    const mercutio = await user(pair.a, 'mercutio', 'a.test', clients);
    const s1 = await user(pair.b, 's1', 'b.test', clients);
    await user(pair.b, 's2', 'b.test', clients);
    await romeo.send(chat('s1@b.test', 'm1', 'one'));
    await s1.waitFor(withId('m1'), 15_000);
    await romeo.send(chat('s2@b.test', 'm2', 'two'));
    await romeo.send(chat('s3@b.test', 'm3', 'three'));
    const refused = await romeo.waitFor((s) => s.is('message') && s.attrs.id === 'm3' && s.attrs.type === 'error', 15_000);
    assert.equal(errorCondition(refused), 'policy-violation');
    // Someone already written to, and a user of the same host: not limited.
    await romeo.send(chat('s1@b.test', 'm4', 'one again'));
    await s1.waitFor(withId('m4'), 15_000);
    await romeo.send(chat('mercutio@a.test', 'm5', 'local'));
    await mercutio.waitFor(withId('m5'), 5000);
    assert.ok(romeo.received.every((s) => !(s.attrs.type === 'error' && ['m1', 'm2', 'm4', 'm5'].includes(s.attrs.id ?? ''))));
    assert.ok(await metric(pair.a, /canto_stranger_new_account_refused_total\{[^}]*\} 1/));
  });
});

test('allow: strangers are delivered as before', async () => {
  await withPair((c) => (c.modules.stranger = { policy: 'allow' }), async (pair, clients) => {
    const romeo = await user(pair.a, 'romeo', 'a.test', clients);
    const juliet = await user(pair.b, 'juliet', 'b.test', clients);
    await juliet.send(chat('romeo@a.test', 'j1', 'hello'));
    await romeo.waitFor(withId('j1'), 15_000);
  });
});
