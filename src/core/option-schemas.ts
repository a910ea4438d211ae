/**
 * Zod schema pieces for configuration values, used by the core schema (config.ts) and by
 * modules declaring their `[modules.NAME]` options and listener tables:
 *
 *   options: z.object({
 *     ping_interval: duration('5 minutes'),   // → ms; config may say "30s", "5 minutes" or seconds
 *     max_size: size('64 KiB'),               // → bytes; config may say "256 KiB" or bytes
 *     policy: oneOf(['kick_old', 'refuse_new'], 'kick_old'),
 *     admins: jidList(),                      // bare JIDs, default []
 *   })
 *
 * Messages say what is expected; config-errors.ts adds the key, its line and the value found.
 */
import { z } from 'zod';
import { parseDuration, parseSize } from './units.js';

// ───────────────────────────── value checks ─────────────────────────────

export function isDomain(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 1023 &&
    !/[\s@/\\"'<>]/.test(v) && !v.startsWith('.') && !v.endsWith('.') && !v.includes('..');
}

/** A bare JID with a domain (full JID parsing lives in src/jid). */
export function isBareJid(v: unknown): v is string {
  if (typeof v !== 'string' || v.includes('/') || /\s/.test(v)) return false;
  const at = v.indexOf('@');
  if (at === 0) return false;
  return isDomain(at === -1 ? v : v.slice(at + 1));
}

// ───────────────────────────── schemas ─────────────────────────────

/** A value passing `test`; otherwise the issue says "expected <expected>". */
export const check = <T>(test: (v: unknown) => v is T, expected: string) => z.custom<T>(test, { message: `expected ${expected}` });

/** An integer of at least `min`; `why` is added to the message ("… >= 4096 (the minimum …)"). */
export const intAtLeast = (min: number, why = '') =>
  check((v): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min, `an integer >= ${min}${why}`);

/** Transforms a unit-bearing value with `parse`, turning its Error into an issue. */
function unitValue(parse: (v: string | number) => number, expected: string, min: number, max: number) {
  return z.unknown().transform((v, ctx) => {
    if (typeof v !== 'string' && typeof v !== 'number') {
      ctx.addIssue({ code: 'custom', message: `expected ${expected}` });
      return z.NEVER;
    }
    try {
      const n = parse(v);
      if (n < min) throw new Error(`must be at least ${min}`);
      if (n > max) throw new Error(`must be at most ${max}`);
      return n;
    } catch (err) {
      // The units parser's message already quotes the value, so no "got …" is appended.
      ctx.addIssue({ code: 'custom', message: `expected ${expected}: ${(err as Error).message}`, params: { complete: true } });
      return z.NEVER;
    }
  });
}

export interface UnitOptions {
  /** The smallest value accepted, in the result's unit (ms or bytes); default 0. */
  min?: number;
  /** The largest value accepted, in the result's unit; default none. */
  max?: number;
}

const DURATION = 'a duration ("30s", "5 minutes", or a number of seconds)';
const SIZE = 'a size ("256 KiB", "1 MiB", or a number of bytes)';

/** A duration in ms. With a default (parsed like a config value), the key may be left out. */
export function duration(dflt: string | number, opts?: UnitOptions): z.ZodType<number, unknown>;
/** A duration in ms, or undefined when the key is left out. */
export function duration(dflt?: undefined, opts?: UnitOptions): z.ZodType<number | undefined, unknown>;
export function duration(dflt?: string | number, opts: UnitOptions = {}): z.ZodType<number | undefined, unknown> {
  const schema = unitValue(parseDuration, DURATION, opts.min ?? 0, opts.max ?? Infinity);
  return dflt === undefined ? schema.optional() : schema.prefault(dflt);
}

/** A size in bytes (binary units: "1 KiB" = "1k" = 1024). With a default, the key may be left out. */
export function size(dflt: string | number, opts?: UnitOptions): z.ZodType<number, unknown>;
/** A size in bytes, or undefined when the key is left out. */
export function size(dflt?: undefined, opts?: UnitOptions): z.ZodType<number | undefined, unknown>;
export function size(dflt?: string | number, opts: UnitOptions = {}): z.ZodType<number | undefined, unknown> {
  const schema = unitValue(parseSize, SIZE, opts.min ?? 0, opts.max ?? Infinity);
  return dflt === undefined ? schema.optional() : schema.prefault(dflt);
}

/** One of a few strings; a near miss gets a "did you mean". */
export function oneOf<const T extends readonly [string, ...string[]]>(choices: T, dflt: T[number]) {
  return z.enum(choices).default(dflt);
}

/** A list of strings, each checked by `item` (default: any string); `[]` when left out. */
export function list(item: z.ZodType<string> = z.string()) {
  return z.array(item).default(() => []);
}

/** A list of bare JIDs such as "admin@example.com" or "example.com"; `[]` when left out. */
export function jidList() {
  return list(check(isBareJid, 'a bare JID such as "admin@example.com"'));
}

/** A domain name, lower-cased. */
export const domain = check(isDomain, 'a domain name such as "example.com"').transform((d) => d.toLowerCase());
