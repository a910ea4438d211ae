/** Small measurement helpers shared by the scenarios: latency samples, percentiles, pools. */

/** Latency samples in milliseconds. */
export class Latencies {
  private readonly samples: number[] = [];

  add(ms: number): void {
    this.samples.push(ms);
  }

  get count(): number {
    return this.samples.length;
  }

  /** The q-quantile (0..1) by nearest rank; NaN when empty. */
  quantile(q: number): number {
    if (this.samples.length === 0) return Number.NaN;
    const sorted = Float64Array.from(this.samples).sort();
    const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
    return sorted[rank] ?? Number.NaN;
  }
}

/** Milliseconds since an arbitrary origin, sub-millisecond precision. */
export function nowMs(): number {
  return performance.now();
}

export function round(n: number, digits = 1): number {
  if (!Number.isFinite(n)) return n;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/**
 * Run `task(i)` for i in [0, count) with at most `concurrency` in flight; stops starting new
 * tasks after `deadline` (a nowMs() value). The first failure rejects once the running tasks end.
 */
export async function pool(count: number, concurrency: number, deadline: number, task: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  let done = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (next < count && failure === undefined && nowMs() < deadline) {
      const i = next++;
      try {
        await task(i);
        done++;
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
  if (failure !== undefined) throw failure;
  return done;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Small seeded PRNG (mulberry32) so a run repeats exactly (the XML corpus, the soak schedule). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Collects the load generator's garbage now (bench/run.ts starts it with --expose-gc), so that no
 * collection the set-up made due lands in the timed phase that follows.
 */
export function settleGenerator(): void {
  globalThis.gc?.();
}
