/**
 * SASL on real client streams: a raw client doing STARTTLS and SCRAM-*-PLUS with real channel
 * binding (tls-exporter on TLS 1.3, tls-server-end-point), the failure conditions on the wire,
 * the retry limit and rate limiting, and @xmpp/client logging in with SCRAM-SHA-1/256.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { RawTlsClient, ScramClient, scramLogin, xmppJsScramSha256 } from '../helpers/scram-client.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';

/** The part of @xmpp/client used here (the package ships no type declarations). */
interface XmppClient {
  start(): Promise<unknown>;
  stop(): Promise<unknown>;
  on(event: 'error', listener: (err: Error) => void): void;
  reconnect: { stop(): void };
  saslFactory: { use(mech: unknown): void };
}
interface XmppClientModule {
  client(options: {
    service: string;
    domain: string;
    resource?: string;
    credentials: (auth: (creds: { username: string; password: string }, mechanism: string) => Promise<void>, offered: string[]) => Promise<void>;
  }): XmppClient;
}
// A non-literal specifier keeps tsc from looking for the missing declarations.
const XMPP_CLIENT_PACKAGE = '@xmpp/client';

const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const FAILURE = (cond: string) => new RegExp(`<failure xmlns=["']${SASL}["']><${cond}/>`);
const STREAM_ERROR = (cond: string) => new RegExp(`<stream:error><${cond} xmlns=["']urn:ietf:params:xml:ns:xmpp-streams["']`);

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
  const creds = makeCredentials('r0m30', { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] });
  assert.ok(await ts.server.storage.accounts.create('localhost', 'juliet', creds));
});
after(async () => {
  await ts.stop();
});

async function secured(tls: { maxVersion?: 'TLSv1.2' | 'TLSv1.3' } = {}): Promise<{ c: RawTlsClient; features: string }> {
  const c = await RawTlsClient.connect(ts.c2sPort);
  await c.open();
  const features = await c.startTls(tls);
  return { c, features };
}

const juliet = (binding?: ConstructorParameters<typeof ScramClient>[0]['binding'], password = 'r0m30') =>
  new ScramClient({ hash: 'SHA-256', username: 'juliet', password, binding });

describe('before TLS (require_encryption on)', () => {
  test('no mechanisms are offered, and PLAIN gets encryption-required', async () => {
    const c = await RawTlsClient.connect(ts.c2sPort);
    const features = await c.open();
    assert.match(features, /<starttls xmlns=["']urn:ietf:params:xml:ns:xmpp-tls["']><required\/>/);
    assert.doesNotMatch(features, /<mechanisms/);
    c.send(`<auth xmlns='${SASL}' mechanism='PLAIN'>${b64('\0juliet\0r0m30')}</auth>`);
    await c.next(FAILURE('encryption-required'));
    c.close();
  });
});

describe('after STARTTLS', () => {
  test('TLS 1.3 offers -PLUS first, PLAIN last, and both binding types (XEP-0440)', async () => {
    const { c, features } = await secured();
    const mechs = [...(/<mechanisms[\s\S]*?<\/mechanisms>/.exec(features)?.[0] ?? '').matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((m) => m[1]);
    assert.deepEqual(mechs, ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
    assert.match(features, /<sasl-channel-binding xmlns=["']urn:xmpp:sasl-cb:0["']><channel-binding type=["']tls-exporter["']\/><channel-binding type=["']tls-server-end-point["']\/>/);
    c.close();
  });

  test('SCRAM-SHA-256-PLUS with tls-exporter succeeds, the server proves itself, the stream restarts', async () => {
    const { c } = await secured();
    const r = await scramLogin(c, 'SCRAM-SHA-256-PLUS', juliet({ type: 'tls-exporter', data: c.exporterBinding() }));
    assert.ok(r.ok, JSON.stringify(r));
    assert.ok(r.ok && r.verified);
    const features = await c.open();
    assert.doesNotMatch(features, /<mechanisms/);
    assert.match(features, /<bind xmlns=["']urn:ietf:params:xml:ns:xmpp-bind["']/);
    // No re-authentication on an authenticated stream.
    c.send(`<auth xmlns='${SASL}' mechanism='PLAIN'>${b64('\0juliet\0r0m30')}</auth>`);
    await c.next(STREAM_ERROR('policy-violation'));
    await c.waitClosed();
  });

  test('SCRAM-SHA-256-PLUS with tls-server-end-point succeeds', async () => {
    const { c } = await secured();
    const r = await scramLogin(c, 'SCRAM-SHA-256-PLUS', juliet({ type: 'tls-server-end-point', data: c.endPointBinding() }));
    assert.ok(r.ok && r.verified, JSON.stringify(r));
    c.close();
  });

  test('altered binding data is not-authorized', async () => {
    const { c } = await secured();
    const bad = c.exporterBinding();
    bad[0] = (bad[0] ?? 0) ^ 1;
    const r1 = await scramLogin(c, 'SCRAM-SHA-256-PLUS', juliet({ type: 'tls-exporter', data: bad }));
    assert.deepEqual(r1.ok ? 'ok' : r1.condition, 'not-authorized');
    const r2 = await scramLogin(c, 'SCRAM-SHA-256-PLUS', juliet({ type: 'tls-server-end-point', data: Buffer.alloc(32) }));
    assert.deepEqual(r2.ok ? 'ok' : r2.condition, 'not-authorized');
    c.close();
  });

  test('a client claiming "y" while -PLUS was offered is refused (downgrade)', async () => {
    const { c } = await secured();
    const r = await scramLogin(c, 'SCRAM-SHA-256', juliet('y'));
    assert.equal(r.ok ? 'ok' : r.condition, 'not-authorized');
    c.close();
  });

  test('TLS 1.2: no tls-exporter; tls-server-end-point works; asking for tls-exporter is malformed', async () => {
    const { c, features } = await secured({ maxVersion: 'TLSv1.2' });
    assert.doesNotMatch(features, /tls-exporter/);
    assert.match(features, /SCRAM-SHA-256-PLUS/);
    const refused = await scramLogin(c, 'SCRAM-SHA-256-PLUS', juliet({ type: 'tls-exporter', data: Buffer.alloc(32) }));
    assert.equal(refused.ok ? 'ok' : refused.condition, 'malformed-request');
    const r = await scramLogin(c, 'SCRAM-SHA-256-PLUS', juliet({ type: 'tls-server-end-point', data: c.endPointBinding() }));
    assert.ok(r.ok && r.verified, JSON.stringify(r));
    c.close();
  });

  test('SCRAM-SHA-1 and PLAIN work without binding', async () => {
    const { c } = await secured();
    const r = await scramLogin(c, 'SCRAM-SHA-1', new ScramClient({ hash: 'SHA-1', username: 'juliet', password: 'r0m30' }));
    assert.ok(r.ok && r.verified, JSON.stringify(r));
    c.close();
    const p = await secured();
    p.c.send(`<auth xmlns='${SASL}' mechanism='PLAIN'>${b64('\0juliet\0r0m30')}</auth>`);
    await p.c.next(/<success xmlns=["']urn:ietf:params:xml:ns:xmpp-sasl["']\/>/);
    p.c.close();
  });

  test('each refusal has its condition; the third failure closes the stream', async () => {
    const { c } = await secured();
    c.send(`<auth xmlns='${SASL}' mechanism='DIGEST-MD5'/>`);
    await c.next(FAILURE('invalid-mechanism'));
    c.send(`<auth xmlns='${SASL}' mechanism='PLAIN'>not base64!</auth>`);
    await c.next(FAILURE('incorrect-encoding'));
    c.send(`<auth xmlns='${SASL}' mechanism='SCRAM-SHA-256'/>`);
    await c.next(/<challenge xmlns=["'][^"']+["']\/>|<challenge xmlns=["'][^"']+["']><\/challenge>/);
    c.send(`<abort xmlns='${SASL}'/>`);
    await c.next(FAILURE('aborted'));
    c.send(`<auth xmlns='${SASL}' mechanism='PLAIN'>${b64('\0juliet\0wrong')}</auth>`);
    await c.next(FAILURE('not-authorized'));
    await c.next(STREAM_ERROR('policy-violation'));
    await c.waitClosed();
  });
});

describe('@xmpp/client', () => {
  // The test server's certificate is self-signed; only this test process trusts it.
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

  async function login(mechanism: string, password: string): Promise<string> {
    const { client } = (await import(XMPP_CLIENT_PACKAGE)) as XmppClientModule;
    const xmpp = client({
      service: `xmpp://127.0.0.1:${ts.c2sPort}`,
      domain: 'localhost',
      resource: 'balcony',
      credentials: async (auth, offered) => {
        assert.ok(offered.includes(mechanism), `${mechanism} not in ${offered.join(' ')}`);
        await auth({ username: 'juliet', password }, mechanism);
      },
    });
    xmpp.saslFactory.use(xmppJsScramSha256());
    xmpp.reconnect.stop();
    xmpp.on('error', () => {});
    try {
      const address = await xmpp.start();
      return String(address);
    } catch (err) {
      return `error: ${(err as { condition?: string }).condition ?? (err as Error).message}`;
    } finally {
      await xmpp.stop().catch(() => {});
    }
  }

  test('logs in over STARTTLS with SCRAM-SHA-1', async () => {
    assert.match(await login('SCRAM-SHA-1', 'r0m30'), /^juliet@localhost\/balcony$/);
  });
  test('logs in over STARTTLS with SCRAM-SHA-256', async () => {
    assert.match(await login('SCRAM-SHA-256', 'r0m30'), /^juliet@localhost\/balcony$/);
  });
  test('a wrong password is not-authorized', async () => {
    assert.equal(await login('SCRAM-SHA-1', 'wrong'), 'error: not-authorized');
  });
});

describe('without require_encryption, and rate limiting', () => {
  let open: TestServer;
  before(async () => {
    open = await startTestServer((c) => {
      c.c2s.require_encryption = false;
      c.modules.saslauth = { max_failures: 2, failure_delay: 0.4, max_failure_delay: 0.8, failure_window: '1 minute' };
    });
    await open.server.storage.accounts.create('localhost', 'romeo', makeCredentials('j1ul13t', { iterations: 4096, hashes: ['SHA-256'] }));
  });
  after(async () => {
    await open.stop();
  });

  test('an unencrypted stream is offered SCRAM but not PLAIN, and PLAIN is refused', async () => {
    const c = await RawTlsClient.connect(open.c2sPort);
    const features = await c.open();
    const mechs = [...(/<mechanisms[\s\S]*?<\/mechanisms>/.exec(features)?.[0] ?? '').matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((m) => m[1]);
    assert.deepEqual(mechs, ['SCRAM-SHA-256', 'SCRAM-SHA-1']);
    c.send(`<auth xmlns='${SASL}' mechanism='PLAIN'>${b64('\0romeo\0j1ul13t')}</auth>`);
    await c.next(FAILURE('encryption-required'));
    const r = await scramLogin(c, 'SCRAM-SHA-256', new ScramClient({ hash: 'SHA-256', username: 'romeo', password: 'j1ul13t' }));
    assert.ok(r.ok && r.verified, JSON.stringify(r));
    c.close();
  });

  test('past max_failures, answers for the account are delayed', async () => {
    const attempt = async () => {
      const c = await RawTlsClient.connect(open.c2sPort);
      await c.open();
      const t0 = Date.now();
      const r = await scramLogin(c, 'SCRAM-SHA-256', new ScramClient({ hash: 'SHA-256', username: 'romeo', password: 'nope' }));
      c.close();
      assert.equal(r.ok ? 'ok' : r.condition, 'not-authorized');
      return Date.now() - t0;
    };
    await attempt();
    await attempt();
    const delayed = await attempt();
    assert.ok(delayed >= 350, `third failure answered after ${delayed} ms`);
    const more = await attempt();
    assert.ok(more >= 750, `fourth failure answered after ${more} ms`);
  });
});

describe('channel binding switched off for a host ([[virtualhost]] channel_binding = false)', () => {
  let off: TestServer;
  before(async () => {
    off = await startTestServer((c) => {
      const host = c.virtualhost[0];
      assert.ok(host);
      host.channel_binding = false;
    });
    await off.server.storage.accounts.create('localhost', 'juliet', makeCredentials('r0m30', { iterations: 4096, hashes: ['SHA-256'] }));
  });
  after(async () => {
    await off.stop();
  });

  test('no -PLUS, no binding types; SCRAM with the "y" flag succeeds (RFC 5802 §6)', async () => {
    const c = await RawTlsClient.connect(off.c2sPort);
    await c.open();
    const features = await c.startTls({});
    const mechs = [...(/<mechanisms[\s\S]*?<\/mechanisms>/.exec(features)?.[0] ?? '').matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((m) => m[1]);
    assert.deepEqual(mechs, ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
    assert.doesNotMatch(features, /sasl-channel-binding/);
    const r = await scramLogin(c, 'SCRAM-SHA-256', new ScramClient({ hash: 'SHA-256', username: 'juliet', password: 'r0m30', binding: 'y' }));
    assert.ok(r.ok && r.verified, JSON.stringify(r));
    c.close();
  });
});
