/** XEP-0012 last module: server uptime, users' last logout, access rules and errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import last, { LAST_STORE, NS_LAST, type LastLogout } from '../../src/modules/last/index.js';
import { iq, presence } from '../../src/xml/stanza.js';
import { modifyRoster } from '../../src/modules/roster/store.js';
import { errorCondition, startHarness } from '../../src/testing/index.js';

const HOST = 'localhost';

const lastGet = (id: string, to?: string) => iq({ type: 'get', id, to }).c('query', { xmlns: NS_LAST }).up();
const seconds = (r: { getChild(n: string, ns: string): { attrs: Record<string, string> } | undefined }) => Number(r.getChild('query', NS_LAST)?.attrs.seconds);

test('to the server: its uptime in seconds, no text', async () => {
  const h = await startHarness({ modules: [last] });
  try {
    (h.server as { startedAt: number }).startedAt = Date.now() - 125_500;
    const c = await h.client('romeo@localhost');
    const r = await c.ask(lastGet('u1', HOST));
    assert.equal(r.attrs.type, 'result');
    assert.equal(seconds(r), 125);
    assert.equal(r.getChild('query', NS_LAST)?.getText(), '');
    assert.ok(h.context.features.includes(NS_LAST));
  } finally {
    await h.stop();
  }
});

test('the last resource going offline stores the time and the unavailable status', async () => {
  const h = await startHarness({ modules: [last] });
  try {
    const a = await h.client('juliet@localhost/one');
    const b = await h.client('juliet@localhost/two');
    const store = h.server.storage.keyval<LastLogout>(HOST, LAST_STORE);
    a.send(presence({ type: 'unavailable' }).c('status').t('first').root());
    a.session.close();
    assert.equal(await store.get('juliet'), undefined, 'another resource is still online');
    b.send(presence({ type: 'unavailable' }).c('status').t('Heading home').root());
    const before = Date.now();
    b.session.close();
    await new Promise((r) => setImmediate(r));
    const stored = await store.get('juliet');
    assert.equal(stored?.status, 'Heading home');
    assert.ok(stored && stored.when >= before && stored.when <= Date.now());
  } finally {
    await h.stop();
  }
});

test('available again after an unavailable presence: the old status is forgotten', async () => {
  const h = await startHarness({ modules: [last] });
  try {
    const a = await h.client('juliet@localhost/one');
    a.send(presence({ type: 'unavailable' }).c('status').t('away').root());
    a.send(presence());
    a.session.close();
    await new Promise((r) => setImmediate(r));
    assert.equal((await h.server.storage.keyval<LastLogout>(HOST, LAST_STORE).get('juliet'))?.status, '');
  } finally {
    await h.stop();
  }
});

test('to a bare JID: seconds since logout with status, for the user and subscribed contacts', async () => {
  const h = await startHarness({ modules: [last] });
  try {
    await h.server.storage.accounts.create(HOST, 'juliet', {});
    await h.server.storage.keyval<LastLogout>(HOST, LAST_STORE).set('juliet', { when: Date.now() - 903_400, status: 'Heading Home' });
    await modifyRoster(h.server, HOST, 'juliet', (r) => r.setItem({ jid: 'romeo@localhost', groups: [], subscription: 'both', ask: false, approved: false }));
    const romeo = await h.client('romeo@localhost');
    const r = await romeo.ask(lastGet('l1', 'juliet@localhost'));
    assert.equal(r.attrs.type, 'result', r.toString());
    assert.equal(seconds(r), 903);
    assert.equal(r.getChild('query', NS_LAST)?.getText(), 'Heading Home');
  } finally {
    await h.stop();
  }
});

test('an available user is at 0 seconds; a bound but unavailable one is not', async () => {
  const h = await startHarness({ modules: [last] });
  try {
    await h.server.storage.keyval<LastLogout>(HOST, LAST_STORE).set('juliet', { when: Date.now() - 60_000, status: '' });
    const juliet = await h.client('juliet@localhost/balcony');
    const own = await juliet.ask(lastGet('o1'));
    assert.equal(seconds(own), 60, 'no available presence yet');
    juliet.session.presence = presence();
    const online = await juliet.ask(lastGet('o2', 'juliet@localhost'));
    assert.equal(seconds(online), 0);
  } finally {
    await h.stop();
  }
});

test('errors: forbidden for strangers, service-unavailable for unknown users, item-not-found without a record', async () => {
  const h = await startHarness({ modules: [last] });
  try {
    await h.server.storage.accounts.create(HOST, 'juliet', {});
    await h.server.storage.keyval<LastLogout>(HOST, LAST_STORE).set('juliet', { when: Date.now(), status: '' });
    await modifyRoster(h.server, HOST, 'juliet', (r) => r.setItem({ jid: 'nurse@localhost', groups: [], subscription: 'to', ask: false, approved: false }));
    const romeo = await h.client('romeo@localhost');
    const nurse = await h.client('nurse@localhost');
    assert.equal(errorCondition(await romeo.ask(lastGet('e1', 'juliet@localhost'))), 'auth/forbidden');
    assert.equal(errorCondition(await nurse.ask(lastGet('e2', 'juliet@localhost'))), 'auth/forbidden', "'to' is not enough");
    assert.equal(errorCondition(await romeo.ask(lastGet('e3', 'nobody@localhost'))), 'cancel/service-unavailable');
    assert.equal(errorCondition(await romeo.ask(lastGet('e4'))), 'cancel/item-not-found', 'romeo never logged out');
  } finally {
    await h.stop();
  }
});
