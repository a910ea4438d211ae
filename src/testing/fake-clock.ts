/**
 * A controllable clock for module timers: time stands still until the test advances it, and
 * `advance(ms)` runs every timer that falls due, in the order of their due times (ties in the
 * order they were set), with `now()` reading each timer's due time while it runs. Timers set by
 * a running timer run in the same advance if they fall due within it.
 *
 *   const clock = new FakeClock();
 *   const h = await startHarness({ modules: [ping], clock });
 *   clock.advance(60_000);
 */
import type { Clock } from '../core/clock.js';

interface Timer {
  seq: number;
  due: number;
  fn: () => void;
  /** Repeat period for intervals. */
  every: number | undefined;
}

export class FakeClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();

  /** Starts at `start` (default: the real time now, so stamps from Date.now() stay comparable). */
  constructor(start = Date.now()) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): () => void {
    return this.add(fn, ms, undefined);
  }

  setInterval(fn: () => void, ms: number): () => void {
    // An interval of 0 would run forever within one advance.
    return this.add(fn, ms, Math.max(1, ms));
  }

  /** Timers still waiting (for tests of cleanup). */
  get pending(): number {
    return this.timers.size;
  }

  /** Move time forward by `ms`, running the timers that fall due on the way. */
  advance(ms: number): void {
    if (ms < 0) throw new RangeError('a clock only moves forward');
    const end = this.current + ms;
    for (let next = this.nextDue(end); next; next = this.nextDue(end)) {
      this.current = next.due;
      if (next.every === undefined) this.timers.delete(next.seq);
      else next.due += next.every;
      next.fn();
    }
    this.current = end;
  }

  private add(fn: () => void, ms: number, every: number | undefined): () => void {
    const seq = ++this.seq;
    this.timers.set(seq, { seq, due: this.current + Math.max(0, ms), fn, every });
    return () => {
      this.timers.delete(seq);
    };
  }

  private nextDue(end: number): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.timers.values()) {
      if (t.due > end) continue;
      if (!best || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
    }
    return best;
  }
}
