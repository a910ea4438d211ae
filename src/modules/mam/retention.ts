/**
 * Retention: every `prune_interval`, deletes archive items older than `archive_expires_after`
 * for every account of the host, in batches of `prune_batch_size`, yielding to the event loop
 * between batches so a large archive never blocks routing for long (SQLite is synchronous).
 */
import { z } from 'zod';
import type { ModuleApi } from '../../core/modules.js';
import { parseDuration } from '../../core/units.js';
import type { ArchiveStore } from '../../storage/types.js';

/**
 * An `archive_expires_after` option: a duration, or "never" (kept forever: null; zod refuses an
 * undefined output for a key). Shared by the user archive and the room archive.
 */
export function archiveExpiry(fallback: string) {
  return z.unknown().transform((v, ctx): number | null => {
    if (v === 'never') return null;
    try {
      const ms = parseDuration(v as string | number); // parseDuration checks the type itself
      if (ms < 1000) throw new Error('must be at least 1 second');
      return ms;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `expected "never" or a duration ("30 days", "365 days", or seconds): ${(err as Error).message}` });
      return z.NEVER;
    }
  }).prefault(fallback);
}

export interface RetentionOptions {
  /** ms; undefined: keep forever */
  expiresAfter: number | undefined;
  interval: number;
  batchSize: number;
  onPruned: (count: number) => void;
  /** The store keys to walk (default: the host's accounts); the room archive walks its rooms. */
  owners?: () => Promise<string[]> | string[];
  /** What the log lines call the archive (default "message archive"). */
  label?: string;
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
    const users = opts.owners ? await opts.owners() : await mod.server.storage.accounts.list(mod.host);
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
    mod.log.info({ users: users.length, deleted, cutoff: new Date(cutoff).toISOString(), ms: Date.now() - started }, `${opts.label ?? 'message archive'} pruned`);
    return deleted;
  };
  const prune = (): Promise<number> => {
    running ??= run()
      .catch((err: unknown) => {
        mod.log.error({ err }, `pruning the ${opts.label ?? 'message archive'} failed`);
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
