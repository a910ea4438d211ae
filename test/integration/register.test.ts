/**
 * XEP-0077 end to end: accounts are created in-band over a real STARTTLS stream (xmpp.js
 * cannot register, so a small raw client does it), then used, changed and removed with the
 * real @xmpp/client.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { RawTlsClient } from '../helpers/scram-client.js';
import type { CantoConfig } from '../../src/core/config.js';
import type { ModuleDefinition } from '../../src/core/modules.js';
import { builtinModules } from '../../src/modules/index.js';
import saslauth from '../../src/modules/saslauth/index.js';

// The test server's certificate is self-signed; xmpp.js offers no way to pass a CA.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

/** The part of @xmpp/client used here (the package ships no type declarations). */
interface XmlElement {
  getChild(name: string): XmlElement | undefined;
  getChildText(name: string): string | null;
}
interface XmppClient {
  start(): Promise<unknown>;
  stop(): Promise<unknown>;
  on(event: 'error', listener: (err: Error & { condition?: string }) => void): void;
  once(event: 'disconnect', listener: () => void): void;
  reconnect: { stop(): void };
  jid?: { bare(): { toString(): string } };
  iqCaller: { get(payload: XmlElement): Promise<XmlElement | undefined>; set(payload: XmlElement): Promise<XmlElement | undefined> };
}
interface XmppClientModule {
  client(options: { service: string; domain: string; username: string; password: string; resource?: string }): XmppClient;
  xml(name: string, attrs?: Record<string, string>, ...children: Array<XmlElement | string>): XmlElement;
}
// A non-literal specifier keeps tsc from looking for the missing declarations.
const XMPP_CLIENT_PACKAGE = '@xmpp/client';
const { client: xmppClient, xml } = (await import(XMPP_CLIENT_PACKAGE)) as XmppClientModule;

const NS_REGISTER = 'jabber:iq:register';
const STANZA_ERROR = (condition: string) => new RegExp(`<${condition} xmlns=["']urn:ietf:params:xml:ns:xmpp-stanzas["']`);

/** A raw STARTTLS stream (the shared test client) with the features seen after TLS and an iq helper. */
class TlsRawClient {
  private constructor(
    private readonly raw: RawTlsClient,
    /** The stream features offered on the encrypted stream. */
    readonly received: string,
  ) {}

  /** Connect, check what is offered before TLS, do STARTTLS; resolves with the new features. */
  static async open(port: number): Promise<TlsRawClient> {
    const raw = await RawTlsClient.connect(port);
    const before = await raw.open();
    assert.match(before, /<starttls/);
    assert.doesNotMatch(before, /iq-register/, 'registration is not offered before TLS');
    return new TlsRawClient(raw, await raw.startTls());
  }

  /** Send an iq and return the serialized reply with the same id. */
  async iq(id: string, type: 'get' | 'set', payload: string): Promise<string> {
    this.raw.send(`<iq type='${type}' id='${id}'><query xmlns='${NS_REGISTER}'>${payload}</query></iq>`);
    return (await this.raw.next(new RegExp(`<iq\\b[^>]*\\bid=["']${id}["'][^>]*?(?:/>|>[\\s\\S]*?</iq>)`)))[0];
  }

  close(): void {
    this.raw.close();
  }
}

const modules = new Map<string, ModuleDefinition>(builtinModules);
modules.set(saslauth.name, saslauth);

async function serverWith(adjust: (c: CantoConfig) => void): Promise<TestServer> {
  return startTestServer(
    (c) => {
      c.modules_enabled = [...new Set([...c.modules_enabled, 'saslauth', 'register'])];
      const vh = c.virtualhost[0];
      if (vh) vh.allow_registration = true;
      adjust(c);
    },
    { modules },
  );
}

/** Register in-band over STARTTLS; returns the reply to the iq set. */
async function registerAccount(port: number, username: string, password: string): Promise<string> {
  const c = await TlsRawClient.open(port);
  try {
    assert.match(c.received, /<register xmlns=["']http:\/\/jabber.org\/features\/iq-register["']/);
    const form = await c.iq('form', 'get', '');
    assert.match(form, /type=["']result["']/);
    assert.match(form, /<username\/>/);
    assert.match(form, /<password\/>/);
    return await c.iq('reg', 'set', `<username>${username}</username><password>${password}</password>`);
  } finally {
    c.close();
  }
}

const started: XmppClient[] = [];

/** Log in with @xmpp/client; rejects when authentication fails. */
async function login(port: number, username: string, password: string, resource?: string): Promise<XmppClient> {
  const x = xmppClient({ service: `xmpp://127.0.0.1:${port}`, domain: 'localhost', username, password, resource });
  x.reconnect.stop();
  x.on('error', () => {});
  started.push(x);
  try {
    await x.start();
  } catch (err) {
    await x.stop().catch(() => {});
    throw err;
  }
  return x;
}

async function loginFails(port: number, username: string, password: string): Promise<void> {
  await assert.rejects(login(port, username, password), (err: Error & { condition?: string }) => {
    assert.equal(err.condition, 'not-authorized', String(err));
    return true;
  });
}

let ts: TestServer;
before(async () => {
  ts = await serverWith((c) => void (c.modules.register = { registration_throttle_max: 0 }));
});
after(async () => {
  for (const x of started) await x.stop().catch(() => {});
  await ts.stop();
});

test('register over STARTTLS, then log in with @xmpp/client', { timeout: 15_000 }, async () => {
  const res = await registerAccount(ts.c2sPort, 'romeo', 'Montague-1');
  assert.match(res, /type=["']result["']/);
  const x = await login(ts.c2sPort, 'romeo', 'Montague-1');
  assert.equal(x.jid?.bare().toString(), 'romeo@localhost');
  await x.stop();
  await loginFails(ts.c2sPort, 'romeo', 'wrong');
});

test('a taken username is a conflict; missing password is not-acceptable', { timeout: 15_000 }, async () => {
  assert.match(await registerAccount(ts.c2sPort, 'tybalt', 'pw1'), /type=["']result["']/);
  assert.match(await registerAccount(ts.c2sPort, 'Tybalt', 'other'), STANZA_ERROR('conflict'));
  const c = await TlsRawClient.open(ts.c2sPort);
  try {
    assert.match(await c.iq('x', 'set', '<username>benvolio</username>'), STANZA_ERROR('not-acceptable'));
  } finally {
    c.close();
  }
  // The original password still works.
  const x = await login(ts.c2sPort, 'tybalt', 'pw1');
  await x.stop();
});

test('a signed-in user changes the password: the new one works, the old one fails', { timeout: 15_000 }, async () => {
  await registerAccount(ts.c2sPort, 'mercutio', 'old-pass');
  const x = await login(ts.c2sPort, 'mercutio', 'old-pass');
  const info = await x.iqCaller.get(xml('query', { xmlns: NS_REGISTER }));
  assert.ok(info);
  assert.ok(info.getChild('registered'));
  assert.equal(info.getChildText('username'), 'mercutio');
  await x.iqCaller.set(xml('query', { xmlns: NS_REGISTER }, xml('username', {}, 'mercutio'), xml('password', {}, 'new-pass')));
  await x.stop();
  await loginFails(ts.c2sPort, 'mercutio', 'old-pass');
  const y = await login(ts.c2sPort, 'mercutio', 'new-pass');
  await y.stop();
});

test('removal: every session gets not-authorized, the account and its data are gone', { timeout: 15_000 }, async () => {
  await registerAccount(ts.c2sPort, 'paris', 'county');
  const storage = ts.server.storage;
  await storage.keyval<string>('localhost', 'vcard').set('paris', '<vCard/>');
  const a = await login(ts.c2sPort, 'paris', 'county', 'a');
  const b = await login(ts.c2sPort, 'paris', 'county', 'b');
  const streamErrors: string[] = [];
  b.on('error', (err: Error & { condition?: string }) => void streamErrors.push(err.condition ?? err.message));
  const bDisconnected = new Promise<void>((r) => b.once('disconnect', () => r()));

  const res = await a.iqCaller.set(xml('query', { xmlns: NS_REGISTER }, xml('remove')));
  assert.equal(res, undefined, 'an empty result');
  await bDisconnected;
  // The stream error comes first; @xmpp/client (stream management on) may then report the
  // socket the server ended when it tries to write its last ack, and under load it has been seen
  // to report the one stream error twice (the server writes it once: XmppStream.close is
  // guarded), so a repeat of the same condition is not another error.
  assert.equal(streamErrors[0], 'not-authorized', `errors: ${streamErrors.join(', ')}`);
  assert.ok(streamErrors.slice(1).every((e) => /socket/i.test(e) || e === 'not-authorized'), `no other stream error: ${streamErrors.join(', ')}`);
  assert.equal(await storage.accounts.get('localhost', 'paris'), undefined);
  assert.equal(await storage.keyval('localhost', 'vcard').get('paris'), undefined);
  assert.equal(ts.server.sessions.getUserSessions('localhost', 'paris').length, 0);
  await loginFails(ts.c2sPort, 'paris', 'county');
});

test('registration disabled: no stream feature, service-unavailable, no account', { timeout: 15_000 }, async () => {
  const off = await serverWith((c) => {
    const vh = c.virtualhost[0];
    if (vh) vh.allow_registration = false;
  });
  try {
    const c = await TlsRawClient.open(off.c2sPort);
    try {
      assert.doesNotMatch(c.received, /iq-register/);
      assert.match(await c.iq('g', 'get', ''), STANZA_ERROR('service-unavailable'));
      assert.match(await c.iq('s', 'set', '<username>juliet</username><password>pw</password>'), STANZA_ERROR('service-unavailable'));
    } finally {
      c.close();
    }
    assert.equal(await off.server.storage.accounts.get('localhost', 'juliet'), undefined);
  } finally {
    await off.stop();
  }
});

test('throttle: more registrations from one address than allowed are refused', { timeout: 15_000 }, async () => {
  const tight = await serverWith((c) => void (c.modules.register = { registration_throttle_max: 2, registration_throttle_period: '1 hour' }));
  try {
    assert.match(await registerAccount(tight.c2sPort, 'one', 'pw'), /type=["']result["']/);
    assert.match(await registerAccount(tight.c2sPort, 'two', 'pw'), /type=["']result["']/);
    const third = await registerAccount(tight.c2sPort, 'three', 'pw');
    assert.match(third, STANZA_ERROR('not-acceptable'));
    assert.match(third, /<error [^>]*type=["']wait["']/);
    assert.equal(await tight.server.storage.accounts.get('localhost', 'three'), undefined);
  } finally {
    await tight.stop();
  }
});

test('abuse limits: blocked usernames, a minimum interval and a subnet limit refuse registrations (docs/abuse.md)', { timeout: 20_000 }, async () => {
  const guarded = await serverWith((c) => void (c.modules.register = {
    registration_throttle_max: 10,
    registration_min_interval: '1 hour',
    blocked_usernames: ['^admin$', 'casino'],
  }));
  try {
    const blocked = await registerAccount(guarded.c2sPort, 'BestCasino', 'pw');
    assert.match(blocked, STANZA_ERROR('not-acceptable'));
    assert.match(blocked, /not available/);
    assert.equal(await guarded.server.storage.accounts.get('localhost', 'bestcasino'), undefined);
    // A blocked name took no slot: the next registration from this address is allowed.
    assert.match(await registerAccount(guarded.c2sPort, 'first', 'pw'), /type=["']result["']/);
    const soon = await registerAccount(guarded.c2sPort, 'second', 'pw');
    assert.match(soon, STANZA_ERROR('not-acceptable'));
    assert.match(soon, /<error [^>]*type=["']wait["']/);
    assert.match(soon, /too close together/);
    assert.equal(await guarded.server.storage.accounts.get('localhost', 'second'), undefined);
  } finally {
    await guarded.stop();
  }
  const subnet = await serverWith((c) => void (c.modules.register = { registration_throttle_max: 10, registration_subnet_max: 1 }));
  try {
    assert.match(await registerAccount(subnet.c2sPort, 'one', 'pw'), /type=["']result["']/);
    const other = await registerAccount(subnet.c2sPort, 'two', 'pw');
    assert.match(other, STANZA_ERROR('not-acceptable'));
    assert.match(other, /from your network/);
  } finally {
    await subnet.stop();
  }
});

test('require_invite: open registration is not offered and is refused without an invite', { timeout: 15_000 }, async () => {
  const closed = await serverWith((c) => void (c.modules.register = { require_invite: true }));
  try {
    const c = await TlsRawClient.open(closed.c2sPort);
    try {
      assert.doesNotMatch(c.received, /http:\/\/jabber.org\/features\/iq-register/);
      assert.match(c.received, /<register xmlns=["']urn:xmpp:invite["']/, 'registration with an invite still is');
      const refused = await c.iq('reg', 'set', '<username>juliet</username><password>pw</password>');
      assert.match(refused, STANZA_ERROR('service-unavailable'));
      assert.match(refused, /needs an invite/);
    } finally {
      c.close();
    }
    assert.equal(await closed.server.storage.accounts.get('localhost', 'juliet'), undefined);
  } finally {
    await closed.stop();
  }
});
