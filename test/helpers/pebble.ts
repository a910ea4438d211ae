/**
 * Debian's `pebble` (the ACME test CA, scripts/install-test-deps.sh) for tests: a private
 * instance on loopback with its own HTTPS certificate (trusted by the client through
 * `caCertificate`), validating http-01 challenges on `httpPort` of whatever `dnsServer` says the
 * names are, without the random nonce rejections and validation delays pebble adds by default.
 * Stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { makeSelfSigned } from '../../src/net/certificates.js';
import { waitFor } from '../../src/testing/index.js';
import { freePort } from './prosody.js';
import { stopChild } from './peer.js';

export const PEBBLE = '/usr/bin/pebble';

/** Undefined when pebble is installed, else what is missing (for peerSkip). */
export function pebbleMissing(): string | undefined {
  return existsSync(PEBBLE) ? undefined : `${PEBBLE} (Debian package pebble) is not installed`;
}

export interface TestPebble {
  /** The ACME directory URL. */
  readonly directory: string;
  /** PEM file of pebble's own HTTPS certificate, for `[acme] ca_certificate`. */
  readonly caCertificate: string;
  /** PEM of the root that signs the certificates pebble issues (changes every run). */
  issuingRoot(): Promise<string>;
  log(): string;
  stop(): Promise<void>;
}

export async function startPebble(opts: { httpPort: number; dnsServer: string }): Promise<TestPebble> {
  const dir = mkdtempSync(join(tmpdir(), 'canto-pebble-'));
  const tls = { certificate: join(dir, 'pebble.crt'), key: join(dir, 'pebble.key') };
  await makeSelfSigned('localhost', tls, 2);
  const port = await freePort();
  const managementPort = await freePort();
  writeFileSync(
    join(dir, 'pebble.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: tls.certificate,
        privateKey: tls.key,
        httpPort: opts.httpPort,
        tlsPort: await freePort(),
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  const child: ChildProcess = spawn(PEBBLE, ['-config', join(dir, 'pebble.json'), '-dnsserver', opts.dnsServer], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
  let exited = false;
  child.on('exit', () => (exited = true));
  const get = (p: number, path: string) =>
    new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: p, path, servername: 'localhost', rejectUnauthorized: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`pebble ${path}: HTTP ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end();
    });
  await waitFor(
    async () => {
      if (exited) throw new Error(`pebble exited: ${output}`);
      return get(port, '/dir').then(
        () => true,
        () => false,
      );
    },
    { timeoutMs: 10_000, message: 'pebble answering' },
  );
  return {
    directory: `https://localhost:${port}/dir`,
    caCertificate: tls.certificate,
    issuingRoot: () => get(managementPort, '/roots/0'),
    log: () => output,
    async stop() {
      await stopChild(child, 3000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
