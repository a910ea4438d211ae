/** XEP-0198 in the harness: enable, acks both ways, hibernation, resumption, expiry (FakeClock), failures, fates. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import smacks, { type SmacksService } from '../../src/modules/smacks/index.js';
import messageModule from '../../src/modules/message/index.js';
import { FakeClock, FakeConnection, startHarness, type FakeClient, type Harness } from '../../src/testing/index.js';
import { newSessionId, type BoundC2SSession, type C2SSession, type CloseReason, type Framing } from '../../src/core/session.js';
import { Element } from '../../src/xml/element.js';
import { iq, message, presence } from '../../src/xml/stanza.js';
import { NS_SM, parseSm } from '../../src/modules/smacks/elements.js';

const chat = (to: string, body: string) => message({ to, type: 'chat', id: body }).c('body').t(body).root();
const sm = (name: string, attrs: Record<string, string> = {}) => new Element(name, { xmlns: NS_SM, ...attrs });

/** An authenticated, unbound session on a fake connection (a new connection after SASL). */
function freshSession(h: Harness, username: string) {
  const sent: Element[] = [];
  const closes: Array<CloseReason | undefined> = [];
  const conn = new FakeConnection();
  let ended = false;
  const framing: Framing = {
    send: (el) => {
      if (typeof el !== 'string') sent.push(el);
    },
    close: (reason) => {
      closes.push(reason);
      ended = true;
    },
    restart: () => {},
    closeReason: undefined,
    get ended() {
      return ended;
    },
  };
  const unauthed = h.server.sessions.create(conn, framing, { type: 'c2s_unauthed', id: newSessionId('fresh'), log: h.server.log, host: h.host });
  unauthed.notopen = false;
  const session = h.server.sessions.makeAuthenticated(unauthed, username) as C2SSession;
  return { session, sent, closes, conn };
}

/** What the client sends: through the in filters (as the client session does), then routed. */
function fromClient(h: Harness, c: FakeClient, st: Element): void {
  const s = h.server.sessions.receive(c.session, st);
  if (s !== undefined) void h.server.router.fromClient(c.session, s);
}

function element(h: Harness, origin: BoundC2SSession | C2SSession, el: Element): boolean {
  return h.context.events.fire('stream-element', { origin, element: el });
}

async function setup(config: Record<string, unknown> = {}, clock?: FakeClock) {
  const h = await startHarness({ modules: [messageModule, smacks], clock, config: (c) => (c.modules.smacks = config) });
  const romeo = await h.client('romeo@localhost/a');
  const juliet = await h.client('juliet@localhost/phone');
  const svc = h.context.services.get('smacks') as SmacksService;
  return { h, romeo, juliet, svc };
}

const smSent = (c: FakeClient, name: string) => c.sent.filter((e) => e.is(name, NS_SM));
const bodies = (els: Element[]) => els.filter((e) => e.name === 'message').map((e) => e.getChildText('body'));

test('enable: resumable gets an id, resume=true and max (the window, or the smaller max the client asked); twice is unexpected-request', async () => {
  const { h, romeo, juliet } = await setup();
  try {
    assert.equal(element(h, juliet.session, sm('enable', { resume: 'true' })), true);
    const en = juliet.last() as Element;
    assert.ok(en.is('enabled', NS_SM));
    assert.match(en.attrs.id ?? '', /^[A-Za-z0-9_-]{24}$/);
    assert.equal(en.attrs.resume, 'true');
    assert.equal(en.attrs.max, '600');
    element(h, juliet.session, sm('enable'));
    assert.equal(juliet.last()?.toString(), `<failed xmlns="${NS_SM}"><unexpected-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></failed>`);
    element(h, romeo.session, sm('enable', { resume: 'true', max: '60' }));
    assert.equal(romeo.last()?.attrs.max, '60');
    const plain = await h.client('romeo@localhost/b');
    element(h, plain.session, sm('enable'));
    assert.equal(plain.last()?.toString(), `<enabled xmlns="${NS_SM}"/>`, 'no id without resumption');
  } finally {
    await h.stop();
  }
});

test('enable before bind, and r/a before enable: unexpected-request', async () => {
  const { h, juliet } = await setup();
  try {
    const fresh = freshSession(h, 'juliet');
    element(h, fresh.session, sm('enable'));
    assert.ok(fresh.sent[0]?.is('failed', NS_SM) && fresh.sent[0].getChild('unexpected-request'));
    element(h, juliet.session, sm('r'));
    assert.ok(juliet.last()?.getChild('unexpected-request'));
    element(h, juliet.session, sm('resume', { previd: 'x', h: '0' }));
    assert.ok(juliet.last()?.getChild('unexpected-request'), 'resume on a bound session');
  } finally {
    await h.stop();
  }
});

test('acks: <r/> is answered with the stanzas the client sent since enable; <a h/> trims the queue; h wraps at 2^32', async () => {
  const { h, romeo, juliet, svc } = await setup({ request_after: 100 });
  try {
    fromClient(h, juliet, chat('romeo@localhost/a', 'before enable'));
    element(h, juliet.session, sm('enable'));
    for (const b of ['1', '2', '3']) fromClient(h, juliet, chat('romeo@localhost/a', b));
    element(h, juliet.session, sm('r'));
    assert.equal(juliet.last()?.toString(), `<a xmlns="${NS_SM}" h="3"/>`);
    for (const b of ['x', 'y', 'z']) romeo.send(chat('juliet@localhost/phone', b));
    const state = svc.state(juliet.session);
    assert.equal(state?.queue.length, 3);
    element(h, juliet.session, sm('a', { h: '2' }));
    assert.deepEqual(state?.queue.unacked().map((q) => q.stanza.attrs.id), ['z']);
    // Wrap-around of the inbound count.
    if (state) state.inbound = 2 ** 32 - 1;
    fromClient(h, juliet, chat('romeo@localhost/a', 'wrap'));
    element(h, juliet.session, sm('r'));
    assert.equal(juliet.last()?.attrs.h, '0');
  } finally {
    await h.stop();
  }
});

test('acks: an h beyond what was sent closes the stream with undefined-condition and handled-count-too-high', async () => {
  const { h, romeo, juliet } = await setup();
  try {
    element(h, juliet.session, sm('enable'));
    romeo.send(chat('juliet@localhost/phone', 'one'));
    element(h, juliet.session, sm('a', { h: '2' }));
    const reason = await juliet.waitClosed();
    assert.ok(reason instanceof Element);
    assert.ok(reason.getChild('undefined-condition'));
    assert.equal(reason.getChild('handled-count-too-high', NS_SM)?.attrs['send-count'], '1');
    const bad = await h.client('juliet@localhost/other');
    element(h, bad.session, sm('enable'));
    element(h, bad.session, sm('a', { h: 'lots' }));
    assert.equal(((await bad.waitClosed()) as { condition: string }).condition, 'bad-format');
  } finally {
    await h.stop();
  }
});

test('the server asks for acks after request_after stanzas, and after request_delay', async () => {
  const clock = new FakeClock();
  const { h, romeo, juliet } = await setup({ request_after: 2, request_delay: '3s' }, clock);
  try {
    element(h, juliet.session, sm('enable'));
    romeo.send(chat('juliet@localhost/phone', 'a'));
    romeo.send(chat('juliet@localhost/phone', 'b'));
    await juliet.receives((e) => e.is('r', NS_SM));
    assert.deepEqual(juliet.sent.slice(-3).map((e) => e.name), ['message', 'message', 'r'], '<r/> after the stanzas it covers');
    element(h, juliet.session, sm('a', { h: '2' }));
    romeo.send(chat('juliet@localhost/phone', 'c'));
    await Promise.resolve();
    assert.equal(smSent(juliet, 'r').length, 1);
    clock.advance(4000);
    assert.equal(smSent(juliet, 'r').length, 2, 'the delayed request');
  } finally {
    await h.stop();
  }
});

test('resumption: a lost connection hibernates; stanzas queue; <resume h/> re-sends exactly the unacked ones and continues', async () => {
  const { h, romeo, juliet, svc } = await setup({ request_after: 100 });
  try {
    element(h, juliet.session, sm('enable', { resume: 'true' }));
    const id = juliet.last()?.attrs.id as string;
    fromClient(h, juliet, chat('romeo@localhost/a', 'in1'));
    for (const b of ['m1', 'm2', 'm3']) romeo.send(chat('juliet@localhost/phone', b));
    const old = juliet.session;
    h.server.sessions.connectionClosed(old, old.conn); // not a clean close
    assert.equal(old.hibernating, true);
    assert.equal(old.destroyed, false);
    romeo.send(chat('juliet@localhost/phone', 'm4'));
    assert.equal(svc.state(old)?.queue.length, 4);

    const other = freshSession(h, 'romeo');
    element(h, other.session, sm('resume', { previd: id, h: '0' }));
    const unknown = freshSession(h, 'juliet');
    element(h, unknown.session, sm('resume', { previd: 'AAAAAAAAAAAAAAAAAAAAAAAA', h: '0' }));
    assert.equal(other.sent[0]?.toString(), unknown.sent[0]?.toString(), "another account's id looks unknown");
    assert.equal(other.sent[0]?.toString(), `<failed xmlns="${NS_SM}"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></failed>`);
    assert.equal(old.hibernating, true, 'untouched');

    const fresh = freshSession(h, 'juliet');
    element(h, fresh.session, sm('resume', { previd: id, h: '2' }));
    assert.equal(fresh.sent[0]?.toString(), `<resumed xmlns="${NS_SM}" previd="${id}" h="1"/>`);
    assert.deepEqual(bodies(fresh.sent), ['m3', 'm4']);
    assert.ok(fresh.sent[fresh.sent.length - 1]?.is('r', NS_SM));
    assert.equal(old.hibernating, false);
    assert.equal(old.conn, fresh.conn);
    assert.equal(fresh.session.resumedInto, old);
    romeo.send(chat('juliet@localhost/phone', 'm5'));
    assert.deepEqual(bodies(fresh.sent), ['m3', 'm4', 'm5']);
    element(h, old, sm('a', { h: '5' }));
    assert.equal(svc.state(old)?.queue.length, 0);
  } finally {
    await h.stop();
  }
});

test('resumption with a half-dead old connection closes it; a resume h beyond what was sent fails', async () => {
  const { h, romeo, juliet } = await setup({ request_after: 100 });
  try {
    element(h, juliet.session, sm('enable', { resume: 'true' }));
    const id = juliet.last()?.attrs.id as string;
    romeo.send(chat('juliet@localhost/phone', 'm1'));
    const tooHigh = freshSession(h, 'juliet');
    element(h, tooHigh.session, sm('resume', { previd: id, h: '9' }));
    assert.ok((tooHigh.closes[0] as Element).getChild('handled-count-too-high', NS_SM));
    assert.equal(juliet.closedWith.length, 0, 'the old session is untouched');
    const fresh = freshSession(h, 'juliet');
    element(h, fresh.session, sm('resume', { previd: id, h: '0' }));
    assert.equal(juliet.closedWith.length, 1, 'old connection closed');
    assert.deepEqual(bodies(fresh.sent), ['m1']);
    assert.equal(h.server.sessions.getSession('localhost', 'juliet', 'phone'), juliet.session);
  } finally {
    await h.stop();
  }
});

test('expiry: after the window the session ends; messages go to another resource with a delay, iqs bounce, presence is discarded; a late resume fails with h', async () => {
  const clock = new FakeClock();
  const { h, romeo, juliet } = await setup({ request_after: 100, resume_timeout: '30s' }, clock);
  try {
    const desk = await h.client('juliet@localhost/desk');
    h.server.sessions.setPresence(desk.session, presence(), 0);
    element(h, juliet.session, sm('enable', { resume: 'true' }));
    const id = juliet.last()?.attrs.id as string;
    fromClient(h, juliet, chat('romeo@localhost/a', 'in1'));
    romeo.send(chat('juliet@localhost/phone', 'm1'));
    h.server.sessions.connectionClosed(juliet.session, juliet.session.conn);
    romeo.send(chat('juliet@localhost/phone', 'm2'));
    romeo.send(message({ to: 'juliet@localhost/phone', type: 'headline', id: 'hl' }).c('body').t('news').root());
    romeo.send(iq({ to: 'juliet@localhost/phone', type: 'get', id: 'q1' }).c('query', { xmlns: 'jabber:iq:version' }).root());
    romeo.send(presence({ to: 'juliet@localhost/phone' }));
    clock.advance(20_000);
    assert.equal(juliet.session.destroyed, false, 'still in the window');
    clock.advance(12_000);
    assert.equal(juliet.session.destroyed, true);
    const got = await desk.receives((e) => e.attrs.id === 'm1');
    assert.equal(got.attrs.to, 'juliet@localhost');
    assert.ok(got.getChild('delay', 'urn:xmpp:delay'));
    await desk.receives((e) => e.attrs.id === 'm2');
    assert.equal(desk.sent.filter((e) => e.attrs.id === 'hl').length, 0, 'headline discarded');
    const err = await romeo.receives((e) => e.name === 'iq' && e.attrs.id === 'q1');
    assert.equal(err.attrs.type, 'error');
    assert.ok(err.getChild('error')?.getChild('service-unavailable'));
    const late = freshSession(h, 'juliet');
    element(h, late.session, sm('resume', { previd: id, h: '0' }));
    assert.equal(late.sent[0]?.toString(), `<failed xmlns="${NS_SM}" h="1"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></failed>`);
  } finally {
    await h.stop();
  }
});

test('a clean close or a kick is not vetoed: unacked messages are re-routed at once', async () => {
  const { h, romeo, juliet } = await setup({ request_after: 100 });
  try {
    const desk = await h.client('juliet@localhost/desk');
    h.server.sessions.setPresence(desk.session, presence(), 0);
    element(h, juliet.session, sm('enable', { resume: 'true' }));
    romeo.send(chat('juliet@localhost/phone', 'k1'));
    juliet.session.close();
    assert.equal(juliet.session.destroyed, true);
    await desk.receives((e) => e.attrs.id === 'k1');
  } finally {
    await h.stop();
  }
});

test('queue bound: past max_unacked a connected session gets policy-violation, a hibernating one ends; nothing is lost', async () => {
  const { h, romeo, juliet } = await setup({ request_after: 100, max_unacked: 3 });
  try {
    const desk = await h.client('juliet@localhost/desk');
    h.server.sessions.setPresence(desk.session, presence(), 0);
    element(h, juliet.session, sm('enable', { resume: 'true' }));
    for (const b of ['o1', 'o2', 'o3', 'o4']) romeo.send(chat('juliet@localhost/phone', b));
    assert.equal(((await juliet.waitClosed()) as { condition: string }).condition, 'policy-violation');
    for (const b of ['o1', 'o2', 'o3', 'o4']) await desk.receives((e) => e.attrs.id === b);
    const tab = await h.client('juliet@localhost/tab');
    element(h, tab.session, sm('enable', { resume: 'true' }));
    h.server.sessions.connectionClosed(tab.session, tab.session.conn);
    for (const b of ['p1', 'p2', 'p3', 'p4']) romeo.send(chat('juliet@localhost/tab', b));
    await desk.receives((e) => e.attrs.id === 'p4');
    assert.equal(tab.session.destroyed, true);
  } finally {
    await h.stop();
  }
});

test('queue bound in bytes: unacknowledged stanzas past [limits] max_send_buffer end the session; nothing is lost', async () => {
  const h = await startHarness({
    modules: [messageModule, smacks],
    config: (c) => {
      c.modules.smacks = { request_after: 1000, max_unacked: 1000 };
      c.limits.max_send_buffer = 4096;
    },
  });
  try {
    const romeo = await h.client('romeo@localhost/a');
    const juliet = await h.client('juliet@localhost/phone');
    const desk = await h.client('juliet@localhost/desk');
    h.server.sessions.setPresence(desk.session, presence(), 0);
    element(h, juliet.session, sm('enable', { resume: 'true' }));
    const ids = ['b1', 'b2', 'b3', 'b4', 'b5'];
    for (const id of ids) romeo.send(message({ to: 'juliet@localhost/phone', type: 'chat', id }).c('body').t('y'.repeat(1000)).root());
    const closed = (await juliet.waitClosed()) as { condition: string; text?: string };
    assert.equal(closed.condition, 'policy-violation');
    assert.match(closed.text ?? '', /4096 bytes/);
    for (const id of ids) await desk.receives((e) => e.attrs.id === id);
  } finally {
    await h.stop();
  }
});

test('property: any SM element with random attributes gets a defined answer and never throws', async () => {
  const { h, juliet, svc } = await setup();
  try {
    const name = fc.constantFrom('enable', 'r', 'a', 'resume', 'enabled', 'failed', 'resumed', 'x');
    const value = fc.oneof(fc.nat().map(String), fc.constant('4294967296'), fc.constant('-1'), fc.string({ maxLength: 12 }), fc.constant('true'));
    const attrs = fc.dictionary(fc.constantFrom('h', 'previd', 'resume', 'max', 'id'), value);
    await fc.assert(
      fc.asyncProperty(name, attrs, fc.boolean(), async (n, a, bound) => {
        const target = bound ? await h.client(`juliet@localhost/r${Math.random()}`) : undefined;
        const fresh = bound ? undefined : freshSession(h, 'juliet');
        const origin = target?.session ?? (fresh as { session: C2SSession }).session;
        if (target && Math.random() < 0.5) svc.handle(origin, parseSm(sm('enable', { resume: 'true' })));
        const outcome = svc.handle(origin, parseSm(sm(n, a)));
        const said = target ? target.sent.length + target.closedWith.length : (fresh?.sent.length ?? 0) + (fresh?.closes.length ?? 0);
        assert.ok(['answered', 'acked', 'closed'].includes(outcome));
        if (outcome !== 'acked') assert.ok(said > 0, `no answer to <${n}/> ${JSON.stringify(a)}`);
        target?.session.close();
      }),
      { numRuns: 300 },
    );
    assert.equal(juliet.closedWith.length, 0);
  } finally {
    await h.stop();
  }
});
