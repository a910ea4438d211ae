/**
 * Process plumbing for the servers under test: spawn with a raised open-files limit, wait for
 * the listener, read CPU time and RSS from /proc, and stop by PID (only what we started).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, readFileSync, readdirSync, createWriteStream, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { sleep } from '../load/stats.js';
import { BENCH_DOMAIN, BENCH_PASSWORD, benchUsername, type RunningServer, type ServerName } from './types.js';

/** The open-files limit the servers get (the machine's hard limit is 20,000). */
export const SERVER_NOFILE = 20_000;

let clockTicks: number | undefined;

/** Kernel clock ticks per second, the unit of utime/stime in /proc/<pid>/stat. */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** The fields of /proc/<pid>/stat after "pid (comm) " (the command name may contain spaces). */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * The process and all its live descendants (the process first). The kernel here has no
 * /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN), so the parent links come from one
 * scan of /proc/<n>/stat. A clustered Canto is the primary plus its forked workers.
 */
export function processTree(pid: number): number[] {
  const childrenOf = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let ppid: number;
    try {
      ppid = Number(statFields(Number(entry))[1]); // field 4 of the line: ppid
    } catch {
      continue; // exited while we were scanning
    }
    const list = childrenOf.get(ppid);
    if (list) list.push(Number(entry));
    else childrenOf.set(ppid, [Number(entry)]);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(childrenOf.get(tree[i]!) ?? []));
  return tree;
}

/** Reads `read(pid)` for every process in the tree; the root must exist, descendants may vanish. */
function sumOverTree(pid: number, read: (pid: number) => number): number {
  let total = read(pid);
  for (const p of processTree(pid).slice(1)) {
    try {
      total += read(p);
    } catch {
      // a descendant that exited between the scan and the read
    }
  }
  return total;
}

/**
 * User + system CPU seconds used so far by the process and its descendants: utime + stime of
 * every live process in the tree plus cutime + cstime (children that exited and were reaped),
 * so a worker that exits during a measurement does not take its CPU time with it. For a
 * single-process server (Prosody, Canto without workers) this is its own CPU time.
 */
export function cpuSeconds(pid: number): number {
  const ticks = sumOverTree(pid, (p) => {
    const fields = statFields(p);
    // utime, stime, cutime, cstime are fields 14–17 of the whole line: 12–15 after "pid (comm) ".
    return Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  });
  return ticks / ticksPerSecond();
}

/** VmRSS of one process in bytes (/proc/<pid>/status). */
function ownRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/**
 * Resident set size in bytes of the process and its descendants (sum of VmRSS), so a
 * clustered Canto (primary + workers) is measured whole. Pages shared between the processes
 * (the node binary's code, shared libraries) count once per process, as VmRSS counts them.
 */
export function rssBytes(pid: number): number {
  return sumOverTree(pid, ownRssBytes);
}

/** A currently free TCP port on loopback `host` (bound and released; a tiny race is acceptable here). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on `host:port`; rejects after `ms` or when `child` exits. */
export async function waitForPort(port: number, ms: number, child?: ChildProcess, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${host}:${port} after ${ms} ms`);
    await sleep(100);
  }
}

/**
 * Arguments for `sh` that raise the soft open-files limit to SERVER_NOFILE (capped at the hard
 * limit) and then `exec command args`, so the spawned PID ends up being `command`'s own.
 * File descriptors, including a node IPC channel, survive the exec.
 */
export function withRaisedNofile(command: string, args: string[]): string[] {
  const quoted = [command, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return ['-c', `hard=$(ulimit -Hn); want=${SERVER_NOFILE}; if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then want=$hard; fi; ulimit -n "$want"; exec ${quoted}`];
}

/**
 * Spawn `command args` through sh with the soft open-files limit raised to SERVER_NOFILE
 * (`ulimit -n`, capped at the hard limit), then `exec`, so the returned child's PID is the
 * server's own. Output goes to `logFile`.
 */
export function spawnServer(command: string, args: string[], opts: { cwd: string; logFile: string; env?: NodeJS.ProcessEnv }): ChildProcess {
  const child = spawn('sh', withRaisedNofile(command, args), { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(opts.logFile);
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

/**
 * Start time of a running process (clock ticks since boot), to tell a PID from a later reuse
 * of it; undefined when it has gone or is a zombie (dead, waiting to be reaped: an orphan's
 * reaper may be slow or absent in a container).
 */
function startTime(pid: number): string | undefined {
  try {
    const fields = statFields(pid);
    return fields[0] === 'Z' ? undefined : fields[19]; // fields 3 (state) and 22 of the whole line
  } catch {
    return undefined;
  }
}

/**
 * SIGTERM the child (by its PID), then SIGKILL if it has not exited within `ms`. Descendants it
 * had when asked to stop (a clustered Canto's workers) normally go with it; any still alive
 * `ms` after it exited are SIGKILLed too, each by PID and only if it is still the same process.
 */
export async function stopChild(child: ChildProcess, ms = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const descendants = processTree(child.pid)
    .slice(1)
    .map((pid) => ({ pid, started: startTime(pid) }));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  await exited;
  clearTimeout(timer);
  const alive = () => descendants.filter((d) => d.started !== undefined && startTime(d.pid) === d.started);
  const deadline = Date.now() + ms;
  while (alive().length > 0 && Date.now() < deadline) await sleep(50);
  const left = alive();
  for (const d of left) {
    try {
      process.kill(d.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  // SIGKILL takes effect when the process is next scheduled: wait (bounded) until it has.
  const killDeadline = Date.now() + 2000;
  while (left.length > 0 && alive().length > 0 && Date.now() < killDeadline) await sleep(10);
}

/** The open-files limits of the current process (the load generator): soft and hard. */
function ownNofileLimits(): { soft: number; hard: number } {
  const value = (v: string | undefined, fallback: number) => (v === 'unlimited' ? Number.POSITIVE_INFINITY : v === undefined ? fallback : Number(v));
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
    return { soft: value(m?.[1], 1024), hard: value(m?.[2], 1024) };
  } catch {
    return { soft: 1024, hard: 1024 };
  }
}

/** The open-files soft limit of the current process (the load generator). */
export function ownNofile(): number {
  return ownNofileLimits().soft;
}

/** The open-files hard limit: what any process started from here (a server, a generator child) can raise its own to. */
export function hardNofile(): number {
  return ownNofileLimits().hard;
}

/** The running server with its HTTPS port, once that accepts connections too (the server is stopped if it does not). */
export async function withHttps(running: RunningServer, httpsPort: number): Promise<RunningServer> {
  try {
    await waitForPort(httpsPort, 20_000);
  } catch (err) {
    await running.stop();
    throw new Error(`${running.name}: HTTPS did not start: ${(err as Error).message}`);
  }
  return { ...running, httpsPort };
}

/**
 * A spawned server under test, once it accepts connections: waits for its port; on failure, and
 * at stop(), stops it by PID and removes its directory. `failureLog` gives the tail of its logs
 * for the error message.
 */
export async function whenListening(name: ServerName, child: ChildProcess, port: number, dir: string, failureLog: () => string): Promise<RunningServer> {
  const stop = async () => {
    await stopChild(child, 10_000);
    // CANTO_BENCH_KEEP_LOGS=DIR keeps each server's log (e.g. its --trace-gc output) as DIR/<name>-<time>.log.
    const keep = process.env.CANTO_BENCH_KEEP_LOGS;
    if (keep) {
      for (const file of readdirSync(dir).filter((f) => f.endsWith('.log'))) copyFileSync(join(dir, file), join(keep, `${name}-${Date.now()}-${file}`));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const title = name.charAt(0).toUpperCase() + name.slice(1);
  try {
    await waitForPort(port, 20_000, child);
  } catch (err) {
    const log = failureLog();
    await stop();
    throw new Error(`${title} did not start: ${(err as Error).message}\n${log}`);
  }
  const pid = child.pid;
  if (pid === undefined) {
    await stop();
    throw new Error(`no PID for the ${title} process`);
  }
  return { name, domain: BENCH_DOMAIN, port, pid, password: BENCH_PASSWORD, username: benchUsername, stop };
}
