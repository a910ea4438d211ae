/**
 * XEP-0114 external components against the real server: xmpp.js's @xmpp/component connects,
 * receives stanzas a real client sends to its domain and answers them; raw sockets check the
 * exact stream errors (wrong secret, stanzas before the handshake, invalid-from, missing 'to',
 * unknown and internal domains, wrong namespace, conflict) and the bytes on the wire; with a
 * cluster placement (a fake ComponentPlacement) the claim of the domain at the handshake.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { RawClient } from '../helpers/raw-client.js';
import { createAccount, errorCondition, loginClient, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { waitFor } from '../../src/testing/index.js';

const DOMAIN = 'comp.localhost';
const SECRET = 'shared secret';
// Non-ASCII: the digest is over the UTF-8 bytes (xmpp.js hashes 'binary', so only raw tests use it).
const OTHER_SECRET = 'ötherSécret';

// ---- @xmpp/component, typed for what these tests use (the package ships no declarations) ----
interface XmppComponent {
  start(): Promise<unknown>;
  stop(): Promise<unknown>;
  send(el: XElement): Promise<void>;
  on(event: 'stanza', listener: (el: XElement) => void): void;
  on(event: 'error', listener: (err: Error & { condition?: string }) => void): void;
  reconnect: { stop(): void };
  iqCallee: { get(ns: string, name: string, handler: () => XElement): void };
}
interface XmppComponentModule {
  component(options: { service: string; domain: string; password: string }): XmppComponent;
  xml(name: string, attrs?: Record<string, string | undefined>, ...children: Array<XElement | string>): XElement;
}
// A non-literal specifier keeps tsc from looking for the missing declarations.
const XMPP_COMPONENT_PACKAGE = '@xmpp/component';
let xmppjs: XmppComponentModule;
const xml = (name: string, attrs?: Record<string, string | undefined>, ...children: Array<XElement | string>) => xmppjs.xml(name, attrs, ...children);

let ts: TestServer;
let port: number;
const clients: LoggedInClient[] = [];
const raws: RawClient[] = [];

before(async () => {
  xmppjs = (await import(XMPP_COMPONENT_PACKAGE)) as XmppComponentModule;
  ts = await startTestServer((config) => {
    config.component_listener.interfaces = ['127.0.0.1'];
    config.component_listener.ports = [0];
    config.component = [
      { domain: DOMAIN, secret: SECRET },
      { domain: 'other.localhost', secret: OTHER_SECRET },
      { domain: 'internal.localhost', module: 'no-such-module' },
    ];
  });
  port = ts.server.port('component');
  await createAccount(ts, 'romeo', 'pw');
});
after(async () => {
  for (const c of clients) await c.stop();
  for (const r of raws) r.close();
  await ts.stop();
});

async function login(resource: string): Promise<LoggedInClient> {
  const c = await loginClient(ts, 'romeo', 'pw', resource);
  clients.push(c);
  return c;
}

/** Connect @xmpp/component; collects what it receives. */
async function connectComponent(domain = DOMAIN, password = SECRET) {
  const comp = xmppjs.component({ service: `xmpp://127.0.0.1:${port}`, domain, password });
  comp.reconnect.stop();
  const received: XElement[] = [];
  const errors: Array<Error & { condition?: string }> = [];
  comp.on('stanza', (el) => received.push(el));
  comp.on('error', (err) => errors.push(err));
  await comp.start();
  const take = (test: (el: XElement) => boolean): XElement | undefined => {
    const i = received.findIndex(test);
    return i >= 0 ? received.splice(i, 1)[0] : undefined;
  };
  const next = (test: (el: XElement) => boolean, ms = 5000): Promise<XElement> =>
    waitFor(() => take(test), { timeoutMs: ms, intervalMs: 10, message: () => `component: nothing matching; received ${received.map(String).join('\n')}` });
  return { comp, received, errors, waitFor: next };
}

function header(to = DOMAIN, ns = 'jabber:component:accept'): string {
  return `<?xml version='1.0'?><stream:stream xmlns='${ns}' xmlns:stream='http://etherx.jabber.org/streams' to='${to}'>`;
}

async function raw(): Promise<RawClient> {
  const r = await RawClient.connect(port);
  raws.push(r);
  return r;
}

/** Open a raw component stream and complete the handshake with `secret`; returns the client. */
async function rawAuthenticated(domain = DOMAIN, secret = SECRET): Promise<RawClient> {
  const r = await raw();
  r.send(header(domain));
  const got = await r.waitFor(/<stream:stream [^>]*id='([^']+)'[^>]*>/);
  const id = /id='([^']+)'/.exec(got)?.[1] ?? '';
  r.send(`<handshake>${createHash('sha1').update(id + secret, 'utf8').digest('hex')}</handshake>`);
  await r.waitFor(/<handshake\/>/);
  return r;
}

/** The server forgets a component stream when its socket closes: wait for that. */
async function untilUnavailable(domain: string): Promise<void> {
  await waitFor(() => !ts.server.components.isAvailable(domain), { message: `${domain} still connected` });
}

function streamErrorOf(received: string): string | undefined {
  return /<stream:error><([a-z-]+) xmlns="urn:ietf:params:xml:ns:xmpp-streams"/.exec(received)?.[1];
}

async function expectStreamError(r: RawClient, condition: string): Promise<void> {
  await r.waitFor(/<\/stream:stream>/);
  assert.equal(streamErrorOf(r.received), condition, r.received);
  await r.waitClosed();
}

test('the server answers the header with from = the domain, an id and no version; the handshake succeeds', async () => {
  const r = await raw();
  r.send(header());
  const got = await r.waitFor(/<stream:stream [^>]*>/);
  assert.match(got, /xmlns='jabber:component:accept'/);
  assert.match(got, new RegExp(`from='${DOMAIN}'`));
  assert.match(got, /id='[0-9a-f]+'/);
  assert.doesNotMatch(/<stream:stream [^>]*>/.exec(got)?.[0] ?? '', /version=/);
  const id = /id='([^']+)'/.exec(got)?.[1] ?? '';
  r.send(`<handshake>${createHash('sha1').update(id + SECRET, 'utf8').digest('hex').toUpperCase()}</handshake>`);
  await r.waitFor(/<handshake\/>/);
  assert.equal(ts.server.components.isAvailable(DOMAIN), true);
  r.send('</stream:stream>');
  await r.waitClosed();
  await untilUnavailable(DOMAIN); // the domain is free again once the stream is gone
});

test('@xmpp/component receives what a user sends to its domain, and the user receives its replies', async () => {
  const { comp, waitFor } = await connectComponent();
  try {
    const romeo = await login('phone');
    await romeo.send(xml('message', { to: `bot@${DOMAIN}`, type: 'chat', id: 'm1' }, xml('body', {}, 'hello bot')));
    const msg = await waitFor((s) => s.is('message'));
    assert.equal(msg.attrs.from, romeo.jid);
    assert.equal(msg.attrs.to, `bot@${DOMAIN}`);
    assert.equal(msg.getChildText('body'), 'hello bot');

    await comp.send(xml('message', { from: `bot@${DOMAIN}/x`, to: romeo.jid, type: 'chat' }, xml('body', {}, 'hello romeo')));
    const back = await romeo.waitFor((s) => s.is('message') && s.attrs.from === `bot@${DOMAIN}/x`);
    assert.equal(back.getChildText('body'), 'hello romeo');

    // An iq from the user, answered by the component's iq handler (from = the address asked).
    comp.iqCallee.get('jabber:iq:version', 'query', () => xml('query', { xmlns: 'jabber:iq:version' }, xml('name', {}, 'bot')));
    const result = await romeo.iq(xml('iq', { type: 'get', to: DOMAIN, id: 'v1' }, xml('query', { xmlns: 'jabber:iq:version' })));
    assert.equal(result.attrs.from, DOMAIN);
    assert.equal(result.getChild('query')?.getChildText('name'), 'bot');
    const seen = await waitFor((s) => s.is('iq') && s.attrs.id === 'v1');
    assert.equal(seen.attrs.from, romeo.jid);

    // Directed presence to the component passes the presence module's hook and arrives.
    await romeo.send(xml('presence', { to: `bot@${DOMAIN}` }));
    const pres = await waitFor((s) => s.is('presence'));
    assert.equal(pres.attrs.from, romeo.jid);

    // The component asks the server something: routed like any other stanza.
    await comp.send(xml('iq', { type: 'get', id: 'd1', from: DOMAIN, to: 'localhost' }, xml('query', { xmlns: 'urn:test:nobody-answers' })));
    const err = await waitFor((s) => s.is('iq') && s.attrs.id === 'd1');
    assert.equal(err.attrs.type, 'error');
    assert.equal(errorCondition(err), 'service-unavailable');
    const entry = ts.server.components.get(DOMAIN);
    assert.ok(entry && entry.stanzasIn >= 3 && entry.stanzasOut >= 4, 'counted');
  } finally {
    await comp.stop().catch(() => {});
    await untilUnavailable(DOMAIN);
  }
});

test('stanzas reach the component in its own namespace (no jabber:client on the wire)', async () => {
  const r = await rawAuthenticated();
  const romeo = await login('wire');
  await romeo.send(xml('message', { to: DOMAIN, id: 'w1' }, xml('body', {}, 'on the wire')));
  const got = await r.waitFor(/<message [^>]*id="w1"[^>]*>.*?<\/message>/s);
  const stanza = /<message [^>]*id="w1"[^>]*>.*?<\/message>/s.exec(got)?.[0] ?? '';
  assert.doesNotMatch(stanza, /jabber:client/);
  assert.match(stanza, /<body>on the wire<\/body>/);
  // An error reply to the component's own stanza carries its <error/> in the component namespace too.
  r.send(`<iq type='get' id='e1' from='${DOMAIN}' to='nobody@localhost/x'><query xmlns='urn:test:x'/></iq>`);
  const err = await r.waitFor(/<iq [^>]*id="e1"[^>]*>.*?<\/iq>/s);
  const errStanza = /<iq [^>]*id="e1"[^>]*>.*?<\/iq>/s.exec(err)?.[0] ?? '';
  assert.match(errStanza, /type="error"/);
  assert.doesNotMatch(errStanza, /jabber:client/);
  r.send('</stream:stream>');
  await r.waitClosed();
  await untilUnavailable(DOMAIN);
});

test('a wrong secret is refused with not-authorized', async () => {
  const r = await raw();
  r.send(header());
  await r.waitFor(/<stream:stream [^>]*>/);
  r.send(`<handshake>${createHash('sha1').update('wrong').digest('hex')}</handshake>`);
  await expectStreamError(r, 'not-authorized');
  assert.equal(ts.server.components.isAvailable(DOMAIN), false);
});

test('@xmpp/component with a wrong password gets the not-authorized stream error', async () => {
  const comp = xmppjs.component({ service: `xmpp://127.0.0.1:${port}`, domain: DOMAIN, password: 'nope' });
  comp.reconnect.stop();
  const failed = new Promise<Error & { condition?: string }>((resolve) => comp.on('error', resolve));
  await comp.start().catch(() => {});
  const err = await failed;
  assert.equal(err.condition, 'not-authorized');
  await comp.stop().catch(() => {});
});

test('stanzas before the handshake are not-authorized', async () => {
  const r = await raw();
  r.send(header());
  await r.waitFor(/<stream:stream [^>]*>/);
  r.send(`<message from='${DOMAIN}' to='romeo@localhost'><body>early</body></message>`);
  await expectStreamError(r, 'not-authorized');
});

test('unknown domains, internal component domains and a missing to are host-unknown', async () => {
  for (const to of ['nowhere.localhost', 'internal.localhost', 'localhost']) {
    const r = await raw();
    r.send(header(to));
    await expectStreamError(r, 'host-unknown');
  }
  const r = await raw();
  r.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams'>`);
  await expectStreamError(r, 'host-unknown');
});

test('a stream in another namespace is invalid-namespace', async () => {
  const r = await raw();
  r.send(header(DOMAIN, 'jabber:client'));
  await expectStreamError(r, 'invalid-namespace');
});

test('a from outside the component domain is invalid-from; a missing to is improper-addressing', async () => {
  const r1 = await rawAuthenticated();
  r1.send(`<message from='romeo@localhost' to='romeo@localhost'><body>spoof</body></message>`);
  await expectStreamError(r1, 'invalid-from');

  const r2 = await rawAuthenticated();
  r2.send(`<message from='x@other.localhost' to='romeo@localhost'><body>spoof</body></message>`);
  await expectStreamError(r2, 'invalid-from');

  const r3 = await rawAuthenticated();
  r3.send(`<message from='bot@${DOMAIN}'><body>where to?</body></message>`);
  await expectStreamError(r3, 'improper-addressing');
});

test('addresses at the domain (user@domain, domain/resource, no from) are accepted', async () => {
  const romeo = await login('addr');
  const r = await rawAuthenticated();
  r.send(`<message from='a@${DOMAIN}' to='${romeo.jid}' id='a1'><body>1</body></message>`);
  r.send(`<message from='${DOMAIN}/res' to='${romeo.jid}' id='a2'><body>2</body></message>`);
  r.send(`<message to='${romeo.jid}' id='a3'><body>3</body></message>`);
  assert.equal((await romeo.waitFor((s) => s.attrs.id === 'a1')).attrs.from, `a@${DOMAIN}`);
  assert.equal((await romeo.waitFor((s) => s.attrs.id === 'a2')).attrs.from, `${DOMAIN}/res`);
  assert.equal((await romeo.waitFor((s) => s.attrs.id === 'a3')).attrs.from, DOMAIN);
  r.send('</stream:stream>');
  await r.waitClosed();
  await untilUnavailable(DOMAIN);
});

test('a second connection for a connected domain gets conflict; the first keeps working', async () => {
  const first = await rawAuthenticated('other.localhost', OTHER_SECRET);
  const second = await raw();
  second.send(header('other.localhost'));
  await expectStreamError(second, 'conflict');
  const romeo = await login('conflict');
  await romeo.send(xml('message', { to: 'other.localhost', id: 'c1' }, xml('body', {}, 'still there?')));
  await first.waitFor(/id="c1"/);
  first.send('</stream:stream>');
  await first.waitClosed();
});

test('stanzas to a disconnected component: iq and message get service-unavailable, presence is dropped', async () => {
  await untilUnavailable(DOMAIN);
  const romeo = await login('offline');
  await assert.rejects(
    romeo.iq(xml('iq', { type: 'get', to: DOMAIN, id: 'off1' }, xml('query', { xmlns: 'jabber:iq:version' }))),
    (err: Error & { stanza?: XElement }) => errorCondition(err.stanza) === 'service-unavailable',
  );
  await romeo.send(xml('message', { to: `bot@${DOMAIN}`, id: 'off2', type: 'chat' }, xml('body', {}, 'anyone?')));
  const bounced = await romeo.waitFor((s) => s.is('message') && s.attrs.id === 'off2');
  assert.equal(bounced.attrs.type, 'error');
  assert.equal(errorCondition(bounced), 'service-unavailable');
  await romeo.send(xml('presence', { to: `bot@${DOMAIN}`, id: 'off3' }));
  assert.equal(await romeo.nothing((s) => s.attrs.id === 'off3', 300), true);
});

test('counters record connections and authentication results', () => {
  const c = ts.server.components.counters;
  assert.ok(c.connections >= 10, `connections ${c.connections}`);
  assert.ok(c.authSucceeded >= 5, `succeeded ${c.authSucceeded}`);
  assert.ok(c.authFailed >= 2, `failed ${c.authFailed}`);
});

test('on_conflict = "kick_old": the new stream wins and the old one gets conflict; auth_timeout closes idle streams', async () => {
  const other = await startTestServer((config) => {
    config.component_listener.interfaces = ['127.0.0.1'];
    config.component_listener.ports = [0];
    config.component = [{ domain: DOMAIN, secret: SECRET }];
    config.modules.component = { on_conflict: 'kick_old', auth_timeout: 0.3 };
  });
  const otherPort = other.server.port('component');
  const connectTo = async (): Promise<RawClient> => {
    const r = await RawClient.connect(otherPort);
    raws.push(r);
    r.send(header());
    const got = await r.waitFor(/<stream:stream [^>]*id='([^']+)'[^>]*>/);
    const id = /id='([^']+)'/.exec(got)?.[1] ?? '';
    r.send(`<handshake>${createHash('sha1').update(id + SECRET, 'utf8').digest('hex')}</handshake>`);
    await r.waitFor(/<handshake\/>/);
    return r;
  };
  try {
    const old = await connectTo();
    const replacement = await connectTo();
    await expectStreamError(old, 'conflict');
    assert.equal(other.server.components.get(DOMAIN)?.kind, 'external');
    const entry = other.server.components.get(DOMAIN);
    assert.ok(entry?.kind === 'external' && entry.session !== undefined && !entry.session.destroyed);
    replacement.send('</stream:stream>');
    await replacement.waitClosed();

    const idle = await RawClient.connect(otherPort);
    raws.push(idle);
    idle.send(header());
    await expectStreamError(idle, 'connection-timeout');
  } finally {
    await other.stop();
  }
});

test('in a cluster (components.placement set): the handshake waits for the claim and stanzas sent meanwhile follow it; the end of the connection releases the domain; a refused claim is conflict', async () => {
  await untilUnavailable(DOMAIN);
  const claims: Array<{ domain: string; replace: boolean; answer: (ok: boolean) => void }> = [];
  const released: string[] = [];
  ts.server.components.placement = {
    claim: (domain, replace) => new Promise<boolean>((resolve) => claims.push({ domain, replace, answer: resolve })),
    release: (domain) => released.push(domain),
  };
  const handshakeWith = async (r: RawClient, after = ''): Promise<void> => {
    r.send(header());
    const got = await r.waitFor(/<stream:stream [^>]*id='([^']+)'[^>]*>/);
    const id = /id='([^']+)'/.exec(got)?.[1] ?? '';
    r.send(`<handshake>${createHash('sha1').update(id + SECRET, 'utf8').digest('hex')}</handshake>${after}`);
  };
  try {
    const romeo = await login('placed');
    const r = await raw();
    await handshakeWith(r, `<message to='${romeo.jid}' id='early'><body>sent before the answer</body></message>`);
    const claim = await waitFor(() => claims[0], { message: 'the domain was claimed' });
    assert.deepEqual([claim.domain, claim.replace], [DOMAIN, false]);
    assert.equal(ts.server.components.isAvailable(DOMAIN), false);
    assert.ok(!r.received.includes('<handshake/>'), 'no answer before the claim');
    claim.answer(true);
    await r.waitFor(/<handshake\/>/);
    const early = await romeo.waitFor((s) => s.is('message') && s.attrs.id === 'early');
    assert.equal(early.attrs.from, DOMAIN);
    assert.deepEqual(released, []);
    r.send('</stream:stream>');
    await r.waitClosed();
    await waitFor(() => released.length === 1, { message: 'the domain was released' });
    assert.deepEqual(released, [DOMAIN]);

    // A live connection on another node holds it (refuse_new): conflict, nothing to release.
    const second = await raw();
    await handshakeWith(second);
    (await waitFor(() => claims[1], { message: 'the domain was claimed again' })).answer(false);
    await expectStreamError(second, 'conflict');
    assert.equal(ts.server.components.isAvailable(DOMAIN), false);
    assert.deepEqual(released, [DOMAIN]);
  } finally {
    ts.server.components.placement = undefined;
  }
});
