/**
 * The register module inside a real Server core (router, session manager, memory storage),
 * driven through fake client sessions: no sockets, no XML parser, exact stanzas.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CantoConfig } from '../../src/core/config.js';
import { silentLogger } from '../../src/core/logging.js';
import { newSessionId, type C2SSession, type C2SUnauthedSession, type CloseReason, type Connection, type Framing } from '../../src/core/session.js';
import { startHarness, waitFor } from '../../src/testing/index.js';
import { verifyPassword } from '../../src/sasl/scram-credentials.js';
import { Element, NS_STREAM } from '../../src/xml/element.js';
import { iq } from '../../src/xml/stanza.js';
import register from '../../src/modules/register/index.js';
import { NS_REGISTER, NS_REGISTER_FEATURE } from '../../src/modules/register/query.js';

const HOST = 'localhost';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

interface FakeClient {
  session: C2SUnauthedSession;
  sent: Element[];
  closedWith: CloseReason[];
  closed: boolean;
}

async function harness(adjust?: (c: CantoConfig) => void) {
  const kit = await startHarness({
    modules: [register],
    config: (config) => {
      const vh = config.virtualhost[0];
      assert.ok(vh);
      vh.allow_registration = true;
      adjust?.(config);
    },
  });
  const { server, config, context: ctx } = kit;
  const storage = server.storage;

  const connect = (opts: { secure?: boolean; ip?: string } = {}): FakeClient => {
    const client: FakeClient = { session: undefined as unknown as C2SUnauthedSession, sent: [], closedWith: [], closed: false };
    const conn: Connection = { transport: 'internal', remoteAddress: opts.ip ?? '192.0.2.1', remotePort: 1, encrypted: opts.secure ?? true, write: () => true, bufferedBytes: 0, end() {}, destroy() {} };
    const framing: Framing = {
      send: (el) => {
        if (typeof el !== 'string') client.sent.push(el);
      },
      close: (reason) => {
        if (reason !== undefined) client.closedWith.push(reason);
        client.closed = true;
        server.sessions.destroySession(session, reason);
      },
      restart() {},
      closeReason: undefined,
      ended: false,
    };
    const session: C2SUnauthedSession = server.sessions.create(conn, framing, { type: 'c2s_unauthed', id: newSessionId('fake'), log: silentLogger(), host: HOST });
    session.notopen = false;
    session.streamId = 'x';
    client.session = session;
    return client;
  };

  /** Offer a stanza as the c2s module does for unauthenticated streams. */
  const streamElement = (c: FakeClient, el: Element) => ctx.events.fire('stream-element', { origin: c.session, element: el });

  const features = (c: FakeClient) => {
    const f = new Element('features', undefined, NS_STREAM);
    ctx.events.fire('stream-features', { origin: c.session, features: f });
    return f;
  };

  /** Authenticate and bind, as saslauth and bind would. */
  const login = (c: FakeClient, username: string, resource = 'r1'): C2SSession => {
    const authed = server.sessions.makeAuthenticated(c.session, username);
    assert.ok(authed);
    const bound = server.sessions.bindResource(authed, resource);
    assert.ok(bound.ok);
    return authed;
  };

  return { server, ctx, storage, config, connect, streamElement, features, login, stop: () => kit.stop() };
}

function registerIq(type: 'get' | 'set', id: string, fill?: (q: Element) => void, attrs: Record<string, string> = {}): Element {
  const stanza = iq({ type, id, ...attrs });
  const q = stanza.c('query', { xmlns: NS_REGISTER });
  fill?.(q);
  return stanza;
}

const fields = (username?: string, password?: string) => (q: Element) => {
  if (username !== undefined) q.c('username').t(username);
  if (password !== undefined) q.c('password').t(password);
};

/** The reply with this id, waiting for async work (key derivation, storage) to finish. */
async function replyTo(c: FakeClient, id: string, ms = 5000): Promise<Element> {
  return waitFor(() => c.sent.find((e) => e.attrs.id === id), { timeoutMs: ms, message: () => `no reply to ${id}; sent: ${c.sent.map(String).join('\n')}` });
}

function errorCondition(el: Element): string | undefined {
  assert.equal(el.attrs.type, 'error', `expected an error, got ${el.toString()}`);
  return el.getChild('error')?.getChildByNs(NS_STANZAS)?.name;
}

test('the stream feature and disco feature are advertised when registration is open', async () => {
  const h = await harness();
  try {
    assert.ok(h.ctx.features.includes(NS_REGISTER));
    assert.ok(h.features(h.connect()).getChild('register', NS_REGISTER_FEATURE));
    // Not before TLS when encryption is required (the default).
    assert.equal(h.features(h.connect({ secure: false })).getChild('register', NS_REGISTER_FEATURE), undefined);
  } finally {
    await h.stop();
  }
  const closed = await harness((c) => {
    const vh = c.virtualhost[0];
    if (vh) vh.allow_registration = false;
  });
  try {
    assert.equal(closed.features(closed.connect()).getChild('register', NS_REGISTER_FEATURE), undefined);
    // Password change and removal still exist for signed-in users.
    assert.ok(closed.ctx.features.includes(NS_REGISTER));
  } finally {
    await closed.stop();
  }
});

test('get returns the form; set creates an account whose password verifies', async () => {
  const h = await harness();
  try {
    const c = h.connect();
    assert.equal(h.streamElement(c, registerIq('get', 'g1')), true);
    const form = await replyTo(c, 'g1');
    assert.equal(form.attrs.type, 'result');
    const q = form.getChild('query', NS_REGISTER);
    assert.ok(q);
    assert.ok(q.getChild('username') && q.getChild('password') && q.getChild('instructions'));

    assert.equal(h.streamElement(c, registerIq('set', 's1', fields('Bill', 'Calliope'))), true);
    const res = await replyTo(c, 's1');
    assert.equal(res.attrs.type, 'result', res.toString());
    const account = await h.storage.accounts.get(HOST, 'bill');
    assert.ok(account, 'the username is stored prepared (lower case)');
    assert.ok(verifyPassword(account.credentials, 'Calliope'));
    assert.ok(!verifyPassword(account.credentials, 'calliope'));
    assert.deepEqual(Object.keys(account.credentials).sort(), h.config.auth.scram_hashes.map((x) => `SCRAM-${x}`).sort());
  } finally {
    await h.stop();
  }
});

test('registration errors: conflict, missing fields, bad username, second account on a stream', async () => {
  const h = await harness();
  try {
    await h.storage.accounts.create(HOST, 'taken', {});
    const a = h.connect({ ip: '198.51.100.1' });
    h.streamElement(a, registerIq('set', 'c1', fields('Taken', 'pw')));
    assert.equal(errorCondition(await replyTo(a, 'c1')), 'conflict');
    h.streamElement(a, registerIq('set', 'm1', fields('bill')));
    assert.equal(errorCondition(await replyTo(a, 'm1')), 'not-acceptable');
    h.streamElement(a, registerIq('set', 'm2', fields('bill', '')));
    assert.equal(errorCondition(await replyTo(a, 'm2')), 'not-acceptable');
    h.streamElement(a, registerIq('set', 'm3', fields('bill@evil', 'pw')));
    assert.equal(errorCondition(await replyTo(a, 'm3')), 'not-acceptable');
    h.streamElement(a, registerIq('set', 'r1', (q) => void q.c('remove')));
    assert.equal(errorCondition(await replyTo(a, 'r1')), 'unexpected-request');
    // The failures above did not use up the stream's one registration.
    h.streamElement(a, registerIq('set', 'ok', fields('bill', 'pw')));
    assert.equal((await replyTo(a, 'ok')).attrs.type, 'result');
    h.streamElement(a, registerIq('set', 'again', fields('bill2', 'pw')));
    assert.equal(errorCondition(await replyTo(a, 'again')), 'not-acceptable');
    assert.equal(await h.storage.accounts.get(HOST, 'bill2'), undefined);
  } finally {
    await h.stop();
  }
});

test('disabled registration answers service-unavailable; no TLS when required answers not-authorized', async () => {
  const h = await harness((c) => {
    const vh = c.virtualhost[0];
    if (vh) vh.allow_registration = false;
  });
  try {
    const c = h.connect();
    assert.equal(h.streamElement(c, registerIq('get', 'g')), true);
    assert.equal(errorCondition(await replyTo(c, 'g')), 'service-unavailable');
    h.streamElement(c, registerIq('set', 's', fields('bill', 'pw')));
    assert.equal(errorCondition(await replyTo(c, 's')), 'service-unavailable');
    assert.equal(await h.storage.accounts.get(HOST, 'bill'), undefined);
    // Other iqs are not claimed (the c2s module then refuses them).
    assert.equal(h.streamElement(c, iq({ type: 'get', id: 'v' }).c('query', { xmlns: 'jabber:iq:version' }).up()), false);
    assert.equal(h.streamElement(c, registerIq('get', 'elsewhere', undefined, { to: 'other.example' })), false);
  } finally {
    await h.stop();
  }
  const tls = await harness();
  try {
    const plain = tls.connect({ secure: false });
    tls.streamElement(plain, registerIq('set', 's', fields('bill', 'pw')));
    assert.equal(errorCondition(await replyTo(plain, 's')), 'not-authorized');
    assert.equal(await tls.storage.accounts.get(HOST, 'bill'), undefined);
  } finally {
    await tls.stop();
  }
  const optional = await harness((c) => void (c.c2s.require_encryption = false));
  try {
    const plain = optional.connect({ secure: false });
    optional.streamElement(plain, registerIq('set', 's', fields('bill', 'pw')));
    assert.equal((await replyTo(plain, 's')).attrs.type, 'result');
  } finally {
    await optional.stop();
  }
});

test('the per-address throttle refuses with not-acceptable (wait) and counts only successes', async () => {
  const h = await harness((c) => {
    c.modules.register = { registration_throttle_max: 2, registration_throttle_period: '1 hour' };
  });
  try {
    const ip = '203.0.113.9';
    const results: string[] = [];
    for (const [i, name] of ['u1', 'u1', 'u2', 'u3'].entries()) {
      const c = h.connect({ ip });
      h.streamElement(c, registerIq('set', `s${i}`, fields(name, 'pw')));
      const r = await replyTo(c, `s${i}`);
      results.push(r.attrs.type === 'result' ? 'ok' : (errorCondition(r) ?? '?'));
      if (i === 3) assert.equal(r.getChild('error')?.attrs.type, 'wait');
    }
    // u1 twice: the conflict gives its slot back, so u2 still fits; u3 is over the limit.
    assert.deepEqual(results, ['ok', 'conflict', 'ok', 'not-acceptable']);
    assert.equal(await h.storage.accounts.get(HOST, 'u3'), undefined);
    const other = h.connect({ ip: '203.0.113.10' });
    h.streamElement(other, registerIq('set', 'o', fields('u3', 'pw')));
    assert.equal((await replyTo(other, 'o')).attrs.type, 'result');
  } finally {
    await h.stop();
  }
});

test('a signed-in user: get says registered; password change with the own username only', async () => {
  const h = await harness();
  try {
    const c = h.connect();
    h.streamElement(c, registerIq('set', 'reg', fields('bill', 'old')));
    await replyTo(c, 'reg');
    const user = h.login(c, 'bill');

    h.server.router.fromClient(user, registerIq('get', 'g'));
    const info = await replyTo(c, 'g');
    assert.equal(info.attrs.type, 'result');
    assert.equal(info.attrs.to, 'bill@localhost/r1');
    const q = info.getChild('query', NS_REGISTER);
    assert.ok(q);
    assert.ok(q.getChild('registered'));
    assert.equal(q.getChildText('username'), 'bill');

    h.server.router.fromClient(user, registerIq('set', 'other', fields('juliet', 'new')));
    assert.equal(errorCondition(await replyTo(c, 'other')), 'bad-request');
    h.server.router.fromClient(user, registerIq('set', 'empty', fields('bill', ''), { to: HOST }));
    assert.equal(errorCondition(await replyTo(c, 'empty')), 'bad-request');
    let account = await h.storage.accounts.get(HOST, 'bill');
    assert.ok(account && verifyPassword(account.credentials, 'old'), 'refused changes keep the password');

    h.server.router.fromClient(user, registerIq('set', 'pw', fields('bill', 'new'), { to: HOST }));
    const done = await replyTo(c, 'pw');
    assert.equal(done.attrs.type, 'result');
    assert.equal(done.attrs.from, HOST);
    account = await h.storage.accounts.get(HOST, 'bill');
    assert.ok(account && verifyPassword(account.credentials, 'new') && !verifyPassword(account.credentials, 'old'));
    assert.equal(c.closed, false);
  } finally {
    await h.stop();
  }
});

test('an iq to another user\'s bare JID is not treated as the sender\'s own account', async () => {
  const h = await harness();
  try {
    await h.storage.accounts.create(HOST, 'bill', {});
    await h.storage.accounts.create(HOST, 'juliet', {});
    const c = h.connect();
    const user = h.login(c, 'bill');
    h.server.router.fromClient(user, registerIq('set', 'rm', (q) => void q.c('remove'), { to: 'juliet@localhost' }));
    assert.equal(errorCondition(await replyTo(c, 'rm')), 'service-unavailable');
    assert.ok(await h.storage.accounts.get(HOST, 'juliet'));
    assert.ok(await h.storage.accounts.get(HOST, 'bill'));
  } finally {
    await h.stop();
  }
});

test('remove: result, every session closed with not-authorized, account and data gone, user-deleted fired', async () => {
  const h = await harness();
  try {
    await h.storage.accounts.create(HOST, 'bill', {});
    await h.storage.accounts.create(HOST, 'juliet', {});
    await h.storage.keyval<{ x: number }>(HOST, 'roster').set('bill', { x: 1 });
    const deleted: Array<{ host: string; username: string }> = [];
    h.ctx.events.on('user-deleted', (e) => void deleted.push(e));

    const a = h.connect();
    const b = h.connect();
    const other = h.connect();
    const userA = h.login(a, 'bill', 'a');
    h.login(b, 'bill', 'b');
    h.login(other, 'juliet', 'x');
    // Authenticated but not bound yet: must be closed too.
    const c = h.connect();
    assert.ok(h.server.sessions.makeAuthenticated(c.session, 'bill'));

    // A <remove/> with siblings is a bad request.
    h.server.router.fromClient(userA, registerIq('set', 'bad', (q) => {
      q.c('remove');
      q.c('username').t('bill');
    }));
    assert.equal(errorCondition(await replyTo(a, 'bad')), 'bad-request');
    assert.equal(a.closed, false);

    h.server.router.fromClient(userA, registerIq('set', 'rm', (q) => void q.c('remove')));
    const res = await replyTo(a, 'rm');
    assert.equal(res.attrs.type, 'result');
    assert.ok(a.sent.indexOf(res) >= 0 && a.closed, 'the result is sent, then the stream closed');
    for (const s of [a, b, c]) {
      assert.equal(s.closed, true);
      assert.deepEqual(s.closedWith, [{ condition: 'not-authorized', text: 'account removed' }]);
    }
    assert.equal(other.closed, false);
    assert.deepEqual(h.server.sessions.getUserSessions(HOST, 'bill'), []);
    await waitFor(() => deleted.length > 0, { message: 'user-deleted fired' });
    assert.deepEqual(deleted, [{ host: HOST, username: 'bill' }]);
    assert.equal(await h.storage.accounts.get(HOST, 'bill'), undefined);
    assert.equal(await h.storage.keyval(HOST, 'roster').get('bill'), undefined);
    assert.ok(await h.storage.accounts.get(HOST, 'juliet'));
  } finally {
    await h.stop();
  }
});

test('allow_password_change and allow_account_removal = false answer not-allowed', async () => {
  const h = await harness((c) => {
    c.modules.register = { allow_password_change: false, allow_account_removal: false };
  });
  try {
    await h.storage.accounts.create(HOST, 'bill', {});
    const c = h.connect();
    const user = h.login(c, 'bill');
    h.server.router.fromClient(user, registerIq('set', 'pw', fields('bill', 'new')));
    assert.equal(errorCondition(await replyTo(c, 'pw')), 'not-allowed');
    h.server.router.fromClient(user, registerIq('set', 'rm', (q) => void q.c('remove')));
    assert.equal(errorCondition(await replyTo(c, 'rm')), 'not-allowed');
    assert.ok(await h.storage.accounts.get(HOST, 'bill'));
    assert.equal(c.closed, false);
  } finally {
    await h.stop();
  }
});

test('bad option values stop the module from loading', async () => {
  await assert.rejects(
    harness((c) => {
      c.modules.register = { registration_throttle_max: 'lots' };
    }),
    /modules\.register\.registration_throttle_max/,
  );
});
