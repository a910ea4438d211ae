/**
 * A per-address read bucket shared by the nodes of a Redis cluster, without a Redis round trip
 * per read: the read gate spends from a local copy (a DebtBucket, so the hot path stays a few
 * arithmetic operations), and what was spent is settled against the bucket in Redis in batches,
 * one call in flight at a time: when `batch` tokens have been spent locally since the last
 * settlement, or `flushMs` after the first unsettled spending. Redis answers with the shared
 * balance (every node's spending included), which becomes the local copy's balance (minus what
 * was spent locally while the call was out). So a node learns within one batch or `flushMs`
 * that other nodes have spent the address's budget, and the address can go over its shared
 * budget by at most one batch plus `flushMs` of reading per node.
 *
 * Why settle rather than reserve tokens ahead: reading cannot be undone (the buckets go into
 * debt), so a reservation would be spent anyway when it ran out; settling after the fact costs
 * the same round trips and never holds a read for Redis. With Redis away the local copy goes on
 * alone (the address is limited per node, as without a cluster) and is set again from Redis
 * once it answers.
 */
import type { RateLimit } from '../../util/rate-limiter.js';
import { DebtBucket, type SpendingBucket } from './debt-bucket.js';

export interface SpendStore {
  /** Spend `n` of the shared bucket; its balance after that, or undefined when it is away. */
  spend(key: string, limit: RateLimit, n: number): Promise<number | undefined>;
}

export interface SharedBucketOptions {
  key: string;
  limit: RateLimit;
  store: SpendStore;
  now(): number;
  setTimeout(fn: () => void, ms: number): () => void;
  /** Settle once this many tokens were spent locally (default: 1/16 of the burst, at least 1). */
  batch?: number;
  /** Settle at most this long after the first unsettled spending (ms; default 100). */
  flushMs?: number;
}

export class SharedDebtBucket implements SpendingBucket {
  private readonly local: DebtBucket;
  private readonly batch: number;
  private readonly flushMs: number;
  /** Spent locally and not yet sent to the store. */
  private unsettled = 0;
  private inFlight = false;
  private cancelTimer: (() => void) | undefined;
  /** Settlements made (for tests). */
  settlements = 0;

  constructor(private readonly opts: SharedBucketOptions) {
    this.local = new DebtBucket(opts.limit, opts.now());
    this.batch = opts.batch ?? Math.max(1, Math.floor(opts.limit.burst / 16));
    this.flushMs = opts.flushMs ?? 100;
    // Learn the shared balance at once: another node may have spent it already.
    this.settle();
  }

  spend(n: number, now: number): void {
    this.local.spend(n, now);
    this.unsettled += n;
    if (this.inFlight) return;
    if (this.unsettled >= this.batch) this.settle();
    else this.cancelTimer ??= this.opts.setTimeout(() => {
      this.cancelTimer = undefined;
      this.settle();
    }, this.flushMs);
  }

  waitMs(now: number): number {
    return this.local.waitMs(now);
  }

  /** Send what was spent locally and take the shared balance. */
  private settle(): void {
    if (this.inFlight) return;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const n = this.unsettled;
    this.unsettled = 0;
    this.inFlight = true;
    this.settlements++;
    this.opts.store.spend(this.opts.key, this.opts.limit, n).then(
      (balance) => this.settled(balance),
      () => this.settled(undefined),
    );
  }

  private settled(balance: number | undefined): void {
    this.inFlight = false;
    // Spent while the call was out: not in Redis's balance yet, so taken off the local copy.
    if (balance !== undefined) this.local.set(balance - this.unsettled, this.opts.now());
    if (this.unsettled >= this.batch) this.settle();
    else if (this.unsettled > 0) this.cancelTimer ??= this.opts.setTimeout(() => {
      this.cancelTimer = undefined;
      this.settle();
    }, this.flushMs);
  }
}
