/**
 * Issue 7, interop: Canto (canto.test) and a real Prosody 0.12 (prosody.test, Debian package,
 * started by the test on loopback) federate both ways — a message each way, a subscription
 * handshake each way with available presence seen on both sides, and an iq ping to the other
 * server's domain. Two variants: Server Dialback (neither side trusts the other's certificate)
 * and SASL EXTERNAL (both trust the test CA).
 *
 * Addressing: Canto reaches Prosody through `[s2s.hosts]` (127.0.0.1:<free port>). Prosody always
 * dials port 5269 and ignores /etc/hosts, so Canto's s2s listens on 127.0.0.77:5269 (a loopback
 * address only this test uses) and Prosody's private hosts file maps canto.test there.
 *
 * In CI a missing prosody fails the test (scripts/install-test-deps.sh installs it); elsewhere
 * the test is skipped with a message.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { makeTestCa, type TestCa } from '../integration/s2s-harness.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { portBindable, prosodyMissing, startProsody, type RunningProsody } from '../helpers/prosody.js';
import { s2sStats } from '../../src/modules/s2s/index.js';

const CANTO = 'canto.test';
const PROSODY = 'prosody.test';
/** Canto's s2s address as Prosody sees it (Prosody has no port override: 5269 it is). */
const CANTO_S2S_ADDRESS = '127.0.0.77';
const CANTO_S2S_PORT = 5269;
const PASSWORD = 'federation-pw';

const missing = prosodyMissing();
if (missing !== undefined && process.env.CI) {
  // CI installs prosody; a missing one there is a broken setup, never a skip.
  test('prosody is installed (CI)', () => {
    assert.fail(`${missing} — run scripts/install-test-deps.sh`);
  });
}
const skip = missing !== undefined && !process.env.CI ? `prosody is not available (${missing}); install it with scripts/install-test-deps.sh` : false;

let ca: TestCa | undefined;
before(async () => {
  if (skip !== false) return;
  ca = await makeTestCa([CANTO, PROSODY]);
});
after(() => {
  if (ca) rmSync(ca.dir, { recursive: true, force: true });
});

interface Federation {
  canto: TestServer;
  prosody: RunningProsody;
  romeo: LoggedInClient;
  juliet: LoggedInClient;
}

async function startFederation(trustCa: boolean): Promise<Federation> {
  if (!ca) throw new Error('no test CA');
  if (!(await portBindable(CANTO_S2S_ADDRESS, CANTO_S2S_PORT))) throw new Error(`${CANTO_S2S_ADDRESS}:${CANTO_S2S_PORT} is in use`);
  const prosodyCert = ca.certs.get(PROSODY);
  const cantoCert = ca.certs.get(CANTO);
  if (!prosodyCert || !cantoCert) throw new Error('missing test certificates');
  const prosody = await startProsody({
    domain: PROSODY,
    certificate: prosodyCert.certificate,
    key: prosodyCert.key,
    caFile: trustCa ? ca.caFile : undefined,
    hosts: { [CANTO]: CANTO_S2S_ADDRESS },
    secureAuth: trustCa,
    accounts: { juliet: PASSWORD },
  });
  let canto: TestServer | undefined;
  try {
    canto = await startTestServer((c) => {
      c.virtualhost = [{ domain: CANTO, certificate: cantoCert.certificate, key: cantoCert.key, allow_registration: false, modules_enabled: [], modules_disabled: [] }];
      c.s2s.interfaces = [CANTO_S2S_ADDRESS];
      c.s2s.ports = [CANTO_S2S_PORT];
      c.s2s.hosts[PROSODY] = `127.0.0.1:${prosody.s2sPort}`;
      if (trustCa) {
        c.s2s.ca_file = ca?.caFile;
        c.s2s.secure_auth = true;
      }
    });
    await createAccount(canto, 'romeo', PASSWORD, CANTO);
    const romeo = await loginClient(canto, 'romeo', PASSWORD, 'phone', { domain: CANTO });
    // loginClient only reads the service address from its first argument when `service` is given.
    const juliet = await loginClient(canto, 'juliet', PASSWORD, 'balcony', { domain: PROSODY, service: `xmpp://127.0.0.1:${prosody.c2sPort}` });
    return { canto, prosody, romeo, juliet };
  } catch (err) {
    await canto?.stop();
    await prosody.stop();
    throw err;
  }
}

async function stopFederation(f: Federation | undefined): Promise<void> {
  if (!f) return;
  await Promise.allSettled([f.romeo.stop(), f.juliet.stop()]);
  await f.canto.stop().catch(() => {});
  await f.prosody.stop();
}

const isPresence = (type: string | undefined, from: string) => (s: XElement) => s.is('presence') && s.attrs.type === type && (s.attrs.from ?? '').startsWith(from);

/** The whole exchange; on failure the error carries the tail of Prosody's log. */
async function exercise(f: Federation): Promise<void> {
  const { romeo, juliet } = f;
  const T = 15_000; // the first stanza each way waits for TLS + dialback round trips
  // Fetch the rosters first, as real clients do: only "interested" resources get subscription
  // approvals and roster pushes (RFC 6121 §3.1.6), and Prosody enforces that.
  await romeo.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  await juliet.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  await romeo.send(xml('presence'));
  await juliet.send(xml('presence'));

  // Messages both ways.
  await romeo.send(xml('message', { to: `juliet@${PROSODY}/balcony`, type: 'chat', id: 'm1' }, xml('body', {}, 'hello from Canto')));
  const m1 = await juliet.waitFor((s) => s.is('message') && s.attrs.id === 'm1', T);
  assert.equal(m1.attrs.from, `romeo@${CANTO}/phone`);
  assert.equal(m1.getChildText('body'), 'hello from Canto');
  await juliet.send(xml('message', { to: `romeo@${CANTO}/phone`, type: 'chat', id: 'm2' }, xml('body', {}, 'hello from Prosody')));
  const m2 = await romeo.waitFor((s) => s.is('message') && s.attrs.id === 'm2', T);
  assert.equal(m2.attrs.from, `juliet@${PROSODY}/balcony`);
  assert.equal(m2.getChildText('body'), 'hello from Prosody');

  // Pings to the other server's domain, both ways.
  const p1 = await romeo.iq(xml('iq', { type: 'get', to: PROSODY, id: 'ping1' }, xml('ping', { xmlns: 'urn:xmpp:ping' })), T);
  assert.equal(p1.attrs.from, PROSODY);
  const p2 = await juliet.iq(xml('iq', { type: 'get', to: CANTO, id: 'ping2' }, xml('ping', { xmlns: 'urn:xmpp:ping' })), T);
  assert.equal(p2.attrs.from, CANTO);

  // Romeo subscribes to Juliet: Prosody delivers the request, Canto delivers the approval and
  // then Juliet's available presence.
  await romeo.send(xml('presence', { to: `juliet@${PROSODY}`, type: 'subscribe' }));
  const req1 = await juliet.waitFor(isPresence('subscribe', `romeo@${CANTO}`), T);
  assert.equal(req1.attrs.from, `romeo@${CANTO}`);
  await juliet.send(xml('presence', { to: `romeo@${CANTO}`, type: 'subscribed' }));
  const ok1 = await romeo.waitFor(isPresence('subscribed', `juliet@${PROSODY}`), T);
  assert.equal(ok1.attrs.from, `juliet@${PROSODY}`);
  const seen1 = await romeo.waitFor(isPresence(undefined, `juliet@${PROSODY}/balcony`), T);
  assert.equal(seen1.attrs.from, `juliet@${PROSODY}/balcony`);

  // And the other way round.
  await juliet.send(xml('presence', { to: `romeo@${CANTO}`, type: 'subscribe' }));
  const req2 = await romeo.waitFor(isPresence('subscribe', `juliet@${PROSODY}`), T);
  assert.equal(req2.attrs.from, `juliet@${PROSODY}`);
  await romeo.send(xml('presence', { to: `juliet@${PROSODY}`, type: 'subscribed' }));
  const ok2 = await juliet.waitFor(isPresence('subscribed', `romeo@${CANTO}`), T);
  assert.equal(ok2.attrs.from, `romeo@${CANTO}`);
  const seen2 = await juliet.waitFor(isPresence(undefined, `romeo@${CANTO}/phone`), T);
  assert.equal(seen2.attrs.from, `romeo@${CANTO}/phone`);

  // A presence change now reaches the contact across the federation.
  await juliet.send(xml('presence', {}, xml('show', {}, 'away')));
  const away = await romeo.waitFor((s) => isPresence(undefined, `juliet@${PROSODY}/balcony`)(s) && s.getChildText('show') === 'away', T);
  assert.equal(away.getChildText('show'), 'away');
}

async function withLog(f: Federation, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    (err as Error).message += `\n--- prosody log (tail) ---\n${f.prosody.logTail(6000)}`;
    throw err;
  }
}

describe('federation with Prosody', { skip, timeout: 60_000 }, () => {
  test('dialback: messages, subscriptions with presence, and pings both ways', async () => {
    let f: Federation | undefined;
    try {
      f = await startFederation(false);
      const fed = f;
      await withLog(fed, () => exercise(fed));
      const stats = s2sStats(fed.canto.server);
      assert.ok(stats, 's2s module active');
      assert.ok(stats.authDialback >= 2, `dialback used both ways (authDialback=${stats.authDialback})`);
      assert.equal(stats.authExternal, 0);
      assert.equal(stats.authFailures, 0);
    } finally {
      await stopFederation(f);
    }
  });

  test('SASL EXTERNAL with a trusted test CA: the same exchange, no dialback', async () => {
    let f: Federation | undefined;
    try {
      f = await startFederation(true);
      const fed = f;
      await withLog(fed, () => exercise(fed));
      const stats = s2sStats(fed.canto.server);
      assert.ok(stats, 's2s module active');
      assert.ok(stats.authExternal >= 2, `SASL EXTERNAL used both ways (authExternal=${stats.authExternal})`);
      assert.equal(stats.authDialback, 0);
      assert.equal(stats.authFailures, 0);
    } finally {
      await stopFederation(f);
    }
  });
});
