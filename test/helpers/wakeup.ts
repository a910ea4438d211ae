/**
 * The wait loop every byte-level test client needs: sleep until something arrives (wake()) or a
 * deadline passes, then look again. `until` resolves with the first defined value of `check`;
 * `check` may throw to give up early (e.g. the connection closed).
 */
export class Wakeup {
  private waiters: Array<() => void> = [];

  wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  async until<T>(check: () => T | undefined, ms: number, onTimeout: () => Error): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = check();
      if (value !== undefined) return value;
      const left = deadline - Date.now();
      if (left <= 0) throw onTimeout();
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
}
