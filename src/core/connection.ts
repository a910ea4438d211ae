/**
 * The transport under a stream session (TCP, TLS, BOSH, WebSocket), as the core sees it. The
 * implementations live in src/net and the transport modules; the core only knows this shape.
 */
import type { SecureContext, TLSSocket } from 'node:tls';

export interface StartTlsOptions {
  secureContext: SecureContext;
  SNICallback?: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
  ALPNProtocols?: string[];
  /** Ask the peer for a certificate (server-to-server streams authenticate with it). */
  requestCert?: boolean;
  /** With requestCert: false keeps a peer with a missing or untrusted certificate connected. */
  rejectUnauthorized?: boolean;
}

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
  /** Upgrade to TLS in place (STARTTLS); absent on transports that cannot (BOSH, WebSocket). */
  startTls?(opts: StartTlsOptions): Promise<void>;
  /** The TLS socket once encrypted (for channel binding); absent otherwise. */
  readonly tlsSocket?: TLSSocket;
}
