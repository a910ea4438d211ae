/**
 * Where the per-account and per-address counters live: in this process (MemoryBucketStore), or
 * in Redis when the server is a node of a Redis cluster (RedisBucketStore), so that every node
 * counts against the same buckets. A key names the limit and the subject, e.g.
 * `subscriptions:alice@example.com`.
 */
import { RateLimiter, type RateLimit } from '../../util/rate-limiter.js';

export interface BucketStore {
  /** Spend one token of `key`'s bucket of `limit`: false (nothing spent) when it is empty. */
  take(key: string, limit: RateLimit): Promise<boolean>;
  close(): Promise<void>;
}

/** Buckets in this process; memory is bounded by the RateLimiter's sweep. */
export class MemoryBucketStore implements BucketStore {
  private readonly limiters = new Map<string, RateLimiter>();

  constructor(private readonly now: () => number, private readonly maxKeys = 100_000) {}

  take(key: string, limit: RateLimit): Promise<boolean> {
    const shape = `${limit.rate}/${limit.burst}`;
    let limiter = this.limiters.get(shape);
    if (limiter === undefined) {
      limiter = new RateLimiter(limit, this.now, this.maxKeys);
      this.limiters.set(shape, limiter);
    }
    return Promise.resolve(limiter.take(key));
  }

  close(): Promise<void> {
    this.limiters.clear();
    return Promise.resolve();
  }
}
