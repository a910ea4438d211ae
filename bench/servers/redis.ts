/**
 * A private redis-server for the bench's Redis cluster (bench/servers/canto-cluster.ts): loopback
 * only, no persistence, its own temporary directory, a free port; started and stopped by its PID
 * (SIGTERM, SIGKILL after 5 s). Bench code does not import test/: this is the bench's own copy of
 * what test/helpers/redis-server.ts does for the tests.
 */
import { spawn, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort } from './proc.js';

export const REDIS_SERVER = '/usr/bin/redis-server';
export const REDIS_CLI = '/usr/bin/redis-cli';

export interface BenchRedis {
  readonly pid: number;
  readonly url: string;
  /** redis-cli against it, e.g. cli('INFO', 'commandstats'). */
  cli(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** Start a redis-server in `dir`; resolves once it accepts connections. */
export async function startBenchRedis(dir: string): Promise<BenchRedis> {
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
  return {
    pid: child.pid,
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
