/**
 * A private PostgreSQL 15 for one test file: `initdb` into a fresh temporary directory, a
 * postmaster on 127.0.0.1 and a free port (its Unix socket in that directory too), removed at
 * `stop()`. Start one per test FILE (it takes about a second) and give each test case its own
 * database with `createDatabase()` when cases must not see each other's rows.
 *
 * PostgreSQL refuses to run as root: as root every binary runs as the `postgres` user through
 * `runuser`, and the directory is handed to that user. The server is tuned for tests (fsync
 * off: the OS keeps what a killed postmaster wrote, not what a crashed machine did). Commits
 * stay synchronous, so `stopServer()` loses nothing that was committed.
 *
 * `stopServer()` / `startServer()` stop the postmaster (immediately, like a crash) and start it
 * again on the same port with the same data, for outage tests. When the binaries are missing
 * `postgresAvailable()` is false; with CI=true `startPostgres()` then throws, so a missing
 * package fails the run loudly instead of skipping it.
 *
 * Used by the storage tests and by the cluster tests (with redis), so keep the API small.
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** Where Debian's postgresql-15 puts its binaries; CANTO_PG_BIN overrides it. */
export const PG_BIN = process.env.CANTO_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PostgresInstance {
  /** The `postgres` database as superuser `postgres`, no password (trust on loopback). */
  readonly url: string;
  readonly port: number;
  /** The URL of another database on this server. */
  urlFor(database: string): string;
  /** Creates a fresh empty database (a unique name unless given) and resolves to its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the postmaster at once (`-m immediate`, like a crash); the data stays. */
  stopServer(): Promise<void>;
  /** Starts it again on the same port with the same data (after `stopServer`). */
  startServer(): Promise<void>;
  /** Stops the server (if running) and removes its directory. Idempotent. */
  stop(): Promise<void>;
  /** The running postmaster's PID (undefined when stopped), e.g. to measure its CPU. */
  postmasterPid(): number | undefined;
}

export function postgresAvailable(): boolean {
  return existsSync(join(PG_BIN, 'initdb')) && existsSync(join(PG_BIN, 'pg_ctl'));
}

/** For test files: `skip` option value. Under CI a missing PostgreSQL is an error, not a skip. */
export function skipWithoutPostgres(): string | false {
  if (postgresAvailable()) return false;
  if (process.env.CI) throw new Error(`PostgreSQL 15 is not installed (no ${PG_BIN}/initdb; run scripts/install-test-deps.sh): the PostgreSQL tests cannot run`);
  return `PostgreSQL 15 is not installed (${PG_BIN})`;
}

const asRoot = process.getuid?.() === 0;

/** Runs a PostgreSQL binary, as the postgres user when we are root. */
async function pgRun(binary: string, args: string[]): Promise<void> {
  const file = join(PG_BIN, binary);
  try {
    if (asRoot) await run('runuser', ['-u', 'postgres', '--', file, ...args], { timeout: 60_000 });
    else await run(file, args, { timeout: 60_000 });
  } catch (err) {
    const e = err as Error & { stderr?: string; stdout?: string };
    throw new Error(`${binary} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** A loopback TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

let databaseCounter = 0;

export interface StartPostgresOptions {
  /** Keep fsync on (benchmarks that compare durable writes); default off, as tests do not need it. */
  fsync?: boolean;
}

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresInstance> {
  const skip = skipWithoutPostgres();
  if (skip) throw new Error(skip);
  // mkdtemp makes mode 0700 under /tmp (mode 1777): hand the directory to postgres.
  const dir = mkdtempSync(join(tmpdir(), 'canto-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  if (asRoot) {
    const { uid, gid } = await postgresIds();
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);
  await pgRun('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions']);
  const port = await freePort();
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    ...(opts.fsync ? [] : ['-c fsync=off', '-c full_page_writes=off']),
    '-c max_connections=200',
  ].join(' ');
  let running = false;
  let removed = false;
  // If the test process dies without stop(), do not leave a postmaster behind.
  const onExit = () => {
    const pid = postmasterPid(dataDir);
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGQUIT'); // "immediate shutdown"
      } catch {
        /* already gone */
      }
    }
  };
  process.once('exit', onExit);

  const startServer = async () => {
    await pgRun('pg_ctl', ['-D', dataDir, '-l', logFile, '-o', options, '-w', '-t', '60', 'start']);
    running = true;
  };
  const stopServer = async () => {
    if (!running) return;
    running = false;
    await pgRun('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', '-t', '60', 'stop']);
  };
  try {
    await startServer();
  } catch (err) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    rmSync(dir, { recursive: true, force: true });
    process.removeListener('exit', onExit);
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  const urlFor = (database: string) => `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  const url = urlFor('postgres');
  return {
    url,
    port,
    urlFor,
    async createDatabase(name) {
      const database = name ?? `t_${process.pid}_${++databaseCounter}`;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        // CREATE DATABASE cannot run inside a transaction block (nor share a query string).
        await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}" STRATEGY = FILE_COPY`);
      } finally {
        await client.end();
      }
      return urlFor(database);
    },
    stopServer,
    startServer,
    postmasterPid: () => (running ? postmasterPid(dataDir) : undefined),
    async stop() {
      if (removed) return;
      removed = true;
      try {
        await stopServer();
      } finally {
        process.removeListener('exit', onExit);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}
