/**
 * `canto start` with `[cluster] workers = N` and `[cluster] redis`: N Redis nodes on this machine
 * (docs/scaling.md, "Several nodes on one machine"). This parent process serves no XMPP and
 * relays nothing: it prepares what must happen once (data directory, the localhost certificate,
 * the SQLite schema), forks N processes — each an ordinary Redis node with node_id
 * `{node_id}-{k}` (src/cli/cluster-node.ts) — and supervises them: a node that dies is started
 * again with a bounded back-off, SIGTERM/SIGINT stops every node gracefully and exits 0.
 * The nodes share the listening ports through node:cluster (this process accepts connections
 * and hands them round-robin to the nodes), as the retired primary relay's workers did.
 */
import cluster, { type Worker } from 'node:cluster';
import { mkdirSync } from 'node:fs';
import type { CantoConfig } from '../core/config.js';
import type { Logger } from '../core/logging.js';
import { ensureHostCertificates } from '../net/certificates.js';
import { openStorage, storageDriverEntry } from '../storage/registry.js';

/** Restart back-off: 1 s doubling to 30 s; a node that crashed this often within a minute is given up. */
const RESTART_BASE_MS = 1000;
const RESTART_MAX_MS = 30_000;
const CRASH_WINDOW_MS = 60_000;
const MAX_CRASHES_IN_WINDOW = 5;
/** How long nodes get to close their streams and give back their leases on stop before they are killed. */
const STOP_GRACE_MS = 15_000;

/** What a local node tells its parent (process.send) once it accepts connections. */
export const LOCAL_NODE_READY = 'canto-local-node-ready';

/** The local node number k when this process is one forked by runLocalNodes, else undefined. */
export function localNodeIndex(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const k = Number(process.env.CANTO_WORKER);
  return Number.isInteger(k) && k >= 1 ? k : undefined;
}

/** The node id of local node k: `{node_id}-{k}`. */
export function localNodeId(base: string, k: number): string {
  return `${base}-${k}`;
}

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  everReady: boolean;
  crashes: number[];
  restartTimer: NodeJS.Timeout | undefined;
  givenUp: boolean;
}

/** Everything done once before any node starts; false when the server cannot start. */
async function prepareOnce(config: CantoConfig, log: Logger): Promise<boolean> {
  try {
    mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
    // Made here, so the nodes find the files and never race writing them.
    await ensureHostCertificates(config, log);
    if (!storageDriverEntry(config).persistent) {
      throw new Error(`storage driver "${config.storage.driver}" keeps data inside one process; local nodes cannot share it (use [cluster] workers = 1)`);
    }
    // Migrations run once here; the nodes then open an up-to-date database side by side (SQLite WAL, or PostgreSQL).
    await (await openStorage(config, log)).close();
    return true;
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'could not start');
    return false;
  }
}

export async function runLocalNodes(config: CantoConfig, baseNodeId: string, log: Logger): Promise<number> {
  const count = config.cluster.workers;
  if (!(await prepareOnce(config, log))) return 1;
  const slots: Slot[] = [];
  let stopping = false;
  let announced = false;
  let exitCode = 0;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  const allExited = () => slots.every((s) => s.worker === undefined);

  const fork = (slot: Slot, restarted: boolean): void => {
    slot.restartTimer = undefined;
    // CANTO_NODE_RESTARTED: the node's previous process is known dead (this parent saw it exit),
    // so the new one waits for its old lease to run out instead of refusing to start.
    const w = cluster.fork({ CANTO_WORKER: String(slot.index), CANTO_NODE_RESTARTED: restarted ? '1' : '' });
    slot.worker = w;
    log.info({ node_id: localNodeId(baseNodeId, slot.index), pid: w.process.pid }, 'local node started');
    w.on('message', (m: unknown) => {
      if (m !== LOCAL_NODE_READY) return;
      slot.everReady = true;
      if (!announced && slots.every((s) => s.everReady)) {
        announced = true;
        log.info({ nodes: count }, 'cluster started: every local node accepts connections');
      }
    });
    w.on('exit', (code, signal) => onExit(slot, w, code, signal));
  };

  const onExit = (slot: Slot, w: Worker, code: number | null, signal: string | null): void => {
    if (slot.worker !== w) return;
    slot.worker = undefined;
    const nodeId = localNodeId(baseNodeId, slot.index);
    if (stopping) {
      log.info({ node_id: nodeId, pid: w.process.pid, code, signal }, 'local node stopped');
      if (allExited()) finish();
      return;
    }
    // The other nodes reap it through Redis once its lease runs out (contacts are told, its queue is routed again).
    log.error({ node_id: nodeId, pid: w.process.pid, code, signal }, 'local node exited unexpectedly');
    if (!slot.everReady) {
      log.fatal({ node_id: nodeId }, 'a local node failed to start: stopping the cluster');
      stopAll('a local node failed to start', 1);
      return;
    }
    const now = Date.now();
    slot.crashes = slot.crashes.filter((t) => now - t < CRASH_WINDOW_MS);
    slot.crashes.push(now);
    if (slot.crashes.length > MAX_CRASHES_IN_WINDOW) {
      slot.givenUp = true;
      log.error({ node_id: nodeId, crashes: slot.crashes.length }, 'local node keeps crashing: not restarting it');
      if (slots.every((s) => s.givenUp)) stopAll('every local node keeps crashing', 1);
      return;
    }
    const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (slot.crashes.length - 1));
    log.info({ node_id: nodeId, in_ms: delay }, 'restarting local node');
    slot.restartTimer = setTimeout(() => fork(slot, true), delay);
  };

  const stopAll = (reason: string, code = 0): void => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log.info({ reason }, 'stopping the local nodes');
    for (const s of slots) {
      clearTimeout(s.restartTimer);
      s.restartTimer = undefined;
      // Each node stops on SIGTERM as a lone `canto start` does: streams closed, lease given back.
      s.worker?.process.kill('SIGTERM');
    }
    if (allExited()) finish();
    setTimeout(() => {
      for (const s of slots) {
        if (!s.worker) continue;
        log.warn({ node_id: localNodeId(baseNodeId, s.index), pid: s.worker.process.pid }, 'local node did not stop in time: killing it');
        s.worker.process.kill('SIGKILL');
      }
    }, STOP_GRACE_MS).unref();
  };

  const onSignal = (signal: string) => {
    if (stopping) {
      log.warn(`${signal} again: exiting at once`);
      for (const s of slots) s.worker?.process.kill('SIGKILL');
      process.exit(1);
    }
    stopAll(`received ${signal}`);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGHUP', () => log.warn('SIGHUP: live reload is not available with [cluster] workers > 1 (each local node would have to apply the file, all or none); restart to apply configuration changes (docs/operations.md, "Reloading")'));

  for (let k = 1; k <= count; k++) slots.push({ index: k, worker: undefined, everReady: false, crashes: [], restartTimer: undefined, givenUp: false });
  for (const slot of slots) fork(slot, false);
  await done;
  return exitCode;
}
