/**
 * A private redis-server for a test: loopback only, no persistence, a free port, stopped by its
 * PID. Missing redis-server skips the caller's tests, except with CI=true where it fails loudly.
 *
 *   const redis = await startRedis();          // undefined: not installed (outside CI)
 *   redis.url                                  // redis://127.0.0.1:PORT
 *   await redis.stop(); await redis.start();   // a Redis restart (empty: nothing is saved)
 */
import { test } from 'node:test';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

export const REDIS_SERVER = '/usr/bin/redis-server';
export const REDIS_CLI = '/usr/bin/redis-cli';

export interface RedisInstance {
  readonly port: number;
  readonly url: string;
  /** Start (again) on the same port; resolves when it accepts connections. */
  start(): Promise<void>;
  /** Stop it (SIGTERM, then SIGKILL after 5 s) and wait for the exit. */
  stop(): Promise<void>;
  /** redis-cli against it, e.g. cli('INFO', 'commandstats'). */
  cli(...args: string[]): Promise<string>;
}

export async function freeLoopbackPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** undefined when redis-server is not installed and CI is not set (the caller skips). */
export async function startRedis(): Promise<RedisInstance | undefined> {
  if (!existsSync(REDIS_SERVER)) {
    if (process.env.CI === 'true') throw new Error(`${REDIS_SERVER} is missing: install Debian's redis-server (scripts/install-test-deps.sh) — CI must not skip the Redis cluster tests`);
    return undefined;
  }
  const port = await freeLoopbackPort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const instance: RedisInstance = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      const c = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      exited = new Promise((resolve) => c.once('exit', () => resolve()));
      let out = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10 s:\n${out}`)), 10_000);
        const onData = (d: Buffer) => {
          out += d.toString();
          if (out.includes('Ready to accept connections')) {
            clearTimeout(timer);
            resolve();
          }
        };
        c.stdout?.on('data', onData);
        c.stderr?.on('data', onData);
        c.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`redis-server exited with ${code}:\n${out}`));
        });
      });
    },
    async stop() {
      const c = child;
      if (!c || c.exitCode !== null || c.pid === undefined) return;
      process.kill(c.pid, 'SIGTERM');
      const timer = setTimeout(() => c.pid !== undefined && c.exitCode === null && process.kill(c.pid, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
    cli(...args: string[]) {
      return new Promise((resolve, reject) => {
        execFile(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], (err, stdout) => (err ? reject(err) : resolve(stdout)));
      });
    },
  };
  await instance.start();
  return instance;
}

/** `INFO commandstats` as command → calls. */
export function commandCalls(info: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of info.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m) out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

/**
 * A test that needs the private Redis `current()` returns (set in the file's before()): it runs
 * when there is one, and is reported skipped when redis-server is not installed — only outside
 * CI, since startRedis() throws there.
 */
export function redisTest(name: string, current: () => RedisInstance | undefined, fn: () => Promise<void>): void {
  test(name, async (t) => {
    if (!current()) {
      t.skip('redis-server is not installed (with CI=true that is a failure)');
      return;
    }
    await fn();
  });
}
