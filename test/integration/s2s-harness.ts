/**
 * Two federating test servers in one process: `a.test` and `b.test`, each with a certificate
 * signed by a CA made for the test, s2s listeners on loopback port 0, and `[s2s.hosts]`
 * pointing at each other (B starts first; A gets B's port; B's map is patched with A's port
 * before B ever connects out).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import type { CantoConfig } from '../../src/core/config.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';

export interface TestCa {
  dir: string;
  caFile: string;
  certs: Map<string, { certificate: string; key: string }>;
}

/** A CA and a certificate for each domain (serverAuth + clientAuth, DNS SAN). */
export async function makeTestCa(domains: string[]): Promise<TestCa> {
  const dir = tempDir('canto-s2s-ca-');
  const now = new Date(Date.now() - 60_000);
  const later = new Date(now.getTime() + 86_400_000);
  const ca = await generate([{ name: 'commonName', value: 'Canto Test CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: now,
    notAfterDate: later,
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true },
    ],
  });
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, ca.cert);
  const certs = new Map<string, { certificate: string; key: string }>();
  for (const domain of domains) {
    const leaf = await generate([{ name: 'commonName', value: domain }], {
      keyType: 'ec',
      algorithm: 'sha256',
      notBeforeDate: now,
      notAfterDate: later,
      ca: { key: ca.private, cert: ca.cert },
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
        { name: 'subjectAltName', altNames: [{ type: 2, value: domain }] },
      ],
    });
    const certificate = join(dir, `${domain}.crt`);
    const key = join(dir, `${domain}.key`);
    writeFileSync(certificate, leaf.cert);
    writeFileSync(key, leaf.private, { mode: 0o600 });
    certs.set(domain, { certificate, key });
  }
  return { dir, caFile, certs };
}

export interface PairOptions {
  /** Put the test CA in s2s.ca_file of both servers (then SASL EXTERNAL is possible). */
  trustCa: boolean;
  adjustA?: (c: CantoConfig) => void;
  adjustB?: (c: CantoConfig) => void;
  /** Runs once B is up, before A starts (e.g. to prepare something A uses at start). */
  beforeA?: (b: TestServer) => Promise<void>;
  /** Collect A's log records here (level info and up) instead of printing them. */
  logRecordsA?: Record<string, unknown>[];
}

/** The config of one side: its domain with the CA's certificate, s2s on loopback port 0. */
export function federating(ca: TestCa, domain: string, trustCa: boolean) {
  return (c: CantoConfig) => {
    const cert = ca.certs.get(domain);
    c.virtualhost = [{ domain, certificate: cert?.certificate, key: cert?.key, allow_registration: false, modules_enabled: [], modules_disabled: [] }];
    c.s2s.ports = [0];
    if (trustCa) c.s2s.ca_file = ca.caFile;
    // The federation tests are about transport and delivery: a first message from a stranger is
    // delivered. Tests of the stranger policy set [modules.stranger] in adjustA/adjustB.
    c.modules.stranger = { policy: 'allow' };
  };
}

export async function startPair(ca: TestCa, opts: PairOptions): Promise<{ a: TestServer; b: TestServer; stop(): Promise<void> }> {
  const b = await startTestServer((c) => {
    federating(ca, 'b.test', opts.trustCa)(c);
    opts.adjustB?.(c);
  });
  const bPort = b.server.port('s2s');
  await opts.beforeA?.(b);
  const a = await startTestServer((c) => {
    federating(ca, 'a.test', opts.trustCa)(c);
    c.s2s.hosts['b.test'] = `127.0.0.1:${bPort}`;
    opts.adjustA?.(c);
  }, { logRecords: opts.logRecordsA });
  b.server.config.s2s.hosts['a.test'] = `127.0.0.1:${a.server.port('s2s')}`;
  return {
    a,
    b,
    async stop() {
      await Promise.all([a.stop(), b.stop()]);
    },
  };
}
