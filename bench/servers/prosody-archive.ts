/**
 * Prosody's SQL archive for the mobile feature set: the SQLite driver package, and the
 * pre-filled archive written straight into its database with the sqlite3 CLI.
 *
 * The tables are created exactly as mod_storage_sql (0.12) creates them on SQLite
 * (util/sql.lua's CREATE TABLE/INDEX IF NOT EXISTS, so Prosody finds them as its own), and
 * rows look like what mod_mam appends: store 'archive', `when` in whole seconds, `with` the
 * peer's bare JID, key a UUID (the stanza-id), type 'xml', value the stanza as text.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { fillItems } from './archive-fill.js';
import { BENCH_DOMAIN, benchUsername, type ArchiveFill } from './types.js';

const SQLITE_DRIVER_PACKAGE = 'lua-dbi-sqlite3';

function packageInstalled(name: string): boolean {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes('install ok installed');
  } catch {
    return false;
  }
}

/** Installs Debian's lua-dbi-sqlite3 (mod_storage_sql's SQLite driver) when missing; needs root. */
export function ensureProsodySqliteDriver(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): void {
  if (packageInstalled(SQLITE_DRIVER_PACKAGE)) return;
  log(`${SQLITE_DRIVER_PACKAGE} is not installed: apt-get update && apt-get install -y ${SQLITE_DRIVER_PACKAGE}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', SQLITE_DRIVER_PACKAGE]]) {
    const r = spawnSync('apt-get', args, { env, stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (status ${r.status ?? r.signal})`);
  }
  if (!packageInstalled(SQLITE_DRIVER_PACKAGE)) throw new Error(`${SQLITE_DRIVER_PACKAGE} still missing after apt-get install`);
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS "prosody" ("host" TEXT NOT NULL, "user" TEXT NOT NULL, "store" TEXT NOT NULL, "key" TEXT NOT NULL, "type" TEXT NOT NULL, "value" TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS "prosody_index" ON "prosody" ("host", "user", "store", "key");
CREATE TABLE IF NOT EXISTS "prosodyarchive" ("sort_id" INTEGER PRIMARY KEY AUTOINCREMENT, "host" TEXT NOT NULL, "user" TEXT NOT NULL, "store" TEXT NOT NULL, "key" TEXT NOT NULL, "when" INTEGER NOT NULL, "with" TEXT NOT NULL, "type" TEXT NOT NULL, "value" TEXT NOT NULL);
`;
// Created after the rows (faster to build once than to maintain per insert); the same indexes.
const INDEXES = `CREATE UNIQUE INDEX IF NOT EXISTS "prosodyarchive_index" ON "prosodyarchive" ("host", "user", "store", "key");
CREATE INDEX IF NOT EXISTS "prosodyarchive_with_when" ON "prosodyarchive" ("host", "user", "store", "with", "when");
CREATE INDEX IF NOT EXISTS "prosodyarchive_when" ON "prosodyarchive" ("host", "user", "store", "when");
CREATE INDEX IF NOT EXISTS "prosodyarchive_sort" ON "prosodyarchive" ("host", "user", "store", "sort_id");
`;

const sqlText = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * Writes the schema (and, with `fill`, the archive rows) into a new SQLite database `dbFile`,
 * through a generated SQL file `sqlFile` run by the sqlite3 CLI.
 */
export function writeProsodyDatabase(dbFile: string, sqlFile: string, fill: ArchiveFill | undefined): void {
  const fd = openSync(sqlFile, 'w');
  try {
    // WAL is a property of the database file, so Prosody keeps it: its default rollback journal
    // would fsync twice per archived message, where Canto's store runs in WAL mode.
    writeSync(fd, `PRAGMA journal_mode=WAL;\n${SCHEMA}BEGIN;\n`);
    if (fill) {
      const user = sqlText(benchUsername(fill.owner));
      const head = `INSERT INTO "prosodyarchive" ("host","user","store","when","with","key","type","value") VALUES `;
      let batch: string[] = [];
      const flush = () => {
        if (batch.length > 0) writeSync(fd, `${head}${batch.join(',')};\n`);
        batch = [];
      };
      for (const item of fillItems(fill)) {
        const peer = `${benchUsername(item.peer)}@${BENCH_DOMAIN}`;
        batch.push(`(${sqlText(BENCH_DOMAIN)},${user},'archive',${Math.floor(item.when / 1000)},${sqlText(peer)},'${randomUUID()}','xml',${sqlText(item.xml)})`);
        if (batch.length >= 500) flush();
      }
      flush();
    }
    writeSync(fd, `COMMIT;\n${INDEXES}`);
  } finally {
    closeSync(fd);
  }
  const r = spawnSync('sqlite3', [dbFile, `.read ${sqlFile}`], { encoding: 'utf8', timeout: 900_000 });
  rmSync(sqlFile, { force: true }); // ~300 bytes per row
  if (r.status !== 0) throw new Error(`sqlite3 failed (status ${r.status ?? r.signal}): ${(r.stderr ?? '').slice(0, 500)}`);
}
