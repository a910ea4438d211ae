/**
 * The Connection of a BOSH session. A BOSH session outlives any one HTTP request, so writes are
 * queued here and the session hands them to a held request (or keeps them until the next one
 * arrives). `bufferedBytes` is what waits for a request: a client that stops polling fills it
 * and is closed by the framing's max_send_buffer check, as a TCP client that stops reading is.
 *
 * A read gate (the limits module's rate limits) is asked by the session before each request's
 * payload is processed (session.ts): when it says wait, that request and the ones after it stay
 * parked, unanswered, which is how a BOSH client is slowed down (it may have only `requests`
 * outstanding). There is no socket to pause, so there is no holdReading.
 */
import type { ReadGate } from '../../core/connection.js';
import type { Connection } from '../../core/session.js';

export interface BoshConnectionEvents {
  /** Something was queued: deliver it when a request is available. */
  queued(): void;
  /** end() was called: finish the session (after delivering what is queued). */
  ended(): void;
  /** destroy() was called: drop the session at once. */
  destroyed(): void;
}

export class BoshConnection implements Connection {
  readonly transport = 'bosh' as const;
  private queue: string[] = [];
  private queuedBytes = 0;
  private state: 'open' | 'ended' | 'destroyed' = 'open';

  constructor(
    readonly remoteAddress: string,
    readonly remotePort: number,
    /** Fixed when the session is created: HTTPS, or HTTPS to a trusted proxy. */
    readonly encrypted: boolean,
    private readonly events: BoshConnectionEvents,
    /** write() returns false once this many bytes wait for a request. */
    private readonly highWaterMark = 64 * 1024,
  ) {}

  get bufferedBytes(): number {
    return this.queuedBytes;
  }

  private gate: ReadGate | undefined;

  gateReads(gate: ReadGate): () => void {
    this.gate = gate;
    return () => {
      if (this.gate === gate) this.gate = undefined;
    };
  }

  /** Ask the gate whether a request's payload of `bytes` may be processed now (undefined: yes). */
  askGate(bytes: number): Promise<void> | undefined {
    return this.gate?.(bytes);
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  write(data: string): boolean {
    if (this.state !== 'open') return false;
    this.queue.push(data);
    this.queuedBytes += Buffer.byteLength(data, 'utf8');
    this.events.queued();
    return this.queuedBytes < this.highWaterMark;
  }

  /** Everything queued, as one payload; the queue is emptied. */
  take(): string {
    const out = this.queue.join('');
    this.queue = [];
    this.queuedBytes = 0;
    return out;
  }

  end(): void {
    if (this.state !== 'open') return;
    this.state = 'ended';
    this.events.ended();
  }

  destroy(): void {
    if (this.state === 'destroyed') return;
    this.state = 'destroyed';
    this.queue = [];
    this.queuedBytes = 0;
    this.events.destroyed();
  }
}
