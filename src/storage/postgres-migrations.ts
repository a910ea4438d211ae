/**
 * The PostgreSQL schema as an ordered list of migrations, recorded in `canto_schema` (one row
 * per applied version). Opening the database takes a session advisory lock, so several Canto
 * processes starting at once against one database migrate it exactly once: the first applies
 * the missing versions (each in its own transaction together with its row), the others wait
 * and then find nothing to do. A database newer than this code is refused with
 * StorageSchemaTooNewError. Never edit a released migration: append a new one.
 *
 * The schema mirrors SQLite's (sqlite-migrations.ts) so both drivers answer the same queries
 * the same way; text columns are COLLATE "C" so keys and usernames sort by UTF-8 bytes, as
 * SQLite's BINARY collation does, whatever the database's default collation is.
 *
 * Index plan for the archive (stays an index range scan at 10M rows, see docs/storage.md for
 * EXPLAIN output):
 * - `archive_by_time (host, username, store, at, seq)`: a user's archive in (when, insertion)
 *   order; serves "the last page" (ORDER BY at DESC, seq DESC LIMIT n: a backward scan),
 *   start/end bounds and after/before anchors (a row comparison on (at, seq)).
 * - `archive_by_with (host, username, store, with_bare, at, seq)`: the same per conversation
 *   (`with` a bare JID; a full JID adds a filter on with_jid within that range).
 * - `archive_by_id (host, username, store, id)` UNIQUE: after/before anchors and duplicate ids.
 * - `archive_counts`: the size of a whole archive or conversation (RSM <count>) read from one
 *   row instead of counting an index range; kept by statement-level triggers.
 */
import type pg from 'pg';
import { StorageSchemaTooNewError } from './errors.js';

/** A migration is SQL run in one transaction. */
export type PostgresMigration = string;

/** Version 1: the whole schema of SQLite's version 3 (accounts, credentials, the three store shapes, counts). */
const INITIAL_SCHEMA = `
  CREATE TABLE accounts (
    host     text COLLATE "C" NOT NULL,
    username text COLLATE "C" NOT NULL,
    created  bigint NOT NULL,
    PRIMARY KEY (host, username)
  );

  -- Only RFC 5802 verifiers: the password itself is never stored.
  CREATE TABLE account_credentials (
    host       text COLLATE "C" NOT NULL,
    username   text COLLATE "C" NOT NULL,
    mechanism  text NOT NULL CHECK (mechanism IN ('SCRAM-SHA-1', 'SCRAM-SHA-256', 'SCRAM-SHA-512')),
    salt       text NOT NULL,
    iterations integer NOT NULL CHECK (iterations >= 4096),
    stored_key text NOT NULL,
    server_key text NOT NULL,
    PRIMARY KEY (host, username, mechanism),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
  );

  -- Keys start with (host, username) so deleting a user's data in every store uses the key.
  CREATE TABLE keyval (
    host     text COLLATE "C" NOT NULL,
    username text COLLATE "C" NOT NULL,
    store    text COLLATE "C" NOT NULL,
    value    text NOT NULL,
    PRIMARY KEY (host, username, store)
  );

  CREATE TABLE map (
    host     text COLLATE "C" NOT NULL,
    username text COLLATE "C" NOT NULL,
    store    text COLLATE "C" NOT NULL,
    key      text COLLATE "C" NOT NULL,
    value    text NOT NULL,
    PRIMARY KEY (host, username, store, key)
  );

  -- seq breaks ties between items with the same time, so the order is stable. 'at' is ms since
  -- the epoch as a double, like SQLite's numeric column (any finite number round-trips).
  CREATE TABLE archive (
    seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host      text COLLATE "C" NOT NULL,
    username  text COLLATE "C" NOT NULL,
    store     text COLLATE "C" NOT NULL,
    id        text COLLATE "C" NOT NULL,
    at        double precision NOT NULL,
    with_jid  text COLLATE "C" NOT NULL,
    with_bare text COLLATE "C" NOT NULL,
    value     text NOT NULL
  );
  CREATE UNIQUE INDEX archive_by_id ON archive (host, username, store, id);
  CREATE INDEX archive_by_time ON archive (host, username, store, at, seq);
  CREATE INDEX archive_by_with ON archive (host, username, store, with_bare, at, seq);

  CREATE TABLE archive_counts (
    host      text COLLATE "C" NOT NULL,
    username  text COLLATE "C" NOT NULL,
    store     text COLLATE "C" NOT NULL,
    with_bare text COLLATE "C" NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (host, username, store, with_bare)
  );

  -- Statement-level triggers: one grouped upsert per INSERT statement (a batch of appends is
  -- one statement), rows taken in key order so two writers lock count rows in the same order.
  CREATE FUNCTION archive_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO archive_counts AS c (host, username, store, with_bare, n)
      SELECT host, username, store, with_bare, count(*) FROM added
        GROUP BY host, username, store, with_bare ORDER BY host, username, store, with_bare
      ON CONFLICT (host, username, store, with_bare) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
  END $$;
  CREATE TRIGGER archive_counts_insert AFTER INSERT ON archive
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION archive_counts_added();

  CREATE FUNCTION archive_counts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    UPDATE archive_counts AS c SET n = c.n - r.n
      FROM (SELECT host, username, store, with_bare, count(*) AS n FROM removed
              GROUP BY host, username, store, with_bare) AS r
      WHERE c.host = r.host AND c.username = r.username AND c.store = r.store AND c.with_bare = r.with_bare;
    DELETE FROM archive_counts AS c USING (SELECT DISTINCT host, username, store FROM removed) AS r
      WHERE c.host = r.host AND c.username = r.username AND c.store = r.store AND c.n <= 0;
    RETURN NULL;
  END $$;
  CREATE TRIGGER archive_counts_delete AFTER DELETE ON archive
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION archive_counts_removed();
`;

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [INITIAL_SCHEMA];

/** An arbitrary constant for pg_advisory_lock: "canto" in ASCII, the migration lock. */
export const MIGRATION_LOCK_KEY = 0x63616e746f;

const VERSION_TABLE = `
  CREATE TABLE IF NOT EXISTS canto_schema (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`;

export async function schemaVersion(client: pg.ClientBase): Promise<number> {
  const exists = await client.query<{ t: string | null }>(`SELECT to_regclass('canto_schema')::text AS t`);
  if (exists.rows[0]?.t == null) return 0;
  const r = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM canto_schema');
  return r.rows[0]?.v ?? 0;
}

/**
 * Brings the database up to `migrations.length` under the advisory lock. Throws
 * StorageSchemaTooNewError if the database is newer than the code. Returns the versions
 * before and after.
 */
export async function migratePostgres(
  client: pg.ClientBase,
  where: string,
  migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS,
): Promise<{ from: number; to: number }> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  try {
    const from = await schemaVersion(client);
    if (from > migrations.length) throw new StorageSchemaTooNewError(from, migrations.length, where);
    for (let version = from; version < migrations.length; version++) {
      await client.query('BEGIN');
      try {
        await client.query(VERSION_TABLE);
        await client.query(migrations[version] as string);
        await client.query('INSERT INTO canto_schema (version) VALUES ($1)', [version + 1]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
    }
    return { from, to: Math.max(from, migrations.length) };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
  }
}
