/**
 * Certificates per virtual host. A host names its `certificate` and `key` in the config; for
 * `localhost` without one, a self-signed certificate is made on first start in data_dir
 * (`localhost.crt`/`localhost.key`) and reused afterwards. With `[acme]` configured, another
 * domain without one uses what the acme module obtained (`data_dir/acme/<domain>.crt`), or a
 * one-day self-signed stand-in until it has. Otherwise a missing certificate is left for the TLS
 * layer and `canto check` to report.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { generate } from 'selfsigned';
import type { CantoConfig } from '../core/config.js';
import type { Logger } from '../core/logging.js';

export interface CertificatePaths {
  certificate: string;
  key: string;
}

export function localhostCertPaths(dataDir: string): CertificatePaths {
  return { certificate: join(dataDir, 'localhost.crt'), key: join(dataDir, 'localhost.key') };
}

/** Make the self-signed localhost certificate if a localhost host needs one; fill in its paths. */
/** Where the acme module keeps the certificate and key it obtained for a name. */
export function acmeCertPaths(dataDir: string, domain: string): CertificatePaths {
  return { certificate: join(dataDir, 'acme', `${domain}.crt`), key: join(dataDir, 'acme', `${domain}.key`) };
}

export async function ensureHostCertificates(config: CantoConfig, log: Logger): Promise<void> {
  for (const vh of config.virtualhost) {
    if (vh.certificate !== undefined) continue;
    if (vh.domain !== 'localhost' && config.acme?.directory !== undefined) {
      // ACME needs the server running (http-01 is answered by it): until the CA has issued the
      // certificate, the host serves a short-lived self-signed stand-in the acme module replaces.
      const paths = acmeCertPaths(config.data_dir, vh.domain);
      if (!existsSync(paths.certificate) || !existsSync(paths.key)) {
        mkdirSync(dirname(paths.certificate), { recursive: true, mode: 0o700 });
        await makeSelfSigned(vh.domain, paths, 1);
        log.info({ host: vh.domain }, 'no certificate yet: serving a self-signed stand-in until the ACME CA issues one');
      }
      vh.certificate = paths.certificate;
      vh.key = paths.key;
      continue;
    }
    if (vh.domain !== 'localhost') continue;
    const paths = localhostCertPaths(config.data_dir);
    if (!existsSync(paths.certificate) || !existsSync(paths.key)) {
      await makeSelfSigned('localhost', paths);
      log.info({ certificate: paths.certificate }, 'made a self-signed certificate for localhost');
    }
    vh.certificate = paths.certificate;
    vh.key = paths.key;
  }
}

export async function makeSelfSigned(domain: string, paths: CertificatePaths, days = 3650): Promise<void> {
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore.getTime() + days * 86_400_000);
  const pems = await generate([{ name: 'commonName', value: domain }], {
    keyType: 'ec',
    curve: 'P-256',
    notBeforeDate: notBefore,
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: domain }] },
    ],
  });
  writeFileSync(paths.key, pems.private, { mode: 0o600 });
  writeFileSync(paths.certificate, pems.cert, { mode: 0o644 });
}

export interface CertificateReport {
  ok: boolean;
  problems: string[];
  notAfter?: Date;
  names?: string[];
}

/** Check a certificate/key pair for a domain: readable, matching, valid now, naming the domain. */
export function inspectCertificate(domain: string, paths: CertificatePaths, now = new Date()): CertificateReport {
  const problems: string[] = [];
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(paths.certificate));
  } catch (err) {
    return { ok: false, problems: [`cannot read certificate ${paths.certificate}: ${(err as Error).message}`] };
  }
  let keyPem: string;
  try {
    keyPem = readFileSync(paths.key, 'utf8');
  } catch (err) {
    return { ok: false, problems: [`cannot read key ${paths.key}: ${(err as Error).message}`] };
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) problems.push(`the key ${paths.key} does not match the certificate`);
  } catch (err) {
    problems.push(`the key ${paths.key} is not a usable private key: ${(err as Error).message}`);
  }
  const notAfter = new Date(cert.validTo);
  const notBefore = new Date(cert.validFrom);
  if (notAfter < now) problems.push(`the certificate expired on ${notAfter.toISOString()}`);
  if (notBefore > now) problems.push(`the certificate is not valid before ${notBefore.toISOString()}`);
  if (cert.checkHost(domain) === undefined) problems.push(`the certificate does not name ${domain} (names: ${cert.subjectAltName ?? cert.subject})`);
  const names = (cert.subjectAltName ?? '').split(',').map((s) => s.trim().replace(/^DNS:/, '')).filter(Boolean);
  return { ok: problems.length === 0, problems, notAfter, names };
}
