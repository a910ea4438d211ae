/** Logging many bench users in at once, shared by the scenarios that need them online. */
import { BenchClient } from '../load/client.js';
import { nowMs, pool } from '../load/stats.js';
import type { RunningServer } from '../servers/types.js';

/** Concurrent logins while populating a scenario (not a measured phase). */
export const SETUP_CONCURRENCY = 100;

/** What logging in needs from a server: a RunningServer, or its plain parts in a generator child. */
export type LoginTarget = Pick<RunningServer, 'port' | 'domain' | 'password' | 'username'> & {
  /** The server's address (default 127.0.0.1): one node of a Redis cluster. */
  host?: string;
  /** Source address the clients bind (default: the kernel's choice). */
  localAddress?: string;
};

export interface LoginManyOptions {
  presence: boolean;
  deadlineMs: number;
  resource?: string;
  /** Enable carbons and stream management after binding (the "mobile" client of issue 13). */
  carbons?: boolean;
  sm?: 'plain' | 'resume';
  /** Logins in flight at once (default SETUP_CONCURRENCY). */
  concurrency?: number;
  /** Called after each successful login with the number logged in so far. */
  onProgress?: (done: number) => void;
}

/** Log users `first` … `first + count - 1` in with initial presence; all or an error. */
export async function loginMany(server: LoginTarget, first: number, count: number, opts: LoginManyOptions): Promise<BenchClient[]> {
  const clients = new Array<BenchClient>(count);
  const deadline = nowMs() + opts.deadlineMs;
  let loggedIn = 0;
  try {
    const done = await pool(count, opts.concurrency ?? SETUP_CONCURRENCY, deadline, async (k) => {
      clients[k] = await BenchClient.login({
        port: server.port,
        host: server.host,
        localAddress: server.localAddress,
        domain: server.domain,
        username: server.username(first + k),
        password: server.password,
        presence: opts.presence,
        resource: opts.resource ?? 'bench',
        carbons: opts.carbons,
        sm: opts.sm,
      });
      opts.onProgress?.(++loggedIn);
    });
    if (done < count) throw new Error(`only ${done} of ${count} logins within ${opts.deadlineMs} ms`);
  } catch (err) {
    closeAll(clients);
    throw err;
  }
  return clients;
}

export function closeAll(clients: Array<BenchClient | undefined>): void {
  for (const c of clients) c?.close();
}
