/**
 * The wait loop every test client needs: sleep until something arrives (wake()) or a deadline
 * passes, then look again. `until` resolves with the first defined value of `check`; `check` may
 * throw to give up early (e.g. the connection closed). Callers call wake() whenever their state
 * changes (data received, connection closed).
 */
export class Wakeup {
  private readonly waiters = new Set<() => void>();

  wake(): void {
    const woken = [...this.waiters];
    this.waiters.clear();
    for (const w of woken) w();
  }

  async until<T>(check: () => T | undefined, ms: number, onTimeout: () => Error): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = check();
      if (value !== undefined) return value;
      const left = deadline - Date.now();
      if (left <= 0) throw onTimeout();
      await this.sleep(left);
    }
  }

  /** Resolve on the next wake() or after `ms`, whichever comes first. */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        // A timed-out waiter leaves the set, so a long-lived client polling with short
        // timeouts (e.g. "nothing arrives") does not pile up stale waiters.
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }
}
