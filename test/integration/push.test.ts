/**
 * Push notifications end to end (issue 16): the booted server, real clients (@xmpp/client with
 * its stream management), and test app servers that are external components (@xmpp/component)
 * answering the notifications: exactly one notification for a message to a hibernated resource
 * and one for an offline message, none for a connected session, a failing app server's
 * registration disabled after max_failures, a connected client that stops reading (its <r/>
 * unanswered for max_ack_delay) pushed for as ack-delayed, and `canto push-trace` (the real command, a child
 * process, over the admin socket) showing each decision with its reason.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient, type XElement, cutConnection } from '../helpers/xmpp-client.js';
import { runCanto } from '../helpers/cli.js';
import { waitFor } from '../../src/testing/index.js';
import type { SmacksService } from '../../src/modules/smacks/index.js';
import type { PushService } from '../../src/modules/push/index.js';
import type { BoundC2SSession } from '../../src/core/session.js';

const APP = 'push.localhost';
const BAD_APP = 'badpush.localhost';
const SECRET = 'component secret';
const NS_PUSH = 'urn:xmpp:push:0';
const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';

// ---- @xmpp/component, typed for what these tests use (the package ships no declarations) ----
interface IqContext {
  stanza: XElement;
  element: XElement;
}
interface XmppComponent {
  start(): Promise<unknown>;
  stop(): Promise<unknown>;
  on(event: 'error', listener: (err: Error) => void): void;
  reconnect: { stop(): void };
  iqCallee: { set(ns: string, name: string, handler: (ctx: IqContext) => XElement | boolean): void };
}
interface XmppComponentModule {
  component(options: { service: string; domain: string; password: string }): XmppComponent;
  xml(name: string, attrs?: Record<string, string | undefined>, ...children: Array<XElement | string>): XElement;
}
const XMPP_COMPONENT_PACKAGE = '@xmpp/component';

/** A test app server: records each notification (node and summary) and answers it (or fails it). */
async function appServer(ts: TestServer, domain: string, fail: boolean) {
  const lib = (await import(XMPP_COMPONENT_PACKAGE)) as XmppComponentModule;
  const comp = lib.component({ service: `xmpp://127.0.0.1:${ts.server.port('component')}`, domain, password: SECRET });
  comp.reconnect.stop();
  comp.on('error', () => {});
  const got: Array<{ from: string; node: string; summary: Record<string, string>; secret: string | undefined }> = [];
  comp.iqCallee.set(NS_PUBSUB, 'pubsub', ({ stanza, element }) => {
    const publish = element.getChild('publish');
    const fields = (x: XElement | undefined) =>
      Object.fromEntries((x?.getChildren('field') ?? []).map((f) => [f.attrs.var ?? '', f.getChildText('value') ?? '']));
    const summary = fields(publish?.getChild('item')?.getChild('notification', NS_PUSH)?.getChild('x', 'jabber:x:data'));
    const options = fields(element.getChild('publish-options')?.getChild('x', 'jabber:x:data'));
    got.push({ from: stanza.attrs.from ?? '', node: publish?.attrs.node ?? '', summary, secret: options.secret });
    return fail ? lib.xml('error', { type: 'cancel' }, lib.xml('item-not-found', { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' })) : true;
  });
  await comp.start();
  return { comp, got };
}

let ts: TestServer;
let good: Awaited<ReturnType<typeof appServer>>;
let bad: Awaited<ReturnType<typeof appServer>>;
let configFile: string;
const clients: LoggedInClient[] = [];

before(async () => {
  ts = await startTestServer((c) => {
    c.component_listener.interfaces = ['127.0.0.1'];
    c.component_listener.ports = [0];
    c.component = [{ domain: APP, secret: SECRET }, { domain: BAD_APP, secret: SECRET }];
    // The server asks for an ack after every stanza, so what a client received is acknowledged
    // before the test cuts its connection (nothing unacked to push for at hibernation).
    // max_ack_delay: an <r/> unanswered for 3 s makes a connected session pushed for (ack-delayed).
    c.modules.smacks = { request_after: 1, max_ack_delay: '3s' };
    c.modules.push = { min_interval: '0s', max_attempts: 1, max_failures: 2 };
  });
  good = await appServer(ts, APP, false);
  bad = await appServer(ts, BAD_APP, true);
  for (const u of ['juliet', 'rosaline', 'tybalt', 'romeo', 'benvolio', 'mercutio']) await createAccount(ts, u, 'pw');
  // What an operator's canto.toml would say: the same data_dir (where the admin socket is).
  const dir = tempDir();
  configFile = join(dir, 'canto.toml');
  writeFileSync(configFile, `data_dir = ${JSON.stringify(ts.dataDir)}\nlog_level = "warn"\n\n[[virtualhost]]\ndomain = "localhost"\n`);
});
after(async () => {
  for (const c of clients) await c.stop();
  await good.comp.stop().catch(() => {});
  await bad.comp.stop().catch(() => {});
  await ts.stop();
});

async function login(user: string, resource: string): Promise<LoggedInClient> {
  const c = await loginClient(ts, user, 'pw', resource);
  clients.push(c);
  return c;
}

async function enablePush(c: LoggedInClient, jid: string, node: string): Promise<void> {
  const form = xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
    xml('field', { var: 'FORM_TYPE' }, xml('value', {}, 'http://jabber.org/protocol/pubsub#publish-options')),
    xml('field', { var: 'secret' }, xml('value', {}, `secret-of-${node}`)));
  const r = await c.iq(xml('iq', { type: 'set' }, xml('enable', { xmlns: NS_PUSH, jid, node }, form)));
  assert.equal(r.attrs.type, 'result');
}

const cut = cutConnection;

const chat = (to: string, body: string) => xml('message', { to, type: 'chat', id: body }, xml('body', {}, body));
const service = () => ts.server.hosts.get('localhost')?.services.get('push') as PushService;
const smacks = () => ts.server.hosts.get('localhost')?.services.get('smacks') as SmacksService;
const sentTo = (node: string) => good.got.filter((g) => g.node === node);
const noSessions = (user: string) => ts.server.sessions.getUserSessions('localhost', user).length === 0;

test('a connected session: no notification; hibernated: exactly one, with the secret and the summary', { timeout: 60_000 }, async () => {
  const juliet = await login('juliet', 'phone');
  const romeo = await login('romeo', 'desk');
  await enablePush(juliet, APP, 'juliet-node');
  const session = ts.server.sessions.getSession('localhost', 'juliet', 'phone') as BoundC2SSession;
  await waitFor(() => smacks().state(session)?.id, { timeoutMs: 5000, message: 'xmpp.js did not enable resumable stream management' });

  await romeo.send(chat('juliet@localhost/phone', 'hello while connected'));
  await juliet.waitFor((s) => s.getChildText('body') === 'hello while connected');
  await waitFor(() => service().trace('juliet').some((e) => e.reason === 'session-connected'), { timeoutMs: 5000 });
  assert.equal(good.got.length, 0, 'no notification for a connected session');
  await waitFor(() => smacks().state(session)?.queue.length === 0, { timeoutMs: 5000, message: 'juliet did not acknowledge' });

  cut(juliet);
  await waitFor(() => session.hibernating, { timeoutMs: 5000, message: 'the session did not hibernate' });
  await romeo.send(chat('juliet@localhost/phone', 'wake up'));
  await waitFor(() => service().trace('juliet').some((e) => e.decision === 'sent' && e.answer === 'result'), { timeoutMs: 10_000 });
  assert.equal(sentTo('juliet-node').length, 1, 'exactly one notification');
  const [n] = sentTo('juliet-node');
  assert.equal(n?.from, 'juliet@localhost');
  assert.equal(n?.secret, 'secret-of-juliet-node');
  assert.deepEqual(n?.summary, { FORM_TYPE: 'urn:xmpp:push:summary', 'message-count': '1' }, 'no body or sender by default');
});

test('an offline message: exactly one notification', { timeout: 60_000 }, async () => {
  const rosaline = await login('rosaline', 'phone');
  await enablePush(rosaline, APP, 'rosaline-node');
  await rosaline.stop();
  await waitFor(() => noSessions('rosaline'), { timeoutMs: 5000 });
  const romeo = await login('romeo', 'desk2');
  await romeo.send(chat('rosaline@localhost', 'are you there'));
  await waitFor(() => service().trace('rosaline').some((e) => e.decision === 'sent' && e.answer === 'result'), { timeoutMs: 10_000 });
  assert.equal(sentTo('rosaline-node').length, 1);
  assert.equal(service().trace('rosaline').filter((e) => e.decision === 'sent')[0]?.trigger, 'offline');
});

test('an app server that answers errors: the registration is disabled after max_failures', { timeout: 60_000 }, async () => {
  const tybalt = await login('tybalt', 'phone');
  await enablePush(tybalt, BAD_APP, 'tybalt-node');
  await tybalt.stop();
  await waitFor(() => noSessions('tybalt'), { timeoutMs: 5000 });
  const romeo = await login('romeo', 'desk3');
  await romeo.send(chat('tybalt@localhost', 'first'));
  await waitFor(() => bad.got.length === 1, { timeoutMs: 10_000 });
  await waitFor(() => service().trace('tybalt').some((e) => e.decision === 'failed'), { timeoutMs: 10_000 });
  await romeo.send(chat('tybalt@localhost', 'second'));
  await waitFor(async () => (await service().registrations('tybalt')).length === 0, { timeoutMs: 10_000, message: 'the registration was not disabled' });
  assert.equal(bad.got.length, 2);
  await romeo.send(chat('tybalt@localhost', 'third'));
  await waitFor(() => service().trace('tybalt').some((e) => e.reason === 'no-registration'), { timeoutMs: 10_000 });
  assert.equal(bad.got.length, 2, 'nothing more for a disabled registration');
});

test('canto push-trace shows each decision with its reason, from the running server', { timeout: 60_000 }, async () => {
  // The admin socket is private to the server's user.
  assert.equal(statSync(join(ts.dataDir, 'admin.sock')).mode & 0o777, 0o600);

  const juliet = await runCanto(['push-trace', 'juliet@localhost', '--config', configFile]);
  assert.equal(juliet.code, 0, juliet.stderr);
  assert.match(juliet.stdout, /^Push trace for juliet@localhost/);
  assert.match(juliet.stdout, /push\.localhost juliet-node {2}resource phone .* session hibernated {2}consecutive failures 0/);
  assert.match(juliet.stdout, /ENABLED {2}client: enabled by phone/);
  assert.match(juliet.stdout, /SUPPRESSED {2}\(session-connected\) {2}connected: message from romeo@localhost {2}→ push\.localhost juliet-node .*delivered to the connected session phone/);
  assert.match(juliet.stdout, /SENT {2}hibernated: message from romeo@localhost {2}→ push\.localhost juliet-node {2}answer: result in \d+ ms/);

  const tybalt = await runCanto(['push-trace', 'tybalt@localhost', '--config', configFile]);
  assert.equal(tybalt.code, 0, tybalt.stderr);
  assert.match(tybalt.stdout, /Registrations: none/);
  assert.match(tybalt.stdout, /FAILED {2}offline: message from romeo@localhost .* answer: error cancel\/item-not-found/);
  assert.match(tybalt.stdout, /DISABLED {2}\(2 consecutive failures \(max_failures 2\)\) {2}failures: registration removed/);
  assert.match(tybalt.stdout, /SUPPRESSED {2}\(no-registration\) {2}offline: message from romeo@localhost {2}— the account has no push registration/);

  const json = await runCanto(['push-trace', 'rosaline@localhost', '--json', '--config', configFile]);
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as { account: string; entries: Array<{ decision: string; trigger: string }> };
  assert.equal(parsed.account, 'rosaline@localhost');
  assert.deepEqual(parsed.entries.map((e) => `${e.decision} ${e.trigger}`), ['enabled client', 'sent offline']);

  const none = await runCanto(['push-trace', 'benvolio@localhost', '--config', configFile]);
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stdout, /Registrations: none\. No client of this account has enabled push/);

  const usage = await runCanto(['push-trace', '--config', configFile]);
  assert.equal(usage.code, 2);
  const elsewhere = await runCanto(['push-trace', 'x@elsewhere.example', '--config', configFile]);
  assert.equal(elsewhere.code, 1);
  assert.match(elsewhere.stderr, /not a virtual host/);
  // No server running with this data_dir: a clear failure.
  const other = join(tempDir(), 'canto.toml');
  writeFileSync(other, `data_dir = "data"\n\n[[virtualhost]]\ndomain = "localhost"\n`);
  const down = await runCanto(['push-trace', 'juliet@localhost', '--config', other]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /no running server found: no admin socket/);
});

test('ack delayed: a connected client that stops reading is pushed for once its <r/> goes unanswered; not once it answers again', { timeout: 60_000 }, async () => {
  const mercutio = await login('mercutio', 'phone');
  await enablePush(mercutio, APP, 'mercutio-node');
  const session = ts.server.sessions.getSession('localhost', 'mercutio', 'phone') as BoundC2SSession;
  await waitFor(() => smacks().state(session)?.id, { timeoutMs: 5000, message: 'xmpp.js did not enable resumable stream management' });
  await waitFor(() => smacks().state(session)?.queue.length === 0, { timeoutMs: 5000, message: 'mercutio did not acknowledge' });

  // The phone's socket is black-holed: open, but nothing is read (so nothing is acknowledged).
  // The helper types only destroy(); the inner socket is a node TLS socket (xmpp.js reads it with 'data' events).
  const inner = mercutio.xmpp.socket?.socket as unknown as import('node:stream').Duplex | undefined;
  assert.ok(inner, 'the client has a socket');
  inner.pause();
  const romeo = await login('romeo', 'desk4');
  await romeo.send(chat('mercutio@localhost/phone', 'are you alive'));
  await waitFor(() => service().trace('mercutio').some((e) => e.reason === 'session-connected'), { timeoutMs: 5000 });
  assert.equal(sentTo('mercutio-node').length, 0, 'no push before max_ack_delay');
  await waitFor(() => smacks().state(session)?.ackDelayed === true, { timeoutMs: 10_000, message: 'the unanswered <r/> was not noticed' });
  assert.equal(session.hibernating, false, 'the session is still connected');
  await waitFor(() => service().trace('mercutio').some((e) => e.decision === 'sent' && e.trigger === 'ack-delayed' && e.answer === 'result'), { timeoutMs: 10_000 });
  assert.equal(sentTo('mercutio-node').length, 1, 'one notification for the unacknowledged message');

  // Still silent: what comes now is pushed too.
  await romeo.send(chat('mercutio@localhost/phone', 'still there?'));
  await waitFor(() => sentTo('mercutio-node').length === 2, { timeoutMs: 10_000 });
  assert.equal(service().trace('mercutio').filter((e) => e.decision === 'sent' && e.trigger === 'ack-delayed').length, 2);

  // Reading again: it acknowledges everything; from then on it is a connected session like any.
  inner.resume();
  await mercutio.waitFor((s) => s.getChildText('body') === 'still there?');
  await waitFor(() => smacks().state(session)?.ackDelayed === false && smacks().state(session)?.queue.length === 0, { timeoutMs: 10_000, message: 'mercutio did not acknowledge after reading again' });
  await romeo.send(chat('mercutio@localhost/phone', 'welcome back'));
  await mercutio.waitFor((s) => s.getChildText('body') === 'welcome back');
  await waitFor(() => service().trace('mercutio').filter((e) => e.reason === 'session-connected').length === 2, { timeoutMs: 5000 });
  assert.equal(sentTo('mercutio-node').length, 2, 'nothing pushed for a session that answers');
});
