/**
 * A token bucket that may go into debt: reading from a socket cannot be undone, so what was read
 * is spent in full (tokens may drop below zero) and the reader waits until the bucket is back at
 * zero. `rate` tokens a second refill it up to `burst`.
 */
import type { RateLimit } from '../../util/rate-limiter.js';

/** What a read gate spends: a DebtBucket, or a SharedDebtBucket (shared-bucket.ts). */
export interface SpendingBucket {
  spend(n: number, now: number): void;
  waitMs(now: number): number;
}

export class DebtBucket implements SpendingBucket {
  private tokens: number;
  private at: number;

  constructor(readonly limit: RateLimit, now: number) {
    if (!(limit.rate > 0) || !(limit.burst >= 1)) throw new RangeError('a rate limit needs rate > 0 and burst >= 1');
    this.tokens = limit.burst;
    this.at = now;
  }

  /** Spend `n` tokens (going into debt if there are fewer). */
  spend(n: number, now: number): void {
    this.refill(now);
    this.tokens -= n;
  }

  /** ms until the bucket is out of debt; 0 when it is not in debt. */
  waitMs(now: number): number {
    this.refill(now);
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.limit.rate) * 1000);
  }

  /** Take the balance from elsewhere (a shared bucket's authoritative count), as of `now`. */
  set(tokens: number, now: number): void {
    this.tokens = Math.min(this.limit.burst, tokens);
    this.at = now;
  }

  /** Whether the bucket is full (it carries no information and may be forgotten). */
  isFull(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.limit.burst;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.at) / 1000;
    this.tokens = Math.min(this.limit.burst, this.tokens + elapsed * this.limit.rate);
    this.at = now;
  }
}
