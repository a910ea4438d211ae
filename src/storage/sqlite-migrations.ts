/**
 * The SQLite schema as an ordered list of migrations. The database's `user_version` pragma
 * records how many have been applied; opening a database applies the missing ones, each in
 * its own transaction together with the version bump, so a failed upgrade leaves the file at
 * the last good version. Never edit a released migration: append a new one.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { StorageSchemaTooNewError } from './errors.js';

export type Migration = (db: BetterSqlite3.Database) => void;

/** Version 1: accounts with SCRAM credentials, and the keyval / map / archive store shapes. */
function createInitialSchema(db: BetterSqlite3.Database): void {
  db.exec(`
    CREATE TABLE accounts (
      host     TEXT NOT NULL,
      username TEXT NOT NULL,
      created  INTEGER NOT NULL,
      PRIMARY KEY (host, username)
    ) WITHOUT ROWID;

    -- Only RFC 5802 verifiers: the password itself is never stored.
    CREATE TABLE account_credentials (
      host       TEXT NOT NULL,
      username   TEXT NOT NULL,
      mechanism  TEXT NOT NULL CHECK (mechanism IN ('SCRAM-SHA-1', 'SCRAM-SHA-256')),
      salt       TEXT NOT NULL,
      iterations INTEGER NOT NULL CHECK (iterations >= 4096),
      stored_key TEXT NOT NULL,
      server_key TEXT NOT NULL,
      PRIMARY KEY (host, username, mechanism),
      FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
    ) WITHOUT ROWID;

    -- Keys start with (host, username) so deleting a user's data in every store uses the key.
    CREATE TABLE keyval (
      host     TEXT NOT NULL,
      username TEXT NOT NULL,
      store    TEXT NOT NULL,
      value    TEXT NOT NULL,
      PRIMARY KEY (host, username, store)
    ) WITHOUT ROWID;

    CREATE TABLE map (
      host     TEXT NOT NULL,
      username TEXT NOT NULL,
      store    TEXT NOT NULL,
      key      TEXT NOT NULL,
      value    TEXT NOT NULL,
      PRIMARY KEY (host, username, store, key)
    ) WITHOUT ROWID;

    -- seq (the rowid) breaks ties between items with the same time, so order is stable.
    CREATE TABLE archive (
      seq       INTEGER PRIMARY KEY,
      host      TEXT NOT NULL,
      username  TEXT NOT NULL,
      store     TEXT NOT NULL,
      id        TEXT NOT NULL,
      at        INTEGER NOT NULL,
      with_jid  TEXT NOT NULL,
      with_bare TEXT NOT NULL,
      value     TEXT NOT NULL
    );
    CREATE UNIQUE INDEX archive_by_id ON archive (host, username, store, id);
    CREATE INDEX archive_by_time ON archive (host, username, store, at, seq);
    CREATE INDEX archive_by_with ON archive (host, username, store, with_bare, at, seq);
  `);
}

/**
 * Version 2: per-correspondent item counts of each archive, kept by triggers. A MAM page
 * carries the size of its result set (XEP-0059 <count>); counting a whole archive's index
 * cost milliseconds per page at 100,000 items (and grows with it), reading these rows costs
 * microseconds. Triggers keep every write path right (appends, retention, deleted accounts);
 * an insert costs the same within measurement noise (~70 µs in a batch either way).
 */
function addArchiveCounts(db: BetterSqlite3.Database): void {
  db.exec(`
    CREATE TABLE archive_counts (
      host      TEXT NOT NULL,
      username  TEXT NOT NULL,
      store     TEXT NOT NULL,
      with_bare TEXT NOT NULL,
      n         INTEGER NOT NULL,
      PRIMARY KEY (host, username, store, with_bare)
    ) WITHOUT ROWID;
    INSERT INTO archive_counts (host, username, store, with_bare, n)
      SELECT host, username, store, with_bare, count(*) FROM archive GROUP BY host, username, store, with_bare;
    CREATE TRIGGER archive_counts_insert AFTER INSERT ON archive BEGIN
      INSERT INTO archive_counts (host, username, store, with_bare, n)
        VALUES (NEW.host, NEW.username, NEW.store, NEW.with_bare, 1)
        ON CONFLICT (host, username, store, with_bare) DO UPDATE SET n = n + 1;
    END;
    -- Rows that reach 0 are removed by the deleting statement's caller (one statement, not one per row).
    CREATE TRIGGER archive_counts_delete AFTER DELETE ON archive BEGIN
      UPDATE archive_counts SET n = n - 1
        WHERE host = OLD.host AND username = OLD.username AND store = OLD.store AND with_bare = OLD.with_bare;
    END;
  `);
}

/**
 * Version 3: SCRAM-SHA-512 credentials. SQLite cannot alter a CHECK constraint, so the table is
 * rebuilt with the wider one and its rows copied (the foreign key to accounts is kept).
 */
function allowScramSha512(db: BetterSqlite3.Database): void {
  db.exec(`
    CREATE TABLE account_credentials_v3 (
      host       TEXT NOT NULL,
      username   TEXT NOT NULL,
      mechanism  TEXT NOT NULL CHECK (mechanism IN ('SCRAM-SHA-1', 'SCRAM-SHA-256', 'SCRAM-SHA-512')),
      salt       TEXT NOT NULL,
      iterations INTEGER NOT NULL CHECK (iterations >= 4096),
      stored_key TEXT NOT NULL,
      server_key TEXT NOT NULL,
      PRIMARY KEY (host, username, mechanism),
      FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
    ) WITHOUT ROWID;
    INSERT INTO account_credentials_v3 SELECT host, username, mechanism, salt, iterations, stored_key, server_key FROM account_credentials;
    DROP TABLE account_credentials;
    ALTER TABLE account_credentials_v3 RENAME TO account_credentials;
  `);
}

export const MIGRATIONS: readonly Migration[] = [createInitialSchema, addArchiveCounts, allowScramSha512];

export function schemaVersion(db: BetterSqlite3.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Brings the database up to `migrations.length`. Throws {@link StorageSchemaTooNewError}
 * if the file is newer than the code. Returns the versions before and after.
 */
export function migrate(
  db: BetterSqlite3.Database,
  migrations: readonly Migration[] = MIGRATIONS,
  fileForErrors = db.name,
): { from: number; to: number } {
  const from = schemaVersion(db);
  if (from > migrations.length) throw new StorageSchemaTooNewError(from, migrations.length, fileForErrors);
  for (let version = from; version < migrations.length; version++) {
    const step = migrations[version];
    if (!step) throw new Error(`missing migration ${version + 1}`);
    // immediate: take the write lock first, so two processes opening at once cannot both migrate.
    db.transaction(() => {
      if (schemaVersion(db) !== version) return; // another process got there first
      step(db);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
  return { from, to: schemaVersion(db) };
}
