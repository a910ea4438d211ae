/**
 * The in-process test harness: a real Server (router, session manager, modules) on the memory
 * storage driver, with the modules a test chooses, no listeners (or c2s on loopback port 0),
 * an optional fake clock, and fake clients.
 *
 *   const h = await startHarness({ modules: [ping], config: (c) => { c.modules.ping = { ping_interval: '1m' }; } });
 *   const romeo = await h.client('romeo@localhost/phone');
 *   ...
 *   await h.stop();
 *
 * Set CANTO_TEST_LOG=debug to see the server's log while a test runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import { defaultConfig, type CantoConfig } from '../app/config.js';
import type { ServerTls } from '../core/connection.js';
import type { HostContext } from '../core/host.js';
import { createLogger, silentLogger, type LogLevel, type Logger } from '../core/logging.js';
import type { ModuleDefinition, ModuleRegistry } from '../core/modules.js';
import { Server } from '../core/server.js';
import { builtinModules } from '../modules/index.js';
import { ensureHostCertificates } from '../net/certificates.js';
import { TlsContexts } from '../net/tls.js';
import { parseJid } from '../jid/jid.js';
import { makeCredentials } from '../sasl/scram-credentials.js';
import { openMemoryStorage } from '../storage/memory.js';
import type { StorageDriver } from '../storage/types.js';
import type { Element } from '../xml/element.js';
import { FakeClient } from './fake-client.js';

export interface HarnessOptions {
  /**
   * The modules to load. Without `builtins`, only these (and their dependencies among them):
   * no listeners, no c2s, no s2s. With `builtins`, added to the built-in registry.
   */
  modules?: ModuleDefinition[];
  /** Load the built-in modules as `canto start` does (default modules_enabled plus `modules`). */
  builtins?: boolean;
  /** Listen for clients on 127.0.0.1, port 0 (STARTTLS with a self-signed certificate); implies builtins. */
  listen?: boolean;
  /** Adjust the config (module options, virtual hosts, limits) before the server starts. */
  config?: (config: CantoConfig) => void;
  /** Default: a fresh memory storage. */
  storage?: StorageDriver;
  /** The clock the server's modules read time from (mod.now, mod.setTimeout, mod.clock); e.g. a FakeClock. */
  clock?: Clock;
  /** Accounts to create on the first host (no password). */
  users?: string[];
}

export interface Harness {
  server: Server;
  config: CantoConfig;
  /** The first virtual host ('localhost' unless the config says otherwise), and its context. */
  host: string;
  context: HostContext;
  /** The temporary directory (certificates) when listening, else undefined. */
  dataDir: string | undefined;
  /** The c2s (STARTTLS) port when listening, else 0. */
  c2sPort: number;
  /** Stanzas routed to other domains that no module (s2s) took. */
  remote: Element[];
  /** A bound fake client, e.g. 'romeo@localhost/phone'; its account is created unless `noAccount`. */
  client(jid: string, opts?: { noAccount?: boolean }): Promise<FakeClient>;
  /** Create an account; with a password it can log in over a socket (SCRAM, 4096 iterations). */
  createAccount(username: string, password?: string, host?: string): Promise<void>;
  /** Stop the server and remove the temporary directory. */
  stop(): Promise<void>;
}

/** A config for tests: loopback only, no listeners, quick SCRAM, log level from CANTO_TEST_LOG. */
export function testConfig(dataDir = ''): CantoConfig {
  const config = defaultConfig();
  config.data_dir = dataDir;
  config.component = []; // the built-in default's components (upload.localhost): a test names its own
  config.log_level = (process.env.CANTO_TEST_LOG as LogLevel | undefined) ?? 'silent';
  config.c2s.interfaces = ['127.0.0.1'];
  config.c2s.ports = [];
  config.c2s.direct_tls_ports = [];
  config.s2s.interfaces = ['127.0.0.1'];
  config.s2s.ports = [];
  config.component_listener.ports = [];
  config.http.interfaces = ['127.0.0.1'];
  config.http.ports = [];
  config.http.tls_ports = [];
  config.auth.scram_iterations = 4096;
  // Tests drive many stanzas from few accounts and connections, all from loopback: the limits
  // module (on by default) stays out of their way unless a test sets its own (docs/abuse.md).
  config.modules.limits = {
    c2s: { stanzas_per_second: 1e6, stanza_burst: 1e6, bytes_per_second: 1e9, byte_burst: 1e9 },
    s2s: { stanzas_per_second: 1e6, stanza_burst: 1e6, bytes_per_second: 1e9, byte_burst: 1e9 },
    account: { messages_to_strangers_per_hour: 0, subscriptions_per_hour: 0, muc_joins_per_minute: 0 },
  };
  return config;
}

export function tempDir(prefix = 'canto-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function testLogger(config: CantoConfig): Logger {
  return config.log_level === 'silent' ? silentLogger() : createLogger({ level: config.log_level, format: 'text', destination: process.stderr });
}

/** TLS for a harness without listeners: no host has a certificate, and nothing may listen. */
function noTls(): ServerTls {
  const none = (): never => {
    throw new Error('the harness has no TLS without listeners (startHarness({ listen: true }))');
  };
  const tls: ServerTls = {
    forDomain: () => undefined,
    get defaultContext() {
      return none();
    },
    sniCallback: (_name, cb) => cb(new Error('no TLS in this harness')),
    serverOptions: none,
    trackServer: none,
    replace: none,
  };
  return tls;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const builtins = opts.builtins === true || opts.listen === true;
  const extra = opts.modules ?? [];
  const dataDir = opts.listen ? tempDir() : undefined;
  const config = testConfig(dataDir);
  if (opts.listen) config.c2s.ports = [0];
  config.modules_enabled = builtins ? [...config.modules_enabled, ...extra.map((m) => m.name)] : extra.map((m) => m.name);
  opts.config?.(config);
  const log = testLogger(config);
  const registry: ModuleRegistry = builtins ? new Map([...builtinModules, ...extra.map((m) => [m.name, m] as const)]) : new Map(extra.map((m) => [m.name, m]));
  if (dataDir) await ensureHostCertificates(config, log);
  const server = new Server({
    config,
    log,
    storage: opts.storage ?? openMemoryStorage(),
    modules: registry,
    // Without listeners there is no TLS: no certificate to load, and no host has one.
    tls: dataDir ? new TlsContexts(config) : noTls(),
    clock: opts.clock,
  });
  const remote: Element[] = [];
  const removeDir = () => {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await server.start();
  } catch (err) {
    removeDir();
    throw err;
  }
  const [context] = server.hosts.values();
  if (!context) throw new Error('the config has no virtual host');
  for (const ctx of server.hosts.values()) {
    // Below s2s (priority 0): only what no module delivered.
    ctx.events.on(
      'route/remote',
      ({ stanza }) => {
        remote.push(stanza);
        return true;
      },
      -100,
    );
  }
  const createAccount = async (username: string, password?: string, host = context.host): Promise<void> => {
    const credentials = password === undefined ? {} : makeCredentials(password, { iterations: config.auth.scram_iterations, hashes: config.auth.scram_hashes });
    if (!(await server.storage.accounts.create(host, username, credentials))) throw new Error(`account ${username}@${host} exists`);
  };
  for (const u of opts.users ?? []) await createAccount(u);
  return {
    server,
    config,
    host: context.host,
    context,
    dataDir,
    c2sPort: opts.listen ? server.port('c2s') : 0,
    remote,
    async client(jid, clientOpts = {}) {
      const { local, domain } = parseJid(jid);
      if (!clientOpts.noAccount && local !== '' && !(await server.storage.accounts.exists(domain, local))) await createAccount(local, undefined, domain);
      return new FakeClient(server, jid);
    },
    createAccount,
    async stop() {
      await server.stop('test finished', 50);
      removeDir();
    },
  };
}
