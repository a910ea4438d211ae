/**
 * Certificates and policy for server-to-server streams: the trusted roots (system CAs plus
 * `s2s.ca_file`), TLS contexts that ask peers for their certificate, the PKIX + name check of a
 * peer's certificate (RFC 6125 via X509Certificate.checkHost), and whether a remote domain may
 * use dialback (`secure_auth`, `secure_domains`, `insecure_domains`).
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, rootCertificates, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import type { CantoConfig } from '../../core/config.js';
import type { ServerTls } from '../../core/connection.js';

export interface CertificateCheck {
  valid: boolean;
  /** Why not, for the logs. */
  reason?: string;
}

export class S2SSecurity {
  private readonly ca: string[];
  private readonly serverContexts = new Map<string, SecureContext>();
  private readonly clientContexts = new Map<string, SecureContext>();

  constructor(
    private readonly cfg: CantoConfig['s2s'],
    private readonly tls: ServerTls,
  ) {
    this.ca = [...rootCertificates];
    if (cfg.ca_file !== undefined) this.ca.push(readFileSync(cfg.ca_file, 'utf8'));
  }

  /** Whether certificates are required for `domain` (then dialback is refused both ways). */
  requiresCertificate(domain: string): boolean {
    const d = domain.toLowerCase();
    if (this.cfg.secure_domains.includes(d)) return true;
    if (this.cfg.insecure_domains.includes(d)) return false;
    return this.cfg.secure_auth;
  }

  /** The context our side of an incoming stream uses for `localDomain`: its certificate, and the trusted roots to judge the peer's. */
  serverContext(localDomain: string | undefined): SecureContext {
    const host = this.tls.forDomain(localDomain);
    if (!host) return this.tls.defaultContext;
    let ctx = this.serverContexts.get(host.domain);
    if (!ctx) {
      ctx = createSecureContext({ cert: host.certificatePem, key: host.keyPem, ca: this.ca, minVersion: 'TLSv1.2' });
      this.serverContexts.set(host.domain, ctx);
    }
    return ctx;
  }

  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    cb(null, this.serverContext(servername));
  };

  /** Options for tls.createServer (direct TLS listener) that request the peer's certificate. */
  listenerOptions(): { cert: string; key: string; ca: string[]; requestCert: true; rejectUnauthorized: false; SNICallback: S2SSecurity['sniCallback']; minVersion: 'TLSv1.2'; ALPNProtocols: string[] } {
    const first = this.tls.forDomain(undefined);
    if (!first) throw new Error('no virtual host has a certificate');
    return {
      cert: first.certificatePem,
      key: first.keyPem,
      ca: this.ca,
      requestCert: true,
      rejectUnauthorized: false,
      SNICallback: this.sniCallback,
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['xmpp-server'],
    };
  }

  /** Options to connect (or STARTTLS) as `localDomain` to `remoteDomain`, presenting our certificate. */
  clientOptions(localDomain: string, remoteDomain: string): ConnectionOptions {
    const host = this.tls.forDomain(localDomain);
    let ctx = this.clientContexts.get(localDomain);
    if (!ctx) {
      ctx = host
        ? createSecureContext({ cert: host.certificatePem, key: host.keyPem, ca: this.ca, minVersion: 'TLSv1.2' })
        : createSecureContext({ ca: this.ca, minVersion: 'TLSv1.2' });
      this.clientContexts.set(localDomain, ctx);
    }
    // Verified by checkPeer() so that an untrusted peer can still be offered dialback.
    return { secureContext: ctx, servername: remoteDomain, rejectUnauthorized: false };
  }

  /** PKIX (against our roots) and the name check for `domain` on a TLS socket's peer certificate. */
  checkPeer(socket: TLSSocket | undefined, domain: string | undefined): CertificateCheck {
    if (!socket) return { valid: false, reason: 'not encrypted' };
    if (domain === undefined) return { valid: false, reason: 'the peer did not say which domain it is' };
    const cert = socket.getPeerX509Certificate();
    if (!cert) return { valid: false, reason: 'no certificate presented' };
    const verifyError = socket.authorized ? null : chainError(socket);
    if (verifyError !== null) return { valid: false, reason: `untrusted certificate (${verifyError})` };
    if (cert.checkHost(domain, { subject: 'default' }) === undefined) return { valid: false, reason: `the certificate does not name ${domain}` };
    return { valid: true };
  }
}

/**
 * Why the peer's chain did not verify, or null when it did. Node computes `authorized` only for
 * sockets accepted by a tls.Server; a socket upgraded in place by STARTTLS (our incoming s2s
 * streams) never gets it, so the handshake's verify result is read from the handle, as Node's
 * own tls.Server does.
 */
function chainError(socket: TLSSocket): string | null {
  if (socket.authorizationError) return String(socket.authorizationError);
  // Internal but long-stable API (lib/_tls_wrap.js onServerSocketSecure uses it).
  const handle = (socket as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  if (typeof handle?.verifyError !== 'function') return 'verification result unavailable';
  const err = handle.verifyError();
  return err ? ((err as NodeJS.ErrnoException).code ?? err.message) : null;
}
