/**
 * A private redis-server for a bench run of Canto with `[cluster] redis` (CANTO_BENCH_REDIS=1,
 * bench/README.md "Relay vs Redis on one machine"): loopback only, no persistence, a free port,
 * stopped by its PID. Its CPU time is read from /proc so a run can say what Redis itself cost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpuSeconds, freePort, stopChild } from './proc.js';

const REDIS_SERVER = '/usr/bin/redis-server';

export interface BenchRedis {
  readonly url: string;
  readonly pid: number;
  /** CPU seconds redis-server has used since it started. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export async function startBenchRedis(): Promise<BenchRedis> {
  if (!existsSync(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} is missing: CANTO_BENCH_REDIS needs Debian's redis-server`);
  const port = await freePort();
  const child: ChildProcess = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], { stdio: ['ignore', 'pipe', 'pipe'] });
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
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}:\n${out}`));
    });
  });
  const pid = child.pid as number;
  return {
    url: `redis://127.0.0.1:${port}`,
    pid,
    cpuSeconds: () => cpuSeconds(pid),
    stop: () => stopChild(child),
  };
}
