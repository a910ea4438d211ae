/**
 * The cluster primary (`canto start` with `[cluster] workers` > 1): it serves no XMPP itself.
 * It prepares what must happen once (data directory, the localhost certificate, the SQLite
 * schema), forks the workers, is the hub of the registry and of every stanza between workers
 * (docs/scaling.md, "the primary as the engine"), restarts a worker that dies with a bounded
 * back-off, and on SIGTERM/SIGINT stops every worker gracefully and exits 0.
 */
import cluster, { type Worker } from 'node:cluster';
import { mkdirSync } from 'node:fs';
import type { CantoConfig } from '../core/config.js';
import type { Logger } from '../core/logging.js';
import { ensureHostCertificates } from '../net/certificates.js';
import { openStorage, storageDriverEntry } from '../storage/registry.js';
import { PrimaryRegistry } from './primary-registry.js';
import { SERVICE_WORKER, isClusterMessage, type NodeRef, type PrimaryToWorker, type WorkerToPrimary } from './protocol.js';

/** Restart back-off: 1 s doubling to 30 s; a worker that crashed this often within a minute is given up. */
const RESTART_BASE_MS = 1000;
const RESTART_MAX_MS = 30_000;
const CRASH_WINDOW_MS = 60_000;
const MAX_CRASHES_IN_WINDOW = 5;
/** How long workers get to close their streams on stop before they are killed. */
const STOP_GRACE_MS = 10_000;

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  /** Said hello (has its snapshot): deliveries and broadcasts reach it. */
  joined: boolean;
  /** Has been ready at least once (a failure before that, at first start, is fatal). */
  everReady: boolean;
  crashes: number[];
  restartTimer: NodeJS.Timeout | undefined;
  givenUp: boolean;
}

/** Everything done once before any worker starts; false when the server cannot start. */
export async function prepareOnce(config: CantoConfig, log: Logger): Promise<boolean> {
  try {
    mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
    // Made here, so the workers find the files and never race writing them.
    await ensureHostCertificates(config, log);
    if (!storageDriverEntry(config).persistent) {
      throw new Error(`storage driver "${config.storage.driver}" keeps data inside one process; workers cannot share it (use [cluster] workers = 1)`);
    }
    // Migrations run once here; the workers then open an up-to-date database side by side (WAL).
    await (await openStorage(config, log)).close();
    return true;
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'could not start');
    return false;
  }
}

export async function runPrimary(config: CantoConfig, log: Logger): Promise<number> {
  const count = config.cluster.workers;
  if (!(await prepareOnce(config, log))) return 1;
  const registry = new PrimaryRegistry();
  const slots = new Map<NodeRef, Slot>();
  let stopping = false;
  let announced = false;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));

  const send = (slot: Slot | undefined, msg: PrimaryToWorker): boolean => {
    const w = slot?.worker;
    if (!w || !w.isConnected()) return false;
    try {
      w.send(msg);
      return true;
    } catch (err) {
      log.warn({ err, worker: slot?.index }, 'could not send to a worker');
      return false;
    }
  };
  const broadcast = (msg: PrimaryToWorker, except: number): void => {
    for (const s of slots.values()) if (s.index !== except && s.joined) send(s, msg);
  };

  const fork = (slot: Slot): void => {
    slot.restartTimer = undefined;
    slot.joined = false;
    const w = cluster.fork({ CANTO_WORKER: String(slot.index) });
    slot.worker = w;
    log.info({ worker: slot.index, pid: w.process.pid }, 'worker started');
    w.on('message', (m: unknown) => {
      if (isClusterMessage(m)) onMessage(slot, m as WorkerToPrimary);
    });
    w.on('exit', (code, signal) => onExit(slot, w, code, signal));
  };

  const onMessage = (slot: Slot, msg: WorkerToPrimary): void => {
    switch (msg.t) {
      case 'hello':
        slot.joined = true;
        send(slot, { t: 'snapshot', entries: registry.snapshot() });
        return;
      case 'ready':
        slot.everReady = true;
        log.debug({ worker: slot.index }, 'worker ready');
        if (!announced && [...slots.values()].every((s) => s.everReady)) {
          announced = true;
          log.info({ workers: count }, 'cluster started: every worker accepts connections');
        }
        return;
      case 'bound': {
        const { replaced } = registry.bound(msg.e);
        // Two workers bound one resource at once: the later binding wins, as with kick_old.
        if (replaced && replaced.worker !== msg.e.worker) {
          send(slots.get(replaced.worker), {
            t: 'close', to: replaced.worker, sid: replaced.sid,
            host: replaced.host, username: replaced.username, resource: replaced.resource,
            reason: { condition: 'conflict', text: 'replaced by a new connection with the same resource' },
          });
        }
        broadcast(msg, slot.index);
        return;
      }
      case 'updated':
        if (registry.updated(msg.e)) broadcast(msg, slot.index);
        return;
      case 'unbound':
        if (registry.unbound(msg.e)) broadcast(msg, slot.index);
        return;
      case 'deliver':
        if (!send(slots.get(msg.to), msg)) send(slot, { t: 'undeliverable', msg });
        return;
      case 'close':
        send(slots.get(msg.to), msg);
        return;
      case 'forward':
        if (!send(slots.get(SERVICE_WORKER), msg)) send(slot, { t: 'undeliverable', msg });
        return;
      case 'invalidate':
        broadcast(msg, slot.index);
        return;
    }
  };

  const onExit = (slot: Slot, w: Worker, code: number | null, signal: string | null): void => {
    if (slot.worker !== w) return;
    slot.worker = undefined;
    slot.joined = false;
    const dropped = registry.dropWorker(slot.index);
    if (stopping) {
      log.info({ worker: slot.index, pid: w.process.pid, code, signal }, 'worker stopped');
      if ([...slots.values()].every((s) => s.worker === undefined)) finish();
      return;
    }
    log.error({ worker: slot.index, pid: w.process.pid, code, signal, resources: dropped }, 'worker exited unexpectedly');
    // One survivor announces the lost resources as unavailable; the others just forget them.
    const reaper = [...slots.values()].find((s) => s.joined);
    for (const s of slots.values()) {
      if (s.joined) send(s, { t: 'drop-worker', worker: slot.index, reap: s === reaper });
    }
    if (!slot.everReady) {
      log.fatal({ worker: slot.index }, 'a worker failed to start: stopping the cluster');
      stopAll('a worker failed to start', 1);
      return;
    }
    scheduleRestart(slot);
  };

  const scheduleRestart = (slot: Slot): void => {
    const now = Date.now();
    slot.crashes = slot.crashes.filter((t) => now - t < CRASH_WINDOW_MS);
    slot.crashes.push(now);
    if (slot.crashes.length > MAX_CRASHES_IN_WINDOW) {
      slot.givenUp = true;
      log.error({ worker: slot.index, crashes: slot.crashes.length }, 'worker keeps crashing: not restarting it');
      if ([...slots.values()].every((s) => s.givenUp)) stopAll('every worker keeps crashing', 1);
      return;
    }
    const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (slot.crashes.length - 1));
    log.info({ worker: slot.index, in_ms: delay }, 'restarting worker');
    slot.restartTimer = setTimeout(() => fork(slot), delay);
  };

  let exitCode = 0;
  const stopAll = (reason: string, code = 0): void => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log.info({ reason }, 'stopping the cluster');
    for (const s of slots.values()) {
      clearTimeout(s.restartTimer);
      s.restartTimer = undefined;
      if (!send(s, { t: 'stop', reason })) s.worker?.kill('SIGTERM');
    }
    if ([...slots.values()].every((s) => s.worker === undefined)) finish();
    setTimeout(() => {
      for (const s of slots.values()) {
        if (!s.worker) continue;
        log.warn({ worker: s.index, pid: s.worker.process.pid }, 'worker did not stop in time: killing it');
        s.worker.process.kill('SIGKILL');
      }
    }, STOP_GRACE_MS).unref();
  };

  const onSignal = (signal: string) => {
    if (stopping) {
      log.warn(`${signal} again: exiting at once`);
      for (const s of slots.values()) s.worker?.process.kill('SIGKILL');
      process.exit(1);
    }
    stopAll(`received ${signal}`);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  // SIGHUP (systemctl reload) would otherwise end the primary and so every worker.
  process.on('SIGHUP', () => log.warn('SIGHUP: live reload is not available with [cluster] workers > 1: each worker holds its own hosts, modules and sessions, and a reload would have to reach every worker and be applied by all or none (a file accepted by one worker and refused by another would leave the cluster split); restart to apply configuration changes (docs/operations.md, "Reloading")'));

  for (let i = 1; i <= count; i++) {
    const slot: Slot = { index: i, worker: undefined, joined: false, everReady: false, crashes: [], restartTimer: undefined, givenUp: false };
    slots.set(i, slot);
  }
  for (const slot of slots.values()) fork(slot);
  await done;
  return exitCode;
}
