/**
 * The integration tests' server: the booted product (SQLite storage, certificates, every
 * built-in module) in-process on loopback port 0 with its own temporary data directory. The
 * lighter in-memory harness is canto/testing (src/testing). Set CANTO_TEST_LOG=debug to see
 * the server's log while a test runs.
 */
import type { ClusterWorker } from '../../src/cluster/worker.js';
import { rmSync } from 'node:fs';
import type { CantoConfig } from '../../src/core/config.js';
import { testConfig, testLogger, tempDir } from '../../src/testing/index.js';
import type { Server } from '../../src/core/server.js';
import { bootServer } from '../../src/app/boot.js';
import { createLogger } from '../../src/core/logging.js';
import type { ModuleRegistry } from '../../src/core/modules.js';

export interface TestServer {
  server: Server;
  config: CantoConfig;
  dataDir: string;
  /** The c2s (STARTTLS) port. */
  c2sPort: number;
  stop(): Promise<void>;
}

export { testConfig, tempDir };

export interface TestServerOptions {
  modules?: ModuleRegistry;
  cluster?: ClusterWorker;
  /** Collect the server's log records (JSON, level info and up) here instead of printing them. */
  logRecords?: Record<string, unknown>[];
}

export async function startTestServer(adjust?: (config: CantoConfig) => void, opts: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = tempDir();
  const config = testConfig(dataDir);
  config.c2s.ports = [0];
  adjust?.(config);
  const records = opts.logRecords;
  const log = records === undefined
    ? testLogger(config)
    // pino's JSON output needs only write(); a whole Writable is not worth building for it.
    : createLogger({ level: 'info', format: 'json', destination: { write: (line: string) => records.push(JSON.parse(line) as Record<string, unknown>) } as unknown as NodeJS.WritableStream });
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
