/**
 * A Connection over a WebSocket (RFC 7395): each write is one text message. `encrypted` is fixed
 * at the upgrade: true for wss, or for ws from a trusted proxy whose client used HTTPS.
 */
import { WebSocket } from 'ws';
import type { Connection } from '../../core/session.js';

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
