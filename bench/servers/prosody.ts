/**
 * Debian's Prosody (0.12) under test, configured like Canto: c2s with STARTTLS required on a
 * free loopback port, internal_hashed SCRAM-SHA-1 with 4096 iterations, roster, saslauth, tls,
 * presence, message (+ offline, autoloaded), ping, disco; an EC P-256 self-signed certificate
 * for localhost made the same way as Canto's; data and pid in a temp dir; `prosody -F`.
 * `ServerSetup.mobile` and `.pep` add modules and move their stores to SQL on SQLite (featuresLua).
 *
 * Accounts and rosters are written straight into Prosody's file storage (what prosodyctl
 * would do, without one process per account):
 *   data/<host>/accounts/<user>.dat  return { stored_key = hex, server_key = hex, salt, iteration_count }
 *   data/<host>/roster/<user>.dat    return { [false] = { version, pending = {} }, [jid] = { subscription, groups = {} } }
 * (host and user names are %-encoded for non-alphanumerics; the bench's names need none).
 */
import { createHash, createHmac, pbkdf2Sync, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSelfSigned } from '../../src/net/certificates.js';
import { freePort, spawnServer, whenListening, withHttps } from './proc.js';
import { ensureProsodySqliteDriver, writeProsodyDatabase } from './prosody-archive.js';
import { BENCH_UPLOAD_DOMAIN, BENCH_DOMAIN, BENCH_PASSWORD, BENCH_SCRAM_ITERATIONS, benchUsername, rosterGroupContacts, type RunningServer, type ServerSetup, type ServerUnderTest } from './types.js';

const PROSODY_BIN = '/usr/bin/prosody';

/** Installs Debian's prosody package when it is missing (needs root; uses apt-get). */
export function ensureProsodyInstalled(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): void {
  if (existsSync(PROSODY_BIN)) return;
  log('prosody is not installed: apt-get update && apt-get install -y prosody');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', 'prosody']]) {
    const r = spawnSync('apt-get', args, { env, stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (status ${r.status ?? r.signal})`);
  }
  if (!existsSync(PROSODY_BIN)) throw new Error('prosody still missing after apt-get install');
}

/** Lua string literal. */
function lua(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** The database file of mod_storage_sql (SQLite) in the data directory. */
const SQL_DATABASE = 'prosody.sqlite';

/** The issue-6 feature set, as Canto's MODULES (bench/servers/canto.ts). */
const MODULES = ['roster', 'saslauth', 'tls', 'presence', 'message', 'ping', 'disco'];
/** `ServerSetup.mobile`: smacks, carbons, mam and csi_simple (all bundled with 0.12). */
const MOBILE_MODULES = ['smacks', 'carbons', 'mam', 'csi_simple'];
/** `ServerSetup.pep`: mod_pep (bundled; it reads caps from presence and asks disco#info itself). */
const PEP_MODULES = ['pep'];
/**
 * The stores that go to SQL storage on SQLite (the rest stay in Prosody's default files):
 * the message archive for `mobile`; for `pep` mod_pep's node configs ("pep", a map store, and
 * its keyval list of nodes) and items ("pep_data", archive stores "pep_<node>"), as Canto keeps
 * both in its SQLite store.
 */
function sqlStores(setup: ServerSetup): string[] {
  return [...(setup.mobile ? ['archive'] : []), ...(setup.pep ? ['pep', 'pep_data'] : [])];
}

/**
 * Modules and storage. `mobile`: no archive expiry and the total count in query answers, as
 * Canto does. `mobile` and `pep` turn Nagle off (Canto sets noDelay): with several stanzas in
 * a row to the same client (a MAM page, back-to-back notifications) Nagle holds each later one
 * until the client's delayed ACK (bench/README.md, "Mobile feature set").
 */
function featuresLua(dataDir: string, setup: ServerSetup): string {
  const modules = [...MODULES, ...(setup.mobile ? MOBILE_MODULES : []), ...(setup.pep ? PEP_MODULES : []), ...(setup.limits ? ['limits'] : [])];
  const lines = [`modules_enabled = { ${modules.map(lua).join(', ')} }`];
  const stores = sqlStores(setup);
  if (stores.length === 0) {
    lines.push('storage = "internal"');
  } else {
    lines.push('default_storage = "internal"');
    lines.push(`storage = { ${stores.map((store) => `${store} = "sql"`).join(', ')} }`);
    lines.push(`sql = { driver = "SQLite3", database = ${lua(join(dataDir, SQL_DATABASE))} }`);
  }
  if (setup.mobile) lines.push('archive_expires_after = "never"', 'mam_include_total = true');
  // muc too: a join sends the joiner one presence per occupant back to back.
  if (setup.mobile || setup.pep || setup.muc) lines.push('network_settings = { nagle = false }');
  // Canto's c2s defaults: 64 KiB/s with a 1 MiB burst (16 s of the rate).
  if (setup.limits) lines.push('limits = { c2s = { rate = "64kb/s", burst = "16s" } }');
  return `${lines.join('\n')}\n`;
}

function configLua(dir: string, port: number, cert: string, key: string, setup: ServerSetup, httpsPort = 0): string {
  return `-- Written by the bench suite (bench/servers/prosody.ts).
daemonize = false
run_as_root = true
pidfile = ${lua(join(dir, 'prosody.pid'))}
data_path = ${lua(join(dir, 'data'))}
network_backend = "epoll"
interfaces = { "127.0.0.1" }
c2s_ports = { ${port} }
c2s_direct_tls_ports = {}
s2s_ports = {}
${featuresLua(join(dir, 'data'), setup)}modules_disabled = { "s2s" }
c2s_require_encryption = true
-- No plain HTTP (its default port 5280 is shared by the machine); HTTPS only for uploads.
http_ports = {}
http_interfaces = { "127.0.0.1" }
https_ports = { ${setup.upload ? httpsPort : ''} }
https_interfaces = { "127.0.0.1" }
https_ssl = { certificate = ${lua(cert)}, key = ${lua(key)} }
authentication = "internal_hashed"
default_iteration_count = ${BENCH_SCRAM_ITERATIONS}
log = { { levels = { min = "warn" }, to = "file", filename = ${lua(join(dir, 'prosody.log'))} } }

VirtualHost "${BENCH_DOMAIN}"
  ssl = { certificate = ${lua(cert)}, key = ${lua(key)} }
${setup.muc ? mucLua() : ''}${setup.upload ? uploadLua(setup.upload.maxFileBytes) : ''}`;
}

/**
 * `ServerSetup.upload`: 0.12's bundled mod_http_file_share as a component on the same name as
 * Canto's, the same file size limit, quotas out of the way. It streams uploads to disk
 * (streaming_uploads) and serves files from disk.
 */
function uploadLua(maxFileBytes: number): string {
  return `
Component "${BENCH_UPLOAD_DOMAIN}" "http_file_share"
  http_file_share_size_limit = ${maxFileBytes}
  http_file_share_daily_quota = ${1000 * 2 ** 30}
`;
}

/**
 * `ServerSetup.muc`: Prosody 0.12's bundled MUC component with its defaults (rooms locked
 * until configured, semi-anonymous, temporary, history 20: as Canto's), on the same name as
 * Canto's. A component on the same server needs no s2s.
 */
function mucLua(): string {
  return `
Component "conference.${BENCH_DOMAIN}" "muc"
`;
}

function accountFile(salt: string): string {
  const salted = pbkdf2Sync(BENCH_PASSWORD, Buffer.from(salt, 'utf8'), BENCH_SCRAM_ITERATIONS, 20, 'sha1');
  const clientKey = createHmac('sha1', salted).update('Client Key').digest();
  const storedKey = createHash('sha1').update(clientKey).digest('hex');
  const serverKey = createHmac('sha1', salted).update('Server Key').digest('hex');
  return `return {\n\t["iteration_count"] = ${BENCH_SCRAM_ITERATIONS};\n\t["salt"] = ${lua(salt)};\n\t["server_key"] = ${lua(serverKey)};\n\t["stored_key"] = ${lua(storedKey)};\n};\n`;
}

function rosterFile(contacts: string[]): string {
  const items = contacts.map((jid) => `\t[${lua(jid)}] = { ["subscription"] = "both"; ["groups"] = {}; };\n`).join('');
  return `return {\n\t[false] = { ["version"] = 1; ["pending"] = {}; };\n${items}};\n`;
}

function seed(dataDir: string, setup: ServerSetup): void {
  // The domain and the u<N> names are alphanumeric apart from '.', which Prosody encodes.
  const hostDir = join(dataDir, BENCH_DOMAIN.replace(/\W/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  const accounts = join(hostDir, 'accounts');
  mkdirSync(accounts, { recursive: true });
  const account = accountFile(randomUUID());
  for (let i = 0; i < setup.accounts; i++) writeFileSync(join(accounts, `${benchUsername(i)}.dat`), account);
  const contacts = setup.fanoutContacts ?? 0;
  if (contacts > 0) {
    const rosters = join(hostDir, 'roster');
    mkdirSync(rosters, { recursive: true });
    const contactJids = Array.from({ length: contacts }, (_, k) => `${benchUsername(k + 1)}@${BENCH_DOMAIN}`);
    writeFileSync(join(rosters, `${benchUsername(0)}.dat`), rosterFile(contactJids));
    const back = rosterFile([`${benchUsername(0)}@${BENCH_DOMAIN}`]);
    for (const jid of contactJids) writeFileSync(join(rosters, `${jid.slice(0, jid.indexOf('@'))}.dat`), back);
  }
  if ((setup.rosterGroupSize ?? 0) > 1) {
    const rosters = join(hostDir, 'roster');
    mkdirSync(rosters, { recursive: true });
    for (let i = 0; i < setup.accounts; i++) {
      const contacts = rosterGroupContacts(i, setup.accounts, setup.rosterGroupSize).map((k) => `${benchUsername(k)}@${BENCH_DOMAIN}`);
      writeFileSync(join(rosters, `${benchUsername(i)}.dat`), rosterFile(contacts));
    }
  }
}

function prosodyVersion(): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', 'prosody'], { encoding: 'utf8' }).trim();
  } catch {
    try {
      return readFileSync('/usr/lib/prosody/prosody.version', 'utf8').trim();
    } catch {
      return 'unknown';
    }
  }
}

export const prosody: ServerUnderTest = {
  name: 'prosody',
  version: prosodyVersion,
  async start(setup: ServerSetup): Promise<RunningServer> {
    ensureProsodyInstalled();
    const dir = mkdtempSync(join(tmpdir(), 'prosody-bench-'));
    const dataDir = join(dir, 'data');
    seed(dataDir, setup);
    if (sqlStores(setup).length > 0) {
      ensureProsodySqliteDriver();
      writeProsodyDatabase(join(dataDir, SQL_DATABASE), join(dir, 'archive-fill.sql'), setup.archiveFill);
    }
    const cert = { certificate: join(dir, 'localhost.crt'), key: join(dir, 'localhost.key') };
    await makeSelfSigned(BENCH_DOMAIN, cert);
    const port = await freePort();
    const httpsPort = setup.upload ? await freePort() : undefined;
    const configFile = join(dir, 'prosody.cfg.lua');
    writeFileSync(configFile, configLua(dir, port, cert.certificate, cert.key, setup, httpsPort));
    const child = spawnServer(PROSODY_BIN, ['-F', '--config', configFile], { cwd: dir, logFile: join(dir, 'stdout.log') });
    const running = await whenListening('prosody', child, port, dir, () =>
      ['stdout.log', 'prosody.log'].map((f) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').slice(-1500) : '')).join('\n'),
    );
    return httpsPort === undefined ? running : withHttps(running, httpsPort);
  },
};
