/**
 * How `canto start` runs until told to stop (a single process or a Redis cluster node):
 * SIGTERM or SIGINT runs `shutdown` once and resolves with the exit code (0, or 1 if shutting
 * down failed); a second signal while shutting down exits at once. A local node of
 * `[cluster] workers` listens to SIGTERM only (its parent sends it).
 */
import type { Logger } from '../core/logging.js';

export function untilSignalled(log: Logger, shutdown: (signal: string) => Promise<void>, signals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log.warn(`${signal} again: exiting at once`);
        process.exit(1);
      }
      stopping = true;
      shutdown(signal)
        .then(() => resolve(0))
        .catch((err: unknown) => {
          log.error({ err }, 'error during shutdown');
          resolve(1);
        });
    };
    for (const signal of signals) process.once(signal, () => stop(signal));
  });
}
