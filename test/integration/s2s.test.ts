/**
 * Federation between two Canto servers in one process (a.test ⇄ b.test over loopback):
 * messages, presence subscriptions and iq ping both ways, with dialback (no CA trusted) and
 * with SASL EXTERNAL (the test CA trusted); bounces for unreachable and silent domains;
 * secure_auth refusing dialback; a host added by a reload federating at once.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createServer, type Server as NetServer } from 'node:net';
import { FakeClient, waitFor } from '../../src/testing/index.js';
import { iq, message, presence } from '../../src/xml/stanza.js';
import type { Element } from '../../src/xml/element.js';
import { s2sOutgoing, s2sStats } from '../../src/modules/s2s/index.js';
import type { Server } from '../../src/core/server.js';
import { makeTestCa, startPair, type TestCa } from './s2s-harness.js';

let ca: TestCa;
before(async () => {
  ca = await makeTestCa(['a.test', 'b.test', 'c.test']);
});
after(() => {
  rmSync(ca.dir, { recursive: true, force: true });
});

function until<T>(what: string, fn: () => T | undefined, ms = 5000): Promise<Exclude<T, undefined | false | null>> {
  return waitFor(fn, { timeoutMs: ms, intervalMs: 10, message: `timed out waiting for ${what}` });
}

const errorCondition = (el: Element | undefined) => el?.getChild('error')?.elements[0]?.name;
const find = (c: FakeClient, pred: (e: Element) => boolean) => () => c.sent.find(pred);

function ping(server: Server, from: FakeClient, to: string, id: string): void {
  const q = iq({ type: 'get', id, to });
  q.c('ping', { xmlns: 'urn:xmpp:ping' });
  server.router.fromClient(from.session, q);
}

/**
 * Message, subscription handshake and pings in both directions between romeo@a.test and
 * juliet@b.test. `oneStream`: with SASL EXTERNAL and bidi (XEP-0288) on both sides, a's stream
 * carries everything both ways and b opens none; otherwise one stream per direction.
 */
async function exerciseBothWays(a: Server, b: Server, oneStream = false): Promise<void> {
  // The s2s_unauthed → s2s transition goes through the SessionManager and is announced.
  const authenticated: string[] = [];
  for (const [name, s] of [['a', a], ['b', b]] as const) {
    s.events.on('s2s-authenticated', ({ session }) => void authenticated.push(`${name} ${session.direction} ${session.fromHost}→${session.toHost} ${session.type}`));
  }
  const romeo = new FakeClient(a, 'romeo@a.test/phone');
  const juliet = new FakeClient(b, 'juliet@b.test/balcony');
  romeo.session.interested = true;
  juliet.session.interested = true;
  // Available (as after initial presence): subscription requests go to available resources.
  romeo.session.presence = presence();
  juliet.session.presence = presence();

  a.router.fromClient(romeo.session, message({ to: 'juliet@b.test/balcony', type: 'chat', id: 'm1' }).c('body').t('hello from a').up());
  const m1 = await until('a → b message', find(juliet, (e) => e.attrs.id === 'm1'));
  assert.equal(m1.name, 'message');
  assert.equal(m1.attrs.from, 'romeo@a.test/phone');
  assert.equal(m1.getChildText('body'), 'hello from a');

  b.router.fromClient(juliet.session, message({ to: 'romeo@a.test/phone', type: 'chat', id: 'm2' }).c('body').t('hello from b').up());
  const m2 = await until('b → a message', find(romeo, (e) => e.attrs.id === 'm2'));
  assert.equal(m2.attrs.from, 'juliet@b.test/balcony');
  assert.equal(m2.getChildText('body'), 'hello from b');

  ping(a, romeo, 'b.test', 'p1');
  const p1 = await until('ping result from b.test', find(romeo, (e) => e.attrs.id === 'p1'));
  assert.equal(p1.attrs.type, 'result');
  assert.equal(p1.attrs.from, 'b.test');
  ping(b, juliet, 'a.test', 'p2');
  const p2 = await until('ping result from a.test', find(juliet, (e) => e.attrs.id === 'p2'));
  assert.equal(p2.attrs.type, 'result');
  assert.equal(p2.attrs.from, 'a.test');

  // Subscription: romeo asks, juliet sees the request and approves, romeo sees the approval.
  a.router.fromClient(romeo.session, presence({ to: 'juliet@b.test', type: 'subscribe' }));
  const request = await until('subscription request at b', find(juliet, (e) => e.name === 'presence' && e.attrs.type === 'subscribe'));
  assert.equal(request.attrs.from, 'romeo@a.test');
  b.router.fromClient(juliet.session, presence({ to: 'romeo@a.test', type: 'subscribed' }));
  const approval = await until('subscription approval at a', find(romeo, (e) => e.name === 'presence' && e.attrs.type === 'subscribed'));
  assert.equal(approval.attrs.from, 'juliet@b.test');

  assert.deepEqual(
    authenticated.sort(),
    oneStream
      ? ['a outgoing a.test→b.test s2s', 'b incoming a.test→b.test s2s']
      : ['a incoming b.test→a.test s2s', 'a outgoing a.test→b.test s2s', 'b incoming a.test→b.test s2s', 'b outgoing b.test→a.test s2s'],
  );

  // The streams are reused: one outgoing stream per direction (or a's only, bidirectional).
  const outgoing = (s: Server) => [...s.sessions.all].filter((x) => (x.type === 's2s' || x.type === 's2s_unauthed') && x.direction === 'outgoing');
  assert.equal(outgoing(a).length, 1);
  assert.equal(outgoing(b).length, oneStream ? 0 : 1);
  assert.ok(outgoing(a).every((x) => x.type === 's2s' && x.fromHost === 'a.test' && x.toHost === 'b.test'));
  const incoming = [...b.sessions.all].find((x) => x.type === 's2s' && x.direction === 'incoming');
  assert.ok(incoming?.type === 's2s' && incoming.fromHost === 'a.test' && incoming.toHost === 'b.test');
}

test('federation with dialback when no certificate can be verified', async () => {
  const pair = await startPair(ca, { trustCa: false });
  try {
    await exerciseBothWays(pair.a.server, pair.b.server);
    const sa = s2sStats(pair.a.server);
    const sb = s2sStats(pair.b.server);
    assert.ok(sa && sb);
    assert.equal(sa.authExternal + sb.authExternal, 0);
    assert.ok(sa.authDialback >= 2, `a authenticated with dialback both ways: ${JSON.stringify(sa)}`);
    assert.ok(sb.dialbackVerifiesAnswered >= 1 && sa.dialbackVerifiesAnswered >= 1, 'each server acted as authoritative server');
    assert.ok(sa.stanzasOut > 0 && sb.stanzasIn > 0);
  } finally {
    await pair.stop();
  }
});

test('dialback started by both servers at the same moment: no deadlock, each verifies over the stream it is opening', async () => {
  // Each side's db:verify travels on its own outgoing stream as soon as that stream is encrypted,
  // not once it is authenticated (which waits for the other side's verification in turn).
  const pair = await startPair(ca, { trustCa: false });
  try {
    const a = pair.a.server;
    const b = pair.b.server;
    const romeo = new FakeClient(a, 'romeo@a.test/phone');
    const juliet = new FakeClient(b, 'juliet@b.test/balcony');
    a.router.fromClient(romeo.session, message({ to: 'juliet@b.test/balcony', id: 'x1' }).c('body').t('at once').up());
    b.router.fromClient(juliet.session, message({ to: 'romeo@a.test/phone', id: 'x2' }).c('body').t('at once').up());
    await until('a → b', find(juliet, (e) => e.attrs.id === 'x1'));
    await until('b → a', find(romeo, (e) => e.attrs.id === 'x2'));
    const sa = s2sStats(a);
    const sb = s2sStats(b);
    assert.ok(sa && sb);
    assert.equal(sa.authFailures + sb.authFailures, 0);
    assert.ok(sa.authDialback >= 2 && sb.authDialback >= 2, 'dialback in both directions on both servers');
  } finally {
    await pair.stop();
  }
});

test('federation with SASL EXTERNAL when the certificates verify: one bidirectional stream (XEP-0288) carries both ways', async () => {
  const pair = await startPair(ca, { trustCa: true });
  try {
    await exerciseBothWays(pair.a.server, pair.b.server, true);
    const sa = s2sStats(pair.a.server);
    const sb = s2sStats(pair.b.server);
    assert.ok(sa && sb);
    assert.equal(sa.authDialback + sb.authDialback, 0, 'no dialback needed');
    assert.equal(sa.dialbackVerifiesAnswered + sb.dialbackVerifiesAnswered, 0);
    assert.equal(sa.authExternal, 1, `a authenticated its one stream: ${JSON.stringify(sa)}`);
    assert.equal(sb.authExternal, 1, `b authenticated a's stream: ${JSON.stringify(sb)}`);
    assert.equal(sa.bidiStreams, 1);
    assert.equal(sb.bidiStreams, 1);
    assert.equal(sa.incomingStreams + sb.outgoingStreams, 0, 'b never connected to a');
    assert.ok(sb.stanzasOut > 0 && sa.stanzasIn > 0, 'b sent over a\'s stream');
  } finally {
    await pair.stop();
  }
});

test('with [s2s] bidi = false on one side: one stream per direction, as RFC 6120 has it', async () => {
  const pair = await startPair(ca, { trustCa: true, adjustB: (c) => (c.s2s.bidi = false) });
  try {
    await exerciseBothWays(pair.a.server, pair.b.server);
    const sa = s2sStats(pair.a.server);
    const sb = s2sStats(pair.b.server);
    assert.ok(sa && sb);
    assert.equal(sa.bidiStreams + sb.bidiStreams, 0);
    assert.ok(sa.authExternal >= 2 && sb.authExternal >= 2, `${JSON.stringify(sa)} ${JSON.stringify(sb)}`);
  } finally {
    await pair.stop();
  }
});

test('secure_auth refuses dialback: stanzas to the domain bounce', async () => {
  const pair = await startPair(ca, { trustCa: false, adjustB: (c) => (c.s2s.secure_auth = true) });
  try {
    const romeo = new FakeClient(pair.a.server, 'romeo@a.test/phone');
    const started = Date.now();
    pair.a.server.router.fromClient(romeo.session, message({ to: 'juliet@b.test', id: 'x1' }).c('body').t('hi').up());
    const bounce = await until('bounce', find(romeo, (e) => e.attrs.id === 'x1'));
    assert.ok(Date.now() - started < 5000);
    assert.equal(bounce.attrs.type, 'error');
    assert.equal(errorCondition(bounce), 'remote-server-not-found');
    assert.ok(![...pair.b.server.sessions.all].some((s) => s.type === 's2s'), 'b authenticated nobody');
  } finally {
    await pair.stop();
  }
});

test('secure_domains on the sending side refuses an unverifiable peer', async () => {
  const pair = await startPair(ca, { trustCa: false, adjustA: (c) => (c.s2s.secure_domains = ['b.test']) });
  try {
    const romeo = new FakeClient(pair.a.server, 'romeo@a.test/phone');
    pair.a.server.router.fromClient(romeo.session, message({ to: 'juliet@b.test', id: 'x2' }).c('body').t('hi').up());
    const bounce = await until('bounce', find(romeo, (e) => e.attrs.id === 'x2'));
    assert.equal(errorCondition(bounce), 'remote-server-not-found');
    assert.equal(s2sStats(pair.a.server)?.authDialback, 0);
  } finally {
    await pair.stop();
  }
});

test('unreachable and silent domains bounce every queued stanza promptly', async () => {
  // A port nobody listens on (bound, then closed) and a listener that accepts and never speaks.
  const closedPort = await new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
  const silent: NetServer = createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const silentPort = (silent.address() as { port: number }).port;
  const pair = await startPair(ca, {
    trustCa: false,
    adjustA: (c) => {
      c.s2s.hosts['nowhere.test'] = `127.0.0.1:${closedPort}`;
      c.s2s.hosts['silent.test'] = `127.0.0.1:${silentPort}`;
      c.modules.s2s = { negotiation_timeout: '1s' };
    },
  });
  try {
    const romeo = new FakeClient(pair.a.server, 'romeo@a.test/phone');
    const started = Date.now();
    for (const id of ['n1', 'n2', 'n3']) {
      pair.a.server.router.fromClient(romeo.session, message({ to: 'someone@nowhere.test', id }).c('body').t(id).up());
    }
    ping(pair.a.server, romeo, 'silent.test', 's1');
    for (const id of ['n1', 'n2', 'n3']) {
      const b = await until(`bounce of ${id}`, find(romeo, (e) => e.attrs.id === id));
      assert.equal(errorCondition(b), 'remote-server-not-found');
      assert.equal(b.attrs.from, 'someone@nowhere.test');
      assert.equal(b.getChildText('body'), id);
    }
    const s1 = await until('timeout bounce', find(romeo, (e) => e.attrs.id === 's1'));
    assert.equal(errorCondition(s1), 'remote-server-timeout');
    assert.ok(Date.now() - started < 4000, 'bounced within a few seconds');
    assert.ok((s2sStats(pair.a.server)?.stanzasBounced ?? 0) >= 4);
  } finally {
    await pair.stop();
    silent.close();
  }
});

test('idle outgoing streams are closed after s2s.idle_timeout and made again on demand', async () => {
  const pair = await startPair(ca, { trustCa: true, adjustA: (c) => (c.s2s.idle_timeout = 1200) });
  try {
    const a = pair.a.server;
    const romeo = new FakeClient(a, 'romeo@a.test/phone');
    const juliet = new FakeClient(pair.b.server, 'juliet@b.test/balcony');
    const outgoing = () => [...a.sessions.all].filter((s) => s.type === 's2s' && s.direction === 'outgoing');
    a.router.fromClient(romeo.session, message({ to: 'juliet@b.test/balcony', id: 'i1' }).c('body').t('1').up());
    await until('first message', find(juliet, (e) => e.attrs.id === 'i1'));
    assert.equal(outgoing().length, 1);
    await until('idle close', () => outgoing().length === 0 || undefined, 5000);
    a.router.fromClient(romeo.session, message({ to: 'juliet@b.test/balcony', id: 'i2' }).c('body').t('2').up());
    await until('message on a new stream', find(juliet, (e) => e.attrs.id === 'i2'));
    assert.equal(s2sStats(a)?.outgoingStreams, 2);
  } finally {
    await pair.stop();
  }
});

test('targets are tried in turn; a direct TLS target (XEP-0368) is connected with TLS from the first byte', async () => {
  const pair = await startPair(ca, { trustCa: true, adjustB: (c) => (c.s2s.direct_tls_ports = [0]) });
  try {
    const a = pair.a.server;
    const manager = s2sOutgoing(a);
    assert.ok(manager);
    const closedPort = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const asked: string[] = [];
    manager.resolve = (domain) => {
      asked.push(domain);
      return Promise.resolve([
        { host: '127.0.0.1', port: closedPort, directTls: true },
        { host: '127.0.0.1', port: pair.b.server.port('s2s_direct_tls'), directTls: true },
      ]);
    };
    const romeo = new FakeClient(a, 'romeo@a.test/phone');
    const juliet = new FakeClient(pair.b.server, 'juliet@b.test/balcony');
    a.router.fromClient(romeo.session, message({ to: 'juliet@b.test/balcony', id: 'd1' }).c('body').t('direct').up());
    await until('message over direct TLS', find(juliet, (e) => e.attrs.id === 'd1'));
    assert.deepEqual(asked, ['b.test']);
    const stats = s2sStats(a);
    assert.equal(stats?.connectFailures, 1, 'the closed port was tried first');
    assert.equal(stats?.authExternal, 1);
    const out = [...a.sessions.all].find((s) => s.type === 's2s' && s.direction === 'outgoing');
    assert.ok(out?.conn.encrypted);
  } finally {
    await pair.stop();
  }
});

test('a host added by a reload federates at once', async () => {
  const pair = await startPair(ca, { trustCa: false });
  try {
    const next = structuredClone(pair.a.server.config);
    const cert = ca.certs.get('c.test');
    next.virtualhost.push({ ...structuredClone(next.virtualhost[0]!), domain: 'c.test', certificate: cert?.certificate, key: cert?.key });
    const report = await pair.a.server.reconfigure(next);
    assert.deepEqual(report.failed, []);
    pair.b.server.config.s2s.hosts['c.test'] = `127.0.0.1:${pair.a.server.port('s2s')}`;
    const carol = new FakeClient(pair.a.server, 'carol@c.test/r');
    const juliet = new FakeClient(pair.b.server, 'juliet@b.test/balcony');
    carol.send(message({ to: 'juliet@b.test/balcony', type: 'chat', id: 'c1' }).c('body').t('hello from a new host').up());
    const m = await until('c → b message', find(juliet, (e) => e.attrs.id === 'c1'));
    assert.equal(m.attrs.from, 'carol@c.test/r');
    assert.equal(carol.sent.find((e) => e.attrs.id === 'c1'), undefined, 'no bounce');
  } finally {
    await pair.stop();
  }
});
