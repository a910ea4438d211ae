/**
 * Issue 12 point 4: server-to-server resolution against a real DNS server (dnsmasq on loopback):
 * SRV priority and weight order, the "." no-service record, NXDOMAIN falling back to the domain
 * itself, A records of SRV targets resolved through `[s2s] dns_servers`, and a connection that
 * fails on the first SRV target going on to the next; a target with only an AAAA record reached
 * over IPv6; a DNS server that never answers bouncing what waited with remote-server-timeout.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { FakeClient } from '../../src/testing/index.js';
import { message } from '../../src/xml/stanza.js';
import { resolveTargets } from '../../src/modules/s2s/resolve.js';
import { s2sStats } from '../../src/modules/s2s/index.js';
import { freePort } from '../helpers/prosody.js';
import { dnsmasqSkip, freeUdpPort, startDns, type TestDns } from '../helpers/dnsmasq.js';
import { makeTestCa, startPair, type TestCa } from './s2s-harness.js';

const skip = dnsmasqSkip();
let ca: TestCa | undefined;
const dnsServers: TestDns[] = [];

before(async () => {
  if (skip) return;
  ca = await makeTestCa(['a.test', 'b.test']);
});
after(async () => {
  for (const d of dnsServers.splice(0)) await d.stop();
  if (ca) rmSync(ca.dir, { recursive: true, force: true });
});

test('SRV order by priority then weight, the "." record, NXDOMAIN: against a real DNS server', { skip }, async () => {
  const dns = await startDns({
    srv: [
      { name: '_xmpp-server._tcp.w.test', target: 'last.w.test', port: 5270, priority: 20, weight: 0 },
      { name: '_xmpp-server._tcp.w.test', target: 'one.w.test', port: 5271, priority: 10, weight: 50 },
      { name: '_xmpp-server._tcp.w.test', target: 'two.w.test', port: 5272, priority: 10, weight: 50 },
      { name: '_xmpps-server._tcp.w.test', target: 'tls.w.test', port: 5223, priority: 0, weight: 0 },
      { name: '_xmpp-server._tcp.none.test' },
    ],
  });
  dnsServers.push(dns);
  const resolver = new Resolver();
  resolver.setServers([dns.server]);

  const w = await resolveTargets('w.test', {}, resolver);
  // Direct TLS first (XEP-0368), then STARTTLS by priority; within priority 10, weight decides the order.
  assert.deepEqual(w[0], { host: 'tls.w.test', port: 5223, directTls: true });
  assert.deepEqual(new Set(w.slice(1, 3).map((t) => t.host)), new Set(['one.w.test', 'two.w.test']));
  assert.deepEqual(w[3], { host: 'last.w.test', port: 5270, directTls: false });
  assert.equal(w.length, 4);
  // "." says the service is decidedly not offered: no target at all, not even the fallback.
  assert.deepEqual(await resolveTargets('none.test', {}, resolver), []);
  // NXDOMAIN for both SRV names: the domain itself on 5269 (RFC 6120 §3.2.2).
  assert.deepEqual(await resolveTargets('nx.test', {}, resolver), [{ host: 'nx.test', port: 5269, directTls: false }]);
});

test('federation through [s2s] dns_servers: SRV target A records via that server, and on to the next target when one fails', { skip, timeout: 30_000 }, async () => {
  assert.ok(ca);
  const dnsPort = await freeUdpPort();
  const pair = await startPair(ca, {
    trustCa: false, // dialback: b.test verifies a.test over its own override
    adjustA: (c) => {
      delete c.s2s.hosts['b.test']; // a.test finds b.test through DNS only
      c.s2s.dns_servers = [`127.0.0.1:${dnsPort}`];
    },
  });
  try {
    const bPort = pair.b.server.port('s2s');
    const dead = await freePort(); // bound and closed again: nothing listens on it
    // b.test: priority 0 points at a closed port, priority 10 at the real server, by names only this DNS server knows.
    const dns = await startDns(
      {
        hosts: { 'dead-end.b.test': '127.0.0.1', 'xmpp.b.test': '127.0.0.1' },
        srv: [
          { name: '_xmpp-server._tcp.b.test', target: 'dead-end.b.test', port: dead, priority: 0, weight: 0 },
          { name: '_xmpp-server._tcp.b.test', target: 'xmpp.b.test', port: bPort, priority: 10, weight: 0 },
        ],
      },
      dnsPort,
    );
    dnsServers.push(dns);
    const romeo = new FakeClient(pair.a.server, 'romeo@a.test/phone');
    const juliet = new FakeClient(pair.b.server, 'juliet@b.test/balcony');
    romeo.send(message({ to: 'juliet@b.test/balcony', type: 'chat', id: 'dns1' }).c('body').t('found you through DNS').root());
    const got = await juliet.receives((e) => e.attrs.id === 'dns1', { timeoutMs: 15_000 });
    assert.equal(got.getChildText('body'), 'found you through DNS');
    assert.equal(s2sStats(pair.a.server)?.connectFailures, 1, 'the first SRV target (closed port) failed first');
  } finally {
    await pair.stop();
  }
});

test('a SRV target with only an AAAA record is reached over IPv6 (::1)', { skip, timeout: 30_000 }, async () => {
  assert.ok(ca);
  const dnsPort = await freeUdpPort();
  const pair = await startPair(ca, {
    trustCa: false,
    adjustA: (c) => {
      delete c.s2s.hosts['b.test'];
      c.s2s.dns_servers = [`127.0.0.1:${dnsPort}`];
    },
    adjustB: (c) => (c.s2s.interfaces = ['::1']), // b.test listens on IPv6 loopback only
  });
  try {
    const dns = await startDns({ hosts: { 'v6only.b.test': '::1' }, srv: [{ name: '_xmpp-server._tcp.b.test', target: 'v6only.b.test', port: pair.b.server.port('s2s') }] }, dnsPort);
    dnsServers.push(dns);
    const romeo = new FakeClient(pair.a.server, 'romeo@a.test/phone');
    const juliet = new FakeClient(pair.b.server, 'juliet@b.test/balcony');
    romeo.send(message({ to: 'juliet@b.test/balcony', type: 'chat', id: 'v6' }).c('body').t('over IPv6').root());
    const got = await juliet.receives((e) => e.attrs.id === 'v6', { timeoutMs: 15_000 });
    assert.equal(got.getChildText('body'), 'over IPv6');
    const incoming = [...pair.b.server.sessions.all].find((s) => s.type === 's2s' && s.direction === 'incoming');
    assert.equal(incoming?.ip, '::1', 'a connected to b over IPv6');
  } finally {
    await pair.stop();
  }
});

test('a DNS server that never answers: the queued stanza bounces with remote-server-timeout, bounded by the timeouts', { skip, timeout: 40_000 }, async () => {
  assert.ok(ca);
  // A UDP socket that reads queries and answers none.
  const silent = createSocket('udp4');
  silent.on('message', () => {});
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', () => resolve()));
  const pair = await startPair(ca, {
    trustCa: false,
    adjustA: (c) => {
      delete c.s2s.hosts['b.test'];
      c.s2s.dns_servers = [`127.0.0.1:${silent.address().port}`];
      c.modules.s2s = { connect_timeout: '3s', negotiation_timeout: '20s' };
    },
  });
  try {
    const romeo = new FakeClient(pair.a.server, 'romeo@a.test/phone');
    const started = Date.now();
    romeo.send(message({ to: 'juliet@b.test/balcony', type: 'chat', id: 'lost' }).c('body').t('anyone?').root());
    const bounce = await romeo.receives((e) => e.attrs.id === 'lost', { timeoutMs: 30_000 });
    assert.equal(bounce.attrs.type, 'error');
    assert.equal(bounce.getChild('error')?.elements[0]?.name, 'remote-server-timeout');
    // SRV lookups fail after ~5 s (bounded resolver), then the address lookup inside the 3 s connect timeout.
    assert.ok(Date.now() - started < 15_000, `bounced after ${Date.now() - started} ms`);
  } finally {
    await pair.stop();
    silent.close();
  }
});
