/**
 * Issue 12, interop: Canto (canto.test) and a real ejabberd 23.01 (ejabberd.test, Debian package,
 * started by the test with a private config and spool on loopback) federate both ways with the
 * exchange of test/helpers/federation.ts. Two variants: Server Dialback (neither side trusts the
 * other's certificate; ejabberd first tries SASL EXTERNAL, which Canto does not offer, and falls
 * back to dialback) and SASL EXTERNAL (both trust the test CA).
 *
 * Addressing: Canto reaches ejabberd through `[s2s.hosts]`; ejabberd finds Canto through real DNS:
 * a private dnsmasq on loopback serves `_xmpp-server._tcp.canto.test` (Canto's s2s port on
 * localhost) and is ejabberd's only name server.
 *
 * In CI a missing ejabberd fails the test (scripts/install-test-deps.sh installs it); elsewhere
 * the test is skipped with a message.
 */
import { test, before, after, describe } from 'node:test';
import { peerSkip } from '../helpers/peer.js';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { makeTestCa, type TestCa } from '../integration/s2s-harness.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, type LoggedInClient } from '../helpers/xmpp-client.js';
import { freePort } from '../helpers/prosody.js';
import { ejabberdMissing, startEjabberd, type RunningEjabberd } from '../helpers/ejabberd.js';
import { exerciseFederation } from '../helpers/federation.js';
import { dnsmasqSkip, startDns, type TestDns } from '../helpers/dnsmasq.js';
import { s2sStats } from '../../src/modules/s2s/index.js';

const CANTO = 'canto.test';
const EJABBERD = 'ejabberd.test';
const PASSWORD = 'federation-pw';

const missing = ejabberdMissing() ?? (dnsmasqSkip() === false ? undefined : 'dnsmasq not installed');
const skip = peerSkip('ejabberd', missing);

let ca: TestCa | undefined;
before(async () => {
  if (skip !== false) return;
  ca = await makeTestCa([CANTO, EJABBERD]);
});
after(() => {
  if (ca) rmSync(ca.dir, { recursive: true, force: true });
});

interface Federation {
  canto: TestServer;
  ejabberd: RunningEjabberd;
  dns: TestDns;
  romeo: LoggedInClient;
  juliet: LoggedInClient;
}

/**
 * Which side trusts the test CA: 'none' (dialback both ways), 'both' (SASL EXTERNAL both ways),
 * 'canto' (Canto trusts ejabberd's certificate but not the other way round: Canto's EXTERNAL is
 * refused and it falls back to dialback on the same stream; ejabberd uses EXTERNAL).
 */
type Trust = 'none' | 'both' | 'canto';

async function startFederation(trust: Trust): Promise<Federation> {
  if (!ca) throw new Error('no test CA');
  const ejabberdCert = ca.certs.get(EJABBERD);
  const cantoCert = ca.certs.get(CANTO);
  if (!ejabberdCert || !cantoCert) throw new Error('missing test certificates');
  const cantoS2sPort = await freePort();
  // The SRV target is `localhost`: ejabberd looks up SRV records itself but the target's
  // address through the system resolver (getaddrinfo), which knows localhost and not *.test.
  const dns = await startDns({ srv: [{ name: `_xmpp-server._tcp.${CANTO}`, target: 'localhost', port: cantoS2sPort }] });
  const ejabberd = await startEjabberd({
    domain: EJABBERD,
    certificate: ejabberdCert.certificate,
    key: ejabberdCert.key,
    caFile: trust === 'both' ? ca.caFile : undefined,
    nameserver: dns.server,
    accounts: { juliet: PASSWORD },
  });
  let canto: TestServer | undefined;
  try {
    canto = await startTestServer((c) => {
      c.virtualhost = [{ domain: CANTO, certificate: cantoCert.certificate, key: cantoCert.key, allow_registration: false, modules_enabled: [], modules_disabled: [] }];
      c.s2s.interfaces = ['127.0.0.1'];
      c.s2s.ports = [cantoS2sPort];
      c.s2s.hosts[EJABBERD] = `127.0.0.1:${ejabberd.s2sPort}`;
      if (trust !== 'none') c.s2s.ca_file = ca?.caFile;
      if (trust === 'both') c.s2s.secure_auth = true;
    });
    await createAccount(canto, 'romeo', PASSWORD, CANTO);
    const romeo = await loginClient(canto, 'romeo', PASSWORD, 'phone', { domain: CANTO });
    const juliet = await loginClient(canto, 'juliet', PASSWORD, 'balcony', { domain: EJABBERD, service: `xmpp://127.0.0.1:${ejabberd.c2sPort}` });
    return { canto, ejabberd, dns, romeo, juliet };
  } catch (err) {
    await canto?.stop();
    (err as Error).message += `\n--- ejabberd log (tail) ---\n${ejabberd.logTail(4000)}`;
    await ejabberd.stop();
    await dns.stop();
    throw err;
  }
}

async function stopFederation(f: Federation | undefined): Promise<void> {
  if (!f) return;
  await Promise.allSettled([f.romeo.stop(), f.juliet.stop()]);
  await f.canto.stop().catch(() => {});
  await f.ejabberd.stop();
  await f.dns.stop();
}

async function exercise(f: Federation): Promise<void> {
  try {
    await exerciseFederation({
      local: f.romeo,
      localDomain: CANTO,
      localJid: `romeo@${CANTO}/phone`,
      remote: f.juliet,
      remoteDomain: EJABBERD,
      remoteJid: `juliet@${EJABBERD}/balcony`,
    });
  } catch (err) {
    (err as Error).message += `\n--- ejabberd log (tail) ---\n${f.ejabberd.logTail(8000)}\n--- dns log ---\n${f.dns.log()}`;
    throw err;
  }
}

describe('federation with ejabberd', { skip, timeout: 90_000 }, () => {
  test('dialback: messages, subscriptions with presence, and pings both ways', async () => {
    let f: Federation | undefined;
    try {
      f = await startFederation('none');
      await exercise(f);
      const stats = s2sStats(f.canto.server);
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
      f = await startFederation('both');
      await exercise(f);
      const stats = s2sStats(f.canto.server);
      assert.ok(stats, 's2s module active');
      assert.ok(stats.authExternal >= 2, `SASL EXTERNAL used both ways (authExternal=${stats.authExternal})`);
      assert.equal(stats.authDialback, 0);
      assert.equal(stats.authFailures, 0);
    } finally {
      await stopFederation(f);
    }
  });

  test('EXTERNAL refused by ejabberd: Canto falls back to dialback on the same stream; ejabberd uses EXTERNAL', async () => {
    let f: Federation | undefined;
    try {
      f = await startFederation('canto');
      await exercise(f);
      const stats = s2sStats(f.canto.server);
      assert.ok(stats, 's2s module active');
      assert.ok(stats.authDialback >= 1, `Canto's outgoing stream used dialback (authDialback=${stats.authDialback})`);
      assert.ok(stats.authExternal >= 1, `ejabberd's stream used EXTERNAL (authExternal=${stats.authExternal})`);
      assert.equal(stats.authFailures, 0);
    } finally {
      await stopFederation(f);
    }
  });
});
