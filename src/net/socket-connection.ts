/**
 * A Connection over a TCP socket, plain or TLS (direct TLS, or upgraded by STARTTLS).
 * The connection owns the socket's listeners so a STARTTLS upgrade can move them to the
 * TLS socket without the session noticing. Writes made in one tick are joined into one string and
 * written once at the end of the tick, so a burst of stanzas to one session (a page of archive
 * results, a roster, room history) costs one UTF-8 conversion, one TLS record run and one
 * syscall instead of one of each per stanza. When the socket's
 * buffer is over its mark, reading from the peer pauses until it drains (backpressure: a
 * client that does not read cannot make us queue replies without bound). A read gate (rate
 * limits) sees what is read in slices and can hold the rest of a chunk and the reading.
 */
import type { Socket } from 'node:net';
import { TLSSocket, connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Connection, ReadGate, StartTlsOptions } from '../core/connection.js';

/** Bytes handled between two questions to a read gate: how far a rate limit can be overrun. */
const READ_SLICE = 2048;
/**
 * Bytes of a gated connection handled in one turn of the event loop before it lets the other
 * connections have theirs. Without it a client spending its byte burst (1 MiB by default) is
 * read and answered in 16 KiB TLS chunks, each handled whole, and everyone else's stanzas wait
 * behind them: the `flood` bench scenario saw the other clients' p99 ×1.8 for that half second.
 */
export const READ_TURN_BYTES = 2048;

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
  /** What was written in this tick, flushed at its end. */
  private pending: string[] = [];
  private pendingLength = 0;
  private closed = false;
  private pausedForDrain = false;
  /** holdReading() calls not yet released. */
  private readHolds = 0;
  /** gateReads(): asked before each slice of what is read. */
  private gate: ReadGate | undefined;
  /** Chunks (the first partly handled) waiting for the gate; reading is held meanwhile. */
  private gated: Buffer[] = [];

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

  /** Unsent output: the socket's buffer and this tick's writes (counted in UTF-16 units, about bytes for XML). */
  get bufferedBytes(): number {
    return this.socketRef.writableLength + this.pendingLength;
  }

  write(data: string): boolean {
    const socket = this.socketRef;
    if (this.closed || socket.destroyed || !socket.writable) return false;
    if (this.pending.length === 0) process.nextTick(this.flushTick);
    this.pending.push(data);
    this.pendingLength += data.length;
    return !this.pausedForDrain;
  }

  private readonly flushTick = (): void => this.flush();

  /** Write what this tick queued, as one string. */
  private flush(): void {
    if (this.pending.length === 0) return;
    const data = this.pending.length === 1 ? (this.pending[0] as string) : this.pending.join('');
    this.pending = [];
    this.pendingLength = 0;
    const socket = this.socketRef;
    if (this.closed || socket.destroyed || !socket.writable) return;
    const ok = socket.write(data);
    if (!ok && !this.pausedForDrain) {
      this.pausedForDrain = true;
      socket.pause();
      socket.once('drain', () => {
        this.pausedForDrain = false;
        this.resumeIfFree();
      });
    }
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

  gateReads(gate: ReadGate): () => void {
    this.gate = gate;
    return () => {
      if (this.gate === gate) this.gate = undefined;
    };
  }

  /** A chunk read: handled at once without a gate, else slice by slice as the gate allows. */
  private onData(chunk: Buffer): void {
    if (this.gate === undefined && this.gated.length === 0) {
      this.handlers.data(chunk);
      return;
    }
    this.gated.push(chunk);
    if (this.gated.length === 1) this.feedGated();
  }

  /**
   * Handle the gated chunks until the gate says wait (then hold reading until it settles), or
   * until this turn's share (READ_TURN_BYTES) is spent (then go on in the next turn).
   */
  private feedGated(): void {
    let turn = 0;
    while (this.gated.length > 0 && !this.closed) {
      if (turn >= READ_TURN_BYTES) {
        const release = this.holdReading();
        setImmediate(() => {
          release();
          this.feedGated();
        });
        return;
      }
      const chunk = this.gated[0] as Buffer;
      const slice = chunk.subarray(0, READ_SLICE);
      const wait = this.gate?.(slice.length);
      if (wait !== undefined) {
        const release = this.holdReading();
        const go = (): void => {
          release();
          this.feedGated();
        };
        wait.then(go, go);
        return;
      }
      if (slice.length === chunk.length) this.gated.shift();
      else this.gated[0] = chunk.subarray(slice.length);
      turn += slice.length;
      this.handlers.data(slice);
    }
    if (this.closed) this.gated = [];
  }

  /** Read again unless a write backlog or a hold still says not to. */
  private resumeIfFree(): void {
    if (!this.closed && !this.pausedForDrain && this.readHolds === 0) this.socketRef.resume();
  }

  end(): void {
    if (this.closed) return;
    this.flush();
    this.socketRef.end();
  }

  destroy(): void {
    this.closed = true;
    this.pending = [];
    this.pendingLength = 0;
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
    this.flush();
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

  private attach(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.handlers.error?.(err));
    socket.once('close', (hadError: boolean) => {
      this.closed = true;
      this.handlers.close(hadError);
    });
  }
}
