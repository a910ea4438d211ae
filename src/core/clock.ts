/**
 * Time as modules should read it, so tests can drive module timers with a fake clock
 * (canto/testing's FakeClock) instead of sleeping. A module asks for its clock once:
 *
 *   const clock = moduleClock(mod);
 *   clock.setInterval(() => sweep(clock.now()), 1000);   // cancelled when the module unloads
 *
 * The clock is the 'clock' service when one is provided server-wide (the test harness provides
 * it before the server starts), else the system clock.
 *
 * The seam the core should grow (issue 11): `ServerOptions.clock`, with `mod.setTimeout` and
 * `mod.setInterval` running on it and a `mod.now()`; this file then shrinks to the interface.
 */
import type { ModuleApi } from './modules.js';

export interface Clock {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
  /** Run `fn` once after `ms`; returns the function that cancels it. */
  setTimeout(fn: () => void, ms: number): () => void;
  /** Run `fn` every `ms`; returns the function that cancels it. */
  setInterval(fn: () => void, ms: number): () => void;
}

declare module './services.js' {
  interface ServiceMap {
    clock: Clock;
  }
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

/** The module's clock; its timers are cancelled when the module unloads. */
export function moduleClock(mod: Pick<ModuleApi, 'optional' | 'onUnload'>): Clock {
  const clock = mod.optional('clock') ?? systemClock;
  const track = (cancel: () => void): (() => void) => {
    mod.onUnload(cancel);
    return cancel;
  };
  return {
    now: () => clock.now(),
    setTimeout: (fn, ms) => track(clock.setTimeout(fn, ms)),
    setInterval: (fn, ms) => track(clock.setInterval(fn, ms)),
  };
}
