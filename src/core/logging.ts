/**
 * Structured logging with pino. Every session gets a child logger carrying its id and type,
 * so one connection's story can be followed with a grep. Format 'text' prints one readable
 * line per event (pino-pretty, synchronous, no worker thread); 'json' is for log shippers.
 */
import { pino, type Logger, type Level } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };
export type LogLevel = Level | 'silent';

export function createLogger(opts: { level: LogLevel; format: 'json' | 'text'; destination?: NodeJS.WritableStream }): Logger {
  const base = { level: opts.level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  if (opts.format === 'json') {
    return opts.destination ? pino(base, opts.destination) : pino(base);
  }
  const stream = pretty({
    sync: true,
    colorize: false,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'pid,hostname',
    destination: opts.destination ?? 1,
  });
  return pino(base, stream);
}

/** A logger that drops everything (tests, and code paths that need one before config is read). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
