/**
 * TLS for the listeners: one secure context per virtual host, chosen by SNI (exact name, then
 * a wildcard certificate's parent domain), falling back to the first host's. A host without a
 * usable certificate stops start-up with a message saying what to do (localhost gets a
 * self-signed one made on first start, see certificates.ts).
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { CantoConfig } from '../core/config.js';
import { inspectCertificate } from './certificates.js';
import type { HostTls, ServerTls } from '../core/connection.js';

export class CertificateError extends Error {}

export type { HostTls } from '../core/connection.js';

export class TlsContexts implements ServerTls {
  private readonly byDomain = new Map<string, HostTls>();
  private fallback: HostTls | undefined;

  constructor(config: CantoConfig) {
    for (const vh of config.virtualhost) {
      if (vh.certificate === undefined || vh.key === undefined) {
        throw new CertificateError(
          `${vh.domain} has no certificate: get one that names ${vh.domain} (e.g. from Let's Encrypt) and set ` +
            `certificate = "…" and key = "…" in its [[virtualhost]] table; \`canto check\` verifies it`,
        );
      }
      const report = inspectCertificate(vh.domain, { certificate: vh.certificate, key: vh.key });
      const fatal = report.problems.filter((p) => !p.startsWith('the certificate expired') && !p.includes('does not name'));
      if (fatal.length) throw new CertificateError(`${vh.domain}: ${fatal.join('; ')}`);
      const cert = readFileSync(vh.certificate, 'utf8');
      const key = readFileSync(vh.key, 'utf8');
      this.byDomain.set(vh.domain, { domain: vh.domain, context: createSecureContext({ cert, key, minVersion: 'TLSv1.2' }), certificatePem: cert, keyPem: key });
    }
    this.fallback = this.byDomain.values().next().value;
  }

  /** Problems that do not stop start-up but an operator must hear about. */
  static warnings(config: CantoConfig): string[] {
    const out: string[] = [];
    for (const vh of config.virtualhost) {
      if (vh.certificate === undefined || vh.key === undefined) continue;
      const r = inspectCertificate(vh.domain, { certificate: vh.certificate, key: vh.key });
      out.push(...r.problems.filter((p) => p.startsWith('the certificate expired') || p.includes('does not name')).map((p) => `${vh.domain}: ${p}`));
    }
    return out;
  }

  forDomain(domain: string | undefined): HostTls | undefined {
    if (domain === undefined) return this.fallback;
    const exact = this.byDomain.get(domain.toLowerCase());
    if (exact) return exact;
    const dot = domain.indexOf('.');
    if (dot > 0) {
      const parent = this.byDomain.get(domain.slice(dot + 1).toLowerCase());
      if (parent) return parent;
    }
    return this.fallback;
  }

  /**
   * Installs a new certificate for `domain` (ACME issuance and renewal): handshakes from now on
   * use it; connections already encrypted keep theirs. A domain not served before is added (a
   * component's name). The listeners' no-SNI default keeps the certificate it started with.
   */
  replace(domain: string, certificatePem: string, keyPem: string): void {
    const name = domain.toLowerCase();
    const entry: HostTls = { domain: name, context: createSecureContext({ cert: certificatePem, key: keyPem, minVersion: 'TLSv1.2' }), certificatePem, keyPem };
    this.byDomain.set(name, entry);
    if (this.fallback === undefined || this.fallback.domain === name) this.fallback = entry;
  }

  get defaultContext(): SecureContext {
    if (!this.fallback) throw new CertificateError('no virtual host has a certificate');
    return this.fallback.context;
  }

  /**
   * Options for tls.createServer: the first host's certificate serves clients that send no SNI
   * (createServer ignores a `secureContext` option), SNI picks the others.
   */
  serverOptions(): { cert: string; key: string; SNICallback: TlsContexts['sniCallback']; minVersion: 'TLSv1.2' } {
    if (!this.fallback) throw new CertificateError('no virtual host has a certificate');
    return { cert: this.fallback.certificatePem, key: this.fallback.keyPem, SNICallback: this.sniCallback, minVersion: 'TLSv1.2' };
  }

  /** For tls.createServer / TLSSocket: pick the context by the client's SNI. */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    cb(null, this.forDomain(servername)?.context);
  };
}
