/**
 * The operator's /metrics endpoint (src/modules/metrics, docs/metrics.md) over real HTTP, parsed
 * by a real Prometheus text parser: values follow a real client (@xmpp/client) as it connects,
 * sends and leaves; storage calls are timed; who may scrape (loopback by default, allow_ips,
 * a trusted proxy's forwarded address); OpenMetrics on request; a listener of its own.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml } from '../helpers/xmpp-client.js';

interface Reply {
  status: number;
  contentType: string;
  body: string;
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A scrape: the parsed families, and the text (the parser merges the label sets of a histogram, so those are read from the text). */
type Scrape = ParsedFamily[] & { text: string };

async function scrape(port: number): Promise<Scrape> {
  const r = await get(port, '/metrics');
  assert.equal(r.status, 200, r.body);
  return Object.assign(parsePrometheusTextFormat(r.body), { text: r.body });
}

/** How many observations a histogram series has (its `_count` line with exactly these labels, in prom-client's order). */
function histogramCount(s: Scrape, name: string, labels: Record<string, string>): number | undefined {
  const want = `${name}_count{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}} `;
  const line = s.text.split('\n').find((l) => l.startsWith(want));
  return line === undefined ? undefined : Number(line.slice(want.length));
}

/** The value of the series of `name` whose labels include `labels` (undefined: no such series). */
function sample(families: ParsedFamily[], name: string, labels: Record<string, string> = {}): number | undefined {
  const family = families.find((f) => f.name === name);
  const s = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  if (!s) return undefined;
  if (s.value !== undefined) return Number(s.value);
  return s.count !== undefined ? Number(s.count) : undefined;
}

/** Waits (bounded) until a scrape satisfies `ok`; returns that scrape. */
async function until(port: number, ok: (f: Scrape) => boolean, what: string): Promise<Scrape> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const f = await scrape(port);
    if (ok(f)) return f;
    if (Date.now() > deadline) throw new Error(`metrics never showed ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

let ts: TestServer;
let httpPort: number;

before(async () => {
  ts = await startTestServer((c) => {
    c.http.ports = [0];
  });
  httpPort = ts.server.port('http');
  await createAccount(ts, 'romeo', 'secret');
  await createAccount(ts, 'juliet', 'secret');
});

after(async () => {
  await ts?.stop();
});

test('a real client shows in the session gauges, the stanza counters and the storage timings', async () => {
  const sessions = (f: Scrape) => sample(f, 'canto_sessions', { type: 'c2s', transport: 'tcp' });
  const first = await scrape(httpPort);
  assert.equal(sessions(first), 0, 'the c2s/tcp series is exported from 0');
  const family = first.find((f) => f.name === 'canto_storage_operation_seconds');
  assert.equal(family?.type, 'HISTOGRAM');
  const receivedBefore = sample(first, 'canto_stanzas_received_total', { peer: 'c2s', kind: 'message' }) ?? -1;
  assert.equal(receivedBefore, 0);

  const romeo = await loginClient(ts, 'romeo', 'secret', 'phone');
  const juliet = await loginClient(ts, 'juliet', 'secret', 'balcony');
  try {
    await until(httpPort, (f) => sessions(f) === 2, 'two c2s sessions');
    const sent = sample(await scrape(httpPort), 'canto_stanzas_sent_total', { peer: 'c2s', kind: 'message' }) ?? -1;
    await romeo.send(xml('message', { to: 'juliet@localhost/balcony', type: 'chat' }, xml('body', {}, 'hi')));
    await juliet.waitFor((el) => el.name === 'message' && el.getChildText('body') === 'hi');
    // A 'to' that is no JID: the router answers jid-malformed.
    await romeo.send(xml('message', { to: 'a@b@c', type: 'chat', id: 'bad' }, xml('body', {}, 'x')));
    await romeo.waitFor((el) => el.attrs.id === 'bad' && el.attrs.type === 'error');
    const f = await until(
      httpPort,
      (s) => (sample(s, 'canto_stanzas_received_total', { peer: 'c2s', kind: 'message' }) ?? 0) >= 2,
      'the two messages received',
    );
    assert.ok((sample(f, 'canto_stanzas_sent_total', { peer: 'c2s', kind: 'message' }) ?? 0) >= sent + 2, 'the message and the error were written to clients');
    assert.equal(sample(f, 'canto_routing_errors_total', { condition: 'jid-malformed' }), 1);
    // The logins read credentials and the rosters: the account and keyval timings have counts.
    assert.ok((histogramCount(f, 'canto_storage_operation_seconds', { shape: 'account', op: 'get' }) ?? 0) >= 2, 'credential reads timed');
    assert.ok((histogramCount(f, 'canto_storage_operation_seconds', { shape: 'archive', op: 'append' }) ?? 0) >= 1, 'the archived message timed');
    assert.equal(sample(f, 'canto_storage_errors_total', { shape: 'archive', op: 'append' }), 0);
    // Process metrics under their standard names.
    assert.ok((sample(f, 'process_resident_memory_bytes') ?? 0) > 0);
    assert.notEqual(sample(f, 'nodejs_eventloop_lag_seconds'), undefined);
  } finally {
    await romeo.stop();
    await juliet.stop();
  }
  await until(httpPort, (f) => sessions(f) === 0, 'the sessions gone');
});

test('archive sizes are exported by host and store (read at most once a minute)', async () => {
  const t = await startTestServer((c) => {
    c.http.ports = [0];
  });
  try {
    const archive = t.server.storage.archive<string>('localhost', 'mam');
    for (let i = 0; i < 3; i++) await archive.append('romeo', { with: 'juliet@localhost', value: `m${i}` });
    await t.server.storage.archive<string>('localhost', 'offline').append('juliet', { value: 'o' });
    const f = await scrape(t.server.port('http'));
    assert.equal(sample(f, 'canto_storage_archive_items', { host: 'localhost', store: 'mam' }), 3);
    assert.equal(sample(f, 'canto_storage_archive_items', { host: 'localhost', store: 'offline' }), 1);
  } finally {
    await t.stop();
  }
});

test('OpenMetrics is served when the scraper asks for it', async () => {
  const r = await get(httpPort, '/metrics', { Accept: 'application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5' });
  assert.equal(r.status, 200);
  assert.match(r.contentType, /^application\/openmetrics-text/);
  assert.match(r.body, /\n# EOF\n$/);
  assert.match(r.body, /^# TYPE canto_stanzas_routed counter$/m, 'counter families are named without _total');
  const plain = await get(httpPort, '/metrics');
  assert.match(plain.contentType, /^text\/plain/);
});

test('a client outside allow_ips gets 403; behind a trusted proxy the forwarded address decides', async () => {
  const t = await startTestServer((c) => {
    c.http.ports = [0];
    c.http.trusted_proxies = ['127.0.0.1'];
    c.modules.metrics = { allow_ips: ['127.0.0.0/8', '10.1.2.0/24'] };
  });
  try {
    const port = t.server.port('http');
    assert.equal((await get(port, '/metrics')).status, 200, 'loopback is allowed');
    const outside = await get(port, '/metrics', { 'X-Forwarded-For': '203.0.113.7' });
    assert.equal(outside.status, 403, 'a client on the internet, forwarded by the proxy');
    assert.doesNotMatch(outside.body, /canto_/);
    assert.equal((await get(port, '/metrics', { 'X-Forwarded-For': '10.1.2.3' })).status, 200, 'an allowed network, forwarded');
  } finally {
    await t.stop();
  }
});

test('with a port of its own the endpoint leaves the public listeners', async () => {
  const port = await freePort();
  const t = await startTestServer((c) => {
    c.http.ports = [0];
    c.modules.metrics = { port };
  });
  try {
    assert.equal((await get(t.server.port('http'), '/metrics')).status, 404, 'not on the public HTTP listener');
    const f = await scrape(port);
    assert.ok(f.some((x) => x.name === 'canto_sessions'));
  } finally {
    await t.stop();
  }
});
