/**
 * Counts failed authentications per key (an IP address, an account) in a sliding window.
 * Past `maxFailures` in the window, answers for that key are held back by a delay that
 * doubles with each further failure, up to `maxDelayMs`. Memory stays bounded: timestamps
 * per key are capped and the oldest keys are dropped beyond `maxKeys`.
 */
export interface FailureLimiterOptions {
  maxFailures: number;
  windowMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxKeys?: number;
  now?: () => number;
}

interface Entry {
  times: number[];
  /** When a warning about this key was last logged; one per window. */
  warnedAt: number | undefined;
}

export class FailureLimiter {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly maxKeys: number;
  /** Enough history to reach the delay cap; older failures change nothing. */
  private readonly maxTimes: number;

  constructor(private readonly opts: FailureLimiterOptions) {
    this.now = opts.now ?? Date.now;
    this.maxKeys = opts.maxKeys ?? 100_000;
    const doublings = opts.baseDelayMs > 0 ? Math.ceil(Math.log2(Math.max(1, opts.maxDelayMs / opts.baseDelayMs))) : 0;
    this.maxTimes = opts.maxFailures + doublings + 1;
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    const cutoff = this.now() - this.opts.windowMs;
    while (entry.times.length > 0 && (entry.times[0] as number) <= cutoff) entry.times.shift();
    return entry;
  }

  /** Failures of `key` in the current window. */
  count(key: string): number {
    return this.live(key)?.times.length ?? 0;
  }

  /**
   * Record a failure. `warn` is true when the key is over the limit and has not been warned
   * about in the last window: the caller logs it then.
   */
  record(key: string): { count: number; warn: boolean } {
    let entry = this.live(key);
    if (!entry) {
      if (this.entries.size >= this.maxKeys) {
        const oldest = this.entries.keys().next().value;
        if (oldest !== undefined) this.entries.delete(oldest);
      }
      entry = { times: [], warnedAt: undefined };
      this.entries.set(key, entry);
    }
    const now = this.now();
    entry.times.push(now);
    if (entry.times.length > this.maxTimes) entry.times.shift();
    const count = entry.times.length;
    let warn = false;
    if (count >= this.opts.maxFailures && (entry.warnedAt === undefined || now - entry.warnedAt >= this.opts.windowMs)) {
      entry.warnedAt = now;
      warn = true;
    }
    return { count, warn };
  }

  /** How long to hold back an answer for `key`: 0 under the limit, then doubling, capped. */
  delayFor(key: string): number {
    return this.delayAt(this.count(key));
  }

  /** The delay for a key with `count` failures in the window (counted here or elsewhere). */
  delayAt(count: number): number {
    const over = count - this.opts.maxFailures;
    if (over < 0) return 0;
    return Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** Math.min(over, 30));
  }

  /** Drop keys with no failure in the window. */
  sweep(): void {
    for (const key of [...this.entries.keys()]) {
      const entry = this.live(key);
      if (entry && entry.times.length === 0 && (entry.warnedAt === undefined || this.now() - entry.warnedAt >= this.opts.windowMs)) {
        this.entries.delete(key);
      }
    }
  }

  /** Failures kept per key: more change no delay. */
  get cap(): number {
    return this.maxTimes;
  }

  get size(): number {
    return this.entries.size;
  }
}
