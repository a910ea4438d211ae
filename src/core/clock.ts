/**
 * Time as the server and its modules read it (`ServerOptions.clock`, default the system clock),
 * so tests drive module timers with a fake clock (canto/testing's FakeClock) instead of sleeping.
 * Modules use `mod.now()`, `mod.setTimeout`, `mod.setInterval` or `mod.clock`, all on it and all
 * cancelled when the module unloads.
 */
export interface Clock {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
  /** Run `fn` once after `ms`; returns the function that cancels it. */
  setTimeout(fn: () => void, ms: number): () => void;
  /** Run `fn` every `ms`; returns the function that cancels it. */
  setInterval(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    return () => clearInterval(t);
  },
};
