/**
 * Per-address limit on account registrations: at most `max` in any `periodMs` window
 * (a sliding window over the times of the registrations). A registration takes a slot before
 * the account is created and gives it back if creation fails, so concurrent attempts from one
 * address cannot slip past the limit together.
 *
 * In a Redis cluster (`shared`), `takeShared` keeps the window in Redis (a sorted set, one Lua
 * script: limits/redis-bucket-store.ts `slot`) so that registrations from one address to any node
 * count together; registrations are rare, so one Redis call each is cheap. When Redis cannot be
 * reached, the window in this process is used (the limit then holds per node).
 */
export interface ThrottleOptions {
  /** Registrations allowed per address per period; 0 means no limit. */
  max: number;
  periodMs: number;
  /** Addresses never limited (e.g. a trusted web front end that registers for its users). */
  exempt?: Iterable<string>;
  /** Clock, for tests. */
  now?: () => number;
  /** The window shared by the nodes of a Redis cluster, and this throttle's key prefix in it. */
  shared?: { store: SlotStore; prefix: string };
}

/** A sliding-window store shared by nodes (RedisBucketStore). */
export interface SlotStore {
  /** Record an event unless `max` are in the window: its undo, false when full, undefined when unreachable. */
  slot(key: string, max: number, windowMs: number): Promise<(() => Promise<void>) | false | undefined>;
}

export class RegistrationThrottle {
  private readonly max: number;
  private readonly periodMs: number;
  private readonly exempt: ReadonlySet<string>;
  private readonly now: () => number;
  /** address → times of its registrations within the window, oldest first */
  private readonly recent = new Map<string, number[]>();
  private lastSweep: number;
  private readonly shared: ThrottleOptions['shared'];

  constructor(opts: ThrottleOptions) {
    this.max = opts.max;
    this.periodMs = opts.periodMs;
    this.exempt = new Set(opts.exempt ?? []);
    this.now = opts.now ?? Date.now;
    this.lastSweep = this.now();
    this.shared = opts.shared;
  }

  /** `take`, counted across the nodes of a Redis cluster when the throttle is shared. */
  async takeShared(key: string): Promise<(() => void) | undefined> {
    if (this.shared === undefined || this.max <= 0 || this.exempt.has(key)) return this.take(key);
    const undo = await this.shared.store.slot(`${this.shared.prefix}${key}`, this.max, this.periodMs);
    if (undo === undefined) return this.take(key); // Redis away: this process's window
    if (undo === false) return undefined;
    return () => void undo();
  }

  /**
   * Take a slot for a registration from `ip`. Returns a function that gives the slot back
   * (call it when the registration fails), or undefined when the address is over its limit.
   */
  take(ip: string): (() => void) | undefined {
    if (this.max <= 0 || this.exempt.has(ip)) return () => {};
    const now = this.now();
    this.sweepIfDue(now);
    const times = this.current(ip, now);
    if (times.length >= this.max) return undefined;
    times.push(now);
    this.recent.set(ip, times);
    let returned = false;
    return () => {
      if (returned) return;
      returned = true;
      const list = this.recent.get(ip);
      const i = list?.lastIndexOf(now) ?? -1;
      if (!list || i < 0) return;
      list.splice(i, 1);
      if (list.length === 0) this.recent.delete(ip);
    };
  }

  /** Registrations from `ip` counted in the current window. */
  count(ip: string): number {
    return this.current(ip, this.now()).length;
  }

  /** Addresses with registrations in memory (for tests and metrics). */
  get trackedAddresses(): number {
    return this.recent.size;
  }

  private current(ip: string, now: number): number[] {
    const times = this.recent.get(ip);
    if (!times) return [];
    const fresh = times.filter((t) => now - t < this.periodMs);
    if (fresh.length === 0) this.recent.delete(ip);
    else this.recent.set(ip, fresh);
    return fresh;
  }

  /** Forget addresses whose registrations all left the window; at most once per period. */
  private sweepIfDue(now: number): void {
    if (now - this.lastSweep < this.periodMs) return;
    this.lastSweep = now;
    for (const ip of [...this.recent.keys()]) this.current(ip, now);
  }
}
