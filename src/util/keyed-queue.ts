/**
 * Runs async tasks one at a time per key (e.g. per account), in the order they were added, and
 * keeps nothing for idle keys. The modules that convert between two stores of one account
 * (avatar, bookmarks) use it so two conversions of one account never interleave their reads and
 * writes; different accounts run in parallel.
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();

  /** Run `task` after the tasks added before for `key`; resolves or rejects with its outcome. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const result = before.then(task);
    // The tail never rejects: one failed task must not stop the next.
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with a task running or waiting. */
  get size(): number {
    return this.tails.size;
  }
}
