/**
 * `canto start`: run the server until SIGTERM/SIGINT, then shut down gracefully (exit 0); SIGHUP
 * reloads the configuration file (src/app/reload.ts).
 * With `[cluster] redis` it is one node of a Redis-backed cluster (cluster-node.ts); with
 * `workers` > 1 as well (the config requires redis then) it forks that many Redis nodes — this
 * same command, with CANTO_WORKER=k set — and only supervises them (src/cluster/local-nodes.ts).
 */
import type { CantoConfig } from '../core/config.js';
import { createLogger } from '../core/logging.js';
import { bootServer } from '../app/boot.js';
import { nodeIdOf, runNode } from './cluster-node.js';
import { localNodeIndex, runLocalNodes } from '../cluster/local-nodes.js';
import { untilSignalled } from './until-signal.js';
import { Reloader } from '../app/reload.js';

export async function runStart(config: CantoConfig, file: string | undefined): Promise<number> {
  const baseLog = createLogger({ level: config.log_level, format: config.log_format });
  const redis = config.cluster.redis;
  const local = config.cluster.workers > 1 ? localNodeIndex() : undefined;
  if (local !== undefined && redis !== undefined) {
    return runNode(config, redis, baseLog, file, { index: local, restarted: process.env.CANTO_NODE_RESTARTED === '1' });
  }
  const clustered = config.cluster.workers > 1;
  const log = clustered ? baseLog.child({ cluster: 'parent' }) : baseLog;
  log.info({ config: file ?? '(built-in default)', data_dir: config.data_dir, node: process.version, node_flags: process.execArgv, allocator: allocatorInUse(), glibc_tunables: process.env.GLIBC_TUNABLES, workers: config.cluster.workers }, 'Canto starting');
  if (redis !== undefined) return clustered ? runLocalNodes(config, nodeIdOf(config), log) : runNode(config, redis, log, file);
  if (clustered) {
    // The config file refuses this; a configuration built in code may not have been checked.
    log.fatal('[cluster] workers > 1 runs Redis nodes: set [cluster] redis (docs/scaling.md)');
    return 1;
  }
  let server;
  try {
    server = await bootServer({ config, log });
  } catch (err) {
    // Storage errors carry a stable code (CANTO_ERR_STORAGE_UNAVAILABLE…, docs/errors.md).
    log.fatal({ err: (err as Error).message, code: (err as { cantoCode?: unknown }).cantoCode }, 'could not start');
    return 1;
  }
  // SIGHUP and `canto reload` read the file again (src/app/reload.ts).
  const reloader = new Reloader(server, file, log).start();
  return untilSignalled(log, (signal) => {
    reloader.close();
    return server.stop(`received ${signal}`);
  });
}

/** The allocator bin/canto chose (it says so in CANTO_ALLOCATOR_IN_USE); started some other way, what the environment shows. */
function allocatorInUse(): string {
  const said = process.env.CANTO_ALLOCATOR_IN_USE;
  if (said) return said;
  return /jemalloc/.test(process.env.LD_PRELOAD ?? '') ? 'jemalloc' : 'glibc';
}
