/**
 * XEP-0124/0206 at the HTTP level with fetch(): session creation attributes, request holding,
 * the rid window (repeats from the cache, item-not-found outside it), unknown sids,
 * overactivity and too-fast polling, terminate, stream errors as remote-stream-error, CORS and
 * HTTP-level refusals, and the inactivity timeout.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../../src/testing/index.js';
import { boshPost, boshUrl, creationAttrs, postRaw, type BoshAnswer } from '../helpers/bosh-client.js';
import { createAccount } from '../helpers/xmpp-client.js';
import type { CantoConfig } from '../../src/core/config.js';

/** The test server's proxy headers: requests from 127.0.0.1 count as HTTPS from 203.0.113.7. */
const VIA_PROXY = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '203.0.113.7' };

function withBosh(options: Record<string, unknown> = {}): (c: CantoConfig) => void {
  return (c) => {
    c.http.ports = [0];
    c.http.trusted_proxies = ['127.0.0.1'];
    c.http.cors_origins = ['https://chat.example.com'];
    c.modules.bosh = { max_wait: '30s', inactivity: '20s', polling: '2s', ...options };
  };
}

/** Wait until the BOSH session holds `n` requests (the 'bosh' service's look inside). */
async function inside(t: TestServer, sid: string, n: number): Promise<void> {
  const bosh = t.server.services.get('bosh');
  assert.ok(bosh, 'the bosh module provides its service');
  await waitFor(() => bosh.requestsInside(sid) >= n, { message: `BOSH session ${sid} holding ${n} request(s)` });
}

let ts: TestServer;
let url: string;
before(async () => {
  ts = await startTestServer(withBosh());
  url = boshUrl(ts);
  await createAccount(ts, 'romeo', 'r-pass');
});
after(async () => {
  await ts.stop();
});

let nextRid = 5000;
/** A new session; returns its sid, the creation rid and the answer. */
async function create(extra: Record<string, string | number> = {}, headers: Record<string, string> = VIA_PROXY): Promise<{ sid: string; rid: number; answer: BoshAnswer }> {
  const rid = (nextRid += 1000);
  const answer = await boshPost(url, creationAttrs(rid, extra), '', headers);
  const sid = answer.body?.attrs.sid;
  assert.ok(sid !== undefined, `a sid in ${answer.text}`);
  return { sid, rid, answer };
}

function assertTerminate(a: BoshAnswer, condition: string | undefined): void {
  assert.equal(a.status, 200);
  assert.equal(a.body?.attrs.type, 'terminate', a.text);
  assert.equal(a.body.attrs.condition, condition, a.text);
}

function boshSessionCount(): number {
  return [...ts.server.sessions.all].filter((s) => s.conn.transport === 'bosh').length;
}

test('session creation answers with the negotiated attributes and the stream features', async () => {
  const { answer } = await create({ wait: 120, hold: 3, ver: '1.6' });
  assert.equal(answer.status, 200);
  assert.equal(answer.headers.get('content-type'), 'text/xml; charset=utf-8');
  const a = answer.body?.attrs ?? {};
  assert.match(a.sid ?? '', /^[A-Za-z0-9_-]{20,}$/);
  assert.equal(a.wait, '30', 'wait is lowered to max_wait');
  assert.equal(a.hold, '1', 'hold is lowered to 1');
  assert.equal(a.requests, '2');
  assert.equal(a.inactivity, '20');
  assert.equal(a.polling, '2');
  assert.equal(a.ver, '1.6', 'the lower of the versions');
  assert.equal(a.from, 'localhost');
  assert.match(a.authid ?? '', /^[A-Za-z0-9_-]{8,}$/);
  assert.equal(a['xmpp:version'], '1.0');
  assert.equal(a['xmpp:restartlogic'], 'true');
  assert.equal(a.ack, undefined, 'no ack unless the client asked');
  const features = answer.body?.getChild('features', 'http://etherx.jabber.org/streams');
  assert.ok(features, answer.text);
  // Secure through the trusted proxy: SASL is offered.
  assert.match(answer.text, /<mechanism>PLAIN<\/mechanism>/);
  const session = [...ts.server.sessions.all].find((s) => s.conn.transport === 'bosh' && s.streamId === a.authid);
  assert.equal(session?.ip, '203.0.113.7');
  assert.equal(session?.secure, true);
});

test('plain HTTP from a non-proxied client is not secure: no SASL with require_encryption', async () => {
  const { answer } = await create({}, {});
  assert.doesNotMatch(answer.text, /mechanism/);
});

test("ack='1' at creation is acknowledged with the creation rid", async () => {
  const { rid, answer } = await create({ ack: 1 });
  assert.equal(answer.body?.attrs.ack, String(rid));
});

test('an empty request is held for `wait` seconds, then answered empty', async () => {
  const { sid, rid } = await create({ wait: 1 });
  const started = Date.now();
  const a = await boshPost(url, { sid, rid: rid + 1 }, '', VIA_PROXY);
  assert.equal(a.status, 200);
  assert.ok(Date.now() - started >= 900, 'held about a second');
  assert.equal(a.body?.children.length, 0, a.text);
  assert.equal(a.body?.attrs.type, undefined);
});

test('output goes to the oldest held request; an extra request releases the held one empty', async () => {
  const { sid, rid } = await create({ wait: 10 });
  const held = boshPost(url, { sid, rid: rid + 1 }, '', VIA_PROXY);
  await inside(ts, sid, 1);
  // An unknown mechanism is refused at once: the answer goes to the held rid+1.
  const second = boshPost(url, { sid, rid: rid + 2 }, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='NO-SUCH'/>", VIA_PROXY);
  const first = await held;
  assert.match(first.text, /<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><invalid-mechanism\/>/);
  // rid+2 is now the held one; rid+3 releases it, empty (hold=1).
  const third = boshPost(url, { sid, rid: rid + 3 }, '', VIA_PROXY);
  const secondAnswer = await second;
  assert.equal(secondAnswer.body?.children.length, 0, secondAnswer.text);
  assert.equal(secondAnswer.body?.attrs.type, undefined);
  assertTerminate(await boshPost(url, { sid, rid: rid + 4, type: 'terminate' }, '', VIA_PROXY), undefined);
  assertTerminate(await third, undefined);
});

test('a repeated rid gets the identical cached response', async () => {
  const { sid, rid } = await create({ wait: 10 });
  const auth = Buffer.from('\0romeo\0wrong').toString('base64');
  const payload = `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${auth}</auth>`;
  const first = await boshPost(url, { sid, rid: rid + 1 }, payload, VIA_PROXY);
  assert.match(first.text, /<failure/);
  const again = await boshPost(url, { sid, rid: rid + 1 }, payload, VIA_PROXY);
  assert.equal(again.text, first.text);
  // The repeat did not break the session: the next rid is still accepted.
  const ended = await boshPost(url, { sid, rid: rid + 2, type: 'terminate' }, '', VIA_PROXY);
  assertTerminate(ended, undefined);
});

test('a rid beyond the window ends the session with item-not-found', async () => {
  const { sid, rid } = await create();
  const a = await boshPost(url, { sid, rid: rid + 3 }, '', VIA_PROXY); // requests=2: rid+2 is the most
  assertTerminate(a, 'item-not-found');
  assertTerminate(await boshPost(url, { sid, rid: rid + 1 }, '', VIA_PROXY), 'item-not-found');
});

test('a rid older than the window ends the session with item-not-found', async () => {
  const { sid, rid } = await create({ wait: 1, hold: 0 });
  for (let r = rid + 1; r <= rid + 3; r++) await boshPost(url, { sid, rid: r }, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X'/>", VIA_PROXY);
  assertTerminate(await boshPost(url, { sid, rid: rid + 1 }, '', VIA_PROXY), 'item-not-found');
});

test('requests out of order within the window are processed in rid order', async () => {
  const { sid, rid } = await create({ wait: 2 });
  // rid+2 first: it waits for rid+1, which carries a SASL attempt refused at once.
  const later = boshPost(url, { sid, rid: rid + 2 }, '', VIA_PROXY);
  await inside(ts, sid, 1);
  const earlier = await boshPost(url, { sid, rid: rid + 1 }, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='NO-SUCH'/>", VIA_PROXY);
  assert.match(earlier.text, /<failure/, 'rid+1 was processed first and answered');
  const l = await later;
  assert.equal(l.body?.attrs.type, undefined, l.text);
});

test('an unknown sid is item-not-found', async () => {
  assertTerminate(await boshPost(url, { sid: 'no-such-session', rid: 1 }, '', VIA_PROXY), 'item-not-found');
});

test('a session created over HTTPS is not reachable over plain HTTP', async () => {
  const { sid, rid } = await create();
  assertTerminate(await boshPost(url, { sid, rid: rid + 1 }, '', {}), 'item-not-found');
  assertTerminate(await boshPost(url, { sid, rid: rid + 1, type: 'terminate' }, '', VIA_PROXY), undefined);
});

test('more simultaneous requests than `requests` is policy-violation', async () => {
  const { sid, rid } = await create({ wait: 10 });
  const held = boshPost(url, { sid, rid: rid + 1 }, '', VIA_PROXY);
  await inside(ts, sid, 1);
  // rid+2 is still on its way as far as we know: rid+1, rid+2 and rid+3 make three.
  assertTerminate(await boshPost(url, { sid, rid: rid + 3 }, '', VIA_PROXY), 'policy-violation');
  assertTerminate(await held, 'policy-violation');
  assertTerminate(await boshPost(url, { sid, rid: rid + 2 }, '', VIA_PROXY), 'item-not-found');
});

test('polling faster than `polling` is policy-violation', async () => {
  const { sid, rid } = await create({ hold: 0 });
  const first = await boshPost(url, { sid, rid: rid + 1 }, '', VIA_PROXY);
  assert.equal(first.body?.attrs.type, undefined, 'a polling request is answered at once');
  assertTerminate(await boshPost(url, { sid, rid: rid + 2 }, '', VIA_PROXY), 'policy-violation');
});

test("type='terminate' ends the session and is answered with an empty terminate body", async () => {
  const before = boshSessionCount();
  const { sid, rid } = await create();
  assert.equal(boshSessionCount(), before + 1);
  const a = await boshPost(url, { sid, rid: rid + 1, type: 'terminate' }, '', VIA_PROXY);
  assertTerminate(a, undefined);
  assert.equal(a.body?.children.length, 0);
  assert.equal(boshSessionCount(), before);
  assertTerminate(await boshPost(url, { sid, rid: rid + 2 }, '', VIA_PROXY), 'item-not-found');
});

test("a stream error is a terminate body with condition='remote-stream-error'", async () => {
  const { sid, rid } = await create();
  // A stanza before authenticating: not-authorized.
  const a = await boshPost(url, { sid, rid: rid + 1 }, "<message xmlns='jabber:client' to='romeo@localhost'><body>hi</body></message>", VIA_PROXY);
  assertTerminate(a, 'remote-stream-error');
  assert.match(a.text, /<stream:error><not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/);
  assertTerminate(await boshPost(url, { sid, rid: rid + 2 }, '', VIA_PROXY), 'item-not-found');
});

test('an unknown host at creation is a remote-stream-error with host-unknown', async () => {
  const rid = (nextRid += 1000);
  const a = await boshPost(url, creationAttrs(rid, { to: 'nowhere.example' }), '', VIA_PROXY);
  assertTerminate(a, 'remote-stream-error');
  assert.match(a.text, /<host-unknown /);
});

test('malformed bodies are bad-request; a body without rid too', async () => {
  assertTerminate(await postRaw(url, '<body xmlns="http://jabber.org/protocol/httpbind"', VIA_PROXY), 'bad-request');
  assertTerminate(await postRaw(url, '<bodyx xmlns="http://jabber.org/protocol/httpbind"/>', VIA_PROXY), 'bad-request');
  assertTerminate(await boshPost(url, { to: 'localhost', 'xmpp:version': '1.0' }, '', VIA_PROXY), 'bad-request');
});

test('HTTP level: GET is 405, an oversized body 413, CORS preflight and origin checks', async () => {
  const get = await fetch(url);
  assert.equal(get.status, 405);
  const big = await fetch(url, { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024) });
  assert.equal(big.status, 413);
  const pre = await fetch(url, { method: 'OPTIONS', headers: { Origin: 'https://chat.example.com', 'Access-Control-Request-Method': 'POST' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), 'https://chat.example.com');
  assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
  const other = await fetch(url, { method: 'OPTIONS', headers: { Origin: 'https://evil.example' } });
  assert.equal(other.status, 403);
  const rid = (nextRid += 1000);
  const created = await boshPost(url, creationAttrs(rid), '', { ...VIA_PROXY, Origin: 'https://chat.example.com' });
  assert.equal(created.headers.get('access-control-allow-origin'), 'https://chat.example.com');
  await boshPost(url, { sid: created.body?.attrs.sid ?? '', rid: rid + 1, type: 'terminate' }, '', VIA_PROXY);
});

test('host-meta lists the BOSH endpoint', async () => {
  const res = await fetch(`http://127.0.0.1:${ts.server.port('http')}/.well-known/host-meta.json`, { headers: VIA_PROXY });
  const json = (await res.json()) as { links: Array<{ rel: string; href: string }> };
  assert.ok(json.links.some((l) => l.rel === 'urn:xmpp:alt-connections:xbosh' && l.href.endsWith('/http-bind')), JSON.stringify(json));
});

test('a session with no request outstanding for `inactivity` is destroyed', async () => {
  const t = await startTestServer(withBosh({ inactivity: '1s' }));
  try {
    const u = boshUrl(t);
    const rid = 77;
    const created = await boshPost(u, creationAttrs(rid), '', VIA_PROXY);
    const sid = created.body?.attrs.sid ?? '';
    assert.equal(created.body?.attrs.inactivity, '1');
    const destroyed = new Promise<void>((resolve) => t.server.events.on('session-destroyed', () => resolve()));
    assert.equal([...t.server.sessions.all].length, 1);
    const started = Date.now();
    await destroyed;
    assert.ok(Date.now() - started >= 800, 'not before the inactivity period');
    assert.equal([...t.server.sessions.all].length, 0);
    assertTerminate(await boshPost(u, { sid, rid: rid + 1 }, '', VIA_PROXY), 'item-not-found');
  } finally {
    await t.stop();
  }
});

test('a request held longer than http request_timeout is still answered', async () => {
  const t = await startTestServer((c) => {
    withBosh()(c);
    c.modules.http = { request_timeout: '1s' };
  });
  try {
    const u = boshUrl(t);
    const created = await boshPost(u, creationAttrs(10, { wait: 2 }), '', VIA_PROXY);
    const sid = created.body?.attrs.sid ?? '';
    const held = await boshPost(u, { sid, rid: 11 }, '', VIA_PROXY);
    assert.equal(held.status, 200);
    assert.equal(held.body?.attrs.type, undefined, held.text);
    assertTerminate(await boshPost(u, { sid, rid: 12, type: 'terminate' }, '', VIA_PROXY), undefined);
  } finally {
    await t.stop();
  }
});

test('server shutdown answers a held request with a system-shutdown stream error', async () => {
  const t = await startTestServer(withBosh());
  let stopped = false;
  try {
    const u = boshUrl(t);
    const created = await boshPost(u, creationAttrs(20, { wait: 10 }), '', VIA_PROXY);
    const held = boshPost(u, { sid: created.body?.attrs.sid ?? '', rid: 21 }, '', VIA_PROXY);
    await inside(t, created.body?.attrs.sid ?? '', 1);
    const stopping = t.stop();
    const a = await held;
    await stopping;
    stopped = true;
    assertTerminate(a, 'remote-stream-error');
    assert.match(a.text, /<system-shutdown /);
  } finally {
    if (!stopped) await t.stop();
  }
});
