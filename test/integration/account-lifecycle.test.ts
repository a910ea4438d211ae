/**
 * Account deletion with a grace period ([modules.register] deletion_grace) on a fake clock:
 * XEP-0077 <remove/> schedules it and ends the sessions, a login during the grace period
 * restores the account, and once the period is over the account is deleted. Also the command
 * sessions' expiry (XEP-0050 session-expired) on a fake clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, startHarness, waitFor } from '../../src/testing/index.js';
import { loginClient, xml } from '../helpers/xmpp-client.js';
import type { TestServer } from '../helpers/server.js';
import { CommandSessions } from '../../src/modules/adhoc/sessions.js';

const DAY = 24 * 3600_000;

test('deletion grace: <remove/> schedules, a login restores, expiry deletes', async () => {
  const clock = new FakeClock();
  const h = await startHarness({ listen: true, clock, config: (c) => {
    c.modules.register = { deletion_grace: '1 day' };
  } });
  const ts: TestServer = { server: h.server, config: h.config, dataDir: h.dataDir ?? '', c2sPort: h.c2sPort, stop: () => h.stop() };
  const state = h.context.services.get('accounts-state');
  assert.ok(state);
  try {
    await h.createAccount('leaving', 'leaving-pass');
    const remove = async (): Promise<void> => {
      const c = await loginClient(ts, 'leaving', 'leaving-pass', 'r');
      await c.iq(xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:register' }, xml('remove'))));
      await waitFor(() => h.server.sessions.getUserSessions(h.host, 'leaving').length === 0);
      await c.stop();
    };
    await remove();
    assert.equal(state.deletionDue('leaving'), clock.now() + DAY);
    assert.equal(await h.server.storage.accounts.exists(h.host, 'leaving'), true, 'kept during the grace period');

    // Meanwhile a message to it bounces (service-unavailable), to the bare or a full JID: it is
    // neither archived nor stored offline (account_state README: why).
    await h.createAccount('friend', 'friend-pass');
    const friend = await loginClient(ts, 'friend', 'friend-pass', 'f');
    const bounced = (id: string) => (el: { name: string; attrs: Record<string, string | undefined>; getChild(n: string): { getChild(n: string): unknown } | undefined }) =>
      el.name === 'message' && el.attrs.id === id && el.attrs.type === 'error' && el.getChild('error')?.getChild('service-unavailable') !== undefined;
    await friend.send(xml('message', { to: 'leaving@localhost', id: 'gone-1', type: 'chat' }, xml('body', {}, 'still there?')));
    await friend.waitFor(bounced('gone-1'));
    await friend.send(xml('message', { to: 'leaving@localhost/r', id: 'gone-2' }, xml('body', {}, 'hello?')));
    await friend.waitFor(bounced('gone-2'));
    await friend.stop(); // the fake clock's jumps would time its stream out

    // Half-way through, the owner logs in: the deletion is cancelled.
    clock.advance(DAY / 2);
    const back = await loginClient(ts, 'leaving', 'leaving-pass', 'back');
    await waitFor(() => state.deletionDue('leaving') === undefined);
    // Initial presence: offline messages would come now, before anything sent after it.
    await back.xmpp.send(xml('presence'));
    const friendAgain = await loginClient(ts, 'friend', 'friend-pass', 'f2');
    await friendAgain.send(xml('message', { to: 'leaving@localhost', id: 'back-1', type: 'chat' }, xml('body', {}, 'welcome back')));
    await back.waitFor((el) => el.name === 'message' && el.getChildText('body') === 'welcome back');
    assert.equal(back.received.filter((el) => el.name === 'message' && /still there|hello/.test(el.getChildText('body') ?? '')).length, 0, 'the bounced messages were not stored');
    await friendAgain.stop();
    await back.stop();
    clock.advance(DAY);
    assert.equal(await h.server.storage.accounts.exists(h.host, 'leaving'), true, 'restored');

    // Removed again and left alone: deleted when the period ends (the sweep runs each minute).
    await remove();
    clock.advance(DAY - 120_000);
    assert.equal(await h.server.storage.accounts.exists(h.host, 'leaving'), true);
    clock.advance(180_000);
    await waitFor(async () => !(await h.server.storage.accounts.exists(h.host, 'leaving')));
    assert.equal(state.deletionDue('leaving'), undefined);
  } finally {
    await h.stop();
  }
});

test('the disabled state is stored host-wide; enable clears it', async () => {
  const h = await startHarness({ listen: true, users: ['dora'] });
  try {
    const state = h.context.services.get('accounts-state');
    assert.ok(state);
    assert.equal(await state.disable('dora', 'admin@localhost', 'spam'), true);
    assert.equal(await state.disable('nobody'), false, 'no such account');
    const stored = await h.server.storage.keyval<{ disabled: Record<string, unknown> }>(h.host, 'account_state').get('');
    assert.ok(stored?.disabled.dora);
    assert.equal(state.isDisabled('dora'), true);
    assert.equal(await state.enable('dora'), true);
    assert.equal(state.isDisabled('dora'), false);
    assert.equal(await state.enable('dora'), false);
  } finally {
    await h.stop();
  }
});

test('command sessions: owner-bound, expire after the timeout (session-expired), oldest dropped over the limit', () => {
  let now = 0;
  const sessions = new CommandSessions(() => now, 1000, 2);
  const a = sessions.open('n', 'u@h/r');
  assert.equal(sessions.find(a.id, 'n', 'other@h/r').ok, false);
  assert.deepEqual(sessions.find(a.id, 'other-node', 'u@h/r'), { ok: false, why: 'bad-sessionid' });
  now = 999;
  assert.equal(sessions.find(a.id, 'n', 'u@h/r').ok, true, 'each request renews it');
  now = 2000;
  assert.deepEqual(sessions.find(a.id, 'n', 'u@h/r'), { ok: false, why: 'session-expired' });
  now = 4000;
  assert.deepEqual(sessions.find(a.id, 'n', 'u@h/r'), { ok: false, why: 'bad-sessionid' }, 'forgotten after one more timeout');
  const b = sessions.open('n', 'u@h/r');
  sessions.open('n', 'u@h/r');
  sessions.open('n', 'u@h/r');
  assert.equal(sessions.find(b.id, 'n', 'u@h/r').ok, false, 'the oldest went over the limit');
  assert.equal(sessions.size, 2);
});
