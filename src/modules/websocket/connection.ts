/**
 * A Connection over a WebSocket (RFC 7395): each write is one text message. `encrypted` is fixed
 * at the upgrade: true for wss, or for ws from a trusted proxy whose client used HTTPS.
 *
 * Reading can be held (ws.pause(): the underlying socket stops being read, so TCP flow control
 * slows the client) and gated like a TCP connection's (the limits module's rate limits): each
 * message received is offered to the gate whole (a message is one stanza or stream element, so
 * a connection can go over its byte rate by one message at most); while the gate says wait, the
 * socket is paused and the messages ws had already parsed wait here, in order.
 */
import { WebSocket } from 'ws';
import type { ReadGate } from '../../core/connection.js';
import type { Connection } from '../../core/session.js';

interface Queued {
  bytes: number;
  deliver: () => void;
}

export class WebSocketConnection implements Connection {
  readonly transport = 'websocket' as const;

  constructor(
    readonly ws: WebSocket,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly encrypted: boolean,
    /** write() returns false once this many bytes wait to be sent. */
    private readonly highWaterMark = 64 * 1024,
  ) {}

  /** holdReading() calls not yet released. */
  private holds = 0;
  private gate: ReadGate | undefined;
  /** Messages received while the gate said wait (or behind one that waits). */
  private queued: Queued[] = [];
  private closed = false;

  /** Whether reading is held now (a held socket reads no pongs either). */
  get readingHeld(): boolean {
    return this.holds > 0;
  }

  holdReading(): () => void {
    this.holds++;
    if (this.holds === 1) this.ws.pause();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      if (this.holds === 0 && !this.closed) this.ws.resume();
    };
  }

  gateReads(gate: ReadGate): () => void {
    this.gate = gate;
    return () => {
      if (this.gate === gate) this.gate = undefined;
    };
  }

  /** A message of `bytes` arrived: `deliver` it now, or once the gate lets it (in order). */
  receive(bytes: number, deliver: () => void): void {
    if (this.closed) return;
    if (this.queued.length === 0) {
      // Nothing waits: ask the gate here, so a message it lets through costs no queue entry.
      const wait = this.gate?.(bytes);
      if (wait === undefined) {
        deliver();
        return;
      }
      this.queued.push({ bytes, deliver });
      this.waitFor(wait);
      return;
    }
    // Behind a message that waits: its turn comes when the gate lets the queue move.
    this.queued.push({ bytes, deliver });
  }

  /** The socket closed: what waits is dropped (the session is gone). */
  closedByPeer(): void {
    this.closed = true;
    this.queued = [];
  }

  private feed(): void {
    while (this.queued.length > 0 && !this.closed) {
      const next = this.queued[0] as Queued;
      const wait = this.gate?.(next.bytes);
      if (wait !== undefined) {
        this.waitFor(wait);
        return;
      }
      this.queued.shift();
      next.deliver();
    }
  }

  /** Hold reading until the gate's `wait` settles, then go on with what is queued. */
  private waitFor(wait: Promise<void>): void {
    const release = this.holdReading();
    const go = (): void => {
      release();
      this.feed();
    };
    wait.then(go, go);
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  write(data: string): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(data);
    return this.ws.bufferedAmount < this.highWaterMark;
  }

  /** Start the WebSocket closing handshake (queued messages go out first). */
  end(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
  }

  destroy(): void {
    this.ws.terminate();
  }
}
