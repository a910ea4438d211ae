/** Presence and subscriptions through fake clients (RFC 6121 §3, §4). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Element } from '../../src/xml/element.js';
import { presence } from '../../src/xml/stanza.js';
import { loadRoster } from '../../src/modules/roster/store.js';
import { HOST, harness, pushedItem, presences, clear, errorConditionOf, type Harness } from './roster-harness.js';
import type { FakeClient } from '../../src/testing/index.js';

const ROMEO = 'romeo@localhost';
const JULIET = 'juliet@localhost';

const from = (jid: string, type?: string) => (p: Element) => p.attrs.from === jid && p.attrs.type === type;

async function subscribeBothWays(h: Harness, romeo: FakeClient, juliet: FakeClient): Promise<void> {
  h.send(romeo, presence({ to: JULIET, type: 'subscribe' }));
  await h.settle();
  h.send(juliet, presence({ to: ROMEO, type: 'subscribed' }));
  await h.settle();
  h.send(juliet, presence({ to: ROMEO, type: 'subscribe' }));
  await h.settle();
  h.send(romeo, presence({ to: JULIET, type: 'subscribed' }));
  await h.settle();
}

test('the subscription handshake between two local users, both ways, and presence after it', async () => {
  const h = await harness();
  try {
    const romeo = await h.online('romeo', 'phone');
    const juliet = await h.online('juliet', 'balcony');
    clear(romeo, juliet);

    h.send(romeo, presence({ to: 'Juliet@localhost/balcony', type: 'subscribe', id: 's1' }));
    await h.settle();
    assert.equal(pushedItem(romeo, JULIET)?.attrs.ask, 'subscribe', 'pending out is pushed');
    assert.equal(pushedItem(romeo, JULIET)?.attrs.subscription, 'none');
    const [req] = presences(juliet, (p) => p.attrs.type === 'subscribe');
    assert.ok(req, 'the request is delivered');
    assert.equal(req.attrs.from, ROMEO, 'stamped with the bare JID (§3.1.2)');
    assert.equal(req.attrs.to, JULIET);
    assert.equal(pushedItem(juliet, ROMEO), undefined, 'pending in is not a roster item');
    assert.equal((await loadRoster(h.server, HOST, 'juliet')).hasPendingIn(ROMEO), true);

    clear(romeo, juliet);
    h.send(juliet, presence({ to: ROMEO, type: 'subscribed' }));
    await h.settle();
    assert.equal(pushedItem(juliet, ROMEO)?.attrs.subscription, 'from');
    assert.equal(pushedItem(romeo, JULIET)?.attrs.subscription, 'to');
    assert.equal(pushedItem(romeo, JULIET)?.attrs.ask, undefined);
    assert.equal(presences(romeo, from(JULIET, 'subscribed')).length, 1);
    assert.equal(presences(romeo, from('juliet@localhost/balcony')).length, 1, "juliet's current presence follows her approval (§3.1.5)");

    clear(romeo, juliet);
    h.send(juliet, presence({ to: ROMEO, type: 'subscribe' }));
    await h.settle();
    h.send(romeo, presence({ to: JULIET, type: 'subscribed' }));
    await h.settle();
    assert.equal(pushedItem(juliet, ROMEO)?.attrs.subscription, 'both');
    assert.equal(pushedItem(romeo, JULIET)?.attrs.subscription, 'both');

    clear(romeo, juliet);
    h.send(juliet, presence().c('show').t('away').up());
    await h.settle();
    const upd = presences(romeo, from('juliet@localhost/balcony'));
    assert.equal(upd.length, 1, 'an update reaches the subscriber');
    assert.equal(upd[0]?.getChildText('show'), 'away');
    assert.equal(presences(juliet, from('juliet@localhost/balcony')).length, 1, 'and the sender itself (§4.4.2)');

    // A repeated subscribe to a subscribed contact is answered by the contact's server (§3.1.3).
    clear(romeo, juliet);
    h.send(romeo, presence({ to: JULIET, type: 'subscribe' }));
    await h.settle();
    assert.equal(presences(juliet, (p) => p.attrs.type === 'subscribe').length, 0);
    assert.equal(presences(romeo, from(JULIET, 'subscribed')).length, 0, 'already "both": the auto-reply changes nothing and is not delivered');
  } finally {
    await h.stop();
  }
});

test('unsubscribe and unsubscribed stop presence', async () => {
  const h = await harness();
  try {
    const romeo = await h.online('romeo', 'phone');
    const juliet = await h.online('juliet', 'balcony');
    await subscribeBothWays(h, romeo, juliet);
    clear(romeo, juliet);

    h.send(romeo, presence({ to: JULIET, type: 'unsubscribe' }));
    await h.settle();
    assert.equal(pushedItem(romeo, JULIET)?.attrs.subscription, 'from');
    assert.equal(pushedItem(juliet, ROMEO)?.attrs.subscription, 'to');
    assert.equal(presences(juliet, from(ROMEO, 'unsubscribe')).length, 1);
    assert.equal(presences(romeo, from('juliet@localhost/balcony', 'unavailable')).length, 1, 'romeo sees juliet go away');
    clear(romeo, juliet);
    h.send(juliet, presence().c('status').t('still here').up());
    await h.settle();
    assert.equal(presences(romeo, from('juliet@localhost/balcony')).length, 0, 'no more presence from juliet');
    h.send(romeo, presence().c('status').t('here').up());
    await h.settle();
    assert.equal(presences(juliet, from('romeo@localhost/phone')).length, 1, 'juliet still receives romeo');

    clear(romeo, juliet);
    h.send(romeo, presence({ to: JULIET, type: 'unsubscribed' }));
    await h.settle();
    assert.equal(pushedItem(romeo, JULIET)?.attrs.subscription, 'none');
    assert.equal(pushedItem(juliet, ROMEO)?.attrs.subscription, 'none');
    assert.equal(presences(juliet, from('romeo@localhost/phone', 'unavailable')).length, 1, '§3.2.2 unavailable to the former subscriber');
    clear(romeo, juliet);
    h.send(romeo, presence());
    await h.settle();
    assert.equal(presences(juliet).length, 0);
  } finally {
    await h.stop();
  }
});

test('pre-approval (§3.4): the later request is approved by the server', async () => {
  const h = await harness();
  try {
    const romeo = await h.online('romeo', 'phone');
    const juliet = await h.online('juliet', 'balcony');
    clear(romeo, juliet);
    h.send(juliet, presence({ to: ROMEO, type: 'subscribed' }));
    await h.settle();
    assert.equal(pushedItem(juliet, ROMEO)?.attrs.approved, 'true');
    assert.equal(presences(romeo).length, 0, 'a pre-approval is not sent to the contact');
    clear(romeo, juliet);
    h.send(romeo, presence({ to: JULIET, type: 'subscribe' }));
    await h.settle();
    assert.equal(presences(juliet, (p) => p.attrs.type === 'subscribe').length, 0, 'juliet is not asked');
    assert.equal(pushedItem(juliet, ROMEO)?.attrs.subscription, 'from');
    assert.equal(pushedItem(juliet, ROMEO)?.attrs.approved, undefined);
    assert.equal(pushedItem(romeo, JULIET)?.attrs.subscription, 'to');
    assert.equal(presences(romeo, from('juliet@localhost/balcony')).length, 1);
  } finally {
    await h.stop();
  }
});

test('a pending request is delivered again at each login until answered; a declined one is gone', async () => {
  const h = await harness();
  try {
    const romeo = await h.online('romeo', 'phone');
    h.send(romeo, presence({ to: JULIET, type: 'subscribe' }).c('status').t('let me in').up());
    await h.settle();
    for (const res of ['one', 'two']) {
      const juliet = await h.online('juliet', res);
      const got = presences(juliet, (p) => p.attrs.type === 'subscribe');
      assert.equal(got.length, 1, `delivered at login ${res}`);
      assert.equal(got[0]?.attrs.from, ROMEO);
      assert.equal(got[0]?.getChildText('status'), 'let me in');
      juliet.session.close();
      await h.settle();
    }
    const juliet = await h.online('juliet', 'three');
    h.send(juliet, presence({ to: ROMEO, type: 'unsubscribed' }));
    await h.settle();
    assert.equal(pushedItem(romeo, JULIET)?.attrs.subscription, 'none');
    assert.equal(pushedItem(romeo, JULIET)?.attrs.ask, undefined, 'the decline clears pending out');
    juliet.session.close();
    const again = await h.online('juliet', 'four');
    assert.equal(presences(again, (p) => p.attrs.type === 'subscribe').length, 0);
  } finally {
    await h.stop();
  }
});

test('probes are answered with every available resource, or the last unavailable presence', async () => {
  const h = await harness();
  try {
    const romeo = await h.online('romeo', 'phone');
    const j1 = await h.online('juliet', 'balcony');
    await subscribeBothWays(h, romeo, j1);
    const j2 = await h.online('juliet', 'garden');
    assert.equal(presences(j2, from('juliet@localhost/balcony')).length, 1, "a new resource sees the user's other resources");
    assert.equal(presences(j1, from('juliet@localhost/garden')).length, 1, 'and they see it');
    romeo.session.close();
    await h.settle();
    const again = await h.online('romeo', 'laptop');
    for (const r of ['balcony', 'garden']) assert.equal(presences(again, from(`juliet@localhost/${r}`)).length, 1, r);
    assert.equal(presences(again, (p) => p.attrs.from === ROMEO && p.attrs.type === 'probe').length, 0, 'probes do not reach the user');

    h.send(j2, presence({ type: 'unavailable' }).c('status').t('gone to bed').up());
    j1.session.close();
    await h.settle();
    again.session.close();
    await h.settle();
    const third = await h.online('romeo', 'tablet');
    const [last] = presences(third, from(JULIET, 'unavailable'));
    assert.ok(last, 'the last unavailable presence answers the probe');
    assert.ok(last.getChild('delay', 'urn:xmpp:delay')?.attrs.stamp);
  } finally {
    await h.stop();
  }
});

test('unavailable reaches subscribers and directed-presence recipients when a session ends', async () => {
  const h = await harness();
  try {
    const romeo = await h.online('romeo', 'phone');
    const juliet = await h.online('juliet', 'balcony');
    const nurse = await h.online('nurse', 'n');
    await subscribeBothWays(h, romeo, juliet);
    h.send(romeo, presence({ to: 'nurse@localhost/n' }));
    h.send(romeo, presence({ to: 'bob@example.net/x' }));
    await h.settle();
    assert.equal(presences(nurse, from('romeo@localhost/phone')).length, 1, 'directed presence is delivered to the full JID');
    clear(juliet, nurse);
    h.remote.length = 0;
    romeo.session.close({ condition: 'connection-timeout' });
    await h.settle();
    assert.equal(presences(juliet, from('romeo@localhost/phone', 'unavailable')).length, 1);
    assert.equal(presences(nurse, from('romeo@localhost/phone', 'unavailable')).length, 1);
    assert.ok(h.remote.some((s) => s.attrs.to === 'bob@example.net/x' && s.attrs.type === 'unavailable'), 'remote directed recipient');
    // A directed unavailable removes the recipient from the list.
    const r2 = await h.online('romeo', 'r2');
    h.send(r2, presence({ to: 'nurse@localhost/n' }));
    h.send(r2, presence({ to: 'nurse@localhost/n', type: 'unavailable' }));
    await h.settle();
    clear(nurse);
    r2.session.close();
    await h.settle();
    assert.equal(presences(nurse).length, 0);
  } finally {
    await h.stop();
  }
});

test('subscriptions with a contact on another server go through the router, and its answers apply', async () => {
  const h = await harness();
  try {
    const romeo = await h.online('romeo', 'phone');
    h.send(romeo, presence({ to: 'bob@example.net', type: 'subscribe' }));
    await h.settle();
    const out = h.remote.find((s) => s.attrs.type === 'subscribe');
    assert.ok(out, 'routed towards s2s');
    assert.equal(out.attrs.from, ROMEO);
    assert.equal(pushedItem(romeo, 'bob@example.net')?.attrs.ask, 'subscribe');

    const local = h.server.hosts.get(HOST)?.session;
    assert.ok(local);
    h.server.router.route(local, presence({ from: 'bob@example.net/desk', to: ROMEO, type: 'subscribed' }));
    await h.settle();
    assert.equal(pushedItem(romeo, 'bob@example.net')?.attrs.subscription, 'to');
    const delivered = presences(romeo, (p) => p.attrs.type === 'subscribed');
    assert.equal(delivered[0]?.attrs.from, 'bob@example.net', 'delivered from the bare JID');

    h.server.router.route(local, presence({ from: 'bob@example.net/desk', to: ROMEO }));
    assert.equal(presences(romeo, from('bob@example.net/desk')).length, 1, 'inbound presence to the bare JID');
    h.remote.length = 0;
    romeo.session.close();
    await h.settle();
    const again = await h.online('romeo', 'laptop');
    assert.ok(again);
    assert.ok(h.remote.some((s) => s.attrs.type === 'probe' && s.attrs.to === 'bob@example.net' && s.attrs.from === ROMEO), 'probe to the remote contact');

    // An inbound request for an account that does not exist is declined (§3.1.3).
    h.remote.length = 0;
    h.server.router.route(local, presence({ from: 'bob@example.net', to: 'nobody@localhost', type: 'subscribe' }));
    await h.settle();
    assert.ok(h.remote.some((s) => s.attrs.type === 'unsubscribed' && s.attrs.from === 'nobody@localhost'));
    // A probe from someone not subscribed is told so, revealing nothing.
    h.remote.length = 0;
    h.server.router.route(local, presence({ from: 'eve@example.net', to: ROMEO, type: 'probe' }));
    await h.settle();
    assert.deepEqual(h.remote.map((s) => s.attrs.type), ['unsubscribed']);
  } finally {
    await h.stop();
  }
});

test('priority, session.presence and bad presence types', async () => {
  const h = await harness();
  try {
    const romeo = h.connect('romeo', 'phone');
    assert.equal(romeo.session.presence, undefined);
    h.send(romeo, presence().c('priority').t('5').up());
    assert.equal(romeo.session.priority, 5);
    assert.ok(romeo.session.presence);
    h.send(romeo, presence().c('priority').t('500').up());
    assert.equal(romeo.session.priority, 127);
    h.send(romeo, presence().c('priority').t('-7').up());
    assert.equal(romeo.session.priority, -7);
    h.send(romeo, presence().c('priority').t('high').up());
    assert.equal(romeo.session.priority, 0);
    h.send(romeo, presence({ to: JULIET }));
    const current = (): Element | undefined => romeo.session.presence;
    assert.equal(current()?.attrs.to, undefined, 'directed presence is not the session presence');
    assert.equal(current()?.getChildText('priority'), 'high');
    h.send(romeo, presence({ type: 'unavailable' }));
    assert.equal(romeo.session.presence, undefined);
    clear(romeo);
    h.send(romeo, presence({ type: 'subscribe', id: 'x' }));
    h.send(romeo, presence({ type: 'bogus', to: JULIET, id: 'y' }));
    await h.settle();
    assert.equal(errorConditionOf(romeo.sent.find((s) => s.attrs.id === 'x')), 'bad-request');
    assert.equal(errorConditionOf(romeo.sent.find((s) => s.attrs.id === 'y')), 'bad-request');
  } finally {
    await h.stop();
  }
});

test('presence/initial fires once per session, after the initial presence', async () => {
  const h = await harness();
  try {
    const seen: string[] = [];
    h.server.hosts.get(HOST)?.events.on('presence/initial', ({ session }) => void seen.push(session.fullJid ?? ''));
    const romeo = h.connect('romeo', 'phone');
    h.send(romeo, presence());
    h.send(romeo, presence().c('show').t('dnd').up());
    await h.settle();
    assert.deepEqual(seen, ['romeo@localhost/phone']);
  } finally {
    await h.stop();
  }
});

test('a request reaches available resources; approvals and cancellations reach interested ones (RFC 6121 §3.1.3, §3.1.6, §3.2.3)', async () => {
  const h = await harness();
  try {
    const romeo = await h.online('romeo', 'phone'); // interested and available
    const silent = h.connect('romeo', 'watch'); // available, never asked for the roster
    h.send(silent, presence());
    const rosterOnly = h.connect('romeo', 'desk'); // asked for the roster, not available
    await h.rosterGet(rosterOnly);
    const juliet = await h.online('juliet', 'balcony');
    await h.settle();
    clear(romeo, silent, rosterOnly, juliet);

    h.send(juliet, presence({ to: ROMEO, type: 'subscribe' }));
    await h.settle();
    const requests = (c: FakeClient) => presences(c, from(JULIET, 'subscribe')).length;
    assert.deepEqual([requests(romeo), requests(silent), requests(rosterOnly)], [1, 1, 0], 'subscribe: available resources');

    h.send(romeo, presence({ to: JULIET, type: 'subscribe' }));
    await h.settle();
    clear(romeo, silent, rosterOnly);
    h.send(juliet, presence({ to: ROMEO, type: 'subscribed' }));
    await h.settle();
    const approvals = (c: FakeClient) => presences(c, from(JULIET, 'subscribed')).length;
    assert.deepEqual([approvals(romeo), approvals(silent), approvals(rosterOnly)], [1, 0, 1], 'subscribed: interested resources');

    clear(romeo, silent, rosterOnly);
    h.send(juliet, presence({ to: ROMEO, type: 'unsubscribed' }));
    await h.settle();
    const cancels = (c: FakeClient) => presences(c, from(JULIET, 'unsubscribed')).length;
    assert.deepEqual([cancels(romeo), cancels(silent), cancels(rosterOnly)], [1, 0, 1], 'unsubscribed: interested resources');
  } finally {
    await h.stop();
  }
});

test('unanswered inbound requests are bounded by max_pending_requests; the next ones are dropped', async () => {
  const h = await harness(['romeo', 'juliet', 'nurse', 'friar'], (m) => {
    m.presence = { max_pending_requests: 2 };
  });
  try {
    const romeo = await h.online('romeo', 'phone');
    const others = [await h.online('juliet', 'b'), await h.online('nurse', 'n'), await h.online('friar', 'f')];
    clear(romeo);
    for (const c of others) {
      h.send(c, presence({ to: ROMEO, type: 'subscribe' }));
      await h.settle();
    }
    const requests = presences(romeo, (p) => p.attrs.type === 'subscribe').map((p) => p.attrs.from);
    assert.deepEqual(requests, [JULIET, 'nurse@localhost'], 'the third request is not delivered');
    const roster = await loadRoster(h.server, HOST, 'romeo');
    assert.deepEqual(roster.pendingIn().map((p) => p.jid), [JULIET, 'nurse@localhost'], 'nor stored');

    // Answering one makes room again.
    h.send(romeo, presence({ to: JULIET, type: 'subscribed' }));
    await h.settle();
    h.send(others[2]!, presence({ to: ROMEO, type: 'subscribe' }));
    await h.settle();
    assert.equal(presences(romeo, from('friar@localhost', 'subscribe')).length, 1);
  } finally {
    await h.stop();
  }
});
