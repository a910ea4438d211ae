/**
 * Bounded waits instead of fixed sleeps. `waitFor` polls a condition until it holds (resolving
 * with its value) or the time is up (rejecting with `message`); `settle` lets in-process work
 * that needs no wall-clock time (promise chains such as the memory storage's) run to the end.
 */
export interface WaitOptions {
  /** Give up after this long (default 2000 ms). */
  timeoutMs?: number;
  /** Look again this often (default 5 ms). */
  intervalMs?: number;
  /** What the error says on timeout (a function is called then, to describe the state). */
  message?: string | (() => string);
}

/**
 * Wait until `cond` returns a value other than undefined, false or null; resolves with it.
 * `cond` may be async; throwing from it gives up at once.
 */
export async function waitFor<T>(cond: () => T | Promise<T>, opts: WaitOptions = {}): Promise<Exclude<T, undefined | false | null>> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const intervalMs = opts.intervalMs ?? 5;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await cond();
    if (value !== undefined && value !== false && value !== null) return value as Exclude<T, undefined | false | null>;
    if (Date.now() >= deadline) {
      const what = typeof opts.message === 'function' ? opts.message() : (opts.message ?? `condition not met: ${cond.toString()}`);
      throw new Error(`${what} (within ${timeoutMs} ms)`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Let pending promise work finish: a few turns of the event loop (each turn runs every queued
 * microtask first). Enough for work that waits only on promises (the memory storage, routing);
 * not for timers or sockets — wait on those with waitFor or a client's receives().
 */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}
