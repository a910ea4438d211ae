/** SQLite-only behaviour: files on disk, persistence, migrations, and no plaintext passwords. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStorage, StorageSchemaTooNewError } from '../../src/storage/index.js';
import { MIGRATIONS, migrate, schemaVersion, type Migration } from '../../src/storage/sqlite-migrations.js';
import { makeCredentials, verifyPassword } from '../../src/sasl/scram-credentials.js';

const root = mkdtempSync(join(tmpdir(), 'canto-sqlite-'));
let counter = 0;
const freshDir = (): string => join(root, `case-${++counter}`);
after(() => rmSync(root, { recursive: true, force: true }));

describe('sqlite storage: files', () => {
  it('creates the data dir (0700) and the database file (0600) in WAL mode', async () => {
    const dir = join(freshDir(), 'nested', 'data');
    const s = openSqliteStorage({ dataDir: dir });
    await s.keyval('a.example', 'k').set('u', 1);
    const file = join(dir, 'canto.sqlite');
    assert.ok(existsSync(file));
    if (process.platform !== 'win32') {
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(statSync(`${file}-wal`).mode & 0o077, 0, 'the WAL is not readable by others');
    }
    await s.close();
    const raw = new Database(file, { readonly: true });
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    raw.close();
  });

  it('honours fileName', async () => {
    const dir = freshDir();
    const s = openSqliteStorage({ dataDir: dir, fileName: 'other.db' });
    await s.close();
    assert.ok(existsSync(join(dir, 'other.db')));
    assert.ok(!existsSync(join(dir, 'canto.sqlite')));
  });

  it('close checkpoints the WAL into the main file', async () => {
    const dir = freshDir();
    const s = openSqliteStorage({ dataDir: dir });
    await s.keyval('a.example', 'k').set('u', 'x'.repeat(10_000));
    await s.close();
    const wal = join(dir, 'canto.sqlite-wal');
    assert.ok(!existsSync(wal) || statSync(wal).size === 0, 'WAL is empty or gone after close');
  });
});

describe('sqlite storage: persistence', () => {
  it('keeps every shape across close and reopen, and archive order continues', async () => {
    const dir = freshDir();
    const creds = makeCredentials('pencil', { iterations: 4096, hashes: ['SHA-256'] });
    let s = openSqliteStorage({ dataDir: dir });
    await s.accounts.create('a.example', 'romeo', creds);
    await s.keyval('a.example', 'roster').set('romeo', { juliet: 'both' });
    await s.map('a.example', 'pep').set('romeo', 'urn:tune', { title: 'x' });
    const a = s.archive<string>('a.example', 'mam');
    const firstId = await a.append('romeo', { when: 1000, with: 'juliet@a.example/r', value: 'one' });
    await a.append('romeo', { when: 2000, value: 'two' });
    await s.close();

    s = openSqliteStorage({ dataDir: dir });
    const account = await s.accounts.get('a.example', 'romeo');
    assert.deepEqual(account?.credentials, creds);
    assert.equal(verifyPassword(account?.credentials ?? {}, 'pencil'), true);
    assert.deepEqual(await s.keyval('a.example', 'roster').get('romeo'), { juliet: 'both' });
    assert.deepEqual(await s.map('a.example', 'pep').getAll('romeo'), new Map([['urn:tune', { title: 'x' }]]));
    const b = s.archive<string>('a.example', 'mam');
    // Same timestamp as an existing item: must still sort after it.
    await b.append('romeo', { when: 2000, value: 'three' });
    assert.deepEqual((await b.find('romeo')).map((i) => i.value), ['one', 'two', 'three']);
    assert.deepEqual((await b.find('romeo', { after: firstId })).map((i) => i.value), ['two', 'three']);
    await s.close();
  });

  it('two connections to one file see each other\'s writes', async () => {
    const dir = freshDir();
    const s1 = openSqliteStorage({ dataDir: dir });
    const s2 = openSqliteStorage({ dataDir: dir });
    await s1.keyval('a.example', 'k').set('u', 'from s1');
    assert.equal(await s2.keyval('a.example', 'k').get('u'), 'from s1');
    await s2.archive('a.example', 'a').append('u', { value: 1 });
    assert.equal(await s1.archive('a.example', 'a').count('u'), 1);
    await s1.close();
    await s2.close();
  });

  it('update holds the write lock from its read on: another connection cannot write in between', async () => {
    const dir = freshDir();
    const s1 = openSqliteStorage({ dataDir: dir });
    const s2 = openSqliteStorage({ dataDir: dir, busyTimeoutMs: 20 });
    const kv1 = s1.keyval<number>('a.example', 'n');
    const kv2 = s2.keyval<number>('a.example', 'n');
    await kv1.set('u', 1);
    let intruder: Promise<void> = Promise.resolve();
    // A side effect in fn, only to act between the read and the write: s2's statement runs
    // synchronously here, inside s1's transaction. A deferred transaction would let it in.
    const stored = await kv1.update('u', (n) => {
      intruder = kv2.set('u', 100);
      return (n ?? 0) + 1;
    });
    await assert.rejects(intruder, { code: 'SQLITE_BUSY' });
    assert.equal(stored, 2);
    assert.equal(await kv2.get('u'), 2);
    await s1.close();
    await s2.close();
  });
});

describe('sqlite storage: migrations', () => {
  it('version 3 keeps version 2 credentials and accepts SCRAM-SHA-512 (the CHECK is relaxed)', async () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'canto.sqlite');
    const v2 = new Database(file);
    migrate(v2, MIGRATIONS.slice(0, 2));
    v2.prepare('INSERT INTO accounts (host, username, created) VALUES (?, ?, ?)').run('a.example', 'old', 1);
    const sha1 = makeCredentials('pw', { iterations: 4096, hashes: ['SHA-1'] })['SCRAM-SHA-1'];
    assert.ok(sha1);
    v2.prepare('INSERT INTO account_credentials VALUES (?, ?, ?, ?, ?, ?, ?)').run('a.example', 'old', 'SCRAM-SHA-1', sha1.salt, sha1.iterations, sha1.storedKey, sha1.serverKey);
    assert.throws(() => v2.prepare('INSERT INTO account_credentials VALUES (?, ?, ?, ?, ?, ?, ?)').run('a.example', 'old', 'SCRAM-SHA-512', 's', 4096, 'k', 'k'));
    v2.close();
    const s = openSqliteStorage({ dataDir: dir });
    const acct = await s.accounts.get('a.example', 'old');
    assert.deepEqual(acct?.credentials, { 'SCRAM-SHA-1': sha1 });
    const both = makeCredentials('pw', { iterations: 4096, hashes: ['SHA-1', 'SHA-512'] });
    assert.equal(await s.accounts.setCredentials('a.example', 'old', both), true);
    const again = await s.accounts.get('a.example', 'old');
    assert.ok(again?.credentials['SCRAM-SHA-512']);
    assert.equal(verifyPassword(again.credentials, 'pw'), true);
    assert.equal(await s.accounts.delete('a.example', 'old'), true); // the foreign key still cascades
    await s.close();
  });

  it('an empty (0-byte) file is migrated to the current schema', async () => {
    const dir = freshDir();
    const s0 = openSqliteStorage({ dataDir: dir }); // creates the dir
    await s0.close();
    rmSync(join(dir, 'canto.sqlite'));
    writeFileSync(join(dir, 'canto.sqlite'), '');
    const s = openSqliteStorage({ dataDir: dir });
    await s.keyval('a.example', 'k').set('u', 1);
    await s.close();
    const raw = new Database(join(dir, 'canto.sqlite'), { readonly: true });
    assert.equal(schemaVersion(raw), MIGRATIONS.length);
    const tables = raw
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((r) => r.name);
    assert.deepEqual(tables, ['account_credentials', 'accounts', 'archive', 'archive_counts', 'keyval', 'map']);
    const indexes = raw
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'archive'")
      .all()
      .map((r) => r.name);
    assert.ok(indexes.includes('archive_by_time'));
    raw.close();
  });

  it('version 2 counts the archives a version 1 database already holds', async () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    const raw = new Database(join(dir, 'canto.sqlite'));
    migrate(raw, MIGRATIONS.slice(0, 1));
    const insert = raw.prepare(
      "INSERT INTO archive (host, username, store, id, at, with_jid, with_bare, value) VALUES ('a.example', ?, 'mam', ?, 1, ?, ?, '1')",
    );
    for (let i = 0; i < 7; i++) insert.run('u', `u${i}`, i < 5 ? 'x@a.example/r' : 'y@a.example', i < 5 ? 'x@a.example' : 'y@a.example');
    insert.run('v', 'v0', 'x@a.example', 'x@a.example');
    raw.close();
    const s = openSqliteStorage({ dataDir: dir });
    const mam = s.archive('a.example', 'mam');
    assert.equal(await mam.count('u'), 7);
    assert.equal(await mam.count('u', { with: 'x@a.example' }), 5);
    assert.equal(await mam.count('u', { with: 'y@a.example' }), 2);
    assert.equal(await mam.count('v'), 1);
    await mam.append('u', { with: 'y@a.example', value: 1 });
    assert.equal(await mam.delete('u', { with: 'x@a.example', limit: 2 }), 2);
    assert.equal(await mam.count('u'), 6);
    assert.equal(await mam.count('u', { with: 'y@a.example' }), 3);
    await s.close();
  });

  it('refuses a database with a newer schema, and leaves it untouched', async () => {
    const dir = freshDir();
    await openSqliteStorage({ dataDir: dir }).close();
    const file = join(dir, 'canto.sqlite');
    const raw = new Database(file);
    raw.pragma(`user_version = ${MIGRATIONS.length + 5}`);
    raw.close();
    assert.throws(
      () => openSqliteStorage({ dataDir: dir }),
      (err: unknown) => {
        assert.ok(err instanceof StorageSchemaTooNewError);
        assert.equal(err.found, MIGRATIONS.length + 5);
        assert.equal(err.supported, MIGRATIONS.length);
        assert.match(err.message, /newer|supports up to/);
        return true;
      },
    );
    const check = new Database(file, { readonly: true });
    assert.equal(schemaVersion(check), MIGRATIONS.length + 5);
    check.close();
  });

  it('upgrades an old database step by step, keeping its data', () => {
    const db = new Database(':memory:');
    const v1: Migration = (d) => d.exec('CREATE TABLE t (a TEXT)');
    const v2: Migration = (d) => d.exec("ALTER TABLE t ADD COLUMN b TEXT NOT NULL DEFAULT 'b'");
    const v3: Migration = (d) => d.exec('CREATE INDEX t_b ON t (b)');
    assert.deepEqual(migrate(db, [v1]), { from: 0, to: 1 });
    db.prepare("INSERT INTO t (a) VALUES ('kept')").run();
    assert.deepEqual(migrate(db, [v1, v2, v3]), { from: 1, to: 3 });
    assert.deepEqual(db.prepare('SELECT a, b FROM t').all(), [{ a: 'kept', b: 'b' }]);
    assert.deepEqual(migrate(db, [v1, v2, v3]), { from: 3, to: 3 }, 'a current database is left alone');
    db.close();
  });

  it('a failing migration rolls back to the last good version', () => {
    const db = new Database(':memory:');
    const v1: Migration = (d) => d.exec('CREATE TABLE t (a TEXT)');
    const broken: Migration = (d) => {
      d.exec('CREATE TABLE half_done (x)');
      throw new Error('boom');
    };
    assert.throws(() => migrate(db, [v1, broken]), /boom/);
    assert.equal(schemaVersion(db), 1);
    const halfDone = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'half_done'").get() as { n: number };
    assert.equal(halfDone.n, 0);
    db.close();
  });
});

describe('sqlite storage: no plaintext password on disk', () => {
  const PASSWORD = 'correct horse battery staple';

  /** Every encoding of the password an accident could plausibly write. */
  function needles(secret: string): Buffer[] {
    const utf8 = Buffer.from(secret, 'utf8');
    const texts = [
      secret,
      utf8.toString('base64'),
      utf8.toString('base64').replace(/=+$/, ''),
      utf8.toString('base64url'),
      utf8.toString('hex'),
      utf8.toString('hex').toUpperCase(),
      // base64 of PLAIN's "\0user\0password" message, as a SASL log line would carry it
      Buffer.from(`\0romeo\0${secret}`).toString('base64'),
    ];
    return [...texts.map((t) => Buffer.from(t, 'utf8')), Buffer.from(secret, 'utf16le')];
  }

  function filesOf(dir: string): string[] {
    return ['canto.sqlite', 'canto.sqlite-wal', 'canto.sqlite-shm'].map((f) => join(dir, f)).filter((f) => existsSync(f));
  }

  function found(dir: string, secret: string): string[] {
    const hits: string[] = [];
    for (const file of filesOf(dir)) {
      const bytes = readFileSync(file);
      for (const needle of needles(secret)) if (bytes.includes(needle)) hits.push(`${file}: ${needle.toString('latin1')}`);
    }
    return hits;
  }

  it('the scanner finds a string that really is stored (so the real check can fail)', async () => {
    const dir = freshDir();
    const s = openSqliteStorage({ dataDir: dir });
    await s.keyval('a.example', 'canary').set('u', 'canary value 7f3a');
    assert.ok(found(dir, 'canary value 7f3a').length > 0, 'found in the WAL before close');
    await s.close();
    assert.ok(found(dir, 'canary value 7f3a').length > 0, 'found in the main file after close');
  });

  it(`creating and using an account with "${PASSWORD}" writes no form of it`, async () => {
    const dir = freshDir();
    const s = openSqliteStorage({ dataDir: dir });
    const creds = makeCredentials(PASSWORD, { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] });
    assert.equal(await s.accounts.create('a.example', 'romeo', creds), true);
    const stored = await s.accounts.get('a.example', 'romeo');
    assert.equal(verifyPassword(stored?.credentials ?? {}, PASSWORD), true);
    const newCreds = makeCredentials(PASSWORD, { iterations: 4096, hashes: ['SHA-256'] });
    assert.equal(await s.accounts.setCredentials('a.example', 'romeo', newCreds), true);
    assert.ok(filesOf(dir).some((f) => f.endsWith('-wal')), 'the WAL exists and is scanned');
    assert.deepEqual(found(dir, PASSWORD), [], 'not in the database or WAL while open');
    await s.close();
    assert.deepEqual(found(dir, PASSWORD), [], 'not in the database after checkpoint and close');
  });
});
