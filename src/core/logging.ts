/**
 * Structured logging with pino. Every session gets a child logger carrying its id and type,
 * so one connection's story can be followed with a grep. Format 'text' prints one readable
 * line per event (pino-pretty, synchronous, no worker thread); 'json' is for log shippers.
 */
import { pino, type Logger, type Level } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };
export type LogLevel = Level | 'silent';

import type { LogFormat } from './config.js';

export type { LogFormat };

/** syslog priorities (RFC 5424) of pino's numeric levels, for the journald format. */
function syslogPriority(level: number): number {
  if (level >= 60) return 2; // fatal → crit
  if (level >= 50) return 3; // error → err
  if (level >= 40) return 4; // warn → warning
  if (level >= 30) return 6; // info → info
  return 7; // debug, trace → debug
}

export function createLogger(opts: { level: LogLevel; format: LogFormat; destination?: NodeJS.WritableStream }): Logger {
  const base = { level: opts.level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  if (opts.format === 'json') {
    return opts.destination ? pino(base, opts.destination) : pino(base);
  }
  if (opts.format === 'journald') {
    // systemd reads a leading "<N>" on each stdout/stderr line as its priority (sd-daemon(3)) and
    // stamps the time itself: one line per event, its fields as JSON on the same line (a stack's
    // newlines stay escaped), no time or level label. Written by hand: pino-pretty prints errors
    // over several lines even in its single-line mode.
    const out: { write(s: string): unknown } = opts.destination ?? pino.destination({ fd: 1, sync: true });
    const stream = {
      write(line: string): void {
        const { level, msg, ...fields } = JSON.parse(line) as { level: number; msg?: unknown } & Record<string, unknown>;
        const rest = Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
        out.write(`<${syslogPriority(level)}>${typeof msg === 'string' ? msg : ''}${rest}\n`);
      },
    };
    return pino({ ...base, timestamp: false }, stream);
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
