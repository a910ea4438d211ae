/**
 * Boot: from a validated config to a running server. Used by `canto start` and by tests.
 * Creates the data directory, opens the storage driver `[storage] driver` names (through
 * src/storage/registry.ts), makes the localhost certificate on first start, and wires the
 * built-in module registry into the core.
 */
import { mkdirSync } from 'node:fs';
import type { CantoConfig } from '../core/config.js';
import { createLogger, type Logger } from '../core/logging.js';
import { Server } from '../core/server.js';
import { openStorage } from '../storage/registry.js';
import type { StorageDriver } from '../storage/types.js';
import { builtinModules } from '../modules/index.js';
import type { ModuleRegistry } from '../core/modules.js';
import { checkModuleConfig } from '../core/module-config.js';
import { ensureHostCertificates } from '../net/certificates.js';
import { TlsContexts } from '../net/tls.js';
import type { ClusterWorker } from '../cluster/worker.js';

export interface BootOptions {
  config: CantoConfig;
  log?: Logger;
  /** An already open driver, used instead of the configured one (tests). */
  storage?: StorageDriver;
  modules?: ModuleRegistry;
  /** Cluster mode: this process is one node, linked to its engine (src/cluster). */
  cluster?: ClusterWorker;
}

export async function bootServer(opts: BootOptions): Promise<Server> {
  const { config } = opts;
  const log = opts.log ?? createLogger({ level: config.log_level, format: config.log_format });
  const modules = opts.modules ?? builtinModules;
  // Every [modules.*] table against its module's schema, before anything is created.
  for (const warning of checkModuleConfig(config, modules)) log.warn(warning);
  mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
  await ensureHostCertificates(config, log);
  const tls = new TlsContexts(config);
  for (const w of TlsContexts.warnings(config)) log.warn(w);
  const opened = opts.storage ?? (await openStorage(config, log));
  const storage = opts.cluster ? opts.cluster.wrapStorage(opened) : opened;
  const server = new Server({ config, log, storage, tls, modules, cluster: opts.cluster });
  if (opts.cluster) {
    try {
      await opts.cluster.attach(server);
    } catch (err) {
      await storage.close();
      throw err;
    }
  }
  await server.start();
  return server;
}
