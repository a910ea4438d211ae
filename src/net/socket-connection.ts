/**
 * A Connection over a TCP socket, plain or TLS (direct TLS, or upgraded by STARTTLS).
 * The connection owns the socket's listeners so a STARTTLS upgrade can move them to the
 * TLS socket without the session noticing. Writes made in one tick are corked together and
 * flushed once, so a burst of stanzas to one session becomes one syscall. When the socket's
 * buffer is over its mark, reading from the peer pauses until it drains (backpressure: a
 * client that does not read cannot make us queue replies without bound).
 */
import type { Socket } from 'node:net';
import { TLSSocket, connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Connection, StartTlsOptions } from '../core/connection.js';

export interface SocketHandlers {
  data(chunk: Buffer): void;
  close(hadError: boolean): void;
  error?(err: Error): void;
}

export type { StartTlsOptions } from '../core/connection.js';

export class SocketConnection implements Connection {
  readonly transport = 'tcp' as const;
  readonly remoteAddress: string;
  readonly remotePort: number;
  private corked = false;
  private closed = false;
  private pausedForDrain = false;
  /** holdReading() calls not yet released. */
  private readHolds = 0;

  constructor(
    private socketRef: Socket,
    private readonly handlers: SocketHandlers,
  ) {
    // Strip the IPv4-mapped prefix so logs and per-IP limits see plain IPv4 addresses.
    const addr = socketRef.remoteAddress ?? '';
    this.remoteAddress = addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
    this.remotePort = socketRef.remotePort ?? 0;
    this.attach(socketRef);
  }

  /** The current socket (a TLSSocket once encrypted). */
  get socket(): Socket {
    return this.socketRef;
  }

  get tlsSocket(): TLSSocket | undefined {
    return this.socketRef instanceof TLSSocket ? this.socketRef : undefined;
  }

  get encrypted(): boolean {
    return this.socketRef instanceof TLSSocket && this.socketRef.encrypted === true;
  }

  get bufferedBytes(): number {
    return this.socketRef.writableLength;
  }

  write(data: string): boolean {
    const socket = this.socketRef;
    if (this.closed || socket.destroyed || !socket.writable) return false;
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(() => this.uncork());
    }
    const ok = socket.write(data);
    if (!ok && !this.pausedForDrain) {
      this.pausedForDrain = true;
      socket.pause();
      socket.once('drain', () => {
        this.pausedForDrain = false;
        this.resumeIfFree();
      });
    }
    return ok;
  }

  holdReading(): () => void {
    this.readHolds++;
    this.socketRef.pause();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.readHolds--;
      this.resumeIfFree();
    };
  }

  /** Read again unless a write backlog or a hold still says not to. */
  private resumeIfFree(): void {
    if (!this.closed && !this.pausedForDrain && this.readHolds === 0) this.socketRef.resume();
  }

  end(): void {
    if (this.closed) return;
    this.uncork();
    this.socketRef.end();
  }

  destroy(): void {
    this.closed = true;
    this.socketRef.destroy();
  }

  /**
   * Upgrade to TLS in place (STARTTLS). Resolves once the handshake is done; rejects (and the
   * connection closes) when it fails. Bytes already written (e.g. <proceed/>) go out first.
   */
  startTls(opts: StartTlsOptions): Promise<void> {
    return this.upgrade((raw) => new TLSSocket(raw, { isServer: true, ...opts }), 'secure');
  }

  /**
   * The client side of STARTTLS (our outgoing server-to-server streams): upgrade in place with
   * us as the TLS client. Resolves once the handshake is done; certificate checks are the
   * caller's (pass rejectUnauthorized: false to inspect an untrusted peer yourself).
   */
  startTlsClient(opts: ConnectionOptions): Promise<void> {
    return this.upgrade((raw) => tlsConnect({ ...opts, socket: raw }), 'secureConnect');
  }

  /** Move our listeners from the raw socket to a TLS socket wrapping it; wait for the handshake. */
  private upgrade(wrap: (raw: Socket) => TLSSocket, doneEvent: 'secure' | 'secureConnect'): Promise<void> {
    this.uncork();
    const raw = this.socketRef;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    raw.removeAllListeners('error');
    raw.removeAllListeners('drain');
    const tlsSocket = wrap(raw);
    this.socketRef = tlsSocket;
    this.attach(tlsSocket);
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      tlsSocket.once(doneEvent, () => {
        tlsSocket.off('error', onError);
        resolve();
      });
      tlsSocket.once('error', onError);
    });
  }

  private uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.socketRef.uncork();
  }

  private attach(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => this.handlers.data(chunk));
    socket.on('error', (err) => this.handlers.error?.(err));
    socket.once('close', (hadError: boolean) => {
      this.closed = true;
      this.handlers.close(hadError);
    });
  }
}
