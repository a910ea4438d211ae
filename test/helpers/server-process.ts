/**
 * A Canto test server in a child process started with --expose-gc, for load and robustness
 * tests: the load comes from the test process, and the server's memory can be measured after
 * a full garbage collection without the clients' own allocations in the numbers.
 *
 *   const srv = await startServerProcess({ config: { c2s: { auth_timeout: 3000 } }, accounts: { prefix: 'u', count: 1000, password: 'pw' } });
 *   const before = await srv.memory();
 *   …
 *   await srv.stop();
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A deep-partial CantoConfig as plain JSON; merged into the test config (server.ts). */
export type ConfigPatch = Record<string, unknown>;

export interface ChildOptions {
  config?: ConfigPatch;
  /** Accounts `${prefix}0` … `${prefix}${count - 1}` on localhost, all with `password`. */
  accounts?: { prefix: string; count: number; password: string };
}

export interface SessionInfo {
  type: string;
  jid: string | undefined;
  ip: string | undefined;
  /** Bytes queued in the server's socket, not yet handed to the OS. */
  bufferedBytes: number;
  /** Whether the server has stopped reading this socket (backpressure). */
  readingPaused: boolean;
}

export type ChildRequest = { seq: number; cmd: 'memory'; gc?: boolean } | { seq: number; cmd: 'sessions' } | { seq: number; cmd: 'stop' };

/** Omit<T, 'seq'> applied to each member of a union. */
type DistributiveOmitSeq<T> = T extends unknown ? Omit<T, 'seq'> : never;

export interface ChildReply {
  seq: number;
  ready?: { c2sPort: number };
  memory?: NodeJS.MemoryUsage;
  gcAvailable?: boolean;
  sessions?: SessionInfo[];
}

export interface ServerProcess {
  child: ChildProcess;
  c2sPort: number;
  /** The server's memory; after two full GCs unless `gc` is false. */
  memory(opts?: { gc?: boolean }): Promise<NodeJS.MemoryUsage>;
  sessions(): Promise<SessionInfo[]>;
  stop(): Promise<void>;
}

const CHILD_SCRIPT = fileURLToPath(new URL('./server-child.js', import.meta.url));
const MiB = 1024 * 1024;

export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

export async function startServerProcess(options: ChildOptions = {}, startTimeoutMs = 30_000): Promise<ServerProcess> {
  const child = fork(CHILD_SCRIPT, [], {
    execArgv: ['--expose-gc'],
    env: { ...process.env, CANTO_CHILD_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, (reply: ChildReply) => void>();
  let seq = 0;
  let exited = false;
  const exitWaiters: Array<() => void> = [];
  child.on('exit', () => {
    exited = true;
    for (const w of exitWaiters.splice(0)) w();
    for (const [, resolve] of pending) resolve({ seq: -1 });
    pending.clear();
  });
  child.on('message', (raw) => {
    const reply = raw as ChildReply;
    const resolve = pending.get(reply.seq);
    pending.delete(reply.seq);
    resolve?.(reply);
  });

  const ready = await new Promise<ChildReply>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server child did not start in time')), startTimeoutMs);
    pending.set(0, (r) => {
      clearTimeout(timer);
      if (r.ready) resolve(r);
      else reject(new Error('the server child exited before it was ready'));
    });
  });

  const request = (body: DistributiveOmitSeq<ChildRequest>): Promise<ChildReply> => {
    if (exited) return Promise.reject(new Error('the server child has exited'));
    seq += 1;
    const id = seq;
    return new Promise((resolve, reject) => {
      pending.set(id, (r) => (r.seq === -1 ? reject(new Error('the server child exited')) : resolve(r)));
      child.send({ ...body, seq: id }, (err) => {
        if (!err) return;
        pending.delete(id);
        reject(err);
      });
    });
  };

  return {
    child,
    c2sPort: ready.ready?.c2sPort ?? 0,
    async memory(opts = {}) {
      const r = await request({ cmd: 'memory', gc: opts.gc });
      if (!r.memory) throw new Error('no memory report');
      if (opts.gc !== false && r.gcAvailable !== true) throw new Error('the server child runs without --expose-gc');
      return r.memory;
    },
    async sessions() {
      return (await request({ cmd: 'sessions' })).sessions ?? [];
    },
    async stop() {
      if (exited) return;
      const gone = new Promise<void>((r) => exitWaiters.push(r));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([request({ cmd: 'stop' }).catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
      if (!exited) {
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await gone;
        clearTimeout(t);
      }
    },
  };
}
