// Human-friendly units for configuration values: durations ('30s', '5 minutes') and
// sizes ('256 KiB'). Plain numbers keep the config terse: seconds for durations,
// bytes for sizes. Both functions throw an Error whose message says what is accepted.

const MS_PER_UNIT: ReadonlyMap<string, number> = new Map([
  ...aliases(['ms', 'msec', 'msecs', 'millisecond', 'milliseconds'], 1),
  ...aliases(['s', 'sec', 'secs', 'second', 'seconds'], 1000),
  ...aliases(['m', 'min', 'mins', 'minute', 'minutes'], 60_000),
  ...aliases(['h', 'hr', 'hrs', 'hour', 'hours'], 3_600_000),
  ...aliases(['d', 'day', 'days'], 86_400_000),
  ...aliases(['w', 'week', 'weeks'], 604_800_000),
]);

// Sizes are always binary: in a server's limits nobody means 1000 by "k", so
// 'k', 'kb' and 'KiB' are all 1024 bytes (matched case-insensitively).
const BYTES_PER_UNIT: ReadonlyMap<string, number> = new Map([
  ...aliases(['b', 'byte', 'bytes'], 1),
  ...aliases(['k', 'kb', 'kib'], 1024),
  ...aliases(['m', 'mb', 'mib'], 1024 ** 2),
  ...aliases(['g', 'gb', 'gib'], 1024 ** 3),
]);

const DURATION_HINT = 'use a number of seconds or a string like "250ms", "30s", "5 minutes", "2h", "1 day"';
const SIZE_HINT = 'use a number of bytes or a string like "512 B", "256 KiB", "1 MiB", "2 GiB"';

function aliases(names: string[], factor: number): Array<[string, number]> {
  return names.map((n) => [n, factor]);
}

/** One or more `<number><unit>` parts, e.g. '1h 30m' or '1 hour, 30 minutes'. */
const PART = /(\d+(?:\.\d+)?)\s*([a-z]*)\s*,?\s*/gy;

function parseWithUnits(
  raw: string,
  units: ReadonlyMap<string, number>,
  defaultUnit: number,
  what: string,
  hint: string,
): number {
  const text = raw.trim().toLowerCase();
  if (text === '') throw new Error(`invalid ${what} "": empty (${hint})`);
  let total = 0;
  let parts = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const start = PART.lastIndex;
    const m = PART.exec(text);
    if (!m || m.index !== start) {
      throw new Error(`invalid ${what} "${raw}": cannot read "${raw.trim().slice(start)}" (${hint})`);
    }
    const value = Number(m[1]);
    const unit = m[2] ?? '';
    const factor = unit === '' ? defaultUnit : units.get(unit);
    if (factor === undefined) throw new Error(`invalid ${what} "${raw}": unknown unit "${unit}" (${hint})`);
    // A bare number is only unambiguous on its own: '1h 30' could mean minutes or seconds.
    if (unit === '' && (parts > 0 || PART.lastIndex < text.length)) {
      throw new Error(`invalid ${what} "${raw}": every part needs a unit (${hint})`);
    }
    total += value * factor;
    parts++;
  }
  if (!Number.isFinite(total)) throw new Error(`invalid ${what} "${raw}": too large`);
  return total;
}

function checkNumber(v: number, what: string, hint: string): void {
  if (!Number.isFinite(v) || v < 0) throw new Error(`invalid ${what} ${v}: must be a finite number >= 0 (${hint})`);
}

/**
 * A duration in milliseconds. Numbers are seconds (`30` → 30000); strings carry a
 * unit (`'250ms'`, `'30s'`, `'30 seconds'`, `'5 minutes'`, `'2h'`, `'1 day'`, `'1h 30m'`);
 * a bare numeric string is seconds too. The result is rounded to whole milliseconds.
 */
export function parseDuration(v: string | number): number {
  if (typeof v === 'number') {
    checkNumber(v, 'duration', DURATION_HINT);
    return Math.round(v * 1000);
  }
  if (typeof v !== 'string') throw new Error(`invalid duration: expected a string or a number (${DURATION_HINT})`);
  return Math.round(parseWithUnits(v, MS_PER_UNIT, 1000, 'duration', DURATION_HINT));
}

/**
 * A size in bytes. Numbers are bytes; strings carry a binary unit (`'512kb'`,
 * `'256 KiB'`, `'1 MiB'`, `'2G'`: k/kb/KiB = 1024). Fractions round to whole bytes.
 */
export function parseSize(v: string | number): number {
  if (typeof v === 'number') {
    checkNumber(v, 'size', SIZE_HINT);
    return Math.round(v);
  }
  if (typeof v !== 'string') throw new Error(`invalid size: expected a string or a number (${SIZE_HINT})`);
  return Math.round(parseWithUnits(v, BYTES_PER_UNIT, 1, 'size', SIZE_HINT));
}
