/**
 * The default storage driver: one SQLite file via better-sqlite3, in WAL mode.
 *
 * better-sqlite3 is synchronous: each call blocks the event loop for its duration (typically
 * tens of microseconds for these indexed single-row statements). The async interface lets a
 * network driver slot in later; callers should still batch where they can.
 * Fixed statements are prepared once at open; archive queries, whose SQL depends on which
 * filters are set, are prepared on first use of each shape and cached.
 */
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
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
import { StorageDuplicateIdError, StorageItemNotFoundError } from './errors.js';
import { migrate } from './sqlite-migrations.js';
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
} from './types.js';

export interface SqliteStorageOptions {
  dataDir: string;
  /** default 'canto.sqlite' */
  fileName?: string;
  /** ms to wait for a lock held by another connection; default 5000 */
  busyTimeoutMs?: number;
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
type Stmt<P extends unknown[], R = unknown> = BetterSqlite3.Statement<P, R>;
/** The stored JSON text (undefined: none) to the text to store (undefined: delete). */
type NextText = (current: string | undefined) => string | undefined;

export function openSqliteStorage(opts: SqliteStorageOptions): StorageDriver {
  return SqliteStorage.open(opts);
}

type ArchiveInsertRow = [host: string, username: string, store: string, id: string, at: number, withJid: string, withBare: string, value: string];

interface PendingAppend {
  row: ArchiveInsertRow;
  resolve: () => void;
  reject: (err: Error) => void;
  /** Set by the transaction when this row's insert failed (the others still commit). */
  error: Error | undefined;
}

class SqliteStorage implements StorageDriver {
  readonly accounts: AccountStore;
  private closed = false;
  private readonly deleteUserDataTx: BetterSqlite3.Transaction<(host: string, username: string) => void>;
  /** Read-modify-write transactions; `next` maps the stored text to the text to store. */
  private readonly kvUpdateTx: BetterSqlite3.Transaction<(host: string, username: string, store: string, next: NextText) => string | undefined>;
  private readonly mapUpdateTx: BetterSqlite3.Transaction<
    (host: string, username: string, store: string, key: string, next: NextText) => string | undefined
  >;
  /** Archive statements keyed by their SQL text; the number of shapes is small and fixed. */
  private readonly archiveStatements = new Map<string, Stmt<unknown[]>>();
  /**
   * Group commit for archive appends: appends made in one turn of the event loop are written in
   * one transaction at setImmediate, and each promise resolves once that transaction committed
   * (so "appended" still means durable). Each commit rewrites every page it touched in the WAL;
   * spread over many users' index pages that cost ~125 µs per lone insert here, ~45 µs per insert
   * in batches (many sessions archive at once). Reads of the archive write what is pending first.
   */
  private pendingAppends: PendingAppend[] = [];
  private appendFlushScheduled = false;
  private readonly appendTx: BetterSqlite3.Transaction<(batch: PendingAppend[]) => void>;
  private readonly stmt;

  static open(opts: SqliteStorageOptions): SqliteStorage {
    // 0700 applies only when the directory is created here; an existing one is left as it is.
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const file = join(opts.dataDir, opts.fileName ?? 'canto.sqlite');
    // Create the file owner-only before SQLite does; SQLite gives -wal/-shm the same mode. Only
    // when it is missing: closing any descriptor of a file drops every POSIX lock this process
    // holds on it, so touching a database another connection here has open would break that
    // connection's locking (and let another process checkpoint the WAL away under it).
    if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
    const db = new Database(file, { timeout: opts.busyTimeoutMs ?? 5000 });
    try {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`could not switch ${file} to WAL mode (got ${String(mode)})`);
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      migrate(db, undefined, file);
      return new SqliteStorage(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  private constructor(private readonly db: BetterSqlite3.Database) {
    this.appendTx = db.transaction((batch: PendingAppend[]) => {
      for (const p of batch) {
        try {
          this.stmt.archiveInsert.run(...p.row);
          p.error = undefined;
        } catch (err) {
          // Only this statement is rolled back (SQLite's default ABORT); the others commit.
          p.error = (err as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE' ? new StorageDuplicateIdError(p.row[3]) : (err as Error);
        }
      }
    });
    this.stmt = {
      kvGet: db.prepare<[string, string, string], { value: string }>(
        'SELECT value FROM keyval WHERE host = ? AND username = ? AND store = ?',
      ),
      kvPut: db.prepare<[string, string, string, string]>(
        `INSERT INTO keyval (host, username, store, value) VALUES (?, ?, ?, ?)
         ON CONFLICT (host, username, store) DO UPDATE SET value = excluded.value`,
      ),
      kvDelete: db.prepare<[string, string, string]>('DELETE FROM keyval WHERE host = ? AND username = ? AND store = ?'),
      mapGet: db.prepare<[string, string, string, string], { value: string }>(
        'SELECT value FROM map WHERE host = ? AND username = ? AND store = ? AND key = ?',
      ),
      mapPut: db.prepare<[string, string, string, string, string]>(
        `INSERT INTO map (host, username, store, key, value) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (host, username, store, key) DO UPDATE SET value = excluded.value`,
      ),
      mapDelete: db.prepare<[string, string, string, string]>(
        'DELETE FROM map WHERE host = ? AND username = ? AND store = ? AND key = ?',
      ),
      mapAll: db.prepare<[string, string, string], { key: string; value: string }>(
        'SELECT key, value FROM map WHERE host = ? AND username = ? AND store = ? ORDER BY key',
      ),
      mapKeys: db.prepare<[string, string, string], { key: string }>(
        'SELECT key FROM map WHERE host = ? AND username = ? AND store = ? ORDER BY key',
      ),
      archiveInsert: db.prepare<[string, string, string, string, number, string, string, string]>(
        `INSERT INTO archive (host, username, store, id, at, with_jid, with_bare, value)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      archiveAnchor: db.prepare<[string, string, string, string], { at: number; seq: number }>(
        'SELECT at, seq FROM archive WHERE host = ? AND username = ? AND store = ? AND id = ?',
      ),
      accountInsert: db.prepare<[string, string, number]>(
        'INSERT INTO accounts (host, username, created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      accountGet: db.prepare<[string, string], { created: number }>(
        'SELECT created FROM accounts WHERE host = ? AND username = ?',
      ),
      accountDelete: db.prepare<[string, string]>('DELETE FROM accounts WHERE host = ? AND username = ?'),
      accountList: db.prepare<[string], { username: string }>('SELECT username FROM accounts WHERE host = ? ORDER BY username'),
      accountCount: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM accounts WHERE host = ?'),
      credentialsGet: db.prepare<[string, string], CredentialRow>(
        `SELECT mechanism, salt, iterations, stored_key, server_key FROM account_credentials
         WHERE host = ? AND username = ?`,
      ),
      credentialsClear: db.prepare<[string, string]>('DELETE FROM account_credentials WHERE host = ? AND username = ?'),
      credentialInsert: db.prepare<[string, string, string, string, number, string, string]>(
        `INSERT INTO account_credentials (host, username, mechanism, salt, iterations, stored_key, server_key)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      userKeyvalDelete: db.prepare<[string, string]>('DELETE FROM keyval WHERE host = ? AND username = ?'),
      userMapDelete: db.prepare<[string, string]>('DELETE FROM map WHERE host = ? AND username = ?'),
      userArchiveDelete: db.prepare<[string, string]>('DELETE FROM archive WHERE host = ? AND username = ?'),
      userArchiveCountsDelete: db.prepare<[string, string]>('DELETE FROM archive_counts WHERE host = ? AND username = ?'),
      archiveTotal: db.prepare<[string, string, string], { n: number | null }>(
        'SELECT sum(n) AS n FROM archive_counts WHERE host = ? AND username = ? AND store = ?',
      ),
      archiveTotalWith: db.prepare<[string, string, string, string], { n: number }>(
        'SELECT n FROM archive_counts WHERE host = ? AND username = ? AND store = ? AND with_bare = ?',
      ),
      archiveCountsPrune: db.prepare<[string, string, string]>(
        'DELETE FROM archive_counts WHERE host = ? AND username = ? AND store = ? AND n <= 0',
      ),
    };
    this.deleteUserDataTx = db.transaction((host: string, username: string) => {
      this.stmt.userKeyvalDelete.run(host, username);
      this.stmt.userMapDelete.run(host, username);
      this.stmt.userArchiveDelete.run(host, username);
      this.stmt.userArchiveCountsDelete.run(host, username);
    });
    this.kvUpdateTx = db.transaction((host: string, username: string, store: string, next: NextText) => {
      const text = next(this.stmt.kvGet.get(host, username, store)?.value);
      if (text === undefined) this.stmt.kvDelete.run(host, username, store);
      else this.stmt.kvPut.run(host, username, store, text);
      return text;
    });
    this.mapUpdateTx = db.transaction((host: string, username: string, store: string, key: string, next: NextText) => {
      const text = next(this.stmt.mapGet.get(host, username, store, key)?.value);
      if (text === undefined) this.stmt.mapDelete.run(host, username, store, key);
      else this.stmt.mapPut.run(host, username, store, key, text);
      return text;
    });
    this.accounts = this.makeAccountStore();
  }

  private ensureOpen(): void {
    if (this.closed) throw new Error('storage is closed');
  }

  keyval<T>(host: string, store: string): KeyValStore<T> {
    checkScope(host, store);
    return {
      get: async (username) => {
        this.ensureOpen();
        checkUsername(username);
        const row = this.stmt.kvGet.get(host, username, store);
        return row === undefined ? undefined : decodeValue<T>(row.value);
      },
      set: async (username, value) => {
        this.ensureOpen();
        checkUsername(username);
        if (value === undefined) this.stmt.kvDelete.run(host, username, store);
        else this.stmt.kvPut.run(host, username, store, encodeValue(value));
      },
      // One IMMEDIATE transaction: it takes the write lock before reading, so another process on
      // the same file (cluster workers) cannot write in between; a throwing fn rolls it back.
      update: async (username, fn) => {
        this.ensureOpen();
        checkUsername(username);
        const text = this.kvUpdateTx.immediate(host, username, store, (current) => applyUpdate(current, fn));
        return text === undefined ? undefined : decodeValue<T>(text);
      },
    };
  }

  map<T>(host: string, store: string): MapStore<T> {
    checkScope(host, store);
    return {
      get: async (username, key) => {
        this.ensureOpen();
        checkUsername(username);
        checkKey(key);
        const row = this.stmt.mapGet.get(host, username, store, key);
        return row === undefined ? undefined : decodeValue<T>(row.value);
      },
      set: async (username, key, value) => {
        this.ensureOpen();
        checkUsername(username);
        checkKey(key);
        if (value === undefined) this.stmt.mapDelete.run(host, username, store, key);
        else this.stmt.mapPut.run(host, username, store, key, encodeValue(value));
      },
      update: async (username, key, fn) => {
        this.ensureOpen();
        checkUsername(username);
        checkKey(key);
        const text = this.mapUpdateTx.immediate(host, username, store, key, (current) => applyUpdate(current, fn));
        return text === undefined ? undefined : decodeValue<T>(text);
      },
      getAll: async (username) => {
        this.ensureOpen();
        checkUsername(username);
        const all = new Map<string, T>();
        for (const row of this.stmt.mapAll.all(host, username, store)) all.set(row.key, decodeValue<T>(row.value));
        return all;
      },
      keys: async (username) => {
        this.ensureOpen();
        checkUsername(username);
        return this.stmt.mapKeys.all(host, username, store).map((row) => row.key);
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
        await this.queueAppend([host, username, store, id, item.when ?? Date.now(), withJid, bareOf(withJid), value]);
        return id;
      },
      find: async (username, query) => {
        this.ensureOpen();
        this.flushAppends();
        checkUsername(username);
        const { sql, params } = this.selectArchive('SELECT id, at, with_jid, value', host, username, store, query);
        const rows = this.archiveStatement(sql).all(...params) as ArchiveRow[];
        return rows.map(
          (row): ArchiveItem<T> => ({ id: row.id, when: row.at, with: row.with_jid, value: decodeValue<T>(row.value) }),
        );
      },
      count: async (username, query) => {
        this.ensureOpen();
        this.flushAppends();
        checkUsername(username);
        const q = checkArchiveQuery(query); // the limit too, before it is left out below
        const total = this.archiveTotal(host, username, store, q);
        if (total !== undefined) return q.limit === undefined ? total : Math.min(total, q.limit);
        // No ORDER BY and no LIMIT: a count needs neither (a sorted subquery cost ~80 ms at a
        // million items); the limit only caps the result.
        const { sql, params } = this.selectArchive('SELECT count(*) AS n', host, username, store, { ...query, limit: undefined }, false);
        const row = this.archiveStatement(sql).get(...params) as { n: number };
        const limit = query?.limit;
        return limit === undefined ? row.n : Math.min(row.n, limit);
      },
      delete: async (username, query) => {
        this.ensureOpen();
        this.flushAppends();
        checkUsername(username);
        const { sql, params } = this.selectArchive('SELECT seq', host, username, store, query);
        const deleted = this.archiveStatement(`DELETE FROM archive WHERE seq IN (${sql})`).run(...params).changes;
        if (deleted > 0) this.stmt.archiveCountsPrune.run(host, username, store);
        return deleted;
      },
    };
  }

  /**
   * The size of a result set read from the kept counts (migration 2) when the query selects a
   * whole archive or a whole conversation (a bare `with`); undefined when it needs the index.
   */
  private archiveTotal(host: string, username: string, store: string, q: ArchiveQuery): number | undefined {
    if (q.start !== undefined || q.end !== undefined || q.after !== undefined || q.before !== undefined || q.ids !== undefined) return undefined;
    if (q.with === undefined) return this.stmt.archiveTotal.get(host, username, store)?.n ?? 0;
    if (q.with.includes('/')) return undefined;
    return this.stmt.archiveTotalWith.get(host, username, store, q.with)?.n ?? 0;
  }

  /** Builds `<columns> FROM archive WHERE … ORDER BY … [LIMIT ?]` for a validated query. */
  private selectArchive(
    columns: string,
    host: string,
    username: string,
    store: string,
    query: ArchiveQuery | undefined,
    ordered = true,
  ): { sql: string; params: unknown[] } {
    const q = checkArchiveQuery(query);
    const where = ['host = ?', 'username = ?', 'store = ?'];
    const params: unknown[] = [host, username, store];
    if (q.start !== undefined) {
      where.push('at >= ?');
      params.push(q.start);
    }
    if (q.end !== undefined) {
      where.push('at <= ?');
      params.push(q.end);
    }
    if (q.with !== undefined) {
      where.push('with_bare = ?');
      params.push(bareOf(q.with));
      if (q.with.includes('/')) {
        where.push('with_jid = ?');
        params.push(q.with);
      }
    }
    for (const [field, op] of [['after', '>'], ['before', '<']] as const) {
      const id = q[field];
      if (id === undefined) continue;
      const anchor = this.stmt.archiveAnchor.get(host, username, store, id);
      if (!anchor) throw new StorageItemNotFoundError(id);
      where.push(`(at, seq) ${op} (?, ?)`);
      params.push(anchor.at, anchor.seq);
    }
    if (q.ids !== undefined) {
      where.push('id IN (SELECT value FROM json_each(?))');
      params.push(JSON.stringify(q.ids));
    }
    const direction = q.reverse ? 'DESC' : 'ASC';
    let sql = `${columns} FROM archive WHERE ${where.join(' AND ')}`;
    if (ordered) sql += ` ORDER BY at ${direction}, seq ${direction}`;
    if (q.limit !== undefined) {
      sql += ' LIMIT ?';
      params.push(q.limit);
    }
    return { sql, params };
  }

  private archiveStatement(sql: string): Stmt<unknown[]> {
    let statement = this.archiveStatements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.archiveStatements.set(sql, statement);
    }
    return statement;
  }

  private makeAccountStore(): AccountStore {
    const { stmt, db } = this;
    const writeCredentials = (host: string, username: string, credentials: AccountCredentials): void => {
      for (const mech of SCRAM_MECHANISM_NAMES) {
        const c = credentials[mech];
        if (c) stmt.credentialInsert.run(host, username, mech, c.salt, c.iterations, c.storedKey, c.serverKey);
      }
    };
    const createTx = db.transaction((host: string, username: string, credentials: AccountCredentials): boolean => {
      if (stmt.accountInsert.run(host, username, Date.now()).changes === 0) return false;
      writeCredentials(host, username, credentials);
      return true;
    });
    const setCredentialsTx = db.transaction((host: string, username: string, credentials: AccountCredentials): boolean => {
      if (!stmt.accountGet.get(host, username)) return false;
      stmt.credentialsClear.run(host, username);
      writeCredentials(host, username, credentials);
      return true;
    });
    const deleteTx = db.transaction((host: string, username: string): boolean => {
      const existed = stmt.accountDelete.run(host, username).changes > 0; // credentials go by cascade
      this.deleteUserDataTx(host, username); // nested: becomes a savepoint in this transaction
      return existed;
    });
    const getTx = db.transaction((host: string, username: string): Account | undefined => {
      const account = stmt.accountGet.get(host, username);
      if (!account) return undefined;
      const credentials: AccountCredentials = {};
      for (const row of stmt.credentialsGet.all(host, username)) {
        credentials[row.mechanism] = {
          salt: row.salt,
          iterations: row.iterations,
          storedKey: row.stored_key,
          serverKey: row.server_key,
        };
      }
      return { host, username, credentials, created: account.created };
    });
    const checkAccount = (host: string, username: string): void => {
      this.ensureOpen();
      checkHost(host);
      checkUsername(username);
    };
    return {
      create: async (host, username, credentials) => {
        checkAccount(host, username);
        return createTx.immediate(host, username, checkCredentials(credentials));
      },
      get: async (host, username) => {
        checkAccount(host, username);
        return getTx(host, username);
      },
      exists: async (host, username) => {
        checkAccount(host, username);
        return stmt.accountGet.get(host, username) !== undefined;
      },
      setCredentials: async (host, username, credentials) => {
        checkAccount(host, username);
        return setCredentialsTx.immediate(host, username, checkCredentials(credentials));
      },
      delete: async (host, username) => {
        checkAccount(host, username);
        this.flushAppends(); // nothing of the user's may land after its data is gone
        return deleteTx.immediate(host, username);
      },
      list: async (host) => {
        checkAccount(host, '');
        return stmt.accountList.all(host).map((row) => row.username);
      },
      count: async (host) => {
        checkAccount(host, '');
        return stmt.accountCount.get(host)?.n ?? 0;
      },
    };
  }

  private queueAppend(row: ArchiveInsertRow): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pendingAppends.push({ row, resolve, reject, error: undefined });
      if (!this.appendFlushScheduled) {
        this.appendFlushScheduled = true;
        setImmediate(() => this.flushAppends());
      }
    });
  }

  /** Write the pending appends in one transaction and settle their promises. */
  private flushAppends(): void {
    this.appendFlushScheduled = false;
    const batch = this.pendingAppends;
    if (batch.length === 0) return;
    this.pendingAppends = [];
    try {
      this.appendTx.immediate(batch);
    } catch (err) {
      for (const p of batch) p.reject(err as Error);
      return;
    }
    for (const p of batch) {
      if (p.error) p.reject(p.error);
      else p.resolve();
    }
  }

  async deleteUserData(host: string, username: string): Promise<void> {
    this.ensureOpen();
    this.flushAppends();
    checkHost(host);
    checkUsername(username);
    this.deleteUserDataTx.immediate(host, username);
  }

  async archiveSizes(): Promise<Array<{ host: string; store: string; items: number }>> {
    this.ensureOpen();
    this.flushAppends();
    // archive_counts (migration 2) holds one row per conversation: summing it never reads the archive.
    return this.db.prepare<[], { host: string; store: string; items: number }>('SELECT host, store, SUM(n) AS items FROM archive_counts GROUP BY host, store').all();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flushAppends();
    this.closed = true;
    // Fold the WAL back into the main file and truncate it, so the file alone is a full copy.
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
  }
}
