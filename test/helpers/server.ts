/**
 * Test harness: a real Canto server in-process on loopback port 0 with its own temporary
 * data directory. Set CANTO_TEST_LOG=debug to see the server's log while a test runs.
 */
import type { ClusterWorker } from '../../src/cluster/worker.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type CantoConfig } from '../../src/core/config.js';
import { createLogger, type LogLevel } from '../../src/core/logging.js';
import type { Server } from '../../src/core/server.js';
import { bootServer } from '../../src/app/boot.js';
import type { ModuleRegistry } from '../../src/core/modules.js';

export interface TestServer {
  server: Server;
  config: CantoConfig;
  dataDir: string;
  /** The c2s (STARTTLS) port. */
  c2sPort: number;
  stop(): Promise<void>;
}

export function testConfig(dataDir: string): CantoConfig {
  const config = defaultConfig();
  config.data_dir = dataDir;
  config.log_level = (process.env.CANTO_TEST_LOG as LogLevel | undefined) ?? 'silent';
  config.c2s.interfaces = ['127.0.0.1'];
  config.c2s.ports = [0];
  config.c2s.direct_tls_ports = [];
  config.s2s.interfaces = ['127.0.0.1'];
  config.s2s.ports = [];
  config.component_listener.ports = [];
  config.http.interfaces = ['127.0.0.1'];
  config.http.ports = [];
  config.http.tls_ports = [];
  config.auth.scram_iterations = 4096;
  return config;
}

export function tempDir(prefix = 'canto-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startTestServer(adjust?: (config: CantoConfig) => void, opts: { modules?: ModuleRegistry; cluster?: ClusterWorker } = {}): Promise<TestServer> {
  const dataDir = tempDir();
  const config = testConfig(dataDir);
  adjust?.(config);
  const log = createLogger({ level: config.log_level, format: 'text', destination: process.stderr });
  const server = await bootServer({ config, log, modules: opts.modules, cluster: opts.cluster });
  const c2sPort = config.c2s.ports.length ? server.port('c2s') : 0;
  return {
    server,
    config,
    dataDir,
    c2sPort,
    async stop() {
      await server.stop('test finished', 500);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
