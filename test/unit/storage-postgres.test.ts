/**
 * What is specific to the PostgreSQL driver (the shared contract is in storage.test.ts):
 * migrations and their version table, the start-up errors (newer schema, unreachable server,
 * refused role, missing database), read-modify-write across two pools as two processes would
 * have, several processes migrating one database at once, group-committed appends, the index
 * plan, and an outage: calls reject with StorageUnavailableError and work again once the
 * server is back, with no crash in between.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { silentLogger } from '../../src/core/logging.js';
import { StorageSchemaTooNewError, StorageUnavailableError, type StorageDriver } from '../../src/storage/index.js';
import { describeUrl, openPostgresStorage } from '../../src/storage/postgres.js';
import { migratePostgres, POSTGRES_MIGRATIONS, schemaVersion } from '../../src/storage/postgres-migrations.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { freePort, skipWithoutPostgres, startPostgres, type PostgresInstance } from '../helpers/postgres.js';

const skip = skipWithoutPostgres();

describe('PostgreSQL driver', { skip }, () => {
  let pgi: PostgresInstance;
  const opened: StorageDriver[] = [];
  const open = async (url: string, poolSize = 10) => {
    const s = await openPostgresStorage({ url, pool_size: poolSize, connect_timeout: 3000 }, silentLogger());
    opened.push(s);
    return s;
  };
  const withClient = async <T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };

  before(async () => {
    pgi = await startPostgres();
  });
  after(async () => {
    for (const s of opened) await s.close();
    await pgi?.stop();
  });

  it('creates the schema on first open, records its version, and leaves it alone on the next', async () => {
    const url = await pgi.createDatabase();
    await open(url);
    const rows = await withClient(url, async (c) => (await c.query<{ version: number }>('SELECT version FROM canto_schema ORDER BY version')).rows);
    assert.deepEqual(rows.map((r) => r.version), POSTGRES_MIGRATIONS.map((_, i) => i + 1));
    await open(url);
    assert.equal(await withClient(url, (c) => schemaVersion(c)), POSTGRES_MIGRATIONS.length);
    const again = await withClient(url, async (c) => (await c.query('SELECT count(*)::int AS n FROM canto_schema')).rows[0]);
    assert.deepEqual(again, { n: POSTGRES_MIGRATIONS.length });
  });

  it('migrates an older database forward, keeping its data', async () => {
    const url = await pgi.createDatabase();
    const s = await open(url);
    await s.keyval('a.example', 'k').set('u', { kept: true });
    const next = [...POSTGRES_MIGRATIONS, 'CREATE TABLE test_added (x integer)'];
    const result = await withClient(url, (c) => migratePostgres(c, describeUrl(url), next));
    assert.deepEqual(result, { from: POSTGRES_MIGRATIONS.length, to: next.length });
    assert.equal(await withClient(url, (c) => schemaVersion(c)), next.length);
    assert.deepEqual(await s.keyval('a.example', 'k').get('u'), { kept: true });
  });

  it('refuses a database whose schema is newer than this Canto, naming both versions', async () => {
    const url = await pgi.createDatabase();
    await open(url);
    await withClient(url, (c) => c.query('INSERT INTO canto_schema (version) VALUES (99)'));
    await assert.rejects(open(url), (err: unknown) => {
      assert.ok(err instanceof StorageSchemaTooNewError);
      assert.equal(err.code, 'storage-schema-too-new');
      assert.equal(err.found, 99);
      assert.equal(err.supported, POSTGRES_MIGRATIONS.length);
      assert.match(err.message, /schema version 99.*supports up to 1.*upgrade Canto/);
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${pgi.port}/`));
      return true;
    });
  });

  it('an unreachable server is a StorageUnavailableError naming host and port, never the password', async () => {
    const port = await freePort(); // nothing listens there
    const url = `postgres://postgres:hunter2@127.0.0.1:${port}/postgres`;
    await assert.rejects(open(url), (err: unknown) => {
      assert.ok(err instanceof StorageUnavailableError, String(err));
      assert.equal(err.code, 'storage-unavailable');
      assert.match(err.message, new RegExp(`could not connect to PostgreSQL at 127\\.0\\.0\\.1:${port}/postgres: .*ECONNREFUSED.*is PostgreSQL running`));
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    });
  });

  it('a refused role and a missing database are StorageUnavailableErrors that say what to fix', async () => {
    await assert.rejects(open(pgi.urlFor('postgres').replace('postgres@', 'nobody:pw@')), (err: unknown) => {
      assert.ok(err instanceof StorageUnavailableError);
      assert.match(err.message, /role "nobody" does not exist.*check the user name and password/);
      return true;
    });
    await assert.rejects(open(pgi.urlFor('no_such_db')), (err: unknown) => {
      assert.ok(err instanceof StorageUnavailableError);
      assert.match(err.message, /database "no_such_db" does not exist.*create the database first/);
      return true;
    });
  });

  it('several processes opening one new database at once migrate it exactly once (advisory lock)', async () => {
    const url = await pgi.createDatabase();
    const drivers = await Promise.all(Array.from({ length: 6 }, () => open(url, 2)));
    assert.equal(drivers.length, 6);
    const rows = await withClient(url, async (c) => (await c.query<{ version: number }>('SELECT version FROM canto_schema ORDER BY version')).rows);
    assert.deepEqual(rows.map((r) => r.version), POSTGRES_MIGRATIONS.map((_, i) => i + 1));
  });

  it('update loses nothing when two pools (two processes) increment the same values at once', async () => {
    const url = await pgi.createDatabase();
    const [a, b] = await Promise.all([open(url, 5), open(url, 5)]);
    const n = 100;
    const runs: Promise<unknown>[] = [];
    let calls = 0;
    for (let i = 0; i < n; i++) {
      for (const s of [a, b]) {
        runs.push(s.keyval<number>('h.example', 'counter').update('u', (v) => (calls++, (v ?? 0) + 1)));
        runs.push(s.map<{ n: number }>('h.example', 'pep').update('u', 'node', (v) => ({ n: (v?.n ?? 0) + 1 })));
      }
    }
    await Promise.all(runs);
    assert.equal(await a.keyval<number>('h.example', 'counter').get('u'), 2 * n);
    assert.deepEqual(await b.map('h.example', 'pep').get('u', 'node'), { n: 2 * n });
    assert.ok(calls >= 2 * n); // more when a first insert raced and fn ran again
  });

  it("an update fn's own error passes through untouched, even when it reads like a connection error", async () => {
    const s = await open(await pgi.createDatabase());
    const kv = s.keyval<number>('h.example', 'k');
    await kv.set('u', 1);
    const mine = new Error('Connection terminated unexpectedly (thrown by fn)');
    await assert.rejects(kv.update('u', () => { throw mine; }), (err: unknown) => err === mine);
    await assert.rejects(kv.update('new', () => { throw mine; }), (err: unknown) => err === mine);
    assert.equal(await kv.get('u'), 1);
    assert.equal(await kv.get('new'), undefined);
  });

  it('group-commits concurrent appends in append order, each caller told about its own duplicate', async () => {
    const s = await open(await pgi.createDatabase());
    const arch = s.archive<number>('h.example', 'mam');
    const appends = Array.from({ length: 1200 }, (_, i) => arch.append('u', { when: 1000, value: i, with: `c${i % 7}@x/r` }));
    const dup = arch.append('u', { id: 'same', value: -1 });
    const dup2 = arch.append('u', { id: 'same', value: -2 });
    const ids = await Promise.all(appends);
    assert.equal(new Set(ids).size, 1200);
    assert.equal(await dup, 'same');
    await assert.rejects(dup2, { code: 'storage-duplicate-id' });
    const items = await arch.find('u', { end: 1000 });
    assert.deepEqual(items.map((it) => it.value), Array.from({ length: 1200 }, (_, i) => i));
    assert.equal(await arch.count('u'), 1201);
    assert.equal(await arch.count('u', { with: 'c3@x' }), Array.from({ length: 1200 }, (_, i) => i).filter((i) => i % 7 === 3).length);
  });

  it('reads every archive query shape through its index (EXPLAIN at 100,000 rows)', async () => {
    const url = await pgi.createDatabase();
    await open(url);
    const plans = await withClient(url, async (c) => {
      // 100 users × 1,000 items, 20 correspondents each: enough that a sequential scan would lose.
      await c.query(`INSERT INTO archive (host, username, store, id, at, with_jid, with_bare, value)
        SELECT 'h', 'u' || (g % 100), 'mam', md5(g::text), g, 'c' || (g % 20) || '@x/r', 'c' || (g % 20) || '@x', '{}'
          FROM generate_series(1, 100000) g`);
      await c.query('ANALYZE archive');
      const explain = async (sql: string, params: unknown[]) =>
        (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params)).rows.map((r) => r['QUERY PLAN']).join('\n');
      const base = "SELECT id, at, with_jid, value FROM archive WHERE host = $1 AND username = $2 AND store = $3";
      return {
        lastPage: await explain(`${base} ORDER BY at DESC, seq DESC LIMIT 50`, ['h', 'u7', 'mam']),
        byWith: await explain(`${base} AND with_bare = $4 ORDER BY at ASC, seq ASC LIMIT 50`, ['h', 'u7', 'mam', 'c7@x']),
        byTime: await explain(`${base} AND at >= $4 AND at <= $5 ORDER BY at ASC, seq ASC LIMIT 50`, ['h', 'u7', 'mam', 50000, 60000]),
        after: await explain(`${base} AND (at, seq) > ($4::float8, $5::bigint) ORDER BY at ASC, seq ASC LIMIT 50`, ['h', 'u7', 'mam', 50000, 50000]),
      };
    });
    assert.match(plans.lastPage, /Index Scan Backward using archive_by_time/, plans.lastPage);
    assert.match(plans.byWith, /Index Scan using archive_by_with/, plans.byWith);
    assert.match(plans.byTime, /Index Scan using archive_by_time/, plans.byTime);
    assert.match(plans.after, /Index Scan using archive_by_time/, plans.after);
    for (const plan of Object.values(plans)) assert.doesNotMatch(plan, /Seq Scan|Sort/, plan);
  });

  it('survives an outage: calls reject as unavailable, nothing crashes, and work resumes when the server returns', async () => {
    const url = await pgi.createDatabase();
    const s = await open(url, 3);
    const creds = makeCredentials('pw', { iterations: 4096, hashes: ['SHA-256'] });
    await s.accounts.create('h.example', 'romeo', creds);
    await s.keyval('h.example', 'k').set('romeo', 1); // idle connections now sit in the pool
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      await pgi.stopServer();
      for (const call of [
        () => s.accounts.get('h.example', 'romeo'),
        () => s.keyval('h.example', 'k').update('romeo', (v) => v),
        () => s.archive('h.example', 'a').append('romeo', { value: 1 }),
        () => s.archive('h.example', 'a').find('romeo'),
      ]) {
        await assert.rejects(call(), (err: unknown) => {
          assert.ok(err instanceof StorageUnavailableError, String(err));
          assert.equal(err.code, 'storage-unavailable');
          return true;
        });
      }
      await pgi.startServer();
      // The pool drops dead connections as it meets them: bounded retries until a call works.
      const deadline = Date.now() + 20_000;
      let account;
      for (;;) {
        try {
          account = await s.accounts.get('h.example', 'romeo');
          break;
        } catch (err) {
          assert.ok(err instanceof StorageUnavailableError, String(err));
          if (Date.now() > deadline) throw err;
        }
      }
      assert.deepEqual(account?.credentials, creds);
      assert.equal(await s.keyval<number>('h.example', 'k').update('romeo', (v) => (v ?? 0) + 1), 2);
      await s.archive('h.example', 'a').append('romeo', { value: 2 });
      assert.equal(await s.archive('h.example', 'a').count('romeo'), 1);
      assert.deepEqual(uncaught, []);
    } finally {
      process.removeListener('uncaughtException', onUncaught);
    }
  });
});
