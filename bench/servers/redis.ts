/**
 * A private redis-server for the bench's Redis nodes (bench/servers/canto-cluster.ts, and
 * `workers > 1` or CANTO_BENCH_REDIS=1 in bench/servers/canto.ts): loopback only, no persistence,
 * its own temporary directory, a free port; started and stopped by its PID (SIGTERM, SIGKILL
 * after 5 s). Its CPU time is read from /proc so a run can say what Redis itself cost. Bench code
 * does not import test/: this is the bench's own copy of what test/helpers/redis-server.ts does.
 */
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, freePort } from './proc.js';

export const REDIS_SERVER = '/usr/bin/redis-server';
export const REDIS_CLI = '/usr/bin/redis-cli';

export interface BenchRedis {
  readonly pid: number;
  readonly url: string;
  /** redis-cli against it, e.g. cli('INFO', 'commandstats'). */
  cli(...args: string[]): Promise<string>;
  /** CPU seconds redis-server has used since it started. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** Start a redis-server in `dir` (default: a new temporary one); resolves once it accepts connections. */
export async function startBenchRedis(given?: string): Promise<BenchRedis> {
  const dir = given ?? mkdtempSync(join(tmpdir(), 'canto-bench-redis-'));
  if (!existsSync(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} is missing: install Debian's redis-server (scripts/install-test-deps.sh)`);
  const port = await freePort();
  // maxclients: every node holds a few connections; the default 10,000 is plenty.
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--dir', dir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    if (given === undefined) rmSync(dir, { recursive: true, force: true });
  };
  let out = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10 s:\n${out}`)), 10_000);
      const onData = (d: Buffer) => {
        out = (out + d.toString()).slice(-4000);
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${out}`));
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  // Keep draining its output (it logs little at the default level).
  child.stdout?.resume();
  child.stderr?.resume();
  if (child.pid === undefined) throw new Error('no PID for redis-server');
  const pid = child.pid;
  return {
    pid,
    cpuSeconds: () => cpuSeconds(pid),
    url: `redis://127.0.0.1:${port}`,
    cli: (...args: string[]) =>
      new Promise((resolve, reject) => {
        execFile(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], (err, stdout) => (err ? reject(err) : resolve(stdout)));
      }),
    stop,
  };
}

/** `INFO commandstats` as command → calls (the commands a Lua script runs are counted too). */
export function commandCalls(info: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of info.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}
