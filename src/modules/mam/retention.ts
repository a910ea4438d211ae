/**
 * Retention: every `prune_interval`, deletes archive items older than `archive_expires_after`
 * for every account of the host, in batches of `prune_batch_size`, yielding to the event loop
 * between batches so a large archive never blocks routing for long (SQLite is synchronous).
 */
import type { ModuleApi } from '../../core/modules.js';
import type { ArchiveStore } from '../../storage/types.js';

export interface RetentionOptions {
  /** ms; undefined: keep forever */
  expiresAfter: number | undefined;
  interval: number;
  batchSize: number;
  onPruned: (count: number) => void;
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Starts the pruning timer; returns `prune()` (one run now; runs never overlap). */
export function startRetention<T>(mod: ModuleApi, store: ArchiveStore<T>, opts: RetentionOptions): () => Promise<number> {
  const { expiresAfter, batchSize } = opts;
  let running: Promise<number> | undefined;
  const run = async (): Promise<number> => {
    if (expiresAfter === undefined) return 0;
    const started = Date.now();
    const cutoff = mod.now() - expiresAfter;
    const users = await mod.server.storage.accounts.list(mod.host);
    let deleted = 0;
    for (const username of users) {
      for (;;) {
        const n = await store.delete(username, { end: cutoff, limit: batchSize });
        deleted += n;
        if (n > 0) opts.onPruned(n);
        await yieldToLoop();
        if (n < batchSize) break;
      }
    }
    mod.log.info({ users: users.length, deleted, cutoff: new Date(cutoff).toISOString(), ms: Date.now() - started }, 'message archive pruned');
    return deleted;
  };
  const prune = (): Promise<number> => {
    running ??= run()
      .catch((err: unknown) => {
        mod.log.error({ err }, 'pruning the message archive failed');
        return 0;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  if (expiresAfter !== undefined) mod.setInterval(() => void prune(), opts.interval);
  return prune;
}
