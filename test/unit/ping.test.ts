/** XEP-0199 ping module: answering pings, and finding dead connections with server pings. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import ping, { NS_PING } from '../../src/modules/ping/index.js';
import { Keepalive } from '../../src/modules/ping/keepalive.js';
import { silentLogger } from '../../src/core/logging.js';
import { iq } from '../../src/xml/stanza.js';
import type { Element } from '../../src/xml/element.js';
import { errorCondition, FakeClock, startHarness } from '../../src/testing/index.js';

const HOST = 'localhost';

const isPing = (el: Element) => el.name === 'iq' && el.attrs.type === 'get' && el.getChild('ping', NS_PING) !== undefined;

test('the server answers a ping with an empty result and advertises the feature', async () => {
  const h = await startHarness({ modules: [ping] });
  try {
    const romeo = await h.client('romeo@localhost/phone');
    const r = await romeo.ask(iq({ type: 'get', id: 'p1', to: HOST }).c('ping', { xmlns: NS_PING }).up());
    assert.equal(r.attrs.type, 'result');
    assert.equal(r.attrs.from, HOST);
    assert.equal(r.children.length, 0);
    assert.ok(h.context.features.includes(NS_PING));
    // A ping set is no ping: the router's service-unavailable.
    const set = await romeo.ask(iq({ type: 'set', id: 'p2', to: HOST }).c('ping', { xmlns: NS_PING }).up());
    assert.equal(errorCondition(set), 'cancel/service-unavailable');
  } finally {
    await h.stop();
  }
});

/** A Keepalive driven by a fake clock, with fake sessions. */
function clockedKeepalive(interval: number, timeout: number) {
  const clock = new FakeClock(1_000_000);
  const k = new Keepalive({ host: HOST, interval, timeout, log: silentLogger(), now: () => clock.now() });
  return { k, advance: (ms: number) => clock.advance(ms), now: () => clock.now() };
}

test('keepalive: an idle session is pinged once; an answer keeps it; silence closes it', async () => {
  const h = await startHarness({ modules: [] });
  try {
    const { k, advance, now } = clockedKeepalive(60_000, 10_000);
    const alive = await h.client('alive@localhost/r');
    const dead = await h.client('dead@localhost/r');
    const busy = await h.client('busy@localhost/r');
    for (const c of [alive, dead, busy]) k.track(c.session);

    advance(59_999);
    k.sweep();
    assert.equal(alive.sent.filter(isPing).length, 0, 'not before the interval');

    advance(1);
    busy.session.lastActivity = now() - 5; // the busy client just sent something
    k.sweep();
    const p = alive.sent.find(isPing);
    assert.ok(p);
    assert.equal(p.attrs.from, HOST);
    assert.equal(p.attrs.to, 'alive@localhost/r');
    assert.equal(dead.sent.filter(isPing).length, 1);
    assert.equal(busy.sent.filter(isPing).length, 0, 'activity resets the idle clock');
    assert.ok(k.isPinged(dead.session));

    k.sweep();
    assert.equal(dead.sent.filter(isPing).length, 1, 'one ping at a time');

    assert.equal(k.answer(alive.session, 'not-our-id'), false);
    assert.equal(k.answer(alive.session, p.attrs.id), true);
    assert.equal(k.isPinged(alive.session), false);

    advance(10_000);
    k.sweep();
    assert.deepEqual(dead.closedWith, [{ condition: 'connection-timeout', text: 'no answer to a ping' }]);
    assert.deepEqual(alive.closedWith, []);
    assert.equal(k.isPinged(dead.session), false);
  } finally {
    await h.stop();
  }
});

test('keepalive: any data after the ping counts as the answer', async () => {
  const h = await startHarness({ modules: [] });
  try {
    const { k, advance, now } = clockedKeepalive(1000, 1000);
    const c = await h.client('c@localhost/r');
    k.track(c.session);
    advance(1000);
    k.sweep();
    assert.ok(k.isPinged(c.session));
    advance(10);
    c.session.lastActivity = now();
    k.sweep();
    assert.equal(k.isPinged(c.session), false);
    advance(2000);
    k.sweep();
    assert.deepEqual(c.closedWith, []);
  } finally {
    await h.stop();
  }
});

test('keepalive sweeps often enough and within bounds', () => {
  const log = silentLogger();
  assert.equal(new Keepalive({ host: HOST, interval: 300_000, timeout: 60_000, log }).sweepEvery, 15_000);
  assert.equal(new Keepalive({ host: HOST, interval: 3_600_000, timeout: 3_600_000, log }).sweepEvery, 30_000);
  assert.equal(new Keepalive({ host: HOST, interval: 8, timeout: 8, log }).sweepEvery, 10);
});

test('the module pings idle fake sessions, takes the pong (to the host or with no to) and closes the silent', async () => {
  const clock = new FakeClock();
  const h = await startHarness({ modules: [ping], clock, config: (c) => {
    c.modules.ping = { ping_interval: '40s', ping_timeout: '80s' };
  } });
  try {
    const viaHost = await h.client('a@localhost/r');
    const noTo = await h.client('b@localhost/r');
    const silent = await h.client('c@localhost/r');
    // Two well-behaved clients answer every ping: one to the host, one with no 'to' and an error.
    const answer = () => {
      for (const p of viaHost.sent.filter(isPing)) {
        viaHost.sent.splice(viaHost.sent.indexOf(p), 1);
        viaHost.send(iq({ type: 'result', id: p.attrs.id, to: HOST }));
      }
      for (const p of noTo.sent.filter(isPing)) {
        noTo.sent.splice(noTo.sent.indexOf(p), 1);
        noTo.send(iq({ type: 'error', id: p.attrs.id }).c('error', { type: 'cancel' }).c('service-unavailable', { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' }).root());
      }
    };
    clock.advance(39_999);
    assert.equal(silent.sent.filter(isPing).length, 0, 'no ping before the interval');
    clock.advance(1);
    assert.equal(silent.sent.filter(isPing).length, 1, 'a ping when the interval is up');
    assert.equal(viaHost.sent.filter(isPing).length, 1);
    answer();
    clock.advance(79_999);
    assert.deepEqual(silent.closedWith, [], 'not closed before the timeout');
    answer();
    clock.advance(1);
    assert.deepEqual(silent.closedWith, [{ condition: 'connection-timeout', text: 'no answer to a ping' }]);
    assert.ok(silent.closed);
    assert.deepEqual(viaHost.closedWith, []);
    assert.deepEqual(noTo.closedWith, []);
    // The pongs were consumed by the module: nothing came back to the clients.
    assert.deepEqual(viaHost.sent.filter((e) => !isPing(e)), []);
    assert.deepEqual(noTo.sent.filter((e) => !isPing(e)), []);
  } finally {
    await h.stop();
  }
  assert.equal(clock.pending, 0, 'the sweep timer is cancelled when the module unloads');
});

test('ping_interval = 0 turns server pings off; ping_timeout must be positive', async () => {
  const clock = new FakeClock();
  const off = await startHarness({ modules: [ping], clock, config: (c) => {
    c.modules.ping = { ping_interval: 0, ping_timeout: '10ms' };
  } });
  try {
    const c = await off.client('a@localhost/r');
    assert.equal(clock.pending, 0, 'no sweep timer');
    clock.advance(3_600_000);
    assert.equal(c.sent.filter(isPing).length, 0);
  } finally {
    await off.stop();
  }
  await assert.rejects(
    startHarness({ modules: [ping], config: (c) => {
      c.modules.ping = { ping_timeout: 0 };
    } }),
    /modules\.ping\.ping_timeout/,
  );
});
