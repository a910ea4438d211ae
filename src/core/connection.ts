/**
 * The transport under a stream session (TCP, TLS, BOSH, WebSocket), as the core sees it. The
 * implementations live in src/net and the transport modules; the core only knows this shape.
 */
import type { SecureContext, Server as TlsServer, TLSSocket } from 'node:tls';

export interface StartTlsOptions {
  secureContext: SecureContext;
  SNICallback?: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
  ALPNProtocols?: string[];
  /** Ask the peer for a certificate (server-to-server streams authenticate with it). */
  requestCert?: boolean;
  /** With requestCert: false keeps a peer with a missing or untrusted certificate connected. */
  rejectUnauthorized?: boolean;
}

/** See Connection.gateReads: undefined lets `bytes` through now; a promise says wait for it. */
export type ReadGate = (bytes: number) => Promise<void> | undefined;

/** The underlying transport of a stream session (TCP, TLS, BOSH, WebSocket). */
export interface Connection {
  readonly transport: 'tcp' | 'websocket' | 'bosh' | 'internal';
  /** Remote address as seen by the socket (before any trusted-proxy rewriting). */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Whether bytes on this connection are currently encrypted. */
  readonly encrypted: boolean;
  /** Queue framed text for the peer. Returns false when the transport's buffer is above its mark. */
  write(data: string): boolean;
  /** Bytes accepted by write() and not yet handed to the OS. */
  readonly bufferedBytes: number;
  /** Flush and close gracefully. */
  end(): void;
  /** Close at once. */
  destroy(): void;
  /**
   * Stop reading from the peer until the returned function is called (holds are counted).
   * Absent on transports that cannot pause reading (BOSH).
   */
  holdReading?(): () => void;
  /**
   * Meter what is read (rate limits): what arrives is handled in slices of a few KiB, and `gate`
   * is asked before each one. It returns undefined to let the slice through, or a promise: the
   * rest waits (reading from the socket paused, at most one chunk kept) until it settles, then the
   * gate is asked again. One gate per connection; the returned function removes it. BOSH asks it
   * once per request (its payload waits, parked, while the gate says wait).
   */
  gateReads?(gate: ReadGate): () => void;
  /** Upgrade to TLS in place (STARTTLS); absent on transports that cannot (BOSH, WebSocket). */
  startTls?(opts: StartTlsOptions): Promise<void>;
  /** The TLS socket once encrypted (for channel binding); absent otherwise. */
  readonly tlsSocket?: TLSSocket;
}

/** A served host's certificate and its secure context. */
export interface HostTls {
  domain: string;
  context: SecureContext;
  /** PEM of the leaf certificate (for tls-server-end-point channel binding). */
  certificatePem: string;
  keyPem: string;
}

/** The server's TLS material as modules use it (implemented by src/net/tls.ts TlsContexts). */
export interface ServerTls {
  /** The host's certificate (exact name, then a wildcard's parent), or undefined. */
  forDomain(domain: string | undefined): HostTls | undefined;
  readonly defaultContext: SecureContext;
  readonly sniCallback: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
  /** Options for a TLS listener that picks the certificate by SNI. */
  serverOptions(): TlsServerOptions;
  /** A TLS listener made with serverOptions(): its session-ticket key follows the rotation; call the result when it closes. */
  trackServer(server: TlsServer): () => void;
  /** Install a new certificate for a domain (ACME): new handshakes use it, nothing restarts. */
  replace(domain: string, certificatePem: string, keyPem: string): void;
}

/** What ServerTls.serverOptions() gives tls.createServer. */
export interface TlsServerOptions {
  cert: string;
  key: string;
  SNICallback: ServerTls['sniCallback'];
  minVersion: 'TLSv1.2';
  /** The shared session-ticket key of the current period (src/net/tls-tickets.ts). */
  ticketKeys: Buffer;
  sessionTimeout: number;
}
