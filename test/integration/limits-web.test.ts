/**
 * Connection rate limits on the web transports (docs/abuse.md): a client flooding over WebSocket
 * is read at its stanza rate (its socket paused, like a TCP one) and one flooding over BOSH gets
 * its requests processed at that rate (they wait, parked), while another client on the same
 * transport is served at once. The rate is checked against what the server answered and its
 * counters: never faster than burst + rate·t (a slow machine only makes it slower).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { waitFor } from '../../src/testing/index.js';
import type { Element } from '../../src/xml/element.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { BoshClient, boshUrl } from '../helpers/bosh-client.js';

// xmpp.js uses the global WebSocket, which Node 20 does not have; `ws` is API-compatible.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

const VIA_PROXY = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '198.51.100.20' };
const RATE = 20;
const BURST = 20;

async function server(): Promise<TestServer> {
  const ts = await startTestServer((c) => {
    c.http.ports = [0];
    // BOSH clients below come "through a proxy" that used HTTPS (PLAIN needs an encrypted stream).
    c.http.trusted_proxies = ['127.0.0.1'];
    c.modules_enabled.push('websocket');
    c.c2s.require_encryption = false;
    c.modules.limits = {
      c2s: { stanzas_per_second: RATE, stanza_burst: BURST, bytes_per_second: '10 MiB', byte_burst: '10 MiB' },
      per_ip: { enabled: false },
      account: { messages_to_strangers_per_hour: 0, subscriptions_per_hour: 0, muc_joins_per_minute: 0 },
    };
  });
  cleanups.push(() => ts.stop());
  for (const u of ['flooder', 'normal']) await createAccount(ts, u, `${u}-pw`);
  return ts;
}

/** Never faster than the rate: the k-th answer at t seconds needs k <= burst + rate·t + slack. */
function assertRate(arrivals: number[], start: number, slack: number): void {
  for (let k = 0; k < arrivals.length; k++) {
    const t = ((arrivals[k] as number) - start) / 1000;
    assert.ok(k + 1 <= BURST + RATE * t + slack, `${k + 1} answers after ${t.toFixed(2)} s exceeds the rate`);
  }
}

async function metric(ts: TestServer, name: string): Promise<number> {
  const m = new RegExp(`^canto_${name}\\{kind="c2s"\\} (\\d+)$`, 'm').exec(await ts.server.metrics.render());
  return m ? Number(m[1]) : 0;
}

test('a client flooding over WebSocket is read at its stanza rate while another WebSocket client is served', { timeout: 60_000 }, async () => {
  const ts = await server();
  const service = `ws://127.0.0.1:${ts.server.port('http')}/xmpp-websocket`;
  const login = async (user: string): Promise<LoggedInClient> => {
    const c = await loginClient(ts, user, `${user}-pw`, 'web', { service });
    cleanups.push(() => c.stop());
    return c;
  };
  const flooder = await login('flooder');
  const normal = await login('normal');
  const ping = (id: string): XElement => xml('iq', { type: 'get', to: 'localhost', id }, xml('ping', { xmlns: 'urn:xmpp:ping' }));

  const FLOOD = 100;
  const arrivals: number[] = [];
  flooder.xmpp.on('stanza', (el: XElement) => {
    if (el.is('iq') && el.attrs.id?.startsWith('f') === true) arrivals.push(performance.now());
  });
  const start = performance.now();
  for (let i = 0; i < FLOOD; i++) void flooder.send(ping(`f${i}`));
  // The server paused reading the flooder's socket (its gauge says so while it waits) ...
  await waitFor(async () => (await metric(ts, 'limits_paused_connections')) === 1, { timeoutMs: 10_000, intervalMs: 20, message: 'the flooder was never paused' });
  // ... and meanwhile the other client's pings are answered.
  for (let i = 0; i < 5; i++) {
    await normal.send(ping(`n${i}`));
    await normal.waitFor((s) => s.is('iq') && s.attrs.id === `n${i}`, 5000);
  }
  const duringFlood = arrivals.length;
  await waitFor(() => arrivals.length >= FLOOD, { timeoutMs: 30_000, intervalMs: 50, message: `only ${arrivals.length} of ${FLOOD} pings answered` });
  console.log(`WebSocket flood of ${FLOOD} pings answered in ${((arrivals[FLOOD - 1] as number) - start).toFixed(0)} ms; ${duringFlood} answered while the other client sent 5`);
  assert.ok(duringFlood < FLOOD, 'the other client was served before the flood was through');
  // One WebSocket message is one stanza: the gate lets at most one through past the budget.
  assertRate(arrivals, start, 2);
  assert.ok(await metric(ts, 'limits_read_pauses_total') >= 1);
  assert.equal(await metric(ts, 'limits_throttled_sessions_total'), 1, 'only the flooder was throttled');
});

test('a client flooding over BOSH has its requests processed at its stanza rate while another BOSH client is served', { timeout: 60_000 }, async () => {
  const ts = await server();
  const flooder = new BoshClient(boshUrl(ts), VIA_PROXY);
  await flooder.login('flooder', 'flooder-pw', 'bosh');
  cleanups.push(() => flooder.stop());
  const normal = new BoshClient(boshUrl(ts), VIA_PROXY);
  await normal.login('normal', 'normal-pw', 'bosh');
  cleanups.push(() => normal.stop());
  const ping = (id: string): string => `<iq xmlns='jabber:client' type='get' to='localhost' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`;

  const PER_REQUEST = 5;
  const REQUESTS = 20;
  const FLOOD = PER_REQUEST * REQUESTS;
  const arrivals: number[] = [];
  const isFloodAnswer = (el: Element): boolean => el.is('iq') && el.attrs.id?.startsWith('f') === true;
  const start = performance.now();
  // One request after the other, as a BOSH client sends (each waits for its answer when held back).
  const sent = (async () => {
    for (let r = 0; r < REQUESTS; r++) {
      await flooder.send(Array.from({ length: PER_REQUEST }, (_, i) => ping(`f${r * PER_REQUEST + i}`)).join(''));
    }
  })();
  const counted = (async () => {
    while (arrivals.length < FLOOD) {
      await flooder.waitFor(isFloodAnswer, 30_000);
      arrivals.push(performance.now());
    }
  })();
  await waitFor(async () => (await metric(ts, 'limits_read_pauses_total')) >= 1, { timeoutMs: 10_000, intervalMs: 20, message: 'the flooder was never held back' });
  for (let i = 0; i < 3; i++) {
    await normal.send(ping(`n${i}`));
    await normal.waitFor((el) => el.is('iq') && el.attrs.id === `n${i}`, 5000);
  }
  const duringFlood = arrivals.length;
  await sent;
  await counted;
  console.log(`BOSH flood of ${FLOOD} pings in ${REQUESTS} requests answered in ${((arrivals[FLOOD - 1] as number) - start).toFixed(0)} ms; ${duringFlood} answered while the other client sent 3`);
  assert.ok(duringFlood < FLOOD, 'the other client was served before the flood was through');
  // A request's payload is processed whole once admitted: up to one request past the budget.
  assertRate(arrivals, start, PER_REQUEST + 1);
  assert.equal(await metric(ts, 'limits_throttled_sessions_total'), 1, 'only the flooder was throttled');
});

test('a BOSH client that would have to wait longer than a request may is refused with policy-violation', { timeout: 60_000 }, async () => {
  const ts = await startTestServer((c) => {
    c.http.ports = [0];
    c.http.trusted_proxies = ['127.0.0.1'];
    c.modules.limits = {
      // One stanza every 10 s: a handful over the burst is a wait of a minute.
      c2s: { stanzas_per_second: 0.1, stanza_burst: 10, bytes_per_second: '10 MiB', byte_burst: '10 MiB' },
      per_ip: { enabled: false },
    };
  });
  cleanups.push(() => ts.stop());
  await createAccount(ts, 'flooder', 'flooder-pw');
  const flooder = new BoshClient(boshUrl(ts), VIA_PROXY);
  await flooder.login('flooder', 'flooder-pw', 'bosh');
  const ping = (id: string): string => `<iq xmlns='jabber:client' type='get' to='localhost' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`;
  // Login spent a few stanzas; these put the bucket a minute into debt; the next request waits.
  await flooder.send(Array.from({ length: 12 }, (_, i) => ping(`a${i}`)).join(''));
  const start = performance.now();
  await flooder.send(ping('b0')); // answered by the session's end
  const waited = performance.now() - start;
  assert.ok(!flooder.received.some((el) => el.is('iq') && el.attrs.id === 'b0'), 'the request over the limit was not processed');
  assert.ok(waited >= 9000, `the request was held ${waited.toFixed(0)} ms before the refusal (10 s at least)`);
  await waitFor(() => ![...ts.server.sessions.all].some((s) => s.type === 'c2s'), { timeoutMs: 10_000, message: 'the BOSH session was not ended' });
});
