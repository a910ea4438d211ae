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
import { peerSkip } from '../helpers/peer.js';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { makeTestCa, type TestCa } from '../integration/s2s-harness.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, type LoggedInClient } from '../helpers/xmpp-client.js';
import { exerciseFederation, type FederationPeers } from '../helpers/federation.js';
import { portBindable, prosodyMissing, startProsody, type RunningProsody } from '../helpers/prosody.js';
import { s2sStats } from '../../src/modules/s2s/index.js';

const CANTO = 'canto.test';
const PROSODY = 'prosody.test';
/** Canto's s2s address as Prosody sees it (Prosody has no port override: 5269 it is). */
const CANTO_S2S_ADDRESS = '127.0.0.77';
const CANTO_S2S_PORT = 5269;
const PASSWORD = 'federation-pw';

const missing = prosodyMissing();
const skip = peerSkip('prosody', missing);

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

async function startFederation(trustCa: boolean, bidi = false): Promise<Federation> {
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
    bidi,
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

function peers(f: Federation): FederationPeers {
  return { local: f.romeo, localDomain: CANTO, localJid: `romeo@${CANTO}/phone`, remote: f.juliet, remoteDomain: PROSODY, remoteJid: `juliet@${PROSODY}/balcony` };
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
      await withLog(fed, () => exerciseFederation(peers(fed)));
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
      await withLog(fed, () => exerciseFederation(peers(fed)));
      const stats = s2sStats(fed.canto.server);
      assert.ok(stats, 's2s module active');
      assert.ok(stats.authExternal >= 2, `SASL EXTERNAL used both ways (authExternal=${stats.authExternal})`);
      assert.equal(stats.authDialback, 0);
      assert.equal(stats.authFailures, 0);
    } finally {
      await stopFederation(f);
    }
  });

  test('bidirectional stream (XEP-0288, Prosody mod_s2s_bidi) with EXTERNAL: one connection carries both ways', async () => {
    let f: Federation | undefined;
    try {
      f = await startFederation(true, true);
      const fed = f;
      await withLog(fed, () => exerciseFederation(peers(fed)));
      const stats = s2sStats(fed.canto.server);
      assert.ok(stats, 's2s module active');
      assert.equal(stats.outgoingStreams, 1, 'Canto opened one stream');
      assert.equal(stats.incomingStreams, 0, 'Prosody never connected to Canto: it answered over Canto\'s stream');
      assert.equal(stats.bidiStreams, 1);
      assert.ok(stats.stanzasIn > 0);
      assert.equal(stats.authFailures, 0);
    } finally {
      await stopFederation(f);
    }
  });

  test('bidirectional streams with dialback: Prosody opens its own stream to verify, both become bidirectional, everything arrives', async () => {
    let f: Federation | undefined;
    try {
      f = await startFederation(false, true);
      const fed = f;
      await withLog(fed, () => exerciseFederation(peers(fed)));
      const stats = s2sStats(fed.canto.server);
      assert.ok(stats, 's2s module active');
      assert.equal(stats.outgoingStreams, 1, 'Canto opened one stream');
      // Dialback makes Prosody connect back (to verify Canto's key); it asks for bidi there too.
      assert.equal(stats.bidiStreams, 2, 'both streams bidirectional');
      assert.equal(stats.authFailures, 0);
    } finally {
      await stopFederation(f);
    }
  });
});
