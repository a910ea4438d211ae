/**
 * Debian's ejabberd (23.01) under test, configured like Canto and Prosody: c2s with STARTTLS
 * required on a free loopback port, SCRAM-SHA-1 stored (`auth_password_format: scram`, 4096
 * iterations: ejabberd's fixed default, checked at start), roster, presence, offline, ping,
 * disco; the same EC P-256 self-signed certificate for localhost; config, Mnesia spool and log in
 * a temp dir. The Erlang VM is started with `erl -eval` (not ejabberdctl, which runs the system
 * service's node), without distribution (no epmd, no node name), through the same
 * `ulimit -n` + `exec` wrapper as the other servers, and stopped by its PID.
 *
 * Storage: Mnesia (ejabberd's default `default_db`; accounts, rosters, offline messages, PEP are
 * `disc_copies` tables: in RAM, with a log on disk), which is what a stock ejabberd runs, except
 * the message archive (`mobile`), which goes to SQL on SQLite as Prosody's and Canto's do
 * (ARCHIVE_SQL below: mod_mam's Mnesia table is dets, on disk only, and slow).
 *
 * Accounts and rosters are written in the same VM before the bench connects: u0 is registered
 * with `ejabberd_auth:try_register` (one PBKDF2), its stored `passwd` record is copied for every
 * other account with `mnesia:dirty_write` (same salt for all, as Canto's one `makeCredentials`),
 * and roster items are `roster` records written the same way (mod_roster's Mnesia format,
 * include/mod_roster.hrl). The eval then writes a `ready` file; start() waits for it.
 *
 * Both cores: the VM runs one scheduler per core (Erlang's default), so ejabberd can use both
 * cores of the machine, where Canto (one process unless `workers`) and Prosody use one. The
 * schedulers' busy-waiting is turned off (`+sbwt none`, also for dirty schedulers): on a 2-core
 * machine shared with the load generator, spinning schedulers take CPU from the generator and
 * count as server CPU without doing work.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSelfSigned } from '../../src/net/certificates.js';
import { sleep } from '../load/stats.js';
import { freePort, spawnServer, stopChild, whenListening } from './proc.js';
import { BENCH_DOMAIN, BENCH_PASSWORD, BENCH_SCRAM_ITERATIONS, type RunningServer, type ServerSetup, type ServerUnderTest } from './types.js';

const ERL_BIN = '/usr/bin/erl';
/** Where Debian's ejabberd package keeps its Erlang applications (ERL_LIBS). */
const EJABBERD_LIBS = '/usr/lib/x86_64-linux-gnu';

/** The installed ejabberd application's directory, or undefined. */
function ejabberdAppDir(): string | undefined {
  const dir = ['ejabberd-23.01-1', 'ejabberd-23.01'].map((d) => join(EJABBERD_LIBS, d)).find((d) => existsSync(join(d, 'ebin', 'ejabberd.app')));
  return existsSync(ERL_BIN) ? dir : undefined;
}

function ejabberdPresent(): boolean {
  return ejabberdAppDir() !== undefined;
}

/**
 * The SQLite database for the archive, made before start with ejabberd's own schema
 * (priv/sql/lite.sql, what ejabberd would load into an empty file) in WAL mode, which the file
 * keeps and which Canto's SQLite store also runs. ejabberd cannot be told to use WAL, and with
 * SQLite's default rollback journal every archived message was its own fsync'd transaction: a
 * 5,000-message `mobile=1` run measured 163 messages/s and 2.56 s of CPU per 1,000 messages,
 * against 537/s and 1.18 s in WAL (the same run without mod_mam: 8,455/s and 0.13 s).
 */
function createArchiveDatabase(file: string): void {
  const schema = join(ejabberdAppDir() ?? EJABBERD_LIBS, 'priv', 'sql', 'lite.sql');
  execFileSync('sqlite3', [file], { input: `PRAGMA journal_mode=WAL;\n${readFileSync(schema, 'utf8')}` });
}

/** Installs Debian's ejabberd package when it is missing (needs root; uses apt-get). */
export function ensureEjabberdInstalled(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): void {
  if (ejabberdPresent()) return;
  log('ejabberd is not installed: apt-get update && apt-get install -y ejabberd');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', 'ejabberd']]) {
    const r = spawnSync('apt-get', args, { env, stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (status ${r.status ?? r.signal})`);
  }
  if (!ejabberdPresent()) throw new Error('ejabberd 23.01 still missing after apt-get install');
}

/** Debian's Erlang SQLite driver, which ejabberd's `sql_type: sqlite` loads. */
const ERLANG_SQLITE = '/usr/lib/erlang/lib';

/**
 * ARCHIVE_SQL: with `mobile` the message archive goes to SQL on SQLite (`mod_mam` `db_type: sql`;
 * the database is made before start, createArchiveDatabase), as Prosody's and Canto's archives are. In Mnesia, mod_mam keeps it in a disc_only_copies (dets) table: the
 * small `messages mobile=1` run measured 3.95 s of CPU per 1,000 messages and 215 messages/s
 * there, the dets writes rather than ejabberd. Installs `erlang-p1-sqlite3` when missing.
 */
function ensureErlangSqlite(): void {
  const present = () => {
    try {
      return readdirSync(ERLANG_SQLITE).some((d) => d.startsWith('p1_sqlite3') || d.startsWith('sqlite3'));
    } catch {
      return false;
    }
  };
  if (present()) return;
  process.stderr.write('erlang-p1-sqlite3 is not installed: apt-get install -y erlang-p1-sqlite3\n');
  const r = spawnSync('apt-get', ['install', '-y', 'erlang-p1-sqlite3'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 });
  if (r.status !== 0 || !present()) throw new Error(`apt-get install -y erlang-p1-sqlite3 failed (status ${r.status ?? r.signal})`);
}

/**
 * Why ejabberd does not run a setup equivalently, or undefined when it does (bench/run.ts
 * records the set as skipped with this reason).
 */
export function ejabberdSkipReason(setup: ServerSetup): string | undefined {
  if (setup.archiveFill) return 'skipped: no writer for a pre-filled ejabberd archive (mod_mam in Mnesia) here; the mam scenario needs one';
  if (setup.upload) return 'skipped: the ejabberd setup has no HTTPS listener for mod_http_upload here';
  if (setup.muc) return 'skipped: the ejabberd setup has no mod_muc configuration equivalent to the others here yet';
  if (setup.fast) return 'skipped: ejabberd 23.01 has no SASL2/FAST (XEP-0484)';
  return undefined;
}

const yaml = (s: string): string => JSON.stringify(s);

function erlString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function erlBinary(s: string): string {
  return `<<${erlString(s)}>>`;
}

/**
 * Modules per setup, as YAML lines under `modules:`. Base: roster, offline, ping, disco (presence
 * and messages are core). `mobile`: stream management, carbons (mod_carboncopy), the archive
 * (every message, kept in Mnesia) and client state indication. `pep`: mod_caps and mod_pubsub
 * with the PEP plugin (nodes and items in Mnesia).
 */
function modulesYaml(setup: ServerSetup): string[] {
  const modules: string[] = ['mod_roster: {}', 'mod_offline: {}', 'mod_ping: {}', 'mod_disco: {}'];
  if (setup.mobile) {
    modules.push('mod_stream_mgmt: {}', 'mod_carboncopy: {}', 'mod_mam:', '    db_type: sql', '    default: always', '    assume_mam_usage: true', 'mod_client_state: {}');
  }
  if (setup.pep) {
    modules.push('mod_caps: {}', 'mod_pubsub:', '    plugins: ["flat", "pep"]', '    last_item_cache: false');
  }
  return modules.map((m) => `  ${m}`);
}

/** ejabberd.yml for a setup. Exported for the unit test. */
export function configYaml(opts: { port: number; certificate: string; key: string; sqliteFile: string; setup: ServerSetup }): string {
  const { setup } = opts;
  const limits = setup.limits
    ? [
        // Canto's c2s defaults (and Prosody's mod_limits in the bench): 64 KiB/s, burst 1 MiB.
        'shaper:',
        '  c2s_limit:',
        '    rate: 65536',
        '    burst_size: 1048576',
        'shaper_rules:',
        '  c2s_shaper: c2s_limit',
      ]
    : [];
  const lines = [
    '# Written by the bench suite (bench/servers/ejabberd.ts).',
    `hosts: [${yaml(BENCH_DOMAIN)}]`,
    'loglevel: warning',
    'log_rotate_count: 0',
    'hide_sensitive_log_data: true',
    'certfiles:',
    `  - ${yaml(opts.certificate)}`,
    `  - ${yaml(opts.key)}`,
    'default_db: mnesia',
    // The archive (mobile) in SQL on SQLite, as Prosody's and Canto's: see ARCHIVE_SQL.
    ...(setup.mobile ? ['sql_type: sqlite', `sql_database: ${yaml(opts.sqliteFile)}`] : []),
    'auth_method: internal',
    'auth_password_format: scram',
    'auth_scram_hash: sha',
    ...limits,
    'listen:',
    `  - port: ${opts.port}`,
    '    ip: "127.0.0.1"',
    '    module: ejabberd_c2s',
    '    starttls_required: true',
    // ejabberd's default listen backlog is 5: 50 logins connecting at once overflow it and the
    // kernel drops SYNs (retried after 1 s, then 3 s), which measured TCP, not ejabberd (login
    // p99 1.5–2 s). Node's default, which Canto listens with, is 511.
    '    backlog: 511',
    `    shaper: ${setup.limits ? 'c2s_limit' : 'none'}`,
    'acl:',
    '  local:',
    '    user_regexp: ""',
    'access_rules:',
    '  local:',
    '    allow: local',
    // No s2s: nothing outgoing, no s2s listener.
    's2s_access: none',
    'modules:',
    ...modulesYaml(setup),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * The Erlang run by `erl -eval`: start ejabberd, check the SCRAM iteration count, register u0
 * and copy its record to the other accounts, write the rosters, then the ready file (or the
 * error in it).
 */
export function seedEval(setup: ServerSetup, readyFile: string): string {
  const host = erlBinary(BENCH_DOMAIN);
  const contacts = setup.fanoutContacts ?? 0;
  const group = setup.rosterGroupSize ?? 0;
  const steps = [
    '{ok, _} = application:ensure_all_started(ejabberd)',
    `H = ${host}`,
    `ok = ejabberd_auth:try_register(<<"u0">>, H, ${erlBinary(BENCH_PASSWORD)})`,
    '[P] = mnesia:dirty_read(passwd, {<<"u0">>, H})',
    // #passwd{us, password = #scram{storedkey, serverkey, salt, hash, iterationcount}}
    `${BENCH_SCRAM_ITERATIONS} = element(6, element(3, P))`,
    'U = fun(I) -> <<"u", (integer_to_binary(I))/binary>> end',
    `lists:foreach(fun(I) -> mnesia:dirty_write(setelement(2, P, {U(I), H})) end, lists:seq(1, ${setup.accounts} - 1))`,
    // #roster{usj, us, jid, name, subscription, ask, groups, askmessage, xs}
    'Item = fun(A, B) -> mnesia:dirty_write({roster, {U(A), H, {U(B), H, <<>>}}, {U(A), H}, {U(B), H, <<>>}, <<>>, both, none, [], <<>>, []}) end',
    `lists:foreach(fun(I) -> Item(0, I), Item(I, 0) end, lists:seq(1, ${contacts}))`,
    `G = ${group}`,
    `N = ${setup.accounts}`,
    'G > 1 andalso lists:foreach(fun(I) -> F = I - I rem G, [Item(I, K) || K <- lists:seq(F, min(F + G, N) - 1), K =/= I] end, lists:seq(0, N - 1))',
    'ok',
  ];
  const result = `case R of ok -> <<"ok">>; _ -> iolist_to_binary(R) end`;
  return `R = try ${steps.join(', ')} catch C:E:S -> io_lib:format("~p:~p ~p", [C, E, S]) end, file:write_file(${erlString(readyFile)}, ${result}).`;
}

function ejabberdVersion(): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', 'ejabberd'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** Waits until the eval wrote the ready file; throws with its content (an error) or on timeout / exit. */
async function whenSeeded(readyFile: string, exited: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (existsSync(readyFile)) {
      const text = readFileSync(readyFile, 'utf8');
      if (text === 'ok') return;
      throw new Error(`ejabberd: start or seeding failed: ${text.slice(0, 1500)}`);
    }
    if (exited()) throw new Error('ejabberd exited before it was ready');
    if (Date.now() > deadline) throw new Error(`ejabberd not ready after ${ms} ms`);
    await sleep(100);
  }
}

export const ejabberd: ServerUnderTest = {
  name: 'ejabberd',
  version: ejabberdVersion,
  async start(setup: ServerSetup): Promise<RunningServer> {
    ensureEjabberdInstalled();
    const why = ejabberdSkipReason(setup);
    if (why !== undefined) throw new Error(why);
    const dir = mkdtempSync(join(tmpdir(), 'ejabberd-bench-'));
    mkdirSync(join(dir, 'spool'));
    const cert = { certificate: join(dir, 'localhost.crt'), key: join(dir, 'localhost.key') };
    await makeSelfSigned(BENCH_DOMAIN, cert);
    const port = await freePort();
    const configFile = join(dir, 'ejabberd.yml');
    if (setup.mobile) ensureErlangSqlite();
    writeFileSync(configFile, configYaml({ port, ...cert, sqliteFile: join(dir, 'ejabberd.db'), setup }));
    if (setup.mobile) createArchiveDatabase(join(dir, 'ejabberd.db'));
    const readyFile = join(dir, 'ready');
    const args = [
      '-noshell',
      '-noinput',
      // ejabberdctl's process limit; no busy-waiting schedulers (see the header).
      '+P',
      '250000',
      '+sbwt',
      'none',
      '+sbwtdcpu',
      'none',
      '+sbwtdio',
      'none',
      '-mnesia',
      'dir',
      erlString(join(dir, 'spool')),
      '-eval',
      seedEval(setup, readyFile),
    ];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: dir,
      ERL_LIBS: EJABBERD_LIBS,
      EJABBERD_CONFIG_PATH: configFile,
      EJABBERD_LOG_PATH: join(dir, 'ejabberd.log'),
      ERL_CRASH_DUMP_BYTES: '0',
    };
    const child = spawnServer(ERL_BIN, args, { cwd: dir, logFile: join(dir, 'stdout.log'), env });
    const logs = () => ['stdout.log', 'ejabberd.log', 'error.log'].map((f) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').slice(-1500) : '')).join('\n');
    try {
      // Accounts: ~10,000 Mnesia writes a second or so; allow for a busy machine.
      await whenSeeded(readyFile, () => child.exitCode !== null, 120_000);
    } catch (err) {
      const log = logs();
      await stopChild(child, 10_000);
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${(err as Error).message}\n${log}`);
    }
    return whenListening('ejabberd', child, port, dir, logs);
  },
};
