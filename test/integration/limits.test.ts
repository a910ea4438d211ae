/**
 * The limits module end to end (docs/abuse.md): a flooding @xmpp/client session is read no
 * faster than its rate while another client's traffic flows; each per-account limit answers
 * policy-violation; a flood from another Canto over s2s is read at the s2s rate; subscription spam
 * from another Canto is cut at its per-sender limit.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { CantoConfig } from '../../src/core/config.js';
import { FakeClient, waitFor } from '../../src/testing/index.js';
import { message } from '../../src/xml/stanza.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, errorCondition, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { codes, join, joinPresence, roomJid, withMuc } from '../helpers/muc.js';
import { makeTestCa, startPair } from './s2s-harness.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function serverWith(limits: Record<string, unknown>, adjust?: (c: CantoConfig) => void): Promise<TestServer> {
  const ts = await startTestServer((c) => {
    c.modules.limits = limits;
    adjust?.(c);
  });
  cleanups.push(() => ts.stop());
  return ts;
}

async function client(ts: TestServer, user: string, resource = 'r'): Promise<LoggedInClient> {
  if (!(await ts.server.storage.accounts.get('localhost', user))) await createAccount(ts, user, `${user}-pw`);
  const c = await loginClient(ts, user, `${user}-pw`, resource);
  cleanups.push(() => c.stop());
  return c;
}

const NO_ACCOUNT_LIMITS = { messages_to_strangers_per_hour: 0, subscriptions_per_hour: 0, muc_joins_per_minute: 0 };
const RATE = 50;
const BURST = 50;
const ping = (id: string): XElement => xml('iq', { type: 'get', to: 'localhost', id }, xml('ping', { xmlns: 'urn:xmpp:ping' }));
/**
 * How far over its rate a connection may be read: one 2 KiB read slice of the pings below (the
 * gate lets a slice through whenever the bucket is not in debt), plus the stanzas cut at the
 * slice's two ends.
 */
const SLICE_STANZAS = Math.ceil(2048 / `<iq type="get" to="localhost" id="f000"><ping xmlns="urn:xmpp:ping"/></iq>`.length) + 2;

test('a flooding client is read at its stanza rate while another client is served promptly', { timeout: 60_000 }, async () => {
  const ts = await serverWith({
    c2s: { stanzas_per_second: RATE, stanza_burst: BURST, bytes_per_second: '10 MiB', byte_burst: '10 MiB' },
    per_ip: { enabled: false },
    account: NO_ACCOUNT_LIMITS,
  });
  const flooder = await client(ts, 'flooder');
  const normal = await client(ts, 'normal');
  const peer = await client(ts, 'peer');

  const FLOOD = 300;
  const arrivals: number[] = [];
  flooder.xmpp.on('stanza', (el: XElement) => {
    if (el.is('iq') && el.attrs.id?.startsWith('f') === true) arrivals.push(performance.now());
  });
  const start = performance.now();
  for (let i = 0; i < FLOOD; i++) void flooder.send(ping(`f${i}`));

  // While the flooder is held back, the other client's messages go through at once.
  const latencies: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await normal.send(xml('message', { to: peer.jid, type: 'chat', id: `n${i}` }, xml('body', {}, `hello ${i}`)));
    await peer.waitFor((s) => s.is('message') && s.attrs.id === `n${i}`, 5000);
    latencies.push(performance.now() - t);
  }
  const duringFlood = arrivals.length;
  await waitFor(() => arrivals.length >= FLOOD, { timeoutMs: 30_000, intervalMs: 50, message: `only ${arrivals.length} of ${FLOOD} pings answered` });
  const took = (arrivals[FLOOD - 1] as number) - start;
  console.log(`flood of ${FLOOD} pings answered in ${took.toFixed(0)} ms; other client's message latency max ${Math.max(...latencies).toFixed(1)} ms; ${duringFlood} answered while it sent 10`);

  // Never faster than the rate: by any time t, at most burst + rate·t (+ one read slice).
  for (let k = 0; k < arrivals.length; k++) {
    const t = ((arrivals[k] as number) - start) / 1000;
    assert.ok(k + 1 <= BURST + RATE * t + SLICE_STANZAS, `${k + 1} answers after ${t.toFixed(2)} s exceeds the rate`);
  }
  assert.ok(took >= ((FLOOD - BURST - SLICE_STANZAS) / RATE) * 1000, `the flood went through in ${took.toFixed(0)} ms`);
  assert.ok(Math.max(...latencies) < 2000, `a message of the other client took ${Math.max(...latencies).toFixed(0)} ms`);
  assert.ok(duringFlood < FLOOD, 'the other client was served before the flood was through');

  const metrics = await ts.server.metrics.render();
  assert.match(metrics, /canto_limits_read_pauses_total\{kind="c2s"\} [1-9]/);
  assert.match(metrics, /canto_limits_throttled_sessions_total\{kind="c2s"\} 1\n/, 'only the flooder was throttled');
});

test('connections from one address share its per-address bucket', { timeout: 60_000 }, async () => {
  const ts = await serverWith({
    c2s: { stanzas_per_second: 1000, stanza_burst: 1000 },
    per_ip: { enabled: true, c2s: { stanzas_per_second: RATE, stanza_burst: BURST } },
    per_ip_exempt: [],
    account: NO_ACCOUNT_LIMITS,
  });
  const a = await client(ts, 'a');
  const b = await client(ts, 'b');
  const PER_CLIENT = 100;
  const arrivals: number[] = [];
  for (const c of [a, b]) {
    c.xmpp.on('stanza', (el: XElement) => {
      if (el.is('iq') && el.attrs.id?.startsWith('p') === true) arrivals.push(performance.now());
    });
  }
  const start = performance.now();
  for (let i = 0; i < PER_CLIENT; i++) {
    void a.send(ping(`p${i}`));
    void b.send(ping(`p${i}`));
  }
  await waitFor(() => arrivals.length >= 2 * PER_CLIENT, { timeoutMs: 30_000, intervalMs: 50 });
  const took = (arrivals[2 * PER_CLIENT - 1] as number) - start;
  // 200 stanzas at 50/s after a burst of 50: about 3 s together (each alone is allowed 1000/s).
  assert.ok(took >= ((2 * PER_CLIENT - BURST - 2 * SLICE_STANZAS) / RATE) * 1000, `both clients' pings went through in ${took.toFixed(0)} ms`);
});

test('per-account limits: messages to strangers, subscription requests and group chat joins get policy-violation', { timeout: 60_000 }, async () => {
  const ts = await serverWith(
    { account: { messages_to_strangers_per_hour: 3, subscriptions_per_hour: 2, muc_joins_per_minute: 2, muc_join_burst: 2 } },
    withMuc,
  );
  const alice = await client(ts, 'alice');
  const bob = await client(ts, 'bob');
  const carol = await client(ts, 'carol');
  // Available: messages to their bare JIDs are delivered, not stored offline.
  await bob.send(xml('presence'));
  await carol.send(xml('presence'));
  // carol is alice's contact (in her roster); bob is not.
  await alice.iq(xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:roster' }, xml('item', { jid: 'carol@localhost' }))));

  const isPolicyViolation = (id: string) => (s: XElement) => s.attrs.id === id && s.attrs.type === 'error';
  for (let i = 0; i < 3; i++) {
    await alice.send(xml('message', { to: 'bob@localhost', type: 'chat', id: `s${i}` }, xml('body', {}, 'buy now')));
    await bob.waitFor((s) => s.is('message') && s.attrs.id === `s${i}`);
  }
  await alice.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 's3' }, xml('body', {}, 'buy now')));
  const refused = await alice.waitFor(isPolicyViolation('s3'));
  assert.equal(errorCondition(refused), 'policy-violation');
  assert.match(refused.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas') ?? '', /not in your contact list/);
  assert.ok(await bob.nothing((s) => s.attrs.id === 's3'), 'the refused message was not delivered');
  // Messages without a body (chat states) and to contacts are not counted.
  await alice.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 'cs' }, xml('active', { xmlns: 'http://jabber.org/protocol/chatstates' })));
  await bob.waitFor((s) => s.attrs.id === 'cs');
  for (let i = 0; i < 5; i++) {
    await alice.send(xml('message', { to: 'carol@localhost', type: 'chat', id: `c${i}` }, xml('body', {}, 'hi')));
    await carol.waitFor((s) => s.attrs.id === `c${i}`);
  }

  for (const [i, to] of ['dave@localhost', 'erin@localhost'].entries()) {
    await alice.send(xml('presence', { to, type: 'subscribe', id: `sub${i}` }));
  }
  await alice.send(xml('presence', { to: 'frank@localhost', type: 'subscribe', id: 'sub2' }));
  const subRefused = await alice.waitFor(isPolicyViolation('sub2'));
  assert.equal(errorCondition(subRefused), 'policy-violation');
  assert.ok(await alice.nothing((s) => (s.attrs.id === 'sub0' || s.attrs.id === 'sub1') && errorCondition(s) === 'policy-violation'), 'the first two went out');

  await join(alice, 'one', 'alice');
  await join(alice, 'two', 'alice');
  await alice.send(joinPresence('three', 'alice'));
  const joinRefused = await alice.waitFor((s) => s.is('presence') && s.attrs.type === 'error' && s.attrs.from === `${roomJid('three')}/alice`);
  assert.equal(errorCondition(joinRefused), 'policy-violation');
  assert.match(joinRefused.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas') ?? '', /group chat joins/);

  const metrics = await ts.server.metrics.render();
  for (const kind of ['messages_to_strangers', 'subscriptions', 'muc_joins']) {
    assert.match(metrics, new RegExp(`canto_limits_policy_violations_total\\{limit="${kind}"\\} 1\\n`));
  }
});

test('with the default limits, a client that comes back joins its 60 bookmarked rooms at once', { timeout: 60_000 }, async () => {
  const ts = await serverWith({}, withMuc);
  const alice = await client(ts, 'alice');
  const ROOMS = 60;
  // All at once, as a client does after a stream it could not resume.
  for (let i = 0; i < ROOMS; i++) void alice.send(joinPresence(`bookmark${i}`, 'alice'));
  const joined = new Set<string>();
  const refused: string[] = [];
  await alice.waitFor((s) => {
    if (s.is('presence') && s.attrs.from?.endsWith('/alice') === true) {
      if (s.attrs.type === 'error') refused.push(s.attrs.from);
      else if (codes(s).includes(110)) joined.add(s.attrs.from);
    }
    return joined.size + refused.length === ROOMS;
  }, 30_000);
  assert.deepEqual(refused, [], 'no join refused');
  assert.equal(joined.size, ROOMS);
});

test('a flood from another Canto over s2s is read at the s2s rate', { timeout: 90_000 }, async () => {
  const ca = await makeTestCa(['a.test', 'b.test']);
  cleanups.push(async () => rmSync(ca.dir, { recursive: true, force: true }));
  const pair = await startPair(ca, {
    trustCa: false,
    adjustB: (c) => {
      c.modules.limits = { s2s: { stanzas_per_second: RATE, stanza_burst: BURST }, per_ip: { enabled: false }, account: NO_ACCOUNT_LIMITS };
    },
  });
  cleanups.push(() => pair.stop());
  const romeo = new FakeClient(pair.a.server, 'romeo@a.test/phone');
  const juliet = new FakeClient(pair.b.server, 'juliet@b.test/balcony');
  const FLOOD = 250;
  const arrivals: number[] = [];
  juliet.session.send = ((original) => (el: Parameters<typeof original>[0]) => {
    if (typeof el !== 'string' && el.name === 'message' && el.attrs.id?.startsWith('m') === true) arrivals.push(performance.now());
    original(el);
  })(juliet.session.send.bind(juliet.session));
  const start = performance.now();
  for (let i = 0; i < FLOOD; i++) pair.a.server.router.fromClient(romeo.session, message({ to: 'juliet@b.test/balcony', type: 'chat', id: `m${i}` }).c('body').t('flood').up());
  await waitFor(() => arrivals.length >= FLOOD, { timeoutMs: 60_000, intervalMs: 50, message: `only ${arrivals.length} of ${FLOOD} arrived` });
  const took = (arrivals[FLOOD - 1] as number) - start;
  console.log(`s2s flood of ${FLOOD} messages delivered in ${took.toFixed(0)} ms`);
  // The stream's own stanzas (dialback) came out of the burst too, so this is a lower bound.
  assert.ok(took >= ((FLOOD - BURST - SLICE_STANZAS) / RATE) * 1000, `the s2s flood went through in ${took.toFixed(0)} ms`);
  assert.match(await pair.b.server.metrics.render(), /canto_limits_read_pauses_total\{kind="s2s"\} [1-9]/);
  assert.doesNotMatch(await pair.a.server.metrics.render(), /canto_limits_read_pauses_total\{kind="s2s"\} [1-9]/, 'the sending side was not throttled');
});

test('subscription spam from another server: one sender gets so many requests through an hour, legitimate requests still arrive', { timeout: 90_000 }, async () => {
  const ca = await makeTestCa(['a.test', 'b.test']);
  cleanups.push(async () => rmSync(ca.dir, { recursive: true, force: true }));
  const logA: Record<string, unknown>[] = [];
  const pair = await startPair(ca, {
    trustCa: false,
    adjustA: (c) => (c.modules.limits = { account: { remote_subscriptions_per_hour: 3 } }),
    // The spammer's own server limits nothing: what is under test is a.test's defence.
    adjustB: (c) => (c.modules.limits = { account: NO_ACCOUNT_LIMITS }),
    logRecordsA: logA,
  });
  cleanups.push(() => pair.stop());
  const online = async (ts: TestServer, name: string, domain: string): Promise<LoggedInClient> => {
    await createAccount(ts, name, 'secret', domain);
    const c = await loginClient(ts, name, 'secret', 'r', { domain });
    cleanups.push(() => c.stop());
    await c.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
    await c.send(xml('presence'));
    return c;
  };
  const users = [];
  for (let i = 0; i < 5; i++) users.push(await online(pair.a, `u${i}`, 'a.test'));
  const spammer = await online(pair.b, 'spammer', 'b.test');
  const friend = await online(pair.b, 'friend', 'b.test');
  const isRequestFrom = (from: string) => (s: XElement) => s.is('presence') && s.attrs.type === 'subscribe' && s.attrs.from === from;

  for (let i = 0; i < 5; i++) await spammer.send(xml('presence', { to: `u${i}@a.test`, type: 'subscribe', id: `spam${i}` }));
  for (let i = 0; i < 3; i++) await users[i]!.waitFor(isRequestFrom('spammer@b.test'));
  for (const id of ['spam3', 'spam4']) {
    const refused = await spammer.waitFor((s) => s.is('presence') && s.attrs.type === 'error' && s.attrs.id === id);
    assert.equal(errorCondition(refused), 'policy-violation');
    assert.equal(refused.getChild('error')?.attrs.type, 'wait', refused.toString());
    assert.match(refused.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas') ?? '', /too many subscription requests/);
  }
  // Someone else on the same server is not held back by the spammer's count.
  await friend.send(xml('presence', { to: 'u4@a.test', type: 'subscribe', id: 'hello' }));
  await users[4]!.waitFor(isRequestFrom('friend@b.test'));
  for (const i of [3, 4]) assert.ok(await users[i]!.nothing(isRequestFrom('spammer@b.test')), `u${i} never saw the spammer's request`);

  assert.match(await pair.a.server.metrics.render(), /canto_limits_policy_violations_total\{limit="remote_subscriptions"\} 2\n/);
  const logged = logA.filter((r) => r.limit === 'remote_subscriptions');
  assert.deepEqual(logged.map((r) => [r.from, r.to]), [['spammer@b.test', 'u3@a.test'], ['spammer@b.test', 'u4@a.test']]);
});

test('a host added by a reload is limited like the others', { timeout: 60_000 }, async () => {
  const ts = await serverWith({ account: { messages_to_strangers_per_hour: 1 } });
  const next = structuredClone(ts.server.config);
  next.virtualhost.push({ ...structuredClone(next.virtualhost[0]!), domain: 'added.localhost' });
  const report = await ts.server.reconfigure(next);
  assert.deepEqual(report.failed, []);
  assert.ok(ts.server.hosts.has('added.localhost'), JSON.stringify(report));
  const carol = new FakeClient(ts.server, 'carol@added.localhost/r');
  for (const id of ['first', 'second']) carol.send(message({ to: `${id}@elsewhere.example`, type: 'chat', id }).c('body').t('hello').up());
  const refused = await carol.receives((s) => s.name === 'message' && s.attrs.id === 'second' && s.attrs.type === 'error', { timeoutMs: 5000 });
  const violation = (s: (typeof carol.sent)[number]) => s.getChild('error')?.getChild('policy-violation', 'urn:ietf:params:xml:ns:xmpp-stanzas') !== undefined;
  assert.ok(violation(refused), refused.toString());
  assert.ok(!carol.sent.some((s) => s.attrs.id === 'first' && violation(s)), 'the first went out');
});
