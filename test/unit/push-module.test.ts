/**
 * The push module in the harness (memory storage, FakeClock, fake clients), with an app server
 * on another domain (what it is sent lands in `h.remote`; its answers are routed back from it):
 * enable/disable and their errors, a notification for a hibernated session and for an offline
 * message, none for a connected one, coalescing under the rate limit, retries with back-off, a
 * timeout counted as a failure, disabling after max_failures, and the trace of each decision.
 */
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import push, { type PushService } from '../../src/modules/push/index.js';
import adminsocket, { type AdminCommands } from '../../src/modules/adminsocket/index.js';
import disco from '../../src/modules/disco/index.js';
import messageModule from '../../src/modules/message/index.js';
import offline from '../../src/modules/offline/index.js';
import smacks, { type SmacksService } from '../../src/modules/smacks/index.js';
import { errorCondition, FakeClock, startHarness, waitFor, type FakeClient, type Harness } from '../../src/testing/index.js';
import { Element } from '../../src/xml/element.js';
import { openSqliteStorage } from '../../src/storage/sqlite.js';
import { iq, message, presence } from '../../src/xml/stanza.js';

const APP = 'push.example.net';
const NS_PUSH = 'urn:xmpp:push:0';
const PUBSUB = 'http://jabber.org/protocol/pubsub';

async function setup(options: Record<string, unknown> = {}) {
  const clock = new FakeClock();
  const h = await startHarness({
    modules: [messageModule, offline, smacks, disco, adminsocket, push],
    clock,
    config: (c) => {
      c.modules.push = { min_interval: '10s', retry_delay: '1s', timeout: '5s', ...options };
    },
  });
  const svc = h.context.services.get('push') as PushService;
  return { h, clock, svc };
}

const enableIq = (id: string, node = 'n1', secret: string | undefined = 's3cr3t', jid: string | undefined = APP) => {
  const el = iq({ type: 'set', id }).c('enable', { xmlns: NS_PUSH, jid, node });
  if (secret !== undefined) {
    const x = el.c('x', { xmlns: 'jabber:x:data', type: 'submit' });
    x.c('field', { var: 'FORM_TYPE' }).c('value').t('http://jabber.org/protocol/pubsub#publish-options');
    x.c('field', { var: 'secret' }).c('value').t(secret);
  }
  return el.root();
};

async function enable(c: FakeClient, id = 'e1', node = 'n1'): Promise<void> {
  const r = await c.ask(enableIq(id, node));
  assert.equal(r.attrs.type, 'result', r.toString());
}

/** Stream management on, then the connection drops: the session hibernates. */
function hibernate(h: Harness, c: FakeClient): void {
  const sm = h.context.services.get('smacks') as SmacksService;
  sm.handle(c.session, { kind: 'enable', resume: true, max: undefined });
  h.server.sessions.connectionClosed(c.session, c.session.conn);
  assert.equal(c.session.hibernating, true);
}

const chat = (to: string, body: string) => message({ to, type: 'chat', id: body }).c('body').t(body).root();
const pushes = (h: Harness) => h.remote.filter((s) => s.name === 'iq' && s.attrs.to === APP);
const summary = (p: Element) => {
  const x = p.getChild('pubsub', PUBSUB)?.getChild('publish')?.getChild('item')?.getChild('notification', NS_PUSH)?.getChild('x', 'jabber:x:data');
  return Object.fromEntries((x?.getChildren('field') ?? []).map((f) => [f.attrs.var, f.getChildText('value')]));
};

/** The app server answers a notification (result, or an error with `condition`). */
function answer(h: Harness, p: Element, condition?: string): void {
  const el = iq({ type: condition === undefined ? 'result' : 'error', id: p.attrs.id, from: APP, to: p.attrs.from });
  if (condition !== undefined) el.c('error', { type: 'cancel' }).c(condition, { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' });
  h.server.router.route(h.context.session, el);
}

const decisions = (svc: PushService, user: string) => svc.trace(user).map((e) => `${e.decision}${e.reason ? `:${e.reason}` : ''}`);

test('urn:xmpp:push:0 is advertised on the account (and the host); bad enable/disable requests get the coded errors', async () => {
  const { h, svc } = await setup({ max_registrations: 2 });
  try {
    const juliet = await h.client('juliet@localhost/phone');
    const info = await juliet.ask(iq({ type: 'get', id: 'd1', to: 'juliet@localhost' }).c('query', { xmlns: 'http://jabber.org/protocol/disco#info' }).root());
    assert.ok(info.getChild('query')?.getChildren('feature').some((f) => f.attrs.var === NS_PUSH), info.toString());
    const hostInfo = await juliet.ask(iq({ type: 'get', id: 'd2', to: 'localhost' }).c('query', { xmlns: 'http://jabber.org/protocol/disco#info' }).root());
    assert.ok(hostInfo.getChild('query')?.getChildren('feature').some((f) => f.attrs.var === NS_PUSH), 'enable to the server is answered too');

    const bad = async (el: Element): Promise<string> => errorCondition(await juliet.ask(el)) ?? 'no error';
    assert.equal(await bad(iq({ type: 'set', id: 'b1' }).c('enable', { xmlns: NS_PUSH, node: 'n1' }).root()), 'modify/bad-request');
    assert.equal(await bad(iq({ type: 'set', id: 'b2' }).c('enable', { xmlns: NS_PUSH, jid: APP }).root()), 'modify/bad-request');
    assert.equal(await bad(enableIq('b3', 'n1', undefined, 'bad@@jid')), 'modify/jid-malformed');
    const form = iq({ type: 'set', id: 'b4' }).c('enable', { xmlns: NS_PUSH, jid: APP, node: 'n' }).c('x', { xmlns: 'jabber:x:data', type: 'form' }).root();
    assert.equal(await bad(form), 'modify/bad-request');
    assert.equal(await bad(iq({ type: 'set', id: 'b5' }).c('disable', { xmlns: NS_PUSH }).root()), 'modify/bad-request');
    // Another user's account: forbidden.
    assert.equal(await bad(iq({ type: 'set', id: 'b6', to: 'romeo@localhost' }).c('enable', { xmlns: NS_PUSH, jid: APP, node: 'n' }).root()), 'auth/forbidden');
    assert.deepEqual(await svc.registrations('juliet'), [], 'nothing stored by a refused request');

    await enable(juliet, 'e1', 'n1');
    await enable(juliet, 'e2', 'n2');
    await enable(juliet, 'e1b', 'n1'); // the same node again: replaced, not a third
    assert.equal(await bad(enableIq('e3', 'n3')), 'modify/policy-violation');
    assert.deepEqual((await svc.registrations('juliet')).map((r) => [r.node, r.resource, r.session]).sort(), [['n1', 'phone', 'connected'], ['n2', 'phone', 'connected']]);
    // Sent to the server's domain works too (some clients address it there).
    assert.equal((await juliet.ask(iq({ type: 'set', id: 'x1', to: 'localhost' }).c('disable', { xmlns: NS_PUSH, jid: APP, node: 'n2' }).root())).attrs.type, 'result');
    assert.deepEqual((await svc.registrations('juliet')).map((r) => r.node), ['n1']);
    assert.equal((await juliet.ask(iq({ type: 'set', id: 'x2' }).c('disable', { xmlns: NS_PUSH, jid: APP }).root())).attrs.type, 'result');
    assert.deepEqual(await svc.registrations('juliet'), []);
    assert.deepEqual(decisions(svc, 'juliet'), ['enabled', 'enabled', 'enabled', 'disabled:disabled by phone', 'disabled:disabled by phone']);
  } finally {
    await h.stop();
  }
});

test('a hibernated session: one notification per important message (publish-options with the secret, no body or sender by default); none for chat states; none while connected', async () => {
  const { h, svc } = await setup();
  try {
    const juliet = await h.client('juliet@localhost/phone');
    const romeo = await h.client('romeo@localhost/desk');
    await enable(juliet);

    // Connected: delivered, no notification; the trace says why.
    romeo.send(chat('juliet@localhost/phone', 'while connected'));
    await juliet.receives((s) => s.getChildText('body') === 'while connected');
    assert.equal(pushes(h).length, 0);
    assert.deepEqual(decisions(svc, 'juliet').slice(1), ['suppressed:session-connected']);

    hibernate(h, juliet);
    romeo.send(message({ to: 'juliet@localhost/phone', type: 'chat' }).c('composing', { xmlns: 'http://jabber.org/protocol/chatstates' }).root());
    assert.equal(pushes(h).length, 0);
    romeo.send(chat('juliet@localhost/phone', 'wake up'));
    await waitFor(() => pushes(h).length === 1);
    const p = pushes(h)[0] as Element;
    assert.equal(p.attrs.from, 'juliet@localhost');
    assert.equal(p.getChild('pubsub', PUBSUB)?.getChild('publish')?.attrs.node, 'n1');
    assert.deepEqual(summary(p), { FORM_TYPE: 'urn:xmpp:push:summary', 'message-count': '1' });
    const secret = p.getChild('pubsub', PUBSUB)?.getChild('publish-options')?.getChild('x')?.getChildren('field').find((f) => f.attrs.var === 'secret');
    assert.equal(secret?.getChildText('value'), 's3cr3t');
    answer(h, p);
    await waitFor(() => svc.trace('juliet').at(-1)?.answer === 'result');
    const last = svc.trace('juliet').at(-1);
    assert.equal(last?.decision, 'sent');
    assert.equal(last?.trigger, 'hibernated');
    assert.equal(last?.what, 'message from romeo@localhost');
    assert.equal(last?.attempts, 1);
    assert.deepEqual(decisions(svc, 'juliet'), ['enabled', 'suppressed:session-connected', 'suppressed:not-important', 'sent']);
    // The registration says where its device is.
    assert.equal((await svc.registrations('juliet'))[0]?.session, 'hibernated');
    // The trace is readable through the admin command too (what `canto push-trace` asks).
    const viaAdmin = await (h.server.services.get('admin-commands') as AdminCommands).ask({ command: 'push-trace', host: 'localhost', args: { user: 'juliet' } });
    assert.ok(viaAdmin.ok);
    assert.equal((viaAdmin.result as { entries: unknown[] }).entries.length, 4);
    assert.deepEqual(await (h.server.services.get('admin-commands') as AdminCommands).ask({ command: 'push-trace', host: 'elsewhere', args: { user: 'juliet' } }), { ok: false, error: 'push-trace: not available for host elsewhere' });
  } finally {
    await h.stop();
  }
});

test('rate limit: what comes within min_interval is coalesced into one later notification with the total; a device that is back gets nothing more', async () => {
  const { h, clock, svc } = await setup({ include_body: true, include_sender: true });
  try {
    const juliet = await h.client('juliet@localhost/phone');
    const romeo = await h.client('romeo@localhost/desk');
    await enable(juliet);
    hibernate(h, juliet);
    romeo.send(chat('juliet@localhost/phone', 'one'));
    await waitFor(() => pushes(h).length === 1);
    answer(h, pushes(h)[0] as Element);
    await waitFor(() => svc.trace('juliet').at(-1)?.answer === 'result');
    romeo.send(chat('juliet@localhost/phone', 'two'));
    romeo.send(message({ to: 'juliet@localhost/phone', type: 'chat' }).c('encrypted', { xmlns: 'eu.siacs.conversations.axolotl' }).root());
    assert.equal(pushes(h).length, 1, 'rate-limited');
    assert.deepEqual(decisions(svc, 'juliet').slice(-2), ['suppressed:rate-limited', 'suppressed:rate-limited']);
    clock.advance(9_900);
    assert.equal(pushes(h).length, 1);
    clock.advance(200);
    await waitFor(() => pushes(h).length === 2);
    const second = pushes(h)[1] as Element;
    // The totals since the device was last connected; the last message was encrypted: no body.
    assert.deepEqual(summary(second), { FORM_TYPE: 'urn:xmpp:push:summary', 'message-count': '3', 'last-message-sender': 'romeo@localhost' });
    assert.equal(svc.trace('juliet').at(-1)?.trigger, 'coalesced');
    answer(h, second);
    await waitFor(() => svc.trace('juliet').at(-1)?.answer === 'result');
    assert.deepEqual(summary(pushes(h)[0] as Element)['last-message-body'], 'one', 'the body when the operator allows it');

    // Another message: rate-limited again; then the device comes back (binds its resource anew): no coalesced notification.
    romeo.send(chat('juliet@localhost/phone', 'three'));
    assert.equal(svc.trace('juliet').at(-1)?.reason, 'rate-limited');
    await h.client('juliet@localhost/phone');
    clock.advance(20_000);
    await waitFor(() => svc.trace('juliet').at(-1)?.reason === 'session-connected', { message: 'the re-routed unacked messages find the device connected' });
    assert.equal(pushes(h).length, 2);
  } finally {
    await h.stop();
  }
});

test('an offline message notifies every registration (devices of any resource); a subscription request too; a connected device is not', async () => {
  const { h, svc } = await setup({ min_interval: 0 });
  try {
    const phone = await h.client('juliet@localhost/phone');
    const tablet = await h.client('juliet@localhost/tablet');
    await enable(phone, 'e1', 'phone-node');
    await enable(tablet, 'e2', 'tablet-node');
    phone.session.close();
    tablet.session.close();
    const romeo = await h.client('romeo@localhost/desk');
    romeo.send(chat('juliet@localhost', 'are you there'));
    await waitFor(() => pushes(h).length === 2);
    assert.deepEqual(pushes(h).map((p) => p.getChild('pubsub', PUBSUB)?.getChild('publish')?.attrs.node).sort(), ['phone-node', 'tablet-node']);
    for (const p of pushes(h)) answer(h, p);
    await waitFor(() => svc.trace('juliet').filter((e) => e.answer === 'result').length === 2);
    assert.ok(svc.trace('juliet').every((e) => e.decision !== 'sent' || e.trigger === 'offline'));

    h.server.router.route(h.context.session, presence({ type: 'subscribe', from: 'mercutio@elsewhere.example', to: 'juliet@localhost' }));
    await waitFor(() => pushes(h).length === 4);
    assert.equal(summary(pushes(h)[2] as Element)['pending-subscription-count'], '1');
    for (const p of pushes(h).slice(2)) answer(h, p);

    // The tablet connects (no presence yet: the message goes offline): only the phone is notified.
    await h.client('juliet@localhost/tablet');
    romeo.send(chat('juliet@localhost', 'again'));
    await waitFor(() => pushes(h).length === 5);
    assert.equal(pushes(h)[4]?.getChild('pubsub', PUBSUB)?.getChild('publish')?.attrs.node, 'phone-node');
    await waitFor(() => svc.trace('juliet').some((e) => e.reason === 'session-connected' && e.registration?.includes('tablet-node') === true));
  } finally {
    await h.stop();
  }
});

test('an app server that fails: retried with back-off, a timeout counts, the registration disabled after max_failures consecutive failures', async () => {
  const { h, clock, svc } = await setup({ max_attempts: 3, max_failures: 4, retry_delay: '1s', timeout: '5s', min_interval: 0 });
  try {
    const juliet = await h.client('juliet@localhost/phone');
    const romeo = await h.client('romeo@localhost/desk');
    await enable(juliet);
    hibernate(h, juliet);
    romeo.send(chat('juliet@localhost/phone', 'm1'));
    await waitFor(() => pushes(h).length === 1);
    answer(h, pushes(h)[0] as Element, 'item-not-found');
    await waitFor(() => svc.trace('juliet').at(-1)?.answer === 'error cancel/item-not-found');
    assert.match(svc.trace('juliet').at(-1)?.detail ?? '', /retrying in 1000 ms/);
    clock.advance(1_000); // first retry after 1 s
    await waitFor(() => pushes(h).length === 2);
    // No answer: a timeout after 5 s.
    clock.advance(5_000);
    await waitFor(() => svc.trace('juliet').at(-1)?.answer === 'timeout');
    assert.match(svc.trace('juliet').at(-1)?.detail ?? '', /retrying in 2000 ms/);
    clock.advance(1_999);
    assert.equal(pushes(h).length, 2, 'the second retry waits twice as long');
    clock.advance(100);
    await waitFor(() => pushes(h).length === 3);
    answer(h, pushes(h)[2] as Element, 'internal-server-error');
    await waitFor(() => svc.trace('juliet').at(-1)?.decision === 'failed');
    assert.match(svc.trace('juliet').at(-1)?.detail ?? '', /gave up after 3 attempts \(3 consecutive failures\)/);
    assert.equal((await svc.registrations('juliet'))[0]?.failures, 3);

    // A fourth failure (the next notification's first attempt): disabled.
    romeo.send(chat('juliet@localhost/phone', 'm2'));
    await waitFor(() => pushes(h).length === 4);
    answer(h, pushes(h)[3] as Element, 'item-not-found');
    await waitFor(() => svc.trace('juliet').at(-1)?.decision === 'disabled');
    assert.deepEqual(await svc.registrations('juliet'), []);
    assert.match(svc.trace('juliet').at(-1)?.reason ?? '', /4 consecutive failures \(max_failures 4\)/);
    const metrics = await h.server.metrics.render();
    assert.match(metrics, /canto_push_registrations_disabled_total\{host="localhost"\} 1\n/);
    assert.match(metrics, /canto_push_app_server_errors_total\{kind="error",host="localhost"\} 3\n/);
    assert.match(metrics, /canto_push_app_server_errors_total\{kind="timeout",host="localhost"\} 1\n/);
    // Nothing more is sent for it.
    romeo.send(chat('juliet@localhost/phone', 'm3'));
    clock.advance(60_000);
    assert.equal(pushes(h).length, 4);
  } finally {
    await h.stop();
  }
});

test('a connection found dead: the important stanzas it never acknowledged are pushed for when it hibernates', async () => {
  const { h, svc } = await setup();
  try {
    const juliet = await h.client('juliet@localhost/phone');
    const romeo = await h.client('romeo@localhost/desk');
    await enable(juliet);
    const sm = h.context.services.get('smacks') as SmacksService;
    sm.handle(juliet.session, { kind: 'enable', resume: true, max: undefined });
    romeo.send(chat('juliet@localhost/phone', 'into the void 1'));
    romeo.send(chat('juliet@localhost/phone', 'into the void 2'));
    assert.equal(pushes(h).length, 0, 'connected: nothing yet');
    h.server.sessions.connectionClosed(juliet.session, juliet.session.conn);
    await waitFor(() => pushes(h).length === 1);
    assert.equal(summary(pushes(h)[0] as Element)['message-count'], '2');
    const sent = svc.trace('juliet').at(-1);
    assert.equal(sent?.trigger, 'unacked');
    assert.equal(sent?.what, 'message from romeo@localhost and 1 more');
  } finally {
    await h.stop();
  }
});

test('failures are stored with the registration: after a restart the count goes on and the registration is still disabled at max_failures', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'canto-push-'));
  const options = { max_attempts: 1, max_failures: 2, min_interval: 0 };
  const start = async () => {
    const clock = new FakeClock();
    const h = await startHarness({
      modules: [messageModule, offline, smacks, disco, adminsocket, push],
      clock,
      storage: openSqliteStorage({ dataDir }),
      config: (c) => {
        c.modules.push = { retry_delay: '1s', timeout: '5s', ...options };
      },
    });
    return { h, svc: h.context.services.get('push') as PushService };
  };
  try {
    const first = await start();
    try {
      const juliet = await first.h.client('juliet@localhost/phone');
      const romeo = await first.h.client('romeo@localhost/desk');
      await enable(juliet);
      hibernate(first.h, juliet);
      romeo.send(chat('juliet@localhost/phone', 'm1'));
      await waitFor(() => pushes(first.h).length === 1);
      answer(first.h, pushes(first.h)[0] as Element, 'internal-server-error');
      await waitFor(() => first.svc.trace('juliet').at(-1)?.decision === 'failed');
      const stored = (await first.h.server.storage.keyval<Array<{ failures?: number }>>('localhost', 'push').get('juliet')) ?? [];
      assert.equal(stored[0]?.failures, 1, 'the failure is in the store');
    } finally {
      await first.h.stop();
    }

    // A restart: the registration comes back with its one failure; the next one disables it.
    const second = await start();
    try {
      assert.equal((await second.svc.registrations('juliet'))[0]?.failures, 1);
      const romeo = await second.h.client('romeo@localhost/desk');
      romeo.send(chat('juliet@localhost', 'm2')); // juliet is offline now: an offline message
      await waitFor(() => pushes(second.h).length === 1);
      answer(second.h, pushes(second.h)[0] as Element, 'internal-server-error');
      await waitFor(() => second.svc.trace('juliet').at(-1)?.decision === 'disabled');
      assert.match(second.svc.trace('juliet').at(-1)?.reason ?? '', /2 consecutive failures/);
      assert.deepEqual(await second.svc.registrations('juliet'), []);
    } finally {
      await second.h.stop();
    }
    const third = await start();
    try {
      assert.deepEqual(await third.svc.registrations('juliet'), [], 'still disabled after another restart');
    } finally {
      await third.h.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a success after failures clears the stored count', async () => {
  const { h, svc } = await setup({ max_attempts: 1, max_failures: 5, min_interval: 0 });
  try {
    const juliet = await h.client('juliet@localhost/phone');
    const romeo = await h.client('romeo@localhost/desk');
    await enable(juliet);
    hibernate(h, juliet);
    romeo.send(chat('juliet@localhost/phone', 'm1'));
    await waitFor(() => pushes(h).length === 1);
    answer(h, pushes(h)[0] as Element, 'internal-server-error');
    await waitFor(() => svc.trace('juliet').at(-1)?.decision === 'failed');
    const store = h.server.storage.keyval<Array<{ failures?: number }>>('localhost', 'push');
    assert.equal((await store.get('juliet'))?.[0]?.failures, 1);
    romeo.send(chat('juliet@localhost/phone', 'm2'));
    await waitFor(() => pushes(h).length === 2);
    answer(h, pushes(h)[1] as Element);
    await waitFor(() => svc.trace('juliet').at(-1)?.answer === 'result');
    await waitFor(async () => (await store.get('juliet'))?.[0]?.failures === undefined, { message: 'the stored count is cleared' });
    assert.equal((await svc.registrations('juliet'))[0]?.failures, 0);
  } finally {
    await h.stop();
  }
});
