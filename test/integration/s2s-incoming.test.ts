/**
 * The receiving side of federation byte by byte: a raw socket plays the originating server of
 * a.test and a2.test (both served by a real Canto server A with a known dialback secret, which
 * then answers B's db:verify as the authoritative server) against server B (b.test).
 * Covers header checks, required STARTTLS, dialback with piggybacking (two domain pairs on one
 * stream), a wrong key, and the from/to checks on every stanza.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeClient, waitFor } from '../../src/testing/index.js';
import { dialbackKey } from '../../src/modules/s2s/dialback.js';
import { s2sOutgoing } from '../../src/modules/s2s/index.js';
import { message } from '../../src/xml/stanza.js';
import { makeTestCa, type TestCa } from './s2s-harness.js';

const SECRET = 'test-dialback-secret';
let ca: TestCa;
let a: TestServer;
let b: TestServer;

before(async () => {
  ca = await makeTestCa(['a.test', 'a2.test', 'b.test']);
  const vh = (domain: string) => ({ domain, certificate: ca.certs.get(domain)?.certificate, key: ca.certs.get(domain)?.key, allow_registration: false, modules_enabled: [], modules_disabled: [] });
  b = await startTestServer((c) => {
    c.virtualhost = [vh('b.test')];
    c.s2s.ports = [0];
    c.s2s.direct_tls_ports = [0];
    // These tests are about the streams: a first message from another server is delivered.
    c.modules.stranger = { policy: 'allow' };
  });
  a = await startTestServer((c) => {
    c.virtualhost = [vh('a.test'), vh('a2.test')];
    c.s2s.ports = [0];
    c.s2s.hosts['b.test'] = `127.0.0.1:${b.server.port('s2s')}`;
    c.modules.s2s = { dialback_secret: SECRET };
    c.modules.stranger = { policy: 'allow' };
  });
  b.server.config.s2s.hosts['a.test'] = `127.0.0.1:${a.server.port('s2s')}`;
  b.server.config.s2s.hosts['a2.test'] = `127.0.0.1:${a.server.port('s2s')}`;
});

after(async () => {
  await Promise.all([a.stop(), b.stop()]);
  rmSync(ca.dir, { recursive: true, force: true });
});

/** A minimal raw peer: writes text, waits for text matching a pattern in what it received. */
class RawPeer {
  buffer = '';
  closed = false;
  constructor(public socket: Socket) {
    this.listen(socket);
  }
  listen(socket: Socket): void {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (this.buffer += d));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }
  send(text: string): void {
    this.socket.write(text);
  }
  async expect(pattern: RegExp, ms = 5000): Promise<RegExpMatchArray> {
    const m = await waitFor(() => this.buffer.match(pattern), { timeoutMs: ms, intervalMs: 10, message: () => `timed out waiting for ${pattern}; have: ${this.buffer}` });
    this.buffer = this.buffer.slice((m.index ?? 0) + m[0].length);
    return m;
  }
  header(from: string, to: string): void {
    this.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='${from}' to='${to}' version='1.0'>`);
  }
}

async function connectPeer(): Promise<RawPeer> {
  const socket = netConnect({ host: '127.0.0.1', port: b.server.port('s2s') });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  return new RawPeer(socket);
}

/** Open, STARTTLS, reopen; returns the peer and B's stream id after TLS. */
async function openSecured(from = 'a.test'): Promise<{ peer: RawPeer; streamId: string }> {
  const peer = await connectPeer();
  peer.header(from, 'b.test');
  await peer.expect(/<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"><required\/><\/starttls>/);
  peer.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`);
  await peer.expect(/<proceed[^>]*\/>/);
  peer.socket.removeAllListeners('data');
  const secure = tlsConnect({ socket: peer.socket, servername: 'b.test', rejectUnauthorized: false });
  await new Promise<void>((r) => secure.once('secureConnect', () => r()));
  peer.socket = secure;
  peer.buffer = '';
  peer.listen(secure);
  peer.header(from, 'b.test');
  const m = await peer.expect(/<stream:stream[^>]* id='([^']+)'/);
  await peer.expect(/<dialback xmlns="urn:xmpp:features:dialback"><errors\/><\/dialback>/);
  return { peer, streamId: m[1] ?? '' };
}

test('a stream to a domain not served here is refused with host-unknown', async () => {
  const peer = await connectPeer();
  peer.header('a.test', 'elsewhere.test');
  await peer.expect(/<host-unknown xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/);
});

test('the jabber:client namespace is refused with invalid-namespace', async () => {
  const peer = await connectPeer();
  peer.send(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='b.test' version='1.0'>`);
  await peer.expect(/<invalid-namespace xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/);
});

test('dialback before STARTTLS is refused', async () => {
  const peer = await connectPeer();
  peer.header('a.test', 'b.test');
  await peer.expect(/<\/stream:features>/);
  peer.send(`<db:result from='a.test' to='b.test'>00</db:result>`);
  await peer.expect(/<policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/);
});

test('dialback with piggybacking: two originating domains on one stream, then the stanza checks', async () => {
  const { peer, streamId } = await openSecured('a.test');
  const juliet = new FakeClient(b.server, 'juliet@b.test/balcony');

  // Stanzas before authentication close the stream elsewhere; here: a wrong key first.
  peer.send(`<db:result from='a.test' to='b.test'>${'0'.repeat(64)}</db:result>`);
  await peer.expect(/<db:result from="b.test" to="a.test" type="invalid"\/>/);

  peer.send(`<db:result from='a.test' to='b.test'>${dialbackKey(SECRET, 'b.test', 'a.test', streamId)}</db:result>`);
  await peer.expect(/<db:result from="b.test" to="a.test" type="valid"\/>/);
  peer.send(`<db:result from='a2.test' to='b.test'>${dialbackKey(SECRET, 'b.test', 'a2.test', streamId)}</db:result>`);
  await peer.expect(/<db:result from="b.test" to="a2.test" type="valid"\/>/);

  peer.send(`<message from='romeo@a.test/x' to='juliet@b.test/balcony' id='r1'><body>one</body></message>`);
  peer.send(`<message from='mercutio@a2.test/x' to='juliet@b.test/balcony' id='r2'><body>two</body></message>`);
  await waitFor(() => juliet.sent.length >= 2, { timeoutMs: 3000, message: () => `juliet got ${juliet.sent.map(String).join('\n')}` });
  assert.deepEqual(juliet.sent.map((e) => [e.attrs.id, e.attrs.from]), [['r1', 'romeo@a.test/x'], ['r2', 'mercutio@a2.test/x']]);

  // A domain that did not authenticate on this stream.
  peer.send(`<message from='tybalt@c.test' to='juliet@b.test' id='r3'><body>three</body></message>`);
  await peer.expect(/<invalid-from xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/);
  assert.equal(juliet.sent.length, 2);
});

test('a stanza without from is improper-addressing; to another domain is host-unknown', async () => {
  const first = await openSecured('a.test');
  first.peer.send(`<db:result from='a.test' to='b.test'>${dialbackKey(SECRET, 'b.test', 'a.test', first.streamId)}</db:result>`);
  await first.peer.expect(/type="valid"/);
  first.peer.send(`<message to='juliet@b.test' id='n1'><body>x</body></message>`);
  await first.peer.expect(/<improper-addressing xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/);

  const second = await openSecured('a.test');
  second.peer.send(`<db:result from='a.test' to='b.test'>${dialbackKey(SECRET, 'b.test', 'a.test', second.streamId)}</db:result>`);
  await second.peer.expect(/type="valid"/);
  second.peer.send(`<message from='romeo@a.test' to='someone@elsewhere.test' id='n2'><body>x</body></message>`);
  await second.peer.expect(/<host-unknown xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/);
});

test('as authoritative server, A answers db:verify for its own keys only', async () => {
  const socket = netConnect({ host: '127.0.0.1', port: a.server.port('s2s') });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const peer = new RawPeer(socket);
  peer.header('b.test', 'a.test');
  await peer.expect(/<\/stream:features>/);
  peer.send(`<db:verify from='b.test' to='a.test' id='abc'>${dialbackKey(SECRET, 'b.test', 'a.test', 'abc')}</db:verify>`);
  await peer.expect(/<db:verify from="a.test" to="b.test" id="abc" type="valid"\/>/);
  peer.send(`<db:verify from='b.test' to='a.test' id='abd'>${dialbackKey(SECRET, 'b.test', 'a.test', 'abc')}</db:verify>`);
  await peer.expect(/<db:verify from="a.test" to="b.test" id="abd" type="invalid"\/>/);
  socket.destroy();
});

test('direct TLS (XEP-0368): encrypted from the first byte, ALPN xmpp-server, no STARTTLS offered', async () => {
  const socket = tlsConnect({ host: '127.0.0.1', port: b.server.port('s2s_direct_tls'), servername: 'b.test', ALPNProtocols: ['xmpp-server'], rejectUnauthorized: false });
  await new Promise<void>((r) => socket.once('secureConnect', () => r()));
  assert.equal(socket.alpnProtocol, 'xmpp-server');
  assert.equal(socket.getPeerX509Certificate()?.checkHost('b.test'), 'b.test', 'the certificate of the SNI name');
  const peer = new RawPeer(socket);
  peer.header('a.test', 'b.test');
  const features = await peer.expect(/<stream:features>.*?<\/stream:features>/);
  assert.ok(!features[0].includes('starttls'));
  assert.ok(features[0].includes('urn:xmpp:features:dialback'));
  assert.ok(!features[0].includes('EXTERNAL'), 'no client certificate, no EXTERNAL');
  socket.destroy();
});

/**
 * A raw server playing raw.test that A connects to (direct TLS): resolves to the peer once A has
 * connected and the test has A's stream header.
 */
async function rawRemote(): Promise<{ connected: Promise<RawPeer>; romeo: FakeClient; close(): Promise<void> }> {
  const cert = ca.certs.get('b.test');
  assert.ok(cert);
  let serverSide: RawPeer | undefined;
  const raw = createTlsServer({ cert: readFileSync(cert.certificate), key: readFileSync(cert.key) }, (socket) => (serverSide = new RawPeer(socket)));
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', () => r()));
  const manager = s2sOutgoing(a.server);
  assert.ok(manager);
  const resolve = manager.resolve;
  manager.resolve = (domain) => (domain === 'raw.test' ? Promise.resolve([{ host: '127.0.0.1', port: (raw.address() as AddressInfo).port, directTls: true }]) : resolve(domain));
  const romeo = new FakeClient(a.server, 'romeo@a.test/phone');
  const connected = (async () => {
    const peer = await waitFor(() => serverSide, { timeoutMs: 5000, message: 'A connects to raw.test' });
    await peer.expect(/<stream:stream[^>]*to='raw.test'/);
    return peer;
  })();
  return {
    connected,
    romeo,
    async close() {
      manager.resolve = resolve;
      serverSide?.socket.destroy();
      await new Promise<void>((r) => raw.close(() => r()));
    },
  };
}

const RAW_HEADER = `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' id='R1' from='raw.test' to='a.test' version='1.0'>`;

test('a db:verify request that arrives on an outgoing stream is answered there (valid, invalid, item-not-found)', async () => {
  // raw.test sends its verification requests on the stream A opened, as some servers do,
  // instead of on a stream of its own.
  const remote = await rawRemote();
  const { romeo } = remote;
  try {
    a.server.router.fromClient(romeo.session, message({ to: 'someone@raw.test', id: 'r1' }).c('body').t('hi').up());
    const peer = await remote.connected;
    peer.send(`${RAW_HEADER}<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>`);
    await peer.expect(/<db:result from="a.test" to="raw.test">[0-9a-f]{64}<\/db:result>/);
    peer.send(`<db:verify from='raw.test' to='a.test' id='v1'>${dialbackKey(SECRET, 'raw.test', 'a.test', 'v1')}</db:verify>`);
    await peer.expect(/<db:verify from="a.test" to="raw.test" id="v1" type="valid"\/>/);
    peer.send(`<db:verify from='raw.test' to='a.test' id='v2'>${dialbackKey(SECRET, 'raw.test', 'a.test', 'v1')}</db:verify>`);
    await peer.expect(/<db:verify from="a.test" to="raw.test" id="v2" type="invalid"\/>/);
    peer.send(`<db:verify from='raw.test' to='nowhere.test' id='v3'>00</db:verify>`);
    await peer.expect(/<db:verify from="nowhere.test" to="raw.test" id="v3" type="error"><error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/>/);
    // Refusing A's own key with a dialback error (XEP-0220 §2.4) bounces what waited for the stream.
    peer.send(`<db:result from='raw.test' to='a.test' type='error'><error type='cancel'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>`);
    const bounce = await waitFor(() => romeo.sent.find((e) => e.attrs.id === 'r1'), { timeoutMs: 5000, message: 'the queued message bounces' });
    assert.equal(bounce.attrs.type, 'error');
    assert.equal(bounce.getChild('error')?.elements[0]?.name, 'remote-server-not-found');
    assert.match(bounce.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas') ?? '', /dialback refused by raw.test \(error: not-authorized\)/);
  } finally {
    await remote.close();
  }
});

test('bidi (XEP-0288) on an outgoing stream: requested before authenticating, then the peer sends its stanzas on it, from its own domain only', async () => {
  const remote = await rawRemote();
  const { romeo } = remote;
  try {
    a.server.router.fromClient(romeo.session, message({ to: 'someone@raw.test', id: 'b1' }).c('body').t('hi').up());
    const peer = await remote.connected;
    peer.send(`${RAW_HEADER}<stream:features><bidi xmlns='urn:xmpp:features:bidi'/><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>`);
    await peer.expect(/<bidi xmlns="urn:xmpp:bidi"\/><db:result from="a.test" to="raw.test">/);
    peer.send(`<db:result from='raw.test' to='a.test' type='valid'/>`);
    await peer.expect(/<message [^>]*id="b1"/);
    peer.send(`<message from='juliet@raw.test/x' to='romeo@a.test/phone' id='back1'><body>over the same stream</body></message>`);
    const back = await waitFor(() => romeo.sent.find((e) => e.attrs.id === 'back1'), { timeoutMs: 5000, message: 'the peer\'s message arrives' });
    assert.equal(back.attrs.from, 'juliet@raw.test/x');
    // Only raw.test → a.test is authenticated on this stream.
    peer.send(`<message from='mallory@elsewhere.test' to='romeo@a.test/phone' id='back2'><body>spoofed</body></message>`);
    await peer.expect(/<invalid-from xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/);
    assert.ok(!romeo.sent.some((e) => e.attrs.id === 'back2'));
  } finally {
    await remote.close();
  }
});

test('a stanza on an outgoing stream that is not bidirectional closes it with unsupported-stanza-type', async () => {
  const remote = await rawRemote();
  const { romeo } = remote;
  try {
    a.server.router.fromClient(romeo.session, message({ to: 'someone@raw.test', id: 'n1' }).c('body').t('hi').up());
    const peer = await remote.connected;
    peer.send(`${RAW_HEADER}<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>`);
    await peer.expect(/<db:result from="a.test" to="raw.test">/);
    peer.send(`<db:result from='raw.test' to='a.test' type='valid'/>`);
    await peer.expect(/<message [^>]*id="n1"/);
    peer.send(`<message from='juliet@raw.test/x' to='romeo@a.test/phone' id='wrongway'><body>x</body></message>`);
    await peer.expect(/<unsupported-stanza-type xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/);
    assert.ok(!romeo.sent.some((e) => e.attrs.id === 'wrongway'));
  } finally {
    await remote.close();
  }
});
