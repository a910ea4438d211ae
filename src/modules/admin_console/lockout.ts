/**
 * Lockout after repeated failed logins: failures are counted per key (an account, an address)
 * within a window; at `limit` failures the key is locked for `lockMs` from the last one. A
 * success clears the key. Entries expire on their own (sweep), and the table is bounded: when
 * full, the entry seen least recently goes.
 */

export interface LockoutOptions {
  /** Failures within `windowMs` that lock the key. */
  limit: number;
  windowMs: number;
  lockMs: number;
  /** Keys remembered at most. */
  maxKeys: number;
}

interface Entry {
  failures: number;
  first: number;
  lockedUntil: number;
}

export class Lockout {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly opts: LockoutOptions,
    private readonly now: () => number,
  ) {}

  /** Ms until the key is unlocked; 0 when it is not locked. */
  lockedFor(key: string): number {
    const e = this.entries.get(key);
    if (!e) return 0;
    return Math.max(0, e.lockedUntil - this.now());
  }

  /** Count a failure; returns true when this failure locked the key. */
  fail(key: string): boolean {
    const now = this.now();
    let e = this.entries.get(key);
    if (e && now - e.first >= this.opts.windowMs && e.lockedUntil <= now) e = undefined;
    if (!e) {
      if (this.entries.size >= this.opts.maxKeys) {
        const oldest = this.entries.keys().next().value;
        if (oldest !== undefined) this.entries.delete(oldest);
      }
      e = { failures: 0, first: now, lockedUntil: 0 };
    }
    this.entries.delete(key); // re-inserted last: the map's order is least recently failed first
    this.entries.set(key, e);
    e.failures++;
    if (e.failures >= this.opts.limit) {
      const wasLocked = e.lockedUntil > now;
      e.lockedUntil = now + this.opts.lockMs;
      return !wasLocked;
    }
    return false;
  }

  clear(key: string): void {
    this.entries.delete(key);
  }

  sweep(): void {
    const now = this.now();
    for (const [key, e] of this.entries) if (e.lockedUntil <= now && now - e.first >= this.opts.windowMs) this.entries.delete(key);
  }
}
