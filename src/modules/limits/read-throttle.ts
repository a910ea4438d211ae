/**
 * A connection's read gate (Connection.gateReads), like Prosody's mod_limits: the bytes read are
 * spent from the connection's byte buckets, the stanzas parsed from its stanza buckets (its own
 * and its address's shared ones); while one of them is in debt, the gate makes the connection
 * wait: it stops reading from the socket (the rest of the chunk at hand waits with it) until the
 * bucket is back at zero. Nothing is dropped, and nothing is buffered beyond that one chunk: the
 * peer's further bytes wait in the kernel's buffers and TCP flow control slows the sender.
 */
import type { SpendingBucket } from './debt-bucket.js';

export interface ReadThrottleOptions {
  /** Buckets spent one per stanza. */
  stanzaBuckets: readonly SpendingBucket[];
  /** Buckets spent one per byte read. */
  byteBuckets: readonly SpendingBucket[];
  now(): number;
  /** A timer; returns its cancel function. */
  setTimeout(fn: () => void, ms: number): () => void;
  /** Told when reading pauses (for logs and metrics), with how long it will wait at least. */
  paused?(waitMs: number): void;
  /** Told when reading may go on again. */
  resumed?(): void;
}

interface Pause {
  promise: Promise<void>;
  resolve(): void;
  cancelTimer: (() => void) | undefined;
}

export class ReadThrottle {
  private pause: Pause | undefined;
  private disposed = false;
  /** How many times reading was paused. */
  pauses = 0;

  constructor(private readonly opts: ReadThrottleOptions) {}

  get isPaused(): boolean {
    return this.pause !== undefined;
  }

  /**
   * The connection's gate: before `bytes` are handled. Undefined: go on (the bytes are spent);
   * a promise: wait for it, then ask again.
   */
  readonly gate = (bytes: number): Promise<void> | undefined => {
    if (this.disposed) return undefined;
    if (this.pause !== undefined) return this.pause.promise;
    const now = this.opts.now();
    const wait = this.wait(now);
    if (wait > 0) return this.startPause(wait);
    for (const b of this.opts.byteBuckets) b.spend(bytes, now);
    return undefined;
  };

  /** A stanza was parsed. */
  stanza(): void {
    const now = this.opts.now();
    for (const b of this.opts.stanzaBuckets) b.spend(1, now);
  }

  /** Let the connection read again and stop limiting it (the module unloads). */
  dispose(): void {
    this.disposed = true;
    this.end();
  }

  private wait(now: number): number {
    let wait = 0;
    for (const b of this.opts.stanzaBuckets) wait = Math.max(wait, b.waitMs(now));
    for (const b of this.opts.byteBuckets) wait = Math.max(wait, b.waitMs(now));
    return wait;
  }

  private startPause(wait: number): Promise<void> {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.pause = { promise, resolve, cancelTimer: undefined };
    this.pauses++;
    this.opts.paused?.(wait);
    this.schedule(wait);
    return promise;
  }

  private schedule(wait: number): void {
    const pause = this.pause;
    if (pause === undefined) return;
    pause.cancelTimer = this.opts.setTimeout(() => {
      pause.cancelTimer = undefined;
      // A shared (per-address) bucket may have been spent meanwhile by another connection.
      const more = this.disposed ? 0 : this.wait(this.opts.now());
      if (more > 0) this.schedule(more);
      else this.end();
    }, wait);
  }

  private end(): void {
    const pause = this.pause;
    if (pause === undefined) return;
    this.pause = undefined;
    pause.cancelTimer?.();
    this.opts.resumed?.();
    pause.resolve();
  }
}
