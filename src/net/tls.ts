/**
 * TLS for the listeners: one secure context per virtual host, chosen by SNI (exact name, then
 * a wildcard certificate's parent domain), falling back to the first host's. A host without a
 * usable certificate stops start-up with a message saying what to do (localhost gets a
 * self-signed one made on first start, see certificates.ts).
 *
 * Session tickets: every context uses the ticket key of the current rotation period, derived
 * from the data directory's secret (tls-tickets.ts), so a client resumes its TLS session on any
 * process of the server; at each period's end the contexts are made again with the next key
 * (and TLS listeners that were handed `serverOptions()` get it through `trackServer`).
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext, type Server as TlsServer } from 'node:tls';
import type { CantoConfig } from '../core/config.js';
import { inspectCertificate } from './certificates.js';
import type { HostTls, ServerTls, TlsServerOptions } from '../core/connection.js';
import { loadTicketSecret, ticketKey, ticketPeriod, TICKET_PERIOD_MS } from './tls-tickets.js';

export class CertificateError extends Error {}

export type { HostTls } from '../core/connection.js';

export class TlsContexts implements ServerTls {
  private readonly byDomain = new Map<string, HostTls>();
  private fallback: HostTls | undefined;
  private readonly ticketSecret: Buffer;
  private ticketKeys: Buffer;
  private readonly servers = new Set<TlsServer>();
  private rotation: NodeJS.Timeout | undefined;

  constructor(config: CantoConfig, private readonly now: () => number = Date.now) {
    this.ticketSecret = loadTicketSecret(config.data_dir);
    this.ticketKeys = ticketKey(this.ticketSecret, ticketPeriod(now()));
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
      this.byDomain.set(vh.domain, { domain: vh.domain, context: this.makeContext(cert, key), certificatePem: cert, keyPem: key });
    }
    this.fallback = this.byDomain.values().next().value;
    this.scheduleRotation();
  }

  private makeContext(cert: string, key: string): SecureContext {
    // sessionTimeout: a ticket is good until its key rotates (Node's default is 5 minutes).
    return createSecureContext({ cert, key, minVersion: 'TLSv1.2', ticketKeys: this.ticketKeys, sessionTimeout: TICKET_PERIOD_MS / 1000 });
  }

  /** At the next period boundary: contexts with the next ticket key, for every listener too. */
  private scheduleRotation(): void {
    const next = (ticketPeriod(this.now()) + 1) * TICKET_PERIOD_MS;
    this.rotation = setTimeout(() => this.rotate(), Math.max(1000, next - this.now()));
    this.rotation.unref(); // never what keeps a process alive
  }

  /** Switch to the ticket key of the current period (public for tests). */
  rotate(): void {
    this.ticketKeys = ticketKey(this.ticketSecret, ticketPeriod(this.now()));
    for (const [domain, h] of this.byDomain) this.byDomain.set(domain, { ...h, context: this.makeContext(h.certificatePem, h.keyPem) });
    this.fallback = this.byDomain.values().next().value;
    for (const s of this.servers) s.setTicketKeys(this.ticketKeys);
    if (this.rotation) clearTimeout(this.rotation);
    this.scheduleRotation();
  }

  /** The ticket key in use (48 bytes). */
  get currentTicketKeys(): Buffer {
    return Buffer.from(this.ticketKeys);
  }

  trackServer(server: TlsServer): () => void {
    server.setTicketKeys(this.ticketKeys);
    this.servers.add(server);
    return () => this.servers.delete(server);
  }

  /** Stop the rotation timer (the server stops). */
  close(): void {
    if (this.rotation) clearTimeout(this.rotation);
    this.rotation = undefined;
    this.servers.clear();
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
   * Installs a new certificate for `domain` (ACME issuance and renewal, a reload, files renewed on
   * disk): handshakes from now on use it; connections already encrypted keep theirs. A domain not
   * served before is added (a component's name). When it is the no-SNI default, the TLS listeners
   * given `serverOptions()` and tracked (`trackServer`) switch their default to it too.
   */
  replace(domain: string, certificatePem: string, keyPem: string): void {
    const name = domain.toLowerCase();
    const entry: HostTls = { domain: name, context: this.makeContext(certificatePem, keyPem), certificatePem, keyPem };
    this.byDomain.set(name, entry);
    if (this.fallback === undefined || this.fallback.domain === name) {
      this.fallback = entry;
      // setSecureContext keeps the listener's SNICallback and ALPN protocols; it takes the ticket key along.
      for (const s of this.servers) s.setSecureContext({ cert: certificatePem, key: keyPem, minVersion: 'TLSv1.2', ticketKeys: this.ticketKeys, sessionTimeout: TICKET_PERIOD_MS / 1000 });
    }
  }

  get defaultContext(): SecureContext {
    if (!this.fallback) throw new CertificateError('no virtual host has a certificate');
    return this.fallback.context;
  }

  /**
   * Options for tls.createServer: the first host's certificate serves clients that send no SNI
   * (createServer ignores a `secureContext` option), SNI picks the others. Pass the server to
   * `trackServer` so its ticket key rotates with the contexts'.
   */
  serverOptions(): TlsServerOptions {
    if (!this.fallback) throw new CertificateError('no virtual host has a certificate');
    return { cert: this.fallback.certificatePem, key: this.fallback.keyPem, SNICallback: this.sniCallback, minVersion: 'TLSv1.2', ticketKeys: this.ticketKeys, sessionTimeout: TICKET_PERIOD_MS / 1000 };
  }

  /** For tls.createServer / TLSSocket: pick the context by the client's SNI. */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    cb(null, this.forDomain(servername)?.context);
  };
}
