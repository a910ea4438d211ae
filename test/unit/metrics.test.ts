/**
 * The metrics seam (src/core/metrics.ts): the Prometheus text a Measure renders, the naming
 * rules, unload and reload, one registry per server, the core metrics, and the example metrics
 * of saslauth and register driven through in-process sessions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics, MetricDefinitionError } from '../../src/core/metrics.js';
import { defineModule, loadModule, type ModuleDefinition } from '../../src/core/modules.js';
import { defaultConfig } from '../../src/app/config.js';
import { silentLogger } from '../../src/core/logging.js';
import { Server } from '../../src/core/server.js';
import type { TlsContexts } from '../../src/net/tls.js';
import { openMemoryStorage } from '../../src/storage/memory.js';
import { newSessionId, type BoundC2SSession, type C2SUnauthedSession, type Connection, type Framing } from '../../src/core/session.js';
import { makeCredentialsAsync } from '../../src/sasl/scram-credentials.js';
import { Element } from '../../src/xml/element.js';
import { NS } from '../../src/xml/ns.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** The value of one series in Prometheus text (labels as rendered), or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function value(server: Server, series: string): Promise<number | undefined> {
  return sample(await server.metrics.render(), series);
}

/**
 * An in-process client stream over the core's session factory (no socket): `offer` hands the
 * host an element as the stream would, `next()` resolves with the next element it is sent, and
 * `bind` authenticates and binds it. Built on core APIs only, so it does not depend on a test kit.
 */
function inProcessClient(server: Server, host = 'localhost') {
  const sent: Element[] = [];
  const waiting: Array<(el: Element) => void> = [];
  const conn: Connection = { transport: 'internal', remoteAddress: '127.0.0.1', remotePort: 0, encrypted: true, write: () => true, bufferedBytes: 0, end() {}, destroy() {} };
  const framing: Framing = {
    send: (el) => {
      if (typeof el === 'string') return;
      const w = waiting.shift();
      if (w) w(el);
      else sent.push(el);
    },
    close: () => server.sessions.destroySession(session),
    restart: () => {},
    closeReason: undefined,
    ended: false,
  };
  const session = server.sessions.create(conn, framing, { type: 'c2s_unauthed', id: newSessionId('fake'), log: server.log, host }) as C2SUnauthedSession;
  session.notopen = false;
  const ctx = server.hosts.get(host);
  assert.ok(ctx);
  return {
    session,
    offer: (element: Element) => ctx.events.fire('stream-element', { origin: session, element }),
    next: () => new Promise<Element>((resolve) => (sent.length ? resolve(sent.shift() as Element) : waiting.push(resolve))),
    bind(username: string, resource: string): BoundC2SSession {
      const authed = server.sessions.makeAuthenticated(session, username);
      assert.ok(authed);
      const bound = server.sessions.bindResource(authed, resource);
      assert.ok(bound.ok);
      return bound.session;
    },
  };
}

test('counters, gauges and histograms render in the text format with the canto_ prefix and the host label', async () => {
  const metrics = new Metrics(undefined, { processMetrics: false });
  const onA = metrics.scope('probe', 'a.test');
  const onB = metrics.scope('probe', 'b.test');
  const global = metrics.scope('probe');

  const events = onA.counter('probe_events_total', 'Events seen', ['kind']);
  events.inc({ kind: 'x' });
  events.inc({ kind: 'x' }, 2);
  onB.counter('probe_events_total', 'Events seen', ['kind']).inc({ kind: 'y' });
  const level = global.gauge('probe_level', 'A level');
  level.set(7);
  level.dec(undefined, 2);
  onA.gauge('probe_read', 'Read at scrape time', ['k'], (g) => g.set(3, { k: 'v' }));
  const latency = onA.histogram('probe_latency_seconds', 'Latency', [0.1, 1]);
  latency.observe(0.05);
  latency.observe(0.5);
  const text = await metrics.render();

  assert.match(text, /^# HELP canto_probe_events_total Events seen$/m);
  assert.match(text, /^# TYPE canto_probe_events_total counter$/m);
  assert.equal(sample(text, 'canto_probe_events_total{kind="x",host="a.test"}'), 3);
  assert.equal(sample(text, 'canto_probe_events_total{kind="y",host="b.test"}'), 1);
  assert.match(text, /^# TYPE canto_probe_level gauge$/m);
  assert.equal(sample(text, 'canto_probe_level'), 5, 'a global module has no host label');
  assert.equal(sample(text, 'canto_probe_read{k="v",host="a.test"}'), 3);
  assert.match(text, /^# TYPE canto_probe_latency_seconds histogram$/m);
  assert.equal(sample(text, 'canto_probe_latency_seconds_bucket{le="0.1",host="a.test"}'), 1);
  assert.equal(sample(text, 'canto_probe_latency_seconds_bucket{le="1",host="a.test"}'), 2);
  assert.equal(sample(text, 'canto_probe_latency_seconds_count{host="a.test"}'), 2);
  assert.equal(sample(text, 'canto_probe_latency_seconds_sum{host="a.test"}'), 0.55);
  assert.equal(metrics.contentType.split(';')[0], 'text/plain');
});

test('a metric without labels of its own shows 0 before it is used; a collected gauge drops series not set', async () => {
  const metrics = new Metrics(undefined, { processMetrics: false });
  const scope = metrics.scope('probe', 'a.test');
  scope.counter('probe_idle_total', 'Never incremented');
  scope.histogram('probe_idle_seconds', 'Never observed');
  let keys = ['one', 'two'];
  scope.gauge('probe_keys', 'Keys', ['key'], (g) => keys.forEach((key) => g.set(1, { key })));
  let text = await metrics.render();
  assert.equal(sample(text, 'canto_probe_idle_total{host="a.test"}'), 0);
  assert.equal(sample(text, 'canto_probe_idle_seconds_count{host="a.test"}'), 0);
  assert.equal(sample(text, 'canto_probe_keys{key="two",host="a.test"}'), 1);
  keys = ['one'];
  text = await metrics.render();
  assert.equal(sample(text, 'canto_probe_keys{key="one",host="a.test"}'), 1);
  assert.equal(sample(text, 'canto_probe_keys{key="two",host="a.test"}'), undefined);
});

test('a collect callback that throws does not break the scrape', async () => {
  const warned: unknown[] = [];
  const log = { warn: (obj: unknown) => void warned.push(obj) } as unknown as ConstructorParameters<typeof Metrics>[0];
  const metrics = new Metrics(log, { processMetrics: false });
  metrics.scope('probe').gauge('probe_broken', 'Throws', [], () => {
    throw new Error('boom');
  });
  metrics.scope('probe').counter('probe_fine_total', 'Fine').inc();
  const text = await metrics.render();
  assert.equal(sample(text, 'canto_probe_fine_total'), 1);
  assert.equal(warned.length, 1);
});

test('metric names and labels are checked with messages naming the module', () => {
  const metrics = new Metrics(undefined, { processMetrics: false });
  const scope = metrics.scope('probe', 'a.test');
  const bad = (fn: () => unknown, message: RegExp) => assert.throws(fn, (err: unknown) => err instanceof MetricDefinitionError && message.test(err.message));
  bad(() => scope.counter('probeEvents_total', 'h'), /"probeEvents_total" \(module probe\): use snake_case/);
  bad(() => scope.counter('probe__events_total', 'h'), /use snake_case/);
  bad(() => scope.counter('canto_probe_events_total', 'h'), /without "canto_"/);
  bad(() => scope.counter('other_events_total', 'h'), /start with "probe_"/);
  bad(() => scope.counter('probe_events', 'h'), /counter's name ends in "_total"/);
  bad(() => scope.gauge('probe_level', 'h', ['host']), /label "host" is added automatically/);
  bad(() => scope.histogram('probe_seconds', 'h', undefined, ['le']), /label "le" is reserved/);
  bad(() => scope.gauge('probe_level', 'h', ['Kind']), /label "Kind" is not snake_case/);
  bad(() => scope.gauge('probe_level', 'h', ['kind', 'kind']), /listed twice/);

  scope.counter('probe_events_total', 'h', ['kind']);
  bad(() => scope.counter('probe_events_total', 'h', ['kind']), /registered twice by probe on a\.test/);
  bad(() => metrics.scope('probe', 'b.test').counter('probe_events_total', 'h', ['other']), /another type, help, labels or buckets/);
  bad(() => metrics.scope('probe', 'b.test').gauge('probe_events_total', 'h', ['kind']), /another type/);
  metrics.scope('core').counter('shared_total', 'h');
  bad(() => metrics.scope('shared').counter('shared_total', 'h'), /already registered by core/);
  // A module's name is its prefix, with '-' as '_'.
  metrics.scope('muc-light').counter('muc_light_rooms_total', 'h');
  // The core and global modules may use a label named host themselves.
  metrics.scope('core').gauge('per_host', 'h', ['host']);
});

test('unloading a module removes its metrics; its old handles do nothing; a reload registers them again', async () => {
  const handles: Array<{ inc(labels?: object, by?: number): void }> = [];
  const probe: ModuleDefinition = defineModule({
    name: 'probe',
    setup(mod) {
      const pings = mod.measure.counter('probe_pings_total', 'Pings');
      pings.inc();
      handles.push(pings);
      mod.measure.gauge('probe_up', 'Up', [], (g) => g.set(1));
    },
  });
  const config = defaultConfig();
  config.modules_enabled = ['probe'];
  config.virtualhost.push({ domain: 'b.test', allow_registration: false, modules_enabled: [], modules_disabled: [] });
  // Only the probe module, without listeners: no certificates, no sockets.
  const server = new Server({ config, log: silentLogger(), storage: openMemoryStorage(), modules: new Map([['probe', probe]]), tls: {} as TlsContexts });
  await server.start();
  try {
    const unload = async (host: string) => {
      const ctx = server.hosts.get(host);
      assert.ok(ctx);
      await ctx.modules.get('probe')?.unload();
      ctx.modules.delete('probe');
    };
    assert.equal(await value(server, 'canto_probe_pings_total{host="localhost"}'), 1);
    assert.equal(await value(server, 'canto_probe_pings_total{host="b.test"}'), 1);
    assert.equal(await value(server, 'canto_probe_up{host="localhost"}'), 1);

    await unload('localhost');
    let text = await server.metrics.render();
    assert.equal(sample(text, 'canto_probe_pings_total{host="localhost"}'), undefined);
    assert.equal(sample(text, 'canto_probe_up{host="localhost"}'), undefined);
    assert.equal(sample(text, 'canto_probe_pings_total{host="b.test"}'), 1, 'the other host keeps its series');
    handles[0]?.inc();
    assert.equal(await value(server, 'canto_probe_pings_total{host="localhost"}'), undefined, 'an unloaded module’s handle is inert');

    await unload('b.test');
    text = await server.metrics.render();
    assert.doesNotMatch(text, /canto_probe_/, 'no host uses the metrics any more: they are unregistered');

    const ctx = server.hosts.get('localhost');
    assert.ok(ctx);
    ctx.modules.set('probe', await loadModule(server, probe, ctx));
    handles[2]?.inc(undefined, 4);
    assert.equal(await value(server, 'canto_probe_pings_total{host="localhost"}'), 5);
    assert.equal(await value(server, 'canto_probe_up{host="localhost"}'), 1);
  } finally {
    await server.stop('test finished', 100);
  }
});

test('two servers in one process do not share metrics', async () => {
  const a = await startTestServer();
  const b = await startTestServer();
  try {
    assert.notEqual(a.server.metrics.registry, b.server.metrics.registry);
    const romeo = inProcessClient(a.server).bind('romeo', 'phone');
    const message = new Element('message', { to: romeo.fullJid, type: 'chat' }).c('body').t('hi').up();
    a.server.router.fromClient(romeo, message);
    assert.equal(await value(a.server, 'canto_sessions{type="c2s",transport="internal"}'), 1);
    assert.equal(await value(b.server, 'canto_sessions{type="c2s",transport="internal"}'), 0);
    assert.equal(await value(a.server, 'canto_stanzas_routed_total{kind="message"}'), 1);
    assert.equal(await value(b.server, 'canto_stanzas_routed_total{kind="message"}'), 0, 'every kind is exported, from 0');
    // The process metrics are in both, under their standard names.
    for (const s of [a.server, b.server]) assert.match(await s.metrics.render(), /^process_cpu_user_seconds_total /m);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('the core session gauges follow a bound session', async () => {
  const ts = await startTestServer();
  try {
    const { server } = ts;
    assert.equal(await value(server, 'canto_sessions{type="c2s",transport="internal"}'), 0);
    assert.equal(await value(server, 'canto_bound_resources{host="localhost"}'), 0);
    const romeo = inProcessClient(server).bind('romeo', 'phone');
    inProcessClient(server).bind('romeo', 'laptop');
    assert.equal(await value(server, 'canto_sessions{type="c2s",transport="internal"}'), 2);
    assert.equal(await value(server, 'canto_sessions{type="s2s",transport="internal"}'), 0);
    assert.equal(await value(server, 'canto_bound_resources{host="localhost"}'), 2);
    server.sessions.destroySession(romeo);
    assert.equal(await value(server, 'canto_sessions{type="c2s",transport="internal"}'), 1);
    assert.equal(await value(server, 'canto_bound_resources{host="localhost"}'), 1);
  } finally {
    await ts.stop();
  }
});

test('the router counts each stanza it routes, by kind', async () => {
  const ts = await startTestServer();
  try {
    const { server } = ts;
    const romeo = inProcessClient(server).bind('romeo', 'phone');
    const julietClient = inProcessClient(server);
    const juliet = julietClient.bind('juliet', 'balcony');
    const before = (await value(server, 'canto_stanzas_routed_total{kind="message"}')) ?? 0;
    const presenceBefore = (await value(server, 'canto_stanzas_routed_total{kind="presence"}')) ?? 0;
    server.router.fromClient(romeo, new Element('message', { to: juliet.fullJid, type: 'chat' }).c('body').t('hi').up());
    assert.equal((await julietClient.next()).name, 'message', 'delivered');
    assert.equal(await value(server, 'canto_stanzas_routed_total{kind="message"}'), before + 1);
    assert.equal((await value(server, 'canto_stanzas_routed_total{kind="presence"}')) ?? 0, presenceBefore);
  } finally {
    await ts.stop();
  }
});

const plain = (username: string, password: string) =>
  new Element('auth', { xmlns: NS.sasl, mechanism: 'PLAIN' }).t(Buffer.from(`\0${username}\0${password}`).toString('base64'));

test('saslauth counts authentications by mechanism and result', async () => {
  const ts: TestServer = await startTestServer();
  try {
    const { server, config } = ts;
    const credentials = await makeCredentialsAsync('secret', { iterations: config.auth.scram_iterations, hashes: config.auth.scram_hashes });
    assert.ok(await server.storage.accounts.create('localhost', 'romeo', credentials));
    const client = inProcessClient(server);
    client.offer(plain('romeo', 'wrong'));
    assert.equal((await client.next()).name, 'failure');
    client.offer(new Element('auth', { xmlns: NS.sasl, mechanism: 'X-UNKNOWN' }));
    assert.equal((await client.next()).name, 'failure');
    client.offer(plain('romeo', 'secret'));
    assert.equal((await client.next()).name, 'success');
    const text = await server.metrics.render();
    assert.equal(sample(text, 'canto_saslauth_authentications_total{mechanism="PLAIN",result="failure",host="localhost"}'), 1);
    assert.equal(sample(text, 'canto_saslauth_authentications_total{mechanism="none",result="failure",host="localhost"}'), 1);
    assert.equal(sample(text, 'canto_saslauth_authentications_total{mechanism="PLAIN",result="success",host="localhost"}'), 1);
  } finally {
    await ts.stop();
  }
});

test('register counts registrations by result and times account creation', async () => {
  const ts = await startTestServer((c) => {
    c.modules_enabled = ['register'];
    const vh = c.virtualhost[0];
    assert.ok(vh);
    vh.allow_registration = true;
  });
  try {
    const { server } = ts;
    const submit = async (username: string) => {
      const client = inProcessClient(server);
      const query = new Element('query', { xmlns: 'jabber:iq:register' });
      query.c('username').t(username);
      query.c('password').t('a long enough password');
      client.offer(new Element('iq', { xmlns: NS.client, type: 'set', id: 'r1' }).cnode(query));
      return (await client.next()).attrs.type;
    };
    assert.equal(await submit('juliet'), 'result');
    assert.equal(await submit('juliet'), 'error');
    const text = await server.metrics.render();
    assert.equal(sample(text, 'canto_register_registrations_total{result="created",host="localhost"}'), 1);
    assert.equal(sample(text, 'canto_register_registrations_total{result="conflict",host="localhost"}'), 1);
    assert.equal(sample(text, 'canto_register_account_creation_seconds_count{host="localhost"}'), 1);
  } finally {
    await ts.stop();
  }
});

test('a collected counter exports the totals its owner keeps; inc does nothing on it', async () => {
  const metrics = new Metrics(silentLogger(), { processMetrics: false });
  const totals = { a: 3, b: 0 };
  const c = metrics.scope('demo', 'example.com').counter('demo_things_total', 'Things', ['kind'], (r) => {
    r.set(totals.a, { kind: 'a' });
    r.set(totals.b, { kind: 'b' });
  });
  c.inc({ kind: 'a' }, 100);
  let text = await metrics.render();
  assert.equal(sample(text, 'canto_demo_things_total{kind="a",host="example.com"}'), 3);
  assert.equal(sample(text, 'canto_demo_things_total{kind="b",host="example.com"}'), 0, 'a zero total is exported');
  totals.a = 5;
  text = await metrics.render();
  assert.equal(sample(text, 'canto_demo_things_total{kind="a",host="example.com"}'), 5, 'read again at each scrape, not added up');
});

test('the fast histogram renders cumulative buckets, +Inf, sum and count per bound series', async () => {
  const { FastHistogram } = await import('../../src/core/fast-histogram.js');
  const metrics = new Metrics(silentLogger(), { processMetrics: false });
  const h = new FastHistogram('canto_demo_seconds', 'Demo', [0.1, 0.01, 1]);
  h.registerIn(metrics.registry);
  const a = h.bind({ op: 'a' });
  assert.equal(h.bind({ op: 'a' }), a, 'the same labels give the same series');
  for (const v of [0.005, 0.01, 0.05, 0.5, 7]) a.observe(v);
  h.bind({ op: 'b' });
  const text = await metrics.render();
  assert.equal(sample(text, 'canto_demo_seconds_bucket{op="a",le="0.01"}'), 2, 'bounds sorted; a value equal to a bound is in it');
  assert.equal(sample(text, 'canto_demo_seconds_bucket{op="a",le="0.1"}'), 3);
  assert.equal(sample(text, 'canto_demo_seconds_bucket{op="a",le="1"}'), 4);
  assert.equal(sample(text, 'canto_demo_seconds_bucket{op="a",le="+Inf"}'), 5);
  assert.equal(sample(text, 'canto_demo_seconds_count{op="a"}'), 5);
  assert.ok(Math.abs((sample(text, 'canto_demo_seconds_sum{op="a"}') ?? 0) - 7.565) < 1e-9);
  assert.equal(sample(text, 'canto_demo_seconds_count{op="b"}'), 0, 'a bound series is exported from 0');
  metrics.registry.resetMetrics();
  assert.equal(sample(await metrics.render(), 'canto_demo_seconds_count{op="a"}'), 0, 'reset zeroes; the series stays bound');
  a.observe(0.2);
  assert.equal(sample(await metrics.render(), 'canto_demo_seconds_count{op="a"}'), 1);
});

test('the storage wrapper times every call and counts the failed ones', async () => {
  const { measureStorage } = await import('../../src/core/storage-metrics.js');
  const metrics = new Metrics(silentLogger(), { processMetrics: false });
  const storage = measureStorage(openMemoryStorage(), metrics);
  await storage.keyval<number>('example.com', 'n').set('romeo', 1);
  assert.equal(await storage.keyval<number>('example.com', 'n').get('romeo'), 1, 'values pass through');
  await storage.keyval<number>('example.com', 'n').update('romeo', (n) => (n ?? 0) + 1);
  const id = await storage.archive<string>('example.com', 'mam').append('romeo', { value: 'x' });
  assert.equal((await storage.archive<string>('example.com', 'mam').find('romeo'))[0]?.id, id);
  await assert.rejects(storage.archive<string>('example.com', 'mam').find('romeo', { after: 'nope' }), /not/i, 'a driver error reaches the caller unchanged');
  let text = await metrics.render();
  assert.equal(sample(text, 'canto_storage_operation_seconds_count{shape="keyval",op="get"}'), 1);
  assert.equal(sample(text, 'canto_storage_operation_seconds_count{shape="keyval",op="update"}'), 1);
  assert.equal(sample(text, 'canto_storage_operation_seconds_count{shape="archive",op="find"}'), 2);
  assert.equal(sample(text, 'canto_storage_errors_total{shape="archive",op="find"}'), 1);
  assert.equal(sample(text, 'canto_storage_errors_total{shape="keyval",op="get"}'), 0);
  assert.equal(sample(text, 'canto_storage_archive_items{host="example.com",store="mam"}'), 1);
  await storage.close();
  await assert.rejects(storage.accounts.get('example.com', 'romeo'));
  text = await metrics.render().catch(() => metrics.registry.metrics());
  assert.equal(sample(text, 'canto_storage_errors_total{shape="account",op="get"}'), 1, 'a call on a closed driver is a failure');
});
