/**
 * Token buckets by key (an account, a JID): `rate` tokens a second refill a bucket of `burst`;
 * `take` spends one when there is one. Memory is bounded: a key unused for long enough to be
 * full again carries no information and is dropped when the map is swept, and past `maxKeys`
 * the least recently used key goes (a forgotten key starts full, so forgetting is lenient).
 */
export interface RateLimit {
  /** Tokens added per second. */
  rate: number;
  /** Bucket size: how many may be taken at once after a quiet spell. */
  burst: number;
}

interface Bucket {
  tokens: number;
  /** When `tokens` was computed (ms). */
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  /** ms after which an untouched bucket is full again. */
  private readonly refillMs: number;

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number,
    private readonly maxKeys = 100_000,
  ) {
    if (!(limit.rate > 0) || !(limit.burst >= 1)) throw new RangeError('a rate limit needs rate > 0 and burst >= 1');
    this.refillMs = (limit.burst / limit.rate) * 1000;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Spend one token of `key`'s bucket: false (and nothing spent) when it is empty. */
  take(key: string): boolean {
    const now = this.now();
    const b = this.buckets.get(key);
    let tokens = this.limit.burst;
    if (b !== undefined) {
      tokens = Math.min(this.limit.burst, b.tokens + ((now - b.at) / 1000) * this.limit.rate);
      this.buckets.delete(key); // re-inserted below: the map's order is least recently used first
    }
    if (tokens < 1) {
      this.buckets.set(key, { tokens, at: now });
      return false;
    }
    this.buckets.set(key, { tokens: tokens - 1, at: now });
    if (this.buckets.size > this.maxKeys) this.sweep(now);
    return true;
  }

  /** Drop buckets that are full again; if still too many, the least recently used ones. */
  private sweep(now: number): void {
    for (const [key, b] of this.buckets) {
      if (now - b.at >= this.refillMs) this.buckets.delete(key);
    }
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= this.maxKeys) break;
      this.buckets.delete(key);
    }
  }
}
