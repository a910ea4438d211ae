/** `canto start`: run the server until SIGTERM/SIGINT, then shut down gracefully (exit 0). */
import type { CantoConfig } from '../core/config.js';
import { createLogger } from '../core/logging.js';
import { bootServer } from '../app/boot.js';

export async function runStart(config: CantoConfig, file: string | undefined): Promise<number> {
  const log = createLogger({ level: config.log_level, format: config.log_format });
  log.info({ config: file ?? '(built-in default)', data_dir: config.data_dir, node: process.version, node_flags: process.execArgv }, 'Canto starting');
  let server;
  try {
    server = await bootServer({ config, log });
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'could not start');
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log.warn(`${signal} again: exiting at once`);
        process.exit(1);
      }
      stopping = true;
      server
        .stop(`received ${signal}`)
        .then(() => resolve(0))
        .catch((err: unknown) => {
          log.error({ err }, 'error during shutdown');
          resolve(1);
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
