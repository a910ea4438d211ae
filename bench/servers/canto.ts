/**
 * Canto under test: a fresh data directory seeded through the storage API (accounts with one
 * precomputed set of SCRAM credentials, rosters through the roster module's store), a TOML
 * config equivalent to the Prosody one, and `node dist/src/cli/main.js start --config FILE`
 * as a child process.
 */
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSqliteStorage } from '../../src/storage/sqlite.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { modifyRoster } from '../../src/modules/roster/store.js';
import type { Server } from '../../src/core/server.js';
import { DEFAULT_MODULES_ENABLED } from '../../src/core/config.js';
import { builtinModules } from '../../src/modules/index.js';
import type { StorageDriver } from '../../src/storage/types.js';
import { parseXmlFragment } from '../../src/xml/parse-fragment.js';
import { asClientStanza } from '../../src/xml/stanza.js';
import { ARCHIVE_PEER_RESOURCE, fillItems } from './archive-fill.js';
import { freePort, spawnServer, whenListening, withHttps } from './proc.js';
import { startBenchRedis, type BenchRedis } from './redis.js';
import { BENCH_UPLOAD_DOMAIN, BENCH_DOMAIN, BENCH_PASSWORD, BENCH_SCRAM_ITERATIONS, benchUsername, rosterGroupContacts, type ArchiveFill, type RunningServer, type ServerSetup, type ServerUnderTest } from './types.js';

/** The launcher `canto` and `npm start` run (bin/canto): it chooses the allocator and node's flags. */
export const LAUNCHER = fileURLToPath(new URL('../../../bin/canto', import.meta.url));
const PACKAGE_JSON = fileURLToPath(new URL('../../../package.json', import.meta.url));

/** The same feature set as the Prosody config: roster, presence, message (+offline), ping, disco. */
/** The glibc tunable bin/canto sets when it runs Canto on glibc's malloc (no jemalloc). */
export const CANTO_GLIBC_TUNABLES = 'glibc.malloc.mmap_threshold=16384';

const MODULES = ['disco', 'ping', 'roster', 'presence', 'message', 'offline'];
/** `ServerSetup.mobile`: stream management, carbons, archive, client state indication (as Prosody's smacks, carbons, mam, csi_simple). */
const MOBILE_MODULES = ['smacks', 'carbons', 'mam', 'csi'];
const FAST_MODULES = ['sasl2', 'fast'];
/**
 * `ServerSetup.pep`: entity capabilities and personal eventing (as Prosody's mod_pep, which
 * handles caps itself). caps is on Canto's default list but the bench names its modules.
 */
const PEP_MODULES = ['caps', 'pep'];
/** The archive store the mam module opens (src/modules/mam/README.md). */
const MAM_STORE = 'mam';

/**
 * Module options for the mobile set: no archive expiry, as in the Prosody config (its expiry
 * job would otherwise delete in the middle of a run, and both keep a count of the items).
 */
function mobileToml(mobile: boolean | undefined): string {
  return mobile ? '\n[modules.mam]\narchive_expires_after = "never"\n' : '';
}

/**
 * Options for the pep set: no publish rate limit in effect (Prosody has none; the scenario
 * publishes as fast as notifications drain, far above the default 10 a second per account).
 */
function pepToml(pep: boolean | undefined): string {
  return pep ? '\n[modules.pep]\npublish_rate = 1000000\npublish_burst = 1000000\n' : '';
}

/**
 * `ServerSetup.muc`: the MUC component, and `[modules.muc]` limits that stay out of the way.
 * The per-occupant token bucket (default 5 messages/s, burst 20) would refuse the
 * `muc-messages` senders, who send as fast as the room delivers; Prosody 0.12's MUC has no
 * such limit (that is the community mod_muc_limits). `max_occupants` is far above the bench's
 * rooms. Room defaults are left alone: semi-anonymous, temporary, history 20, as Prosody's.
 */
function mucToml(muc: boolean | undefined): string {
  if (!muc) return '';
  return `
[modules.muc]
message_rate = 10000
message_burst = 100000
max_occupants = 100000

[[component]]
domain = "conference.${BENCH_DOMAIN}"
module = "muc"
`;
}

/**
 * `ServerSetup.upload`: the http module with one HTTPS port, the upload component, and limits
 * out of the way (Prosody's mod_http_file_share is set to the same file size and no quota).
 */
function uploadToml(upload: ServerSetup['upload']): string {
  if (!upload) return '';
  return `
[modules.upload]
max_file_size = ${upload.maxFileBytes}
quota = "1000 GiB"
daily_quota = "1000 GiB"

[[component]]
domain = "${BENCH_UPLOAD_DOMAIN}"
module = "upload"
`;
}

/**
 * `ServerSetup.limits`: `defaults` is the module with its defaults; `bytes` the same client limit
 * as the Prosody config's mod_limits (`c2s = { rate = "64kb/s", burst = "16s" }`): bytes only,
 * 64 KiB/s with a 1 MiB burst, Canto's stanza rate (50/s, burst 500) raised out of the way.
 */
function limitsToml(limits: ServerSetup['limits']): string {
  if (limits !== 'bytes') return '';
  return `
[modules.limits.c2s]
stanzas_per_second = 1000000
stanza_burst = 1000000
bytes_per_second = "64 KiB"
byte_burst = "1 MiB"
`;
}

/**
 * `[cluster]` for a clustered Canto: `workers = N` local Redis nodes (a parent + N forked nodes)
 * with the bench's private Redis; one Redis node when N is 1 and a URL is given; else nothing.
 */
function clusterToml(workers: number | undefined, redisUrl?: string): string {
  const n = workers !== undefined && workers > 1 ? `workers = ${workers}\n` : '';
  if (redisUrl !== undefined) return `\n[cluster]\n${n}redis = "${redisUrl}"\nnode_id = "bench"\n`;
  return n !== '' ? `\n[cluster]\n${n}` : '';
}

/** The modules a setup turns on. */
function modulesFor(setup: ServerSetup): string[] {
  // CANTO_BENCH_DEFAULT_MODULES=1: Canto's whole default list as well (what `npm start` runs),
  // to see what the modules a scenario does not name cost it (compare runs of one build only).
  const defaults = process.env.CANTO_BENCH_DEFAULT_MODULES === '1' ? DEFAULT_MODULES_ENABLED : [];
  return [...new Set([...defaults, ...MODULES, ...(setup.mobile ? MOBILE_MODULES : []), ...(setup.pep ? PEP_MODULES : []), ...(setup.fast ? FAST_MODULES : []), ...(setup.upload ? ['http'] : []), ...(setup.limits ? ['limits'] : [])])];
}

/**
 * The modules a setup needs that this build of Canto does not have (empty when it has all).
 * Canto only warns about unknown names in `modules_enabled` and starts without them, which would
 * turn a missing feature into a confusing failure (or a hang) in the middle of a scenario.
 */
export function cantoMissingModules(setup: ServerSetup): string[] {
  // muc is loaded on its component, not in modules_enabled, but a build without it is as useless.
  return [...modulesFor(setup), ...(setup.muc ? ['muc'] : []), ...(setup.upload ? ['upload'] : [])].filter((name) => !builtinModules.has(name));
}

/** The config file; `address` is the c2s interface (a Redis cluster node's own loopback address). */
export function configToml(dataDir: string, port: number, setup: ServerSetup, httpsPort = 0, address = '127.0.0.1'): string {
  const modules = modulesFor(setup);
  const mobile = setup.mobile;
  return `# Written by the bench suite (bench/servers/canto.ts).
data_dir = ${JSON.stringify(dataDir)}
log_level = "warn"
log_format = "text"
modules_enabled = ${JSON.stringify(modules)}

[auth]
scram_iterations = ${BENCH_SCRAM_ITERATIONS}
scram_hashes = ["SHA-1"]

[c2s]
interfaces = ["${address}"]
ports = [${port}]
direct_tls_ports = []
require_encryption = true
# The load comes from one IP: the per-IP cap on connections still authenticating would
# otherwise throttle the login scenario (Prosody has no such cap without mod_limits).
max_unauthed_per_ip = 100000

[s2s]
interfaces = ["127.0.0.1"]
ports = []

[component_listener]
ports = []

[http]
interfaces = ["127.0.0.1"]
ports = []
tls_ports = [${setup.upload ? httpsPort : ''}]

[[virtualhost]]
domain = "${BENCH_DOMAIN}"
${mobileToml(mobile)}${pepToml(setup.pep)}${mucToml(setup.muc)}${uploadToml(setup.upload)}${limitsToml(setup.limits)}`;
}

export async function seed(dataDir: string, setup: ServerSetup): Promise<void> {
  const storage = openSqliteStorage({ dataDir });
  try {
    // One derivation for all accounts: same salt everywhere, which the client cache exploits.
    const credentials = makeCredentials(BENCH_PASSWORD, { iterations: BENCH_SCRAM_ITERATIONS, hashes: ['SHA-1'] });
    for (let i = 0; i < setup.accounts; i++) await storage.accounts.create(BENCH_DOMAIN, benchUsername(i), credentials);
    const contacts = setup.fanoutContacts ?? 0;
    if (contacts > 0) {
      // The roster store only uses server.storage; a full Server is not needed to seed it.
      const server = { storage } as unknown as Server;
      const owner = benchUsername(0);
      const ownerJid = `${owner}@${BENCH_DOMAIN}`;
      await modifyRoster(server, BENCH_DOMAIN, owner, (roster) => {
        for (let i = 1; i <= contacts; i++) {
          roster.setItem({ jid: `${benchUsername(i)}@${BENCH_DOMAIN}`, groups: [], subscription: 'both', ask: false, approved: false });
        }
      });
      for (let i = 1; i <= contacts; i++) {
        await modifyRoster(server, BENCH_DOMAIN, benchUsername(i), (roster) => {
          roster.setItem({ jid: ownerJid, groups: [], subscription: 'both', ask: false, approved: false });
        });
      }
    }
    if ((setup.rosterGroupSize ?? 0) > 1) {
      const server = { storage } as unknown as Server;
      for (let i = 0; i < setup.accounts; i++) {
        const contacts = rosterGroupContacts(i, setup.accounts, setup.rosterGroupSize);
        await modifyRoster(server, BENCH_DOMAIN, benchUsername(i), (roster) => {
          for (const k of contacts) roster.setItem({ jid: `${benchUsername(k)}@${BENCH_DOMAIN}`, groups: [], subscription: 'both', ask: false, approved: false });
        });
      }
    }
    if (setup.archiveFill) await fillArchive(storage, setup.archiveFill);
  } finally {
    await storage.close();
  }
}

/**
 * Writes the pre-filled archive through the storage API, in the mam module's format: the routed
 * stanza as the archiver stores it (src/modules/mam/archiver.ts: `asClientStanza(stanza)`
 * serialized by Canto, so the text a live Canto archive holds, not the fill's hand-written XML).
 */
async function fillArchive(storage: StorageDriver, fill: ArchiveFill): Promise<void> {
  const archive = storage.archive<string>(BENCH_DOMAIN, MAM_STORE);
  const owner = benchUsername(fill.owner);
  for (const item of fillItems(fill)) {
    // `with` is the peer's JID as routed: the bare JID the owner wrote to, or the sender's full JID.
    const peer = `${benchUsername(item.peer)}@${BENCH_DOMAIN}`;
    await archive.append(owner, { when: item.when, with: item.outgoing ? peer : `${peer}/${ARCHIVE_PEER_RESOURCE}`, value: asClientStanza(parseXmlFragment(item.xml)).toString() });
  }
}

/** The environment bin/canto gets (see the CANTO_BENCH_* variables in canto.start). */
export function cantoEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CANTO_NODE_ARGS: process.env.CANTO_BENCH_NODE_ARGS ?? '', CANTO_ALLOCATOR: process.env.CANTO_BENCH_ALLOCATOR ?? 'auto' };
  delete env.GLIBC_TUNABLES;
  if (process.env.CANTO_BENCH_GLIBC_TUNABLES !== undefined) {
    env.CANTO_ALLOCATOR = 'glibc';
    env.GLIBC_TUNABLES = process.env.CANTO_BENCH_GLIBC_TUNABLES;
  }
  return env;
}

export const canto: ServerUnderTest = {
  name: 'canto',
  version() {
    return (JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version;
  },
  async start(setup: ServerSetup): Promise<RunningServer> {
    const missing = cantoMissingModules(setup);
    if (missing.length > 0) {
      throw new Error(`Canto has no module ${missing.map((m) => `"${m}"`).join(', ')} (not in src/modules/index.ts): this scenario needs it`);
    }
    // Loaded here, not at the top: canto-cluster.ts imports this module (no import cycle at load).
    if ((setup.redisNodes ?? 0) > 0) return (await import('./canto-cluster.js')).startCantoCluster(setup);
    const dir = mkdtempSync(join(tmpdir(), 'canto-bench-'));
    const dataDir = join(dir, 'data');
    await seed(dataDir, setup);
    const port = await freePort();
    const httpsPort = setup.upload ? await freePort() : undefined;
    const configFile = join(dir, 'canto.toml');
    // CANTO_BENCH_WORKERS=N runs every scenario against a clustered Canto (docs/scaling.md measurements).
    const workers = setup.workers ?? (process.env.CANTO_BENCH_WORKERS ? Number(process.env.CANTO_BENCH_WORKERS) : undefined);
    // Several processes are Redis nodes (the primary relay is retired): a private redis-server
    // for them; CANTO_BENCH_REDIS=1 runs a single process as a Redis node too.
    const redis = (workers !== undefined && workers > 1) || process.env.CANTO_BENCH_REDIS === '1' ? await startBenchRedis() : undefined;
    writeFileSync(configFile, configToml(dataDir, port, setup, httpsPort) + clusterToml(workers, redis?.url));
    // Started the way `canto` and `npm start` start it (bin/canto: allocator, young-generation
    // size). CANTO_BENCH_NODE_ARGS adds flags for the server's node only, e.g. "--cpu-prof
    // --cpu-prof-dir=/tmp/prof"; CANTO_BENCH_ALLOCATOR=jemalloc|glibc|system forces the allocator;
    // CANTO_BENCH_GLIBC_TUNABLES=… runs it on glibc's malloc with those tunables ("" for glibc's defaults).
    const env = cantoEnv();
    const child = spawnServer('/bin/sh', [LAUNCHER, 'start', '--config', configFile], { cwd: dir, logFile: join(dir, 'server.log'), env });
    const started = await whenListening('canto', child, port, dir, () => readFileSync(join(dir, 'server.log'), 'utf8').slice(-2000)).catch(async (err: unknown) => {
      await redis?.stop();
      throw err;
    });
    const running = redis ? withBenchRedis(started, redis) : started;
    if (httpsPort === undefined) return running;
    return withHttps(running, httpsPort);
  },
};

/** Stops the private Redis after Canto and says on stderr what CPU Redis used over the run (not in the server's CPU figures). */
function withBenchRedis(running: RunningServer, redis: BenchRedis): RunningServer {
  return {
    ...running,
    username: (i) => running.username(i),
    async stop() {
      await running.stop();
      process.stderr.write(`bench: redis-server used ${redis.cpuSeconds().toFixed(2)} s CPU over the run\n`);
      await redis.stop();
    },
  };
}
