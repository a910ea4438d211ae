/**
 * XEP-0198 end to end: @xmpp/client (its bundled stream management) over TCP loses its socket
 * with messages in flight and resumes; a raw WebSocket client resumes on a new WebSocket, and
 * the failures a real transport must answer (enable before bind, another account's id); after
 * the resumption window the messages arrive through offline storage instead.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient, cutConnection } from '../helpers/xmpp-client.js';
import { ScramClient } from '../helpers/scram-client.js';
import { WsClient, openFrame, wsUrl } from '../helpers/ws-client.js';
import { waitFor } from '../../src/testing/index.js';
import type { SmacksService } from '../../src/modules/smacks/index.js';
import type { BoundC2SSession } from '../../src/core/session.js';
import type { CantoConfig } from '../../src/core/config.js';

const SM = 'urn:xmpp:sm:3';
const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

function withWs(smacks: Record<string, unknown>): (c: CantoConfig) => void {
  return (c) => {
    c.http.ports = [0];
    if (!c.modules_enabled.includes('websocket')) c.modules_enabled.push('websocket');
    c.c2s.require_encryption = false; // plain ws in tests
    c.modules.smacks = smacks;
  };
}

let ts: TestServer;
before(async () => {
  // The server never asks for acks here, so what it sent stays unacknowledged until a resume.
  ts = await startTestServer(withWs({ request_after: 1000, request_delay: '10 minutes' }));
  await createAccount(ts, 'romeo', 'r-pass');
  await createAccount(ts, 'juliet', 'j-pass');
});
after(async () => {
  await ts.stop();
});

const smacksOf = (t: TestServer) => t.server.hosts.get('localhost')?.services.get('smacks') as SmacksService;
const sessionOf = (t: TestServer, user: string, resource: string) => t.server.sessions.getSession('localhost', user, resource);

const cut = cutConnection;

const chat = (to: string, id: string) => xml('message', { to, type: 'chat', id }, xml('body', {}, `body ${id}`));

test('@xmpp/client: the TCP connection is cut with unacked messages in flight; it resumes and gets each message exactly once', { timeout: 30_000 }, async () => {
  const juliet = await loginClient(ts, 'juliet', 'j-pass', 'phone', { reconnect: true });
  const romeo = await loginClient(ts, 'romeo', 'r-pass', 'desk');
  const seen: string[] = [];
  juliet.xmpp.on('stanza', (el) => {
    if (el.is('message') && el.attrs.id !== undefined) seen.push(el.attrs.id);
  });
  try {
    const session = sessionOf(ts, 'juliet', 'phone') as BoundC2SSession;
    await waitFor(() => smacksOf(ts).state(session)?.id, { timeoutMs: 5000, message: 'xmpp.js did not enable resumable SM' });
    await romeo.send(chat(juliet.jid, 'm1'));
    await romeo.send(chat(juliet.jid, 'm2'));
    await waitFor(() => seen.includes('m2'), { timeoutMs: 5000 });
    await romeo.send(chat(juliet.jid, 'm3'));
    cut(juliet); // abrupt: no </stream:stream>; m3 may or may not have arrived
    await waitFor(() => session.hibernating, { timeoutMs: 5000, message: 'the session did not hibernate' });
    assert.ok((smacksOf(ts).state(session)?.queue.length ?? 0) >= 2, 'm1, m2 (and maybe m3) unacknowledged');
    await romeo.send(chat(juliet.jid, 'm4'));
    await romeo.send(chat(juliet.jid, 'm5'));
    await waitFor(() => ['m1', 'm2', 'm3', 'm4', 'm5'].every((id) => seen.includes(id)), {
      timeoutMs: 15_000,
      message: () => `received ${seen.join(', ')}`,
    });
    await new Promise((r) => setTimeout(r, 500)); // room for duplicates to show up
    assert.deepEqual([...seen].sort(), ['m1', 'm2', 'm3', 'm4', 'm5']);
    assert.equal(sessionOf(ts, 'juliet', 'phone'), session, 'the same session, resumed (not a new binding)');
    assert.equal(session.hibernating, false);
    // It goes on: a message after resumption arrives once.
    await romeo.send(chat(juliet.jid, 'm6'));
    await waitFor(() => seen.includes('m6'), { timeoutMs: 5000 });
  } finally {
    await juliet.stop();
    await romeo.stop();
  }
});

test('CSI: a resumed stream starts active (XEP-0352 §5.2): what was held while inactive arrives after the resumption without <active/>', { timeout: 30_000 }, async () => {
  const juliet = await loginClient(ts, 'juliet', 'j-pass', 'pocket', { reconnect: true });
  const romeo = await loginClient(ts, 'romeo', 'r-pass', 'desk');
  const seen: string[] = [];
  juliet.xmpp.on('stanza', (el) => {
    if (el.is('message') && el.attrs.id !== undefined) seen.push(el.attrs.id);
  });
  const composing = (id: string) => xml('message', { to: juliet.jid, type: 'chat', id }, xml('composing', { xmlns: 'http://jabber.org/protocol/chatstates' }));
  try {
    const session = sessionOf(ts, 'juliet', 'pocket') as BoundC2SSession;
    await waitFor(() => smacksOf(ts).state(session)?.id, { timeoutMs: 5000, message: 'xmpp.js did not enable resumable SM' });
    await juliet.send(xml('inactive', { xmlns: 'urn:xmpp:csi:0' }));
    // A ping answered after <inactive/> means the server has read it.
    await juliet.xmpp.iqCaller.request(xml('iq', { type: 'get', to: 'localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    await romeo.send(composing('cs1'));
    await romeo.send(chat(juliet.jid, 'marker')); // a body: flushes what is held, so cs1 arrives first
    await waitFor(() => seen.includes('marker'), { timeoutMs: 5000 });
    assert.deepEqual(seen, ['cs1', 'marker'], 'an important message sends what was held first');
    await romeo.send(composing('cs2'));
    // A receipt passes at once (nothing flushed): once it is here, cs2 would have been too.
    await romeo.send(xml('message', { to: juliet.jid, id: 'r1' }, xml('received', { xmlns: 'urn:xmpp:receipts', id: 'marker' })));
    await waitFor(() => seen.includes('r1'), { timeoutMs: 5000 });
    assert.ok(!seen.includes('cs2'), 'a chat state alone is held while inactive');
    cut(juliet);
    await waitFor(() => session.hibernating, { timeoutMs: 5000, message: 'the session did not hibernate' });
    await romeo.send(composing('cs3')); // held too, replacing cs2 (the latest per sender)
    await waitFor(() => seen.includes('cs3'), { timeoutMs: 15_000, message: () => `after resuming, received ${seen.join(', ')}` });
    assert.equal(sessionOf(ts, 'juliet', 'pocket'), session, 'resumed, not a new binding');
    assert.ok(!seen.includes('cs2'), 'cs2 was superseded by cs3 while held');
    // Active now: the next chat state is not held.
    await romeo.send(composing('cs4'));
    await waitFor(() => seen.includes('cs4'), { timeoutMs: 5000, message: 'a chat state after the resumption was held: the session stayed inactive' });
  } finally {
    await juliet.stop();
    await romeo.stop();
  }
});

/** A raw WebSocket login with SCRAM-SHA-1 (plain ws: require_encryption is off here); returns after the second features. */
async function wsLogin(t: TestServer, user: string, pass: string): Promise<{ c: WsClient; features: string }> {
  const c = await WsClient.connect(wsUrl(t));
  c.send(openFrame());
  await c.waitFor(/stream:features/);
  const scram = new ScramClient({ hash: 'SHA-1', username: user, password: pass });
  c.send(`<auth xmlns='${SASL}' mechanism='SCRAM-SHA-1'>${b64(scram.first())}</auth>`);
  const challenge = /<challenge[^>]*>([^<]*)</.exec(await c.waitFor(/<challenge/))?.[1] ?? '';
  c.send(`<response xmlns='${SASL}'>${b64(scram.final(Buffer.from(challenge, 'base64').toString('utf8')))}</response>`);
  await c.waitFor(/<success/);
  c.messages.length = 0;
  c.send(openFrame());
  const features = await c.waitFor(/stream:features/);
  return { c, features };
}

async function wsBind(c: WsClient, resource: string): Promise<void> {
  c.send(`<iq type='set' id='b1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`);
  await c.waitFor(/<jid>/);
}

async function next(c: WsClient, re: RegExp): Promise<string> {
  const hit = await c.waitFor(re);
  c.messages.splice(c.messages.indexOf(hit), 1);
  return hit;
}

test('WebSocket: sm advertised after SASL; enable before bind fails; resume on a new WebSocket re-sends only the unacked; another account cannot use the id', { timeout: 30_000 }, async () => {
  const romeo = await loginClient(ts, 'romeo', 'r-pass', 'desk2');
  const { c: first, features } = await wsLogin(ts, 'juliet', 'j-pass');
  let second: WsClient | undefined;
  let thief: WsClient | undefined;
  try {
    assert.match(features, /<sm xmlns=["']urn:xmpp:sm:3["']\/>/);
    first.send(`<enable xmlns='${SM}' resume='true'/>`);
    assert.match(await next(first, /<failed/), /unexpected-request/);
    await wsBind(first, 'web');
    first.send(`<enable xmlns='${SM}' resume='true'/>`);
    const enabled = await next(first, /<enabled/);
    const id = /id=["']([^"']+)["']/.exec(enabled)?.[1] ?? '';
    assert.match(enabled, /resume=["']true["']/);
    assert.match(enabled, /max=["']600["']/);
    await romeo.send(chat('juliet@localhost/web', 'w1'));
    await next(first, /id=["']w1["']/);
    first.send(`<a xmlns='${SM}' h='1'/>`);
    await romeo.send(chat('juliet@localhost/web', 'w2'));
    await next(first, /id=["']w2["']/); // received but not acknowledged
    const session = sessionOf(ts, 'juliet', 'web') as BoundC2SSession;
    first.close(); // terminate: no <close/>
    await waitFor(() => session.hibernating, { timeoutMs: 5000 });
    await romeo.send(chat('juliet@localhost/web', 'w3'));

    thief = (await wsLogin(ts, 'romeo', 'r-pass')).c;
    thief.send(`<resume xmlns='${SM}' previd='${id}' h='0'/>`);
    const refused = await next(thief, /<failed/);
    assert.match(refused, /item-not-found/);
    assert.doesNotMatch(refused, / h=/, 'nothing about the other session');
    assert.equal(session.hibernating, true);

    second = (await wsLogin(ts, 'juliet', 'j-pass')).c;
    second.send(`<resume xmlns='${SM}' previd='${id}' h='1'/>`);
    assert.match(await next(second, /<resumed/), /h=["']0["']/);
    await next(second, /id=["']w2["']/);
    await next(second, /id=["']w3["']/);
    assert.equal(second.messages.filter((m) => /id=["']w[123]["']/.test(m)).length, 0, 'w1 (acked) not re-sent, nothing twice');
    assert.equal(session.hibernating, false);
    second.send(`<message xmlns='jabber:client' to='romeo@localhost/desk2' type='chat' id='back'><body>hi</body></message>`);
    await romeo.waitFor((s) => s.is('message') && s.attrs.id === 'back');
    second.send(`<r xmlns='${SM}'/>`);
    assert.match(await next(second, /<a /), /h=["']1["']/);
    second.send(`<enable xmlns='${SM}'/>`);
    assert.match(await next(second, /<failed/), /unexpected-request/, 'enable twice');
  } finally {
    first.close();
    second?.close();
    thief?.close();
    await romeo.stop();
  }
});

test('after the resumption window: <failed h/> and the messages arrive through offline storage, none lost', { timeout: 30_000 }, async () => {
  const t = await startTestServer(withWs({ request_after: 1000, resume_timeout: '1s' }));
  try {
    await createAccount(t, 'romeo', 'r-pass');
    await createAccount(t, 'juliet', 'j-pass');
    const romeo: LoggedInClient = await loginClient(t, 'romeo', 'r-pass', 'desk');
    const { c: first } = await wsLogin(t, 'juliet', 'j-pass');
    await wsBind(first, 'web');
    first.send(`<enable xmlns='${SM}' resume='true' max='1'/>`);
    const id = /id=["']([^"']+)["']/.exec(await next(first, /<enabled/))?.[1] ?? '';
    await romeo.send(chat('juliet@localhost/web', 'e1'));
    await next(first, /id=["']e1["']/);
    first.close();
    await waitFor(() => sessionOf(t, 'juliet', 'web')?.hibernating, { timeoutMs: 5000 });
    await romeo.send(chat('juliet@localhost/web', 'e2'));
    await waitFor(() => sessionOf(t, 'juliet', 'web') === undefined, { timeoutMs: 5000, message: 'the hibernating session did not expire' });

    const { c: again } = await wsLogin(t, 'juliet', 'j-pass');
    again.send(`<resume xmlns='${SM}' previd='${id}' h='1'/>`);
    const failed = await next(again, /<failed/);
    assert.match(failed, /item-not-found/);
    assert.match(failed, /h=["']0["']/, 'the ended session handled nothing from the client');
    await wsBind(again, 'web2');
    again.send(`<presence xmlns='jabber:client'/>`);
    const e1 = await next(again, /id=["']e1["']/);
    assert.match(e1, /urn:xmpp:delay/);
    await next(again, /id=["']e2["']/);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(again.messages.filter((m) => /id=["']e[12]["']/.test(m)).length, 0, 'each once');
    again.close();
    await romeo.stop();
  } finally {
    await t.stop();
  }
});
