/**
 * How long to wait before the next attempt at a notification the app server refused or did not
 * answer: `base` after the first failed attempt, doubling each time, never more than `max`.
 * No jitter: the attempts of one registration are already spread by the messages that cause
 * them, and a fixed schedule is what an operator reading the push trace expects to see.
 */
export function retryDelay(failedAttempts: number, base: number, max: number): number {
  if (failedAttempts < 1) return 0;
  // 2^30 × base is beyond any sane max already; the cap keeps the exponent finite.
  const factor = 2 ** Math.min(failedAttempts - 1, 30);
  return Math.min(base * factor, max);
}
