/**
 * Timers of the push module (answer timeouts, retries, coalesced pushes) as deadlines looked at
 * by one sweep per host, as stream management does: `mod.setTimeout` keeps a cleanup per call
 * until unload, which a module setting a timer per notification would grow without bound.
 */
export class Deadlines {
  private readonly items = new Set<{ at: number; fn: () => void }>();

  constructor(private readonly now: () => number) {}

  /** Run `fn` at the first sweep `ms` or more from now; returns the cancel function. */
  after(ms: number, fn: () => void): () => void {
    const item = { at: this.now() + ms, fn };
    this.items.add(item);
    return () => {
      this.items.delete(item);
    };
  }

  /** Run what is due, earliest first. */
  sweep(): void {
    const now = this.now();
    const due = [...this.items].filter((i) => i.at <= now).sort((a, b) => a.at - b.at);
    for (const item of due) {
      if (!this.items.delete(item)) continue; // cancelled by an earlier one
      item.fn();
    }
  }

  clear(): void {
    this.items.clear();
  }

  get size(): number {
    return this.items.size;
  }
}
