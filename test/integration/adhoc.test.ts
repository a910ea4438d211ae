/**
 * XEP-0050 ad-hoc commands and the XEP-0133 admin commands end to end with @xmpp/client:
 * discovery per requester, every command (table-driven), the wrong-permission and
 * malformed-request cases, multi-stage sessions (prev/next/cancel), and what disabling an
 * account does to its sessions and logins.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, errorCondition, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { command, fakeFastModule, fieldValues, NS_ADMIN, NS_COMMANDS, notes, runCommand, specificCondition, status, submit } from '../helpers/adhoc.js';
import { builtinModules } from '../../src/modules/index.js';
import type { ModuleDefinition } from '../../src/core/modules.js';
import type { FastTokenInfo } from '../../src/modules/adhoc/fast.js';

const tokens = new Map<string, FastTokenInfo[]>();
const fastCalls: string[] = [];
let ts: TestServer;
let admin: LoggedInClient;
let user: LoggedInClient;
const clients: LoggedInClient[] = [];

async function login(name: string, password: string, resource = 'r'): Promise<LoggedInClient> {
  const c = await loginClient(ts, name, password, resource);
  clients.push(c);
  return c;
}

/** Whether a login is refused (SASL failure or stream error). */
async function loginFails(name: string, password: string): Promise<boolean> {
  try {
    const c = await loginClient(ts, name, password, 'x');
    await c.stop();
    return false;
  } catch {
    return true;
  }
}

before(async () => {
  const fake = fakeFastModule(tokens, fastCalls);
  const modules = new Map<string, ModuleDefinition>(builtinModules);
  modules.set(fake.name, fake as ModuleDefinition);
  ts = await startTestServer((c) => {
    c.admins = ['admin@localhost'];
    // The stand-in replaces the real fast module (tokens the test chooses, calls recorded).
    c.modules_enabled = [...c.modules_enabled.filter((m) => m !== 'fast'), 'test_fast'];
  }, { modules });
  for (const u of ['admin', 'user', 'victim', 'kicked']) await createAccount(ts, u, `${u}-pass`);
  admin = await login('admin', 'admin-pass', 'desk');
  user = await login('user', 'user-pass', 'phone');
});

after(async () => {
  for (const c of clients) await c.stop();
  await ts.stop();
});

/** Resolves when the server ends the client's stream (xmpp.js emits 'disconnect'). */
function streamClosed(c: LoggedInClient): Promise<void> {
  // 'disconnect' is not in the helper's typed subset of xmpp.js's events.
  const on = c.xmpp.on.bind(c.xmpp) as unknown as (event: string, listener: () => void) => void;
  return new Promise((resolve) => on('disconnect', () => resolve()));
}

async function discoItems(c: LoggedInClient): Promise<string[]> {
  const r = await c.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items', node: NS_COMMANDS })));
  return (r.getChild('query')?.getChildren('item') ?? []).map((i) => i.attrs.node ?? '');
}

test('disco#items lists what the requester may run; disco#info describes a command', async () => {
  const forUser = await discoItems(user);
  assert.ok(forUser.includes('urn:canto:adhoc:change-password'));
  assert.ok(forUser.includes('urn:canto:adhoc:devices'), 'devices are listed with a fast service');
  assert.ok(!forUser.some((n) => n.startsWith(NS_ADMIN)), 'no admin command for a user');
  assert.ok(!forUser.includes('urn:xmpp:invite#invite'), 'users may not invite by default');
  const forAdmin = await discoItems(admin);
  for (const name of ['add-user', 'delete-user', 'disable-user', 'reenable-user', 'change-user-password', 'get-online-users-list', 'end-user-session', 'announce', 'get-user-statistics']) {
    assert.ok(forAdmin.includes(`${NS_ADMIN}#${name}`), name);
  }
  assert.ok(forAdmin.includes('urn:xmpp:invite#invite'), 'admins may invite');
  const info = await admin.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info', node: `${NS_ADMIN}#add-user` })));
  assert.equal(info.getChild('query')?.getChild('identity')?.attrs.type, 'command-node');
  // A user asking about an admin command: no such node for them.
  const hidden = await user.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info', node: `${NS_ADMIN}#add-user` }))).catch((e: { stanza: XElement }) => e.stanza);
  assert.equal(errorCondition(hidden), 'item-not-found');
});

test('admin commands (XEP-0133), each through a real client', async () => {
  const cases: Array<{ name: string; fields?: Record<string, string | string[]>; check: (reply: XElement) => Promise<void> | void }> = [
    {
      name: 'add-user',
      fields: { accountjid: 'newbie@localhost', password: 'newbie-1', 'password-verify': 'newbie-1' },
      async check(r) {
        assert.equal(status(r), 'completed');
        const c = await login('newbie', 'newbie-1');
        await c.stop();
      },
    },
    {
      name: 'change-user-password',
      fields: { accountjid: 'newbie@localhost', password: 'newbie-2' },
      async check() {
        assert.ok(await loginFails('newbie', 'newbie-1'));
        const c = await login('newbie', 'newbie-2');
        await c.stop();
      },
    },
    {
      name: 'get-user-statistics',
      fields: { accountjid: 'user@localhost' },
      check(r) {
        const v = fieldValues(r);
        assert.deepEqual(v.get('onlineresources'), ['phone']);
        assert.deepEqual(v.get('rostersize'), ['0']);
        assert.deepEqual(v.get('status'), ['active']);
      },
    },
    {
      name: 'get-online-users-list',
      check(r) {
        assert.equal(status(r), 'completed');
        const online = fieldValues(r).get('onlineuserjids') ?? [];
        assert.ok(online.includes('user@localhost') && online.includes('admin@localhost'), online.join());
      },
    },
    {
      name: 'announce',
      fields: { subject: 'Maintenance', announcement: ['Tonight at 22:00', 'for an hour'] },
      async check() {
        const m = await user.waitFor((s) => s.is('message') && s.attrs.type === 'headline');
        assert.equal(m.getChildText('subject'), 'Maintenance');
        assert.equal(m.getChildText('body'), 'Tonight at 22:00\nfor an hour');
      },
    },
    {
      name: 'disable-user',
      fields: { accountjids: ['newbie@localhost'] },
      async check() {
        assert.ok(await loginFails('newbie', 'newbie-2'), 'a disabled account cannot log in');
        const stats = await runCommand(admin, `${NS_ADMIN}#get-user-statistics`, { accountjid: 'newbie@localhost' }, NS_ADMIN);
        assert.deepEqual(fieldValues(stats).get('status'), ['disabled']);
      },
    },
    {
      name: 'reenable-user',
      fields: { accountjids: ['newbie@localhost'] },
      async check() {
        const c = await login('newbie', 'newbie-2');
        await c.stop();
      },
    },
    {
      name: 'end-user-session',
      fields: { accountjids: ['kicked@localhost'] },
      async check() {
        // Checked in its own test below (a client is logged in first).
      },
    },
    {
      name: 'delete-user',
      fields: { accountjids: ['newbie@localhost'] },
      async check() {
        assert.equal(await ts.server.storage.accounts.exists('localhost', 'newbie'), false);
      },
    },
  ];
  for (const c of cases) {
    const reply = await runCommand(admin, `${NS_ADMIN}#${c.name}`, c.fields, NS_ADMIN);
    assert.equal(reply.attrs.type, 'result', `${c.name}: ${reply.toString()}`);
    assert.equal(status(reply), 'completed', c.name);
    await c.check(reply);
  }
});

test('end-user-session and disable-user close the sessions; a disabled account is refused until enabled', async () => {
  const sessionsOf = (u: string) => ts.server.sessions.getUserSessions('localhost', u).length;
  const kicked = await login('kicked', 'kicked-pass', 'k1');
  const closed = streamClosed(kicked);
  await runCommand(admin, `${NS_ADMIN}#end-user-session`, { accountjids: ['kicked@localhost'] }, NS_ADMIN);
  await closed;
  assert.equal(sessionsOf('kicked'), 0);

  const victim = await login('victim', 'victim-pass', 'v1');
  const gone = streamClosed(victim);
  const r = await runCommand(admin, `${NS_ADMIN}#disable-user`, { accountjids: ['victim@localhost'] }, NS_ADMIN);
  assert.equal(status(r), 'completed');
  await gone;
  assert.equal(sessionsOf('victim'), 0);
  assert.ok(await loginFails('victim', 'victim-pass'));
  await runCommand(admin, `${NS_ADMIN}#reenable-user`, { accountjids: ['victim@localhost'] }, NS_ADMIN);
  const back = await login('victim', 'victim-pass', 'v2');
  await back.stop();
});

test('wrong permission: a user running any admin command is forbidden', async () => {
  for (const name of ['add-user', 'delete-user', 'disable-user', 'reenable-user', 'change-user-password', 'get-online-users-list', 'end-user-session', 'announce', 'get-user-statistics']) {
    const r = await command(user, `${NS_ADMIN}#${name}`);
    assert.equal(errorCondition(r), 'forbidden', name);
  }
  assert.equal(errorCondition(await command(user, 'urn:xmpp:invite#invite')), 'forbidden');
  assert.equal(errorCondition(await command(user, 'no:such:command')), 'item-not-found');
});

test('malformed requests get the XEP-0050 errors', async () => {
  const start = async (node: string): Promise<string> => {
    const r = await command(admin, node);
    assert.equal(status(r), 'executing');
    return r.getChild('command', NS_COMMANDS)?.attrs.sessionid ?? '';
  };
  const add = `${NS_ADMIN}#add-user`;
  const cases: Array<{ name: string; run: () => Promise<XElement>; condition: string; specific?: string }> = [
    { name: 'required field missing', run: async () => command(admin, add, { sessionid: await start(add), action: 'complete', form: submit({ accountjid: 'x@localhost' }, NS_ADMIN) }), condition: 'bad-request', specific: 'bad-payload' },
    { name: 'no form at all', run: async () => command(admin, add, { sessionid: await start(add), action: 'complete' }), condition: 'bad-request', specific: 'bad-payload' },
    { name: 'not a JID', run: async () => command(admin, add, { sessionid: await start(add), action: 'complete', form: submit({ accountjid: 'a@b@c', password: 'p', 'password-verify': 'p' }, NS_ADMIN) }), condition: 'bad-request', specific: 'bad-payload' },
    { name: 'wrong FORM_TYPE', run: async () => command(admin, add, { sessionid: await start(add), action: 'complete', form: submit({ accountjid: 'x@localhost', password: 'p', 'password-verify': 'p' }, 'urn:other') }), condition: 'bad-request', specific: 'bad-payload' },
    { name: 'passwords differ', run: async () => command(admin, add, { sessionid: await start(add), action: 'complete', form: submit({ accountjid: 'x@localhost', password: 'p1', 'password-verify': 'p2' }, NS_ADMIN) }), condition: 'not-acceptable' },
    { name: 'account of another host', run: async () => command(admin, add, { sessionid: await start(add), action: 'complete', form: submit({ accountjid: 'x@elsewhere.example', password: 'p', 'password-verify': 'p' }, NS_ADMIN) }), condition: 'not-acceptable' },
    { name: 'existing account', run: async () => command(admin, add, { sessionid: await start(add), action: 'complete', form: submit({ accountjid: 'user@localhost', password: 'p', 'password-verify': 'p' }, NS_ADMIN) }), condition: 'conflict' },
    { name: 'unknown account', run: () => runCommand(admin, `${NS_ADMIN}#disable-user`, { accountjids: ['ghost@localhost'] }, NS_ADMIN), condition: 'item-not-found' },
    { name: 'unknown action', run: () => command(admin, add, { action: 'jump' }), condition: 'bad-request', specific: 'malformed-action' },
    { name: 'next on the last stage', run: async () => command(admin, add, { sessionid: await start(add), action: 'next' }), condition: 'bad-request', specific: 'bad-action' },
    { name: 'prev on the first stage', run: async () => command(admin, add, { sessionid: await start(add), action: 'prev' }), condition: 'bad-request', specific: 'bad-action' },
    { name: 'complete without a session', run: () => command(admin, add, { action: 'complete' }), condition: 'bad-request', specific: 'bad-action' },
    { name: 'unknown session', run: () => command(admin, add, { sessionid: 'nope', action: 'complete' }), condition: 'bad-request', specific: 'bad-sessionid' },
    { name: "another user's session", run: async () => command(user, 'urn:canto:adhoc:change-password', { sessionid: (await command(admin, 'urn:canto:adhoc:change-password')).getChild('command', NS_COMMANDS)?.attrs.sessionid, action: 'cancel' }), condition: 'bad-request', specific: 'bad-sessionid' },
  ];
  for (const c of cases) {
    const r = await c.run();
    assert.equal(r.attrs.type, 'error', c.name);
    assert.equal(errorCondition(r), c.condition, c.name);
    if (c.specific) assert.equal(specificCondition(r), c.specific, c.name);
  }
});

test('multi-stage: next, prev, complete; cancel ends the session', async () => {
  const node = 'test:two-stages';
  const first = await command(user, node);
  const id = first.getChild('command', NS_COMMANDS)?.attrs.sessionid;
  assert.equal(first.getChild('command', NS_COMMANDS)?.getChild('actions')?.attrs.execute, 'next');
  const second = await command(user, node, { sessionid: id, action: 'next', form: submit({ first: 'x' }) });
  const actions = second.getChild('command', NS_COMMANDS)?.getChild('actions');
  assert.ok(actions?.getChild('prev') && actions.getChild('complete'));
  const back = await command(user, node, { sessionid: id, action: 'prev' });
  assert.equal(status(back), 'executing');
  await command(user, node, { sessionid: id, action: 'next', form: submit({ first: 'y' }) });
  // The second stage's options come from the first stage's value: 'z' is not one of them.
  const bad = await command(user, node, { sessionid: id, action: 'complete', form: submit({ second: 'z' }) });
  assert.equal(specificCondition(bad), 'bad-payload');
  const done = await command(user, node, { sessionid: id, form: submit({ second: 'y' }) }); // execute = complete here
  assert.equal(status(done), 'completed');
  assert.deepEqual(notes(done), ['y+y']);
  assert.equal(specificCondition(await command(user, node, { sessionid: id, action: 'prev' })), 'bad-sessionid', 'a completed session is gone');

  const again = await command(user, node);
  const id2 = again.getChild('command', NS_COMMANDS)?.attrs.sessionid;
  assert.equal(status(await command(user, node, { sessionid: id2, action: 'cancel' })), 'canceled');
  assert.equal(specificCondition(await command(user, node, { sessionid: id2, form: submit({ first: 'x' }) })), 'bad-sessionid');
});

test('user commands: devices listed and signed out, password change revokes every token', async () => {
  // Disabling accounts in the tests above revoked their tokens.
  assert.ok(fastCalls.includes('revokeAll victim'), 'disable revokes the FAST tokens');
  fastCalls.length = 0;
  const t = { userAgent: 'ua', created: 0, expires: Date.now() + 86_400_000 };
  tokens.set('user', [{ ...t, id: 't1', software: 'Conversations', device: 'Pixel' }, { ...t, id: 't2', software: 'Dino', device: 'laptop' }]);
  const list = await runCommand(user, 'urn:canto:adhoc:devices');
  assert.equal(status(list), 'completed');
  assert.deepEqual([...fieldValues(list).keys()].sort(), ['t1', 't2']);
  assert.match(fieldValues(list).get('t1')?.[0] ?? '', /Conversations on Pixel/);

  const revoke = await runCommand(user, 'urn:canto:adhoc:revoke-devices', { devices: ['t1'] });
  assert.equal(status(revoke), 'completed');
  assert.deepEqual(fastCalls.splice(0), ['revoke user t1']);
  const notAnOption = await runCommand(user, 'urn:canto:adhoc:revoke-devices', { devices: ['t9'] });
  assert.equal(specificCondition(notAnOption), 'bad-payload');

  const change = await runCommand(user, 'urn:canto:adhoc:change-password', { password: 'user-pass-2', 'password-verify': 'user-pass-2' });
  assert.equal(status(change), 'completed');
  assert.deepEqual(fastCalls.splice(0), ['revokeAll user']);
  assert.ok(await loginFails('user', 'user-pass'));
  const again = await login('user', 'user-pass-2', 'other');
  await again.stop();
});
