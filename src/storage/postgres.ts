/**
 * The PostgreSQL storage driver (`[storage] driver = "postgres"`), for several Canto processes
 * or machines sharing one database. One `pg` pool; the schema (postgres-migrations.ts) mirrors
 * SQLite's, so the two drivers answer every query the same way (test/unit/storage.test.ts runs
 * the same suite on both).
 *
 * - `update` is a transaction: `SELECT … FOR UPDATE` locks an existing row until the new value
 *   is written; a missing row is inserted with `ON CONFLICT DO NOTHING`, and when another writer
 *   inserted it first the whole read-modify-write runs again (which is why `fn` may be called
 *   more than once). Deadlocks and serialization failures are retried the same way.
 * - Archive appends are group-committed: appends made while a batch is being written go into
 *   the next batch, one multi-row INSERT per batch (one round trip instead of one per message).
 *   Reads of the archive wait for what is pending first, so a caller sees its own appends.
 * - A lost or refused connection makes the call reject with StorageUnavailableError; the pool
 *   opens new connections on later calls, so service resumes when the database is back. Idle
 *   clients' 'error' events are logged, never thrown.
 */
import pg from 'pg';
import type { Logger } from '../core/logging.js';
import {
  applyUpdate,
  bareOf,
  checkArchiveItem,
  checkArchiveQuery,
  checkCredentials,
  checkHost,
  checkKey,
  checkScope,
  checkUsername,
  decodeValue,
  encodeValue,
  newArchiveId,
} from './common.js';
import {
  StorageDuplicateIdError,
  StorageInvalidArgumentError,
  StorageItemNotFoundError,
  StorageSchemaTooNewError,
  StorageUnavailableError,
} from './errors.js';
import { migratePostgres, POSTGRES_MIGRATIONS, schemaVersion } from './postgres-migrations.js';
import {
  SCRAM_MECHANISM_NAMES,
  type Account,
  type AccountCredentials,
  type AccountStore,
  type ArchiveItem,
  type ArchiveQuery,
  type ArchiveStore,
  type KeyValStore,
  type MapStore,
  type ScramMechanismName,
  type StorageDriver,
  type UpdateFn,
} from './types.js';

export interface PostgresStorageOptions {
  /** A libpq-style URL: postgres://user:password@host:port/database?sslmode=… */
  url: string;
  /** Connections in the pool; default 10. */
  pool_size?: number;
  /** ms to wait for a connection before a call fails as unavailable; default 5000. */
  connect_timeout?: number;
}

/** Appends written in one INSERT at most (a long queue is written in several batches). */
const MAX_APPEND_BATCH = 500;
/** Read-modify-write attempts before giving up (each retry means another writer won a race). */
const MAX_UPDATE_ATTEMPTS = 50;

/** Where the database is, for messages: never the password. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    const db = u.pathname.replace(/^\//, '') || '(default database)';
    return `${u.hostname || '(local socket)'}:${u.port || '5432'}/${decodeURIComponent(db)}`;
  } catch {
    return '(unparsable url)';
  }
}

/** An error thrown by the caller's code (an update `fn`) inside a transaction: passed through as it is. */
class CallerError {
  constructor(readonly error: unknown) {}
}

/** SQLSTATEs that mean "retry the transaction": deadlock_detected, serialization_failure. */
const RETRY_STATES = new Set(['40P01', '40001']);

/**
 * Whether a pg error means the database is not there for us (as opposed to a bad statement):
 * socket errors, pg's own connection errors (no SQLSTATE), connection exceptions (class 08),
 * shutdowns (57P01-3), too many connections, authentication failures, missing database.
 */
function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (/^E[A-Z]+$/.test(code)) return true; // ECONNREFUSED, ECONNRESET, ETIMEDOUT, ENOTFOUND…
    return code.startsWith('08') || code.startsWith('57P') || code.startsWith('28') || code === '53300' || code === '3D000';
  }
  // pg raises these without a code: "Connection terminated unexpectedly", "timeout exceeded
  // when trying to connect", "Client has encountered a connection error and is not queryable".
  return /^Connection terminated|timeout exceeded when trying to connect|is not queryable/i.test(err.message);
}

export async function openPostgresStorage(opts: PostgresStorageOptions, log: Logger): Promise<StorageDriver> {
  const where = describeUrl(opts.url);
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.pool_size ?? 10,
    connectionTimeoutMillis: opts.connect_timeout ?? 5000,
    idleTimeoutMillis: 30_000,
    application_name: 'canto',
    // TCP keepalive: a connection to a database host that vanished (no RST) is noticed.
    keepAlive: true,
  });
  const storage = new PostgresStorage(pool, where, log);
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    await pool.end().catch(() => {});
    throw unavailable(err, where, 'could not connect to PostgreSQL');
  }
  try {
    const { from, to } = await migratePostgres(client, where);
    if (from !== to) log.info({ database: where, from, to }, 'PostgreSQL schema migrated');
  } catch (err) {
    client.release(true);
    await pool.end().catch(() => {});
    throw isUnavailable(err) ? unavailable(err, where, 'PostgreSQL failed while migrating the schema') : err;
  }
  client.release();
  return storage;
}

/**
 * For `canto check`: connect once, read the schema version, change nothing. Resolves to what
 * to print; rejects with StorageUnavailableError or StorageSchemaTooNewError.
 */
export async function probePostgres(opts: PostgresStorageOptions): Promise<string> {
  const where = describeUrl(opts.url);
  const client = new pg.Client({ connectionString: opts.url, connectionTimeoutMillis: opts.connect_timeout ?? 5000, application_name: 'canto check' });
  client.on('error', () => {}); // a connection lost after connect: the query below rejects
  try {
    await client.connect();
  } catch (err) {
    throw unavailable(err, where, 'could not connect to PostgreSQL');
  }
  try {
    const server = (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ?? '?';
    const version = await schemaVersion(client);
    const supported = POSTGRES_MIGRATIONS.length;
    if (version > supported) throw new StorageSchemaTooNewError(version, supported, where);
    const schema =
      version === supported ? `schema version ${version} (current)`
      : version === 0 ? `empty database: the schema (version ${supported}) is created at start`
      : `schema version ${version}: migrated to ${supported} at start`;
    return `PostgreSQL ${server} at ${where} is reachable; ${schema}`;
  } catch (err) {
    throw isUnavailable(err) ? unavailable(err, where, 'PostgreSQL failed') : err;
  } finally {
    await client.end().catch(() => {});
  }
}

function unavailable(err: unknown, where: string, what: string): StorageUnavailableError {
  if (err instanceof StorageUnavailableError) return err;
  const e = err as { code?: unknown; message?: string };
  const reason = e.message || String(e.code ?? err);
  let hint = '';
  if (typeof e.code === 'string' && e.code.startsWith('28')) hint = ' (check the user name and password in [storage] url)';
  else if (e.code === '3D000') hint = ' (create the database first, or fix its name in [storage] url)';
  else if (e.code === 'ECONNREFUSED') hint = ' (is PostgreSQL running and listening on that host and port?)';
  return new StorageUnavailableError(`${what} at ${where}: ${reason}${hint}`, { cause: err });
}

interface CredentialRow {
  mechanism: ScramMechanismName;
  salt: string;
  iterations: number;
  stored_key: string;
  server_key: string;
}
interface ArchiveRow {
  id: string;
  at: number;
  with_jid: string;
  value: string;
}

interface PendingAppend {
  host: string;
  username: string;
  store: string;
  id: string;
  at: number;
  withJid: string;
  value: string;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** What a read-modify-write does with the row it read. */
interface RowOps {
  select: string;
  insert: string;
  update: string;
  delete: string;
  key: unknown[];
}

class PostgresStorage implements StorageDriver {
  readonly accounts: AccountStore;
  private closed = false;
  private closing: Promise<void> | undefined;
  private pendingAppends: PendingAppend[] = [];
  /** The batch being written, if any; the next one waits for it (keeps seq in append order). */
  private appendFlush: Promise<void> | undefined;
  private readonly statementNames = new Map<string, string>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly where: string,
    private readonly log: Logger,
  ) {
    // An idle client whose connection dies emits 'error' on the pool; unhandled, that would end
    // the process. The pool drops the client; the next call opens a new connection.
    pool.on('error', (err) => log.warn({ err, database: where }, 'PostgreSQL connection lost (idle); reconnecting on next use'));
    // A checked-out client emits 'error' too (besides rejecting its query): never unhandled.
    pool.on('connect', (client) => client.on('error', () => {}));
    this.accounts = this.makeAccountStore();
  }

  private ensureOpen(): void {
    if (this.closed) throw new Error('storage is closed');
  }

  /** One statement on any pooled connection (prepared, see `prepared`), with errors translated. */
  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(this.prepared(sql, params));
    } catch (err) {
      throw this.translate(err);
    }
  }

  /**
   * The statement as a named prepared statement: each connection parses and plans it once, not
   * per call (planning was ~0.7 ms of a ~1 ms archive page). The set of SQL texts is small and
   * fixed (the archive builds a few shapes), so the names never grow without bound.
   */
  private prepared(text: string, values: unknown[]): pg.QueryConfig {
    let name = this.statementNames.get(text);
    if (name === undefined) {
      name = `canto_${this.statementNames.size + 1}`;
      this.statementNames.set(text, name);
    }
    return { name, text, values };
  }

  private translate(err: unknown): unknown {
    if (isUnavailable(err)) return unavailable(err, this.where, 'PostgreSQL is unavailable');
    // text cannot hold U+0000 (and the database refuses other invalid text the same way).
    if ((err as { code?: unknown }).code === '22021' || (err as { code?: unknown }).code === '22P05') {
      return new StorageInvalidArgumentError(`PostgreSQL refused the text: ${(err as Error).message}`);
    }
    return err;
  }

  /**
   * Runs `body` in a transaction on one connection; rolls back when it throws. Deadlocks and
   * serialization failures run it again (bounded); everything else propagates.
   */
  private async transaction<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        throw this.translate(err);
      }
      let broken = false;
      try {
        await client.query('BEGIN');
        const result = await body(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true; // the connection is gone: do not return it to the pool
        }
        if (err instanceof CallerError) throw err.error;
        const code = (err as { code?: unknown }).code;
        if (typeof code === 'string' && RETRY_STATES.has(code) && attempt < MAX_UPDATE_ATTEMPTS) continue;
        throw this.translate(err);
      } finally {
        client.release(broken);
      }
    }
  }

  /**
   * The atomic read-modify-write behind keyval and map `update`: lock the row if it exists;
   * insert it if not, and start again if another writer inserted it meanwhile.
   */
  private async readModifyWrite<T>(ops: RowOps, fn: UpdateFn<T>): Promise<T | undefined> {
    for (let attempt = 1; attempt <= MAX_UPDATE_ATTEMPTS; attempt++) {
      const outcome = await this.transaction(async (client): Promise<{ text: string | undefined } | 'raced'> => {
        const row = await client.query<{ value: string }>(this.prepared(ops.select, ops.key));
        const current = row.rows[0]?.value;
        let text: string | undefined;
        try {
          text = applyUpdate(current, fn);
        } catch (err) {
          throw new CallerError(err); // rolled back; rejects with fn's own error, untranslated
        }
        if (current === undefined) {
          if (text === undefined) return { text };
          const inserted = await client.query(this.prepared(ops.insert, [...ops.key, text]));
          return inserted.rowCount === 1 ? { text } : 'raced';
        }
        if (text === undefined) await client.query(this.prepared(ops.delete, ops.key));
        else await client.query(this.prepared(ops.update, [...ops.key, text]));
        return { text };
      });
      if (outcome === 'raced') continue;
      return outcome.text === undefined ? undefined : decodeValue<T>(outcome.text);
    }
    throw new Error(`update gave up after ${MAX_UPDATE_ATTEMPTS} attempts: other writers kept inserting the same value first`);
  }

  keyval<T>(host: string, store: string): KeyValStore<T> {
    checkScope(host, store);
    const where = 'host = $1 AND username = $2 AND store = $3';
    const ops = {
      select: `SELECT value FROM keyval WHERE ${where} FOR UPDATE`,
      insert: 'INSERT INTO keyval (host, username, store, value) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
      update: `UPDATE keyval SET value = $4 WHERE ${where}`,
      delete: `DELETE FROM keyval WHERE ${where}`,
    };
    return {
      get: async (username) => {
        this.ensureOpen();
        checkUsername(username);
        const r = await this.query<{ value: string }>(`SELECT value FROM keyval WHERE ${where}`, [host, username, store]);
        const row = r.rows[0];
        return row === undefined ? undefined : decodeValue<T>(row.value);
      },
      set: async (username, value) => {
        this.ensureOpen();
        checkUsername(username);
        if (value === undefined) {
          await this.query(ops.delete, [host, username, store]);
          return;
        }
        await this.query(
          `INSERT INTO keyval (host, username, store, value) VALUES ($1, $2, $3, $4)
           ON CONFLICT (host, username, store) DO UPDATE SET value = excluded.value`,
          [host, username, store, encodeValue(value)],
        );
      },
      update: async (username, fn) => {
        this.ensureOpen();
        checkUsername(username);
        return this.readModifyWrite({ ...ops, key: [host, username, store] }, fn);
      },
    };
  }

  map<T>(host: string, store: string): MapStore<T> {
    checkScope(host, store);
    const where = 'host = $1 AND username = $2 AND store = $3 AND key = $4';
    const ops = {
      select: `SELECT value FROM map WHERE ${where} FOR UPDATE`,
      insert: 'INSERT INTO map (host, username, store, key, value) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
      update: `UPDATE map SET value = $5 WHERE ${where}`,
      delete: `DELETE FROM map WHERE ${where}`,
    };
    return {
      get: async (username, key) => {
        this.ensureOpen();
        checkUsername(username);
        checkKey(key);
        const r = await this.query<{ value: string }>(`SELECT value FROM map WHERE ${where}`, [host, username, store, key]);
        const row = r.rows[0];
        return row === undefined ? undefined : decodeValue<T>(row.value);
      },
      set: async (username, key, value) => {
        this.ensureOpen();
        checkUsername(username);
        checkKey(key);
        if (value === undefined) {
          await this.query(ops.delete, [host, username, store, key]);
          return;
        }
        await this.query(
          `INSERT INTO map (host, username, store, key, value) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (host, username, store, key) DO UPDATE SET value = excluded.value`,
          [host, username, store, key, encodeValue(value)],
        );
      },
      update: async (username, key, fn) => {
        this.ensureOpen();
        checkUsername(username);
        checkKey(key);
        return this.readModifyWrite({ ...ops, key: [host, username, store, key] }, fn);
      },
      getAll: async (username) => {
        this.ensureOpen();
        checkUsername(username);
        const r = await this.query<{ key: string; value: string }>(
          'SELECT key, value FROM map WHERE host = $1 AND username = $2 AND store = $3 ORDER BY key',
          [host, username, store],
        );
        const all = new Map<string, T>();
        for (const row of r.rows) all.set(row.key, decodeValue<T>(row.value));
        return all;
      },
      keys: async (username) => {
        this.ensureOpen();
        checkUsername(username);
        const r = await this.query<{ key: string }>(
          'SELECT key FROM map WHERE host = $1 AND username = $2 AND store = $3 ORDER BY key',
          [host, username, store],
        );
        return r.rows.map((row) => row.key);
      },
    };
  }

  archive<T>(host: string, store: string): ArchiveStore<T> {
    checkScope(host, store);
    return {
      append: async (username, item) => {
        this.ensureOpen();
        checkUsername(username);
        checkArchiveItem(item);
        const id = item.id ?? newArchiveId();
        const withJid = item.with ?? '';
        const value = encodeValue(item.value);
        await new Promise<void>((resolve, reject) => {
          this.pendingAppends.push({ host, username, store, id, at: item.when ?? Date.now(), withJid, value, resolve, reject });
          this.scheduleAppends();
        });
        return id;
      },
      find: async (username, query) => {
        this.ensureOpen();
        checkUsername(username);
        const q = checkArchiveQuery(query);
        await this.appendsWritten();
        const { sql, params } = await this.selectArchive('SELECT id, at, with_jid, value', host, username, store, q);
        const r = await this.query<ArchiveRow>(sql, params);
        return r.rows.map((row): ArchiveItem<T> => ({ id: row.id, when: row.at, with: row.with_jid, value: decodeValue<T>(row.value) }));
      },
      count: async (username, query) => {
        this.ensureOpen();
        checkUsername(username);
        const q = checkArchiveQuery(query);
        await this.appendsWritten();
        const total = await this.archiveTotal(host, username, store, q);
        const n = total ?? (await this.countArchive(host, username, store, q));
        return q.limit === undefined ? n : Math.min(n, q.limit);
      },
      delete: async (username, query) => {
        this.ensureOpen();
        checkUsername(username);
        const q = checkArchiveQuery(query);
        await this.appendsWritten();
        const { sql, params } = await this.selectArchive('SELECT seq', host, username, store, q);
        const r = await this.query(`DELETE FROM archive WHERE seq IN (${sql})`, params);
        return r.rowCount ?? 0;
      },
    };
  }

  /** Without ORDER BY and LIMIT: a count needs neither; the limit only caps the result. */
  private async countArchive(host: string, username: string, store: string, q: ArchiveQuery): Promise<number> {
    const { sql, params } = await this.selectArchive('SELECT count(*)::float8 AS n', host, username, store, { ...q, limit: undefined }, false);
    const r = await this.query<{ n: number }>(sql, params);
    return r.rows[0]?.n ?? 0;
  }

  /**
   * The size of a whole archive or a whole conversation (a bare `with`) from the kept counts;
   * undefined when the query needs the index.
   */
  private async archiveTotal(host: string, username: string, store: string, q: ArchiveQuery): Promise<number | undefined> {
    if (q.start !== undefined || q.end !== undefined || q.after !== undefined || q.before !== undefined || q.ids !== undefined) return undefined;
    if (q.with === undefined) {
      const r = await this.query<{ n: number | null }>(
        'SELECT sum(n)::float8 AS n FROM archive_counts WHERE host = $1 AND username = $2 AND store = $3',
        [host, username, store],
      );
      return r.rows[0]?.n ?? 0;
    }
    if (q.with.includes('/')) return undefined;
    const r = await this.query<{ n: number }>(
      'SELECT n::float8 AS n FROM archive_counts WHERE host = $1 AND username = $2 AND store = $3 AND with_bare = $4',
      [host, username, store, q.with],
    );
    return r.rows[0]?.n ?? 0;
  }

  /**
   * Builds `<columns> FROM archive WHERE … ORDER BY … [LIMIT n]` for a validated query. An
   * after/before anchor is looked up first (a missing one is StorageItemNotFoundError).
   */
  private async selectArchive(
    columns: string,
    host: string,
    username: string,
    store: string,
    q: ArchiveQuery,
    ordered = true,
  ): Promise<{ sql: string; params: unknown[] }> {
    const params: unknown[] = [host, username, store];
    const p = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    const where = ['host = $1', 'username = $2', 'store = $3'];
    if (q.start !== undefined) where.push(`at >= ${p(q.start)}`);
    if (q.end !== undefined) where.push(`at <= ${p(q.end)}`);
    if (q.with !== undefined) {
      where.push(`with_bare = ${p(bareOf(q.with))}`);
      if (q.with.includes('/')) where.push(`with_jid = ${p(q.with)}`);
    }
    for (const [field, op] of [['after', '>'], ['before', '<']] as const) {
      const id = q[field];
      if (id === undefined) continue;
      const anchor = await this.query<{ at: number; seq: string }>(
        'SELECT at, seq FROM archive WHERE host = $1 AND username = $2 AND store = $3 AND id = $4',
        [host, username, store, id],
      );
      const row = anchor.rows[0];
      if (!row) throw new StorageItemNotFoundError(id);
      where.push(`(at, seq) ${op} (${p(row.at)}::float8, ${p(row.seq)}::bigint)`);
    }
    if (q.ids !== undefined) where.push(`id = ANY(${p(q.ids)}::text[])`);
    const direction = q.reverse ? 'DESC' : 'ASC';
    let sql = `${columns} FROM archive WHERE ${where.join(' AND ')}`;
    if (ordered) sql += ` ORDER BY at ${direction}, seq ${direction}`;
    if (q.limit !== undefined) sql += ` LIMIT ${p(q.limit)}`;
    return { sql, params };
  }

  private scheduleAppends(): void {
    if (this.appendFlush) return; // the running writer takes this append in its next batch
    this.appendFlush = this.writePendingAppends();
  }

  private async writePendingAppends(): Promise<void> {
    // One turn of the event loop gathers what the same tick appended (a message archived for
    // sender and recipient, a busy server's many sessions).
    await new Promise<void>((r) => setImmediate(r));
    for (;;) {
      if (this.pendingAppends.length === 0) {
        // Checked and cleared in the same turn, so no append can slip in unscheduled between.
        this.appendFlush = undefined;
        return;
      }
      await this.writeAppends(this.pendingAppends.splice(0, MAX_APPEND_BATCH));
    }
  }

  /** Resolves once every append made before this call is written (or failed). */
  private async appendsWritten(): Promise<void> {
    while (this.appendFlush) await this.appendFlush;
  }

  /**
   * One INSERT for the batch. A caller-chosen id already present is skipped by ON CONFLICT and
   * only that append rejects (as SQLite's per-row constraint error does); the rest commit.
   */
  private async writeAppends(batch: PendingAppend[]): Promise<void> {
    const col = <K extends keyof PendingAppend>(k: K) => batch.map((p) => p[k]);
    let inserted: Set<string>;
    try {
      const r = await this.query<{ host: string; username: string; store: string; id: string }>(
        `INSERT INTO archive (host, username, store, id, at, with_jid, with_bare, value)
         SELECT h, u, s, i, a, w, split_part(w, '/', 1), v
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::text[], $7::text[])
                WITH ORDINALITY AS t(h, u, s, i, a, w, v, n)
          ORDER BY n
         ON CONFLICT (host, username, store, id) DO NOTHING
         RETURNING host, username, store, id`,
        [col('host'), col('username'), col('store'), col('id'), col('at'), col('withJid'), col('value')],
      );
      inserted = new Set(r.rows.map((row) => JSON.stringify([row.host, row.username, row.store, row.id])));
    } catch (err) {
      for (const p of batch) p.reject(err as Error);
      return;
    }
    for (const p of batch) {
      const key = JSON.stringify([p.host, p.username, p.store, p.id]);
      // The first append with a key got the row; a later one with the same key is the duplicate.
      if (inserted.delete(key)) p.resolve();
      else p.reject(new StorageDuplicateIdError(p.id));
    }
  }

  private makeAccountStore(): AccountStore {
    const writeCredentials = async (client: pg.PoolClient, host: string, username: string, credentials: AccountCredentials) => {
      for (const mech of SCRAM_MECHANISM_NAMES) {
        const c = credentials[mech];
        if (!c) continue;
        await client.query(
          `INSERT INTO account_credentials (host, username, mechanism, salt, iterations, stored_key, server_key)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [host, username, mech, c.salt, c.iterations, c.storedKey, c.serverKey],
        );
      }
    };
    const checkAccount = (host: string, username: string): void => {
      this.ensureOpen();
      checkHost(host);
      checkUsername(username);
    };
    return {
      create: async (host, username, credentials) => {
        checkAccount(host, username);
        const clean = checkCredentials(credentials);
        return this.transaction(async (client) => {
          const r = await client.query('INSERT INTO accounts (host, username, created) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [host, username, Date.now()]);
          if (r.rowCount !== 1) return false;
          await writeCredentials(client, host, username, clean);
          return true;
        });
      },
      get: async (host, username) => {
        checkAccount(host, username);
        // One statement: the account and its credentials from one snapshot.
        const r = await this.query<{ created: string } & Partial<CredentialRow>>(
          `SELECT a.created, c.mechanism, c.salt, c.iterations, c.stored_key, c.server_key
             FROM accounts a LEFT JOIN account_credentials c ON c.host = a.host AND c.username = a.username
            WHERE a.host = $1 AND a.username = $2`,
          [host, username],
        );
        const first = r.rows[0];
        if (!first) return undefined;
        const credentials: AccountCredentials = {};
        for (const row of r.rows) {
          if (row.mechanism === undefined || row.mechanism === null) continue;
          credentials[row.mechanism] = { salt: row.salt as string, iterations: row.iterations as number, storedKey: row.stored_key as string, serverKey: row.server_key as string };
        }
        const account: Account = { host, username, credentials, created: Number(first.created) };
        return account;
      },
      exists: async (host, username) => {
        checkAccount(host, username);
        const r = await this.query('SELECT 1 FROM accounts WHERE host = $1 AND username = $2', [host, username]);
        return r.rowCount === 1;
      },
      setCredentials: async (host, username, credentials) => {
        checkAccount(host, username);
        const clean = checkCredentials(credentials);
        return this.transaction(async (client) => {
          const r = await client.query('SELECT 1 FROM accounts WHERE host = $1 AND username = $2 FOR UPDATE', [host, username]);
          if (r.rowCount !== 1) return false;
          await client.query('DELETE FROM account_credentials WHERE host = $1 AND username = $2', [host, username]);
          await writeCredentials(client, host, username, clean);
          return true;
        });
      },
      delete: async (host, username) => {
        checkAccount(host, username);
        await this.appendsWritten(); // nothing of the user's may land after its data is gone
        return this.transaction(async (client) => {
          const r = await client.query('DELETE FROM accounts WHERE host = $1 AND username = $2', [host, username]);
          await this.deleteUserRows(client, host, username);
          return r.rowCount === 1;
        });
      },
      list: async (host) => {
        checkAccount(host, '');
        const r = await this.query<{ username: string }>('SELECT username FROM accounts WHERE host = $1 ORDER BY username', [host]);
        return r.rows.map((row) => row.username);
      },
      count: async (host) => {
        checkAccount(host, '');
        const r = await this.query<{ n: number }>('SELECT count(*)::float8 AS n FROM accounts WHERE host = $1', [host]);
        return r.rows[0]?.n ?? 0;
      },
    };
  }

  private async deleteUserRows(client: pg.PoolClient, host: string, username: string): Promise<void> {
    for (const table of ['keyval', 'map', 'archive', 'archive_counts']) {
      await client.query(`DELETE FROM ${table} WHERE host = $1 AND username = $2`, [host, username]);
    }
  }

  async deleteUserData(host: string, username: string): Promise<void> {
    this.ensureOpen();
    checkHost(host);
    checkUsername(username);
    await this.appendsWritten();
    await this.transaction((client) => this.deleteUserRows(client, host, username));
  }

  async archiveSizes(): Promise<Array<{ host: string; store: string; items: number }>> {
    this.ensureOpen();
    await this.appendsWritten();
    // archive_counts holds one row per conversation: summing it never reads the archive.
    const r = await this.query<{ host: string; store: string; items: string }>('SELECT host, store, SUM(n)::text AS items FROM archive_counts GROUP BY host, store');
    return r.rows.map((row) => ({ host: row.host, store: row.store, items: Number(row.items) }));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      await this.appendsWritten(); // appends already accepted are written (or rejected) first
      await this.pool.end();
      this.log.debug({ database: this.where }, 'PostgreSQL pool closed');
    })();
    return this.closing;
  }
}
