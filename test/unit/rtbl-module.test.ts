/**
 * The rtbl module on one server (canto/testing harness): the list is a node of the server's own
 * pubsub component, in the plain format (domains, like xmppbl.org's spam_source_domains).
 * Stanzas "from another server" are routed from the host session, as in carbons.test.ts; the
 * answers to them are what the harness sees leave for other domains.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, errorCondition, settle, startHarness, waitFor, type Harness } from '../../src/testing/index.js';
import type { S2SSession } from '../../src/core/session.js';
import type { RtblApi } from '../../src/modules/rtbl/index.js';
import type { Element } from '../../src/xml/element.js';
import { iq, message, presence } from '../../src/xml/stanza.js';

const SERVICE = 'pubsub.localhost';
const NODE = 'spam_source_domains';
const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_EVENT = 'http://jabber.org/protocol/pubsub#event';

async function setup(rtbl: Record<string, unknown>, clock?: FakeClock): Promise<{ h: Harness; api: RtblApi; owner: Awaited<ReturnType<Harness['client']>> }> {
  const h = await startHarness({
    clock,
    listen: true, // builtins without listeners trips over saslauth's TLS lookup (server.tls is a stub then)
    config: (c) => {
      c.component.push({ domain: SERVICE, module: 'pubsub' });
      c.modules.rtbl = { sources: [{ jid: SERVICE, node: NODE }], ...rtbl };
      // What is under test is the list: senders it does not name are delivered, strangers or not.
      c.modules.stranger = { policy: 'allow' };
    },
  });
  const api = h.context.services.get('rtbl');
  assert.ok(api);
  const owner = await h.client('keeper@localhost/desk');
  const made = await owner.ask(iq({ type: 'set', id: 'c', to: SERVICE }).c('pubsub', { xmlns: NS_PUBSUB }).c('create', { node: NODE }).root());
  assert.equal(made.attrs.type, 'result');
  await api.refresh();
  return { h, api, owner };
}

const fromRemote = (h: Harness, stanza: Element) => h.server.router.route(h.context.session, stanza);

test('a local list: entries published, refused senders answered or not per action, purge and node deletion empty it', async () => {
  const { h, api, owner } = await setup({});
  try {
    // Fetched (the node was missing at start: that first fetch failed).
    assert.deepEqual(api.sources().map((s) => [s.key, s.entries, s.fetched !== undefined]), [[`${SERVICE} ${NODE}`, 0, true]]);
    const romeo = await h.client('romeo@localhost/phone');
    h.server.sessions.setPresence(romeo.session, presence(), 0);
    const publish = (id: string) => owner.ask(iq({ type: 'set', id: `p-${id}`, to: SERVICE }).c('pubsub', { xmlns: NS_PUBSUB }).c('publish', { node: NODE }).c('item', { id }).c('report', { xmlns: 'urn:xmpp:reporting:1' }).root());
    assert.equal((await publish('Evil.Example')).attrs.type, 'result');
    await waitFor(() => api.listedBy('bot@evil.example'));
    assert.equal(api.listedBy('bot@good.example'), undefined);

    fromRemote(h, message({ from: 'bot@evil.example/x', to: 'romeo@localhost', id: 'm1' }).c('body').t('spam').root());
    const err = await waitFor(() => h.remote.find((s) => s.attrs.id === 'm1'));
    assert.equal(err.attrs.type, 'error');
    assert.equal(err.attrs.to, 'bot@evil.example/x');
    assert.equal(errorCondition(err), 'modify/policy-violation');
    // Other presence is dropped without an answer; a local account is never checked.
    fromRemote(h, presence({ from: 'bot@evil.example/x', to: 'romeo@localhost', id: 'pr1' }));
    fromRemote(h, message({ from: 'bot@good.example/x', to: 'romeo@localhost', id: 'm2' }).c('body').t('fine').root());
    await romeo.receives((s) => s.attrs.id === 'm2');
    assert.ok(!romeo.sent.some((s) => s.attrs.id === 'm1' || s.attrs.id === 'pr1'));
    assert.ok(!h.remote.some((s) => s.attrs.id === 'pr1'));

    // A purge empties the list.
    const purged = await owner.ask(iq({ type: 'set', id: 'purge', to: SERVICE }).c('pubsub', { xmlns: `${NS_PUBSUB}#owner` }).c('purge', { node: NODE }).root());
    assert.equal(purged.attrs.type, 'result');
    await waitFor(() => api.listedBy('bot@evil.example') === undefined);
    fromRemote(h, message({ from: 'bot@evil.example/x', to: 'romeo@localhost', id: 'm3' }).c('body').t('now ok').root());
    await romeo.receives((s) => s.attrs.id === 'm3');

    // So does deleting the node.
    await publish('evil.example');
    await waitFor(() => api.listedBy('bot@evil.example'));
    const deleted = await owner.ask(iq({ type: 'set', id: 'del', to: SERVICE }).c('pubsub', { xmlns: `${NS_PUBSUB}#owner` }).c('delete', { node: NODE }).root());
    assert.equal(deleted.attrs.type, 'result');
    await waitFor(() => api.listedBy('bot@evil.example') === undefined);
  } finally {
    await h.stop();
  }
});

test('notifications from anyone but the list\'s service are ignored; action drop answers nothing', async () => {
  const { h, api, owner } = await setup({ action: 'drop' });
  try {
    // A forged event from another server naming the node changes nothing.
    fromRemote(h, message({ from: 'pubsub.evil.example', to: 'localhost', id: 'forged' }).c('event', { xmlns: NS_EVENT }).c('items', { node: NODE }).c('item', { id: 'good.example' }).root());
    const r = await owner.ask(iq({ type: 'set', id: 'p1', to: SERVICE }).c('pubsub', { xmlns: NS_PUBSUB }).c('publish', { node: NODE }).c('item', { id: 'evil.example' }).c('report', { xmlns: 'urn:xmpp:reporting:1' }).root());
    assert.equal(r.attrs.type, 'result', String(r));
    await waitFor(() => api.listedBy('x@evil.example'));
    assert.equal(api.listedBy('x@good.example'), undefined);
    assert.deepEqual(api.sources().map((s) => s.entries), [1]);

    const romeo = await h.client('romeo@localhost/phone');
    h.server.sessions.setPresence(romeo.session, presence(), 0);
    fromRemote(h, message({ from: 'bot@evil.example/x', to: 'romeo@localhost', id: 'm1' }).c('body').t('spam').root());
    fromRemote(h, presence({ from: 'bot@evil.example', to: 'romeo@localhost', type: 'subscribe', id: 's1' }));
    fromRemote(h, message({ from: 'bot@good.example/x', to: 'romeo@localhost', id: 'm2' }).c('body').t('fine').root());
    await romeo.receives((s) => s.attrs.id === 'm2');
    assert.ok(!romeo.sent.some((s) => s.attrs.id === 'm1' || s.attrs.id === 's1'));
    assert.ok(!h.remote.some((s) => s.attrs.id === 'm1' || s.attrs.id === 's1'), 'dropped without an error');
    const metrics = await h.server.metrics.render();
    assert.match(metrics, /^canto_rtbl_hits_total\{[^}]*kind="message"[^}]*\} 1$/m);
    assert.match(metrics, /^canto_rtbl_hits_total\{[^}]*kind="subscription"[^}]*\} 1$/m);
    assert.match(metrics, /^canto_rtbl_entries\{[^}]*source="pubsub.localhost spam_source_domains"[^}]*\} 1$/m);
  } finally {
    await h.stop();
  }
});

test('without sources the module checks nothing', async () => {
  const h = await startHarness({ listen: true });
  try {
    const api = h.context.services.get('rtbl');
    assert.ok(api, 'loaded by default');
    assert.deepEqual(api.sources(), []);
    assert.equal(api.listedBy('anyone@anywhere.example'), undefined);
  } finally {
    await h.stop();
  }
});

test('a new s2s stream with the list\'s service fetches the list again, unless one was just fetched', async () => {
  const clock = new FakeClock();
  const { h, api } = await setup({}, clock);
  try {
    const first = api.sources()[0]?.fetched;
    assert.ok(first !== undefined);
    // What the session manager fires when a stream between the host and the service's domain authenticates.
    const streamUp = () => h.server.events.fire('s2s-authenticated', { session: { fromHost: 'localhost', toHost: SERVICE } as unknown as S2SSession, method: 'dialback' });
    clock.advance(1000);
    streamUp();
    await settle();
    assert.equal(api.sources()[0]?.fetched, first, 'fetched a second ago: not again');
    clock.advance(60_000);
    streamUp();
    await waitFor(() => api.sources()[0]?.fetched === clock.now());
    // Streams with other domains change nothing.
    clock.advance(60_000);
    h.server.events.fire('s2s-authenticated', { session: { fromHost: 'localhost', toHost: 'elsewhere.example' } as unknown as S2SSession, method: 'dialback' });
    await settle();
    assert.equal(api.sources()[0]?.fetched, clock.now() - 60_000);
  } finally {
    await h.stop();
  }
});
