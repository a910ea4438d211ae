/** A token bucket per occupant: `burst` messages at once, then `rate` per second (options.ts). */
export interface TokenBucket {
  tokens: number;
  /** ms since the epoch of the last refill */
  at: number;
}

export function newBucket(burst: number, now: number): TokenBucket {
  return { tokens: burst, at: now };
}

/** Take one token if there is one; refills by the time passed first. */
export function take(bucket: TokenBucket, rate: number, burst: number, now: number): boolean {
  const elapsed = Math.max(0, now - bucket.at) / 1000;
  bucket.tokens = Math.min(burst, bucket.tokens + elapsed * rate);
  bucket.at = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}
