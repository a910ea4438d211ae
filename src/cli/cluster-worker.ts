/**
 * A cluster worker process (forked by primary.ts with CANTO_WORKER=k): boot a Server linked to
 * the primary, then run until the primary says stop (or goes away). SIGINT is left to the
 * primary (a terminal's Ctrl-C reaches the whole process group); SIGTERM stops this worker.
 */
import cluster from 'node:cluster';
import type { CantoConfig } from '../core/config.js';
import type { Logger } from '../core/logging.js';
import { bootServer } from '../app/boot.js';
import { ClusterWorker, processChannel } from '../cluster/worker.js';

/** The worker number when this process is a cluster worker, else undefined. */
export function clusterWorkerIndex(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const k = Number(process.env.CANTO_WORKER);
  return Number.isInteger(k) && k >= 1 ? k : undefined;
}

export async function runWorker(config: CantoConfig, index: number, log: Logger): Promise<number> {
  process.on('SIGINT', () => {});
  const link = new ClusterWorker(index, config.cluster.workers, processChannel(), log);
  let server;
  try {
    server = await bootServer({ config, log, cluster: link });
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'could not start');
    return 1;
  }
  const running = server;
  link.ready();
  const code = await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (reason: string) => {
      if (stopping) return;
      stopping = true;
      running.stop(reason).then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err }, 'error during shutdown');
          resolve(1);
        },
      );
    };
    link.onStop(stop);
    process.once('SIGTERM', () => stop('received SIGTERM'));
    // The primary is gone (killed): nobody relays any more, so stop rather than run half-blind.
    process.once('disconnect', () => stop('the cluster primary went away'));
  });
  if (process.connected) process.disconnect();
  return code;
}
