/**
 * Pausing a session's reads while it is over its rate (like Prosody's mod_limits): every chunk
 * read and every stanza parsed is spent from the session's buckets (and its address's shared
 * ones); when one is in debt, reading from the socket is held until the bucket is back at zero.
 * Nothing is dropped or buffered here: what was already read is handled, the peer's further
 * bytes wait in its own and the kernel's buffers (TCP flow control slows the sender).
 */
import type { DebtBucket } from './debt-bucket.js';

export interface ReadThrottleOptions {
  /** Buckets spent one per stanza. */
  stanzaBuckets: readonly DebtBucket[];
  /** Buckets spent one per byte read. */
  byteBuckets: readonly DebtBucket[];
  /** Stop reading; returns the function that reads again (Connection.holdReading). */
  hold(): () => void;
  now(): number;
  /** A timer; returns its cancel function. */
  setTimeout(fn: () => void, ms: number): () => void;
  /** Told when reading pauses (for logs and metrics), with how long it will wait. */
  paused?(waitMs: number): void;
}

export class ReadThrottle {
  private release: (() => void) | undefined;
  private cancelTimer: (() => void) | undefined;
  private disposed = false;
  /** How many times reading was paused. */
  pauses = 0;

  constructor(private readonly opts: ReadThrottleOptions) {}

  get isPaused(): boolean {
    return this.release !== undefined;
  }

  /** A chunk of `n` bytes was read. */
  bytes(n: number): void {
    const now = this.opts.now();
    for (const b of this.opts.byteBuckets) b.spend(n, now);
    this.check(now);
  }

  /** A stanza was parsed. */
  stanza(): void {
    const now = this.opts.now();
    for (const b of this.opts.stanzaBuckets) b.spend(1, now);
    this.check(now);
  }

  /** Stop the timer and read again (the session is gone or the module unloads). */
  dispose(): void {
    this.disposed = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.resume();
  }

  private wait(now: number): number {
    let wait = 0;
    for (const b of this.opts.stanzaBuckets) wait = Math.max(wait, b.waitMs(now));
    for (const b of this.opts.byteBuckets) wait = Math.max(wait, b.waitMs(now));
    return wait;
  }

  private check(now: number): void {
    if (this.disposed || this.release !== undefined) return;
    const wait = this.wait(now);
    if (wait <= 0) return;
    this.release = this.opts.hold();
    this.pauses++;
    this.opts.paused?.(wait);
    this.schedule(wait);
  }

  private schedule(wait: number): void {
    this.cancelTimer = this.opts.setTimeout(() => {
      this.cancelTimer = undefined;
      if (this.disposed) return;
      // A shared (per-address) bucket may have been spent meanwhile by another session.
      const more = this.wait(this.opts.now());
      if (more > 0) this.schedule(more);
      else this.resume();
    }, wait);
  }

  private resume(): void {
    const release = this.release;
    this.release = undefined;
    release?.();
  }
}
