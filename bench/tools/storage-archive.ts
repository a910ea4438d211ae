/**
 * Archive cost on SQLite and PostgreSQL through the storage driver API (what MAM and offline
 * use): the write cost per message while filling an archive, then the time of a 50-item page
 * query of each shape on the filled archive, and the query plans.
 *
 *   npm run build && node dist/bench/tools/storage-archive.js [--rows 1000000] [--users 1000]
 *       [--burst 200] [--queries 300] [--driver sqlite|postgres|both]
 *
 * Appends arrive in bursts of `--burst` concurrent calls (many sessions archiving in the same
 * tick), each burst awaited before the next. PostgreSQL is a private instance started here
 * (test/helpers/postgres.ts) with fsync ON and synchronous_commit on (durable commits, like
 * SQLite's WAL with synchronous=NORMAL is durable against a process crash). CPU is reported
 * for this process and, for PostgreSQL, for its server processes (from /proc).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { silentLogger } from '../../src/core/logging.js';
import { openPostgresStorage } from '../../src/storage/postgres.js';
import { openSqliteStorage } from '../../src/storage/sqlite.js';
import type { ArchiveQuery, StorageDriver } from '../../src/storage/types.js';
import { startPostgres, type PostgresInstance } from '../../test/helpers/postgres.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    users: { type: 'string', default: '100' },
    burst: { type: 'string', default: '200' },
    queries: { type: 'string', default: '300' },
    driver: { type: 'string', default: 'both' },
  },
});
const ROWS = Number(values.rows);
const USERS = Number(values.users);
const BURST = Number(values.burst);
const QUERIES = Number(values.queries);
const CONTACTS = 20;

/** CPU seconds (user+system) of the postmaster and its children, from /proc. */
function postgresCpu(pgi: PostgresInstance | undefined): number {
  if (!pgi) return 0;
  const ticks = 100; // USER_HZ on Linux
  let total = 0;
  const postmaster = pgi.postmasterPid();
  if (postmaster === undefined) return 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(entry);
      const ppid = Number(fields[1]);
      if (pid !== postmaster && ppid !== postmaster) continue;
      total += (Number(fields[11]) + Number(fields[12])) / ticks;
    } catch {
      /* gone meanwhile */
    }
  }
  return total;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

async function fill(s: StorageDriver, pgi: PostgresInstance | undefined): Promise<{ wallUs: number; cpuUs: number; dbCpuUs: number }> {
  const arch = s.archive<{ body: string }>('bench.example', 'mam');
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const d0 = postgresCpu(pgi);
  let when = 1_700_000_000_000;
  for (let done = 0; done < ROWS; done += BURST) {
    const burst: Promise<string>[] = [];
    for (let i = done; i < Math.min(ROWS, done + BURST); i++) {
      const user = `u${i % USERS}`;
      burst.push(arch.append(user, { when: when++, with: `c${Math.floor(i / USERS) % CONTACTS}@example.org/res`, value: { body: `message number ${i} with a typical chat length body` } }));
    }
    await Promise.all(burst);
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  return { wallUs: wall / ROWS, cpuUs: (cpu.user + cpu.system) / ROWS, dbCpuUs: ((postgresCpu(pgi) - d0) * 1e6) / ROWS };
}

async function queries(s: StorageDriver): Promise<Record<string, { p50: number; p99: number }>> {
  const arch = s.archive<{ body: string }>('bench.example', 'mam');
  const anchors = new Map<string, string>();
  for (let u = 0; u < USERS; u += Math.max(1, Math.floor(USERS / 50))) {
    const mid = await arch.find(`u${u}`, { limit: 1, start: 1_700_000_000_000 + ROWS / 2 });
    if (mid[0]) anchors.set(`u${u}`, mid[0].id);
  }
  const users = [...anchors.keys()];
  const shapes: Record<string, (user: string) => ArchiveQuery> = {
    'last page (reverse, limit 50) + count': () => ({ reverse: true, limit: 50 }),
    'with a contact, last page + count': () => ({ with: 'c7@example.org', reverse: true, limit: 50 }),
    'time range, first 50': () => ({ start: 1_700_000_000_000 + ROWS / 4, end: 1_700_000_000_000 + ROWS / 2, limit: 50 }),
    'after an id (next page)': (user) => ({ after: anchors.get(user), limit: 50 }),
  };
  const out: Record<string, { p50: number; p99: number }> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const times: number[] = [];
    for (let i = 0; i < QUERIES; i++) {
      const user = users[i % users.length] as string;
      const q = shape(user);
      const t0 = process.hrtime.bigint();
      const page = await arch.find(user, q);
      if (name.includes('count')) await arch.count(user, { ...q, limit: undefined });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (page.length === 0) throw new Error(`${name}: empty page`);
    }
    times.sort((a, b) => a - b);
    out[name] = { p50: percentile(times, 50), p99: percentile(times, 99) };
  }
  return out;
}

async function main(): Promise<void> {
  const drivers = values.driver === 'both' ? ['sqlite', 'postgres'] : [values.driver as string];
  process.stdout.write(`rows ${ROWS}, users ${USERS} (${ROWS / USERS} items each), ${CONTACTS} contacts, bursts of ${BURST}\n\n`);
  for (const name of drivers) {
    const dir = mkdtempSync(join(tmpdir(), 'canto-bench-archive-'));
    let pgi: PostgresInstance | undefined;
    let s: StorageDriver;
    let url = '';
    if (name === 'postgres') {
      pgi = await startPostgres({ fsync: true });
      url = await pgi.createDatabase('bench');
      s = await openPostgresStorage({ url, pool_size: 10 }, silentLogger());
    } else {
      s = openSqliteStorage({ dataDir: dir });
    }
    try {
      const w = await fill(s, pgi);
      process.stdout.write(`${name}: append ${w.wallUs.toFixed(1)} µs wall/message, ${w.cpuUs.toFixed(1)} µs Canto CPU/message` + (pgi ? `, ${w.dbCpuUs.toFixed(1)} µs PostgreSQL CPU/message` : '') + '\n');
      if (pgi) {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        await c.query('ANALYZE archive');
        const plan = await c.query<{ 'QUERY PLAN': string }>(
          `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT id, at, with_jid, value FROM archive
            WHERE host = 'bench.example' AND username = 'u7' AND store = 'mam' AND with_bare = 'c7@example.org'
            ORDER BY at DESC, seq DESC LIMIT 50`,
        );
        process.stdout.write(`  EXPLAIN (with a contact, last page):\n${plan.rows.map((r) => `    ${r['QUERY PLAN']}`).join('\n')}\n`);
        const size = await c.query<{ s: string }>("SELECT pg_size_pretty(pg_total_relation_size('archive')) AS s");
        process.stdout.write(`  archive table + indexes: ${size.rows[0]?.s}\n`);
        await c.end();
      } else {
        const db = new Database(join(dir, 'canto.sqlite'), { readonly: true });
        const plan = db
          .prepare(`EXPLAIN QUERY PLAN SELECT id, at, with_jid, value FROM archive WHERE host = ? AND username = ? AND store = ? AND with_bare = ? ORDER BY at DESC, seq DESC LIMIT 50`)
          .all('bench.example', 'u7', 'mam', 'c7@example.org') as { detail: string }[];
        process.stdout.write(`  EXPLAIN QUERY PLAN (with a contact, last page): ${plan.map((r) => r.detail).join('; ')}\n`);
        db.close();
      }
      for (const [shape, t] of Object.entries(await queries(s))) {
        process.stdout.write(`  ${shape}: p50 ${t.p50.toFixed(2)} ms, p99 ${t.p99.toFixed(2)} ms\n`);
      }
    } finally {
      await s.close();
      await pgi?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

await main();
