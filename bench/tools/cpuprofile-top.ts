/**
 * Top functions by self time in V8 CPU profiles (`node --cpu-prof`), as a markdown table.
 *
 *   node dist/bench/tools/cpuprofile-top.js [--top N] [--total] [--include-idle] [--match REGEXP]
 *       [--stack REGEXP]… FILE|DIR…
 *
 * Every `.cpuprofile` given (a directory means all of them inside it) is read and the same
 * function, identified by name and location, is added up across files. Percentages are of the
 * busy time: every sample except "(idle)", unless `--include-idle`. `--match` keeps only the rows
 * whose name or location matches; `--stack` adds a line with the share of time that had a
 * matching frame anywhere on the stack (`--stack src/jid/`: all that JID preparation cost).
 * Locations are shown relative to the repository: a compiled file under a `dist*` directory is
 * mapped back to its TypeScript source and line through its `.js.map` when there is one; Node's
 * own modules keep their `node:…` name; native code has no location.
 */
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { isAbsolute, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** The parts of V8's `.cpuprofile` format (Profiler.Profile of the DevTools protocol) used here. */
export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  /** Node id of each sample's innermost frame. */
  samples: number[];
  /** Microseconds from the previous sample (from startTime for the first) to this one. */
  timeDeltas: number[];
}

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number; scriptId?: string };
  children?: number[];
}

export interface FunctionTime {
  /** Function name; '(anonymous)' for an unnamed one; V8's pseudo-frames keep their names ("(program)", "(garbage collector)"). */
  name: string;
  /** 'src/xml/parser.ts:120', 'node:internal/tls/wrap:300', or '' for native code and pseudo-frames. */
  location: string;
  /** Time with this function as the innermost frame, in microseconds. */
  selfMicros: number;
  /** Time with this function anywhere on the stack (recursion counted once), in microseconds. */
  totalMicros: number;
}

export interface ProfileSummary {
  /** Sorted by self time, largest first. */
  functions: FunctionTime[];
  /** The time the percentages are of: all samples, minus "(idle)" unless it was included. */
  busyMicros: number;
  profiles: number;
}

/** Maps a call frame's script URL and 0-based line/column to the text shown as its location. */
export type Locate = (url: string, lineNumber: number, columnNumber: number) => string;

const IDLE = '(idle)';
const ROOT = '(root)';

/**
 * How long each sample stands for: until the next sample, and the last one until the end of
 * the profile (what DevTools does).
 */
function sampleDurations(profile: CpuProfile): number[] {
  const durations = new Array<number>(profile.samples.length);
  let at = profile.startTime;
  const stamps = profile.timeDeltas.map((d) => (at += d));
  for (let i = 0; i < stamps.length; i++) {
    const next = i + 1 < stamps.length ? stamps[i + 1]! : profile.endTime;
    durations[i] = Math.max(0, next - stamps[i]!);
  }
  return durations;
}

/** Adds up self and total time per function over all profiles. */
export function summarize(profiles: readonly CpuProfile[], locate: Locate, opts: { includeIdle?: boolean } = {}): ProfileSummary {
  const byKey = new Map<string, FunctionTime>();
  let busyMicros = 0;
  for (const profile of profiles) {
    const parent = new Map<number, number>();
    const keyOf = new Map<number, string>();
    const nodeById = new Map<number, CpuProfileNode>();
    for (const node of profile.nodes) {
      nodeById.set(node.id, node);
      for (const child of node.children ?? []) parent.set(child, node.id);
    }
    const keyFor = (id: number): string | undefined => {
      const cached = keyOf.get(id);
      if (cached !== undefined) return cached;
      const node = nodeById.get(id);
      if (!node || node.callFrame.functionName === ROOT) return undefined;
      const { functionName, url, lineNumber, columnNumber } = node.callFrame;
      const name = functionName === '' ? '(anonymous)' : functionName;
      const location = url === '' ? '' : locate(url, lineNumber, columnNumber);
      const key = `${name}\u0000${location}`;
      if (!byKey.has(key)) byKey.set(key, { name, location, selfMicros: 0, totalMicros: 0 });
      keyOf.set(id, key);
      return key;
    };
    const durations = sampleDurations(profile);
    profile.samples.forEach((id, i) => {
      const micros = durations[i] ?? 0;
      const leaf = nodeById.get(id);
      if (!leaf) return;
      if (leaf.callFrame.functionName === IDLE && !opts.includeIdle) return;
      busyMicros += micros;
      const leafKey = keyFor(id);
      if (leafKey !== undefined) byKey.get(leafKey)!.selfMicros += micros;
      const onStack = new Set<string>();
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const key = keyFor(at);
        if (key === undefined || onStack.has(key)) continue;
        onStack.add(key);
        byKey.get(key)!.totalMicros += micros;
      }
    });
  }
  const functions = [...byKey.values()].filter((f) => f.totalMicros > 0).sort((a, b) => b.selfMicros - a.selfMicros || b.totalMicros - a.totalMicros);
  return { functions, busyMicros, profiles: profiles.length };
}

/**
 * How much of the busy time had a frame matching `match` (its name or its location) anywhere on
 * the stack: the whole cost of a subsystem ("src/jid/") however its functions call each other.
 */
export function stackShare(profiles: readonly CpuProfile[], locate: Locate, match: RegExp, opts: { includeIdle?: boolean } = {}): { micros: number; busyMicros: number } {
  let micros = 0;
  let busyMicros = 0;
  for (const profile of profiles) {
    const parent = new Map<number, number>();
    const nodeById = new Map<number, CpuProfileNode>();
    for (const node of profile.nodes) {
      nodeById.set(node.id, node);
      for (const child of node.children ?? []) parent.set(child, node.id);
    }
    const matches = new Map<number, boolean>();
    const frameMatches = (id: number): boolean => {
      let m = matches.get(id);
      if (m === undefined) {
        const frame = nodeById.get(id)?.callFrame;
        m = frame !== undefined && (match.test(frame.functionName) || (frame.url !== '' && match.test(locate(frame.url, frame.lineNumber, frame.columnNumber))));
        matches.set(id, m);
      }
      return m;
    };
    const durations = sampleDurations(profile);
    profile.samples.forEach((id, i) => {
      const leaf = nodeById.get(id);
      if (!leaf || (leaf.callFrame.functionName === IDLE && !opts.includeIdle)) return;
      const d = durations[i] ?? 0;
      busyMicros += d;
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        if (frameMatches(at)) {
          micros += d;
          break;
        }
      }
    });
  }
  return { micros, busyMicros };
}

function percent(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)} %` : '–';
}

/**
 * A markdown table of the `top` functions with the most self time; with `match`, only those whose
 * name or location it matches (percentages stay shares of all busy time).
 */
export function topTable(summary: ProfileSummary, opts: { top?: number; total?: boolean; match?: RegExp } = {}): string {
  const head = ['function', 'location', 'self', ...(opts.total ? ['total'] : [])];
  const match = opts.match;
  const shown = match ? summary.functions.filter((f) => match.test(f.name) || match.test(f.location)) : summary.functions;
  const rows = shown.slice(0, opts.top ?? 10).map((f) => [
    // A '|' in a name would end the cell.
    `\`${f.name.replaceAll('|', '\\|')}\``,
    f.location === '' ? '' : `\`${f.location}\``,
    percent(f.selfMicros, summary.busyMicros),
    ...(opts.total ? [percent(f.totalMicros, summary.busyMicros)] : []),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (i >= 2 ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(head), rule, ...rows.map(line)].join('\n');
}

/** Removes a leading `dist` or `dist-NAME` directory: the compiled tree mirrors the sources. */
function withoutDistDir(path: string): string {
  const [first, ...rest] = path.split('/');
  return first !== undefined && /^dist(?:-|$)/.test(first) && rest.length > 0 ? rest.join('/') : path;
}

/**
 * A Locate for profiles of code in `repoRoot`: `file://` URLs become repository-relative paths,
 * mapped to the TypeScript source through the script's `.js.map` when it exists; `node:` URLs
 * are kept; anything else is shown as it is.
 */
export function repoLocator(repoRoot: string): Locate {
  const root = realpathSync(repoRoot);
  const maps = new Map<string, SourceMap | undefined>();
  const sourceMapOf = (file: string): SourceMap | undefined => {
    if (maps.has(file)) return maps.get(file);
    let map: SourceMap | undefined;
    try {
      if (existsSync(`${file}.map`)) map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')) as SourceMapPayload);
    } catch {
      map = undefined; // an unreadable map: show the compiled location instead
    }
    maps.set(file, map);
    return map;
  };
  return (url, lineNumber, columnNumber) => {
    if (!url.startsWith('file://')) return lineNumber >= 0 ? `${url}:${lineNumber + 1}` : url;
    const file = fileURLToPath(url);
    const rel = relative(root, file);
    const inRepo = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
    const map = inRepo && lineNumber >= 0 ? sourceMapOf(file) : undefined;
    const entry = map?.findEntry(lineNumber, Math.max(0, columnNumber));
    if (entry && 'originalSource' in entry && entry.originalSource) {
      const source = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : join(file, '..', entry.originalSource);
      return `${relative(root, source).split(sep).join('/')}:${entry.originalLine + 1}`;
    }
    const shown = inRepo ? withoutDistDir(rel.split(sep).join('/')) : file;
    return lineNumber >= 0 ? `${shown}:${lineNumber + 1}` : shown;
  };
}

/** The `.cpuprofile` files named, a directory standing for every one directly inside it. */
export function profileFiles(paths: readonly string[]): string[] {
  return paths.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => f.endsWith('.cpuprofile'))
          .sort()
          .map((f) => join(p, f))
      : [p],
  );
}

function main(): number {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '10' },
      total: { type: 'boolean', default: false },
      'include-idle': { type: 'boolean', default: false },
      root: { type: 'string' },
      match: { type: 'string' },
      stack: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const top = Number(values.top);
  if (values.help || positionals.length === 0 || !Number.isInteger(top) || top < 1) {
    process.stderr.write('usage: node dist/bench/tools/cpuprofile-top.js [--top N] [--total] [--include-idle] [--match REGEXP] [--stack REGEXP]… [--root REPO] FILE.cpuprofile|DIR…\n');
    return values.help ? 0 : 2;
  }
  const files = profileFiles(positionals);
  if (files.length === 0) {
    process.stderr.write('no .cpuprofile files found\n');
    return 1;
  }
  const profiles = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as CpuProfile);
  // Default root: the repository this script was compiled from (dist*/bench/tools/ → ../../..).
  const root = values.root ?? fileURLToPath(new URL('../../../', import.meta.url));
  const locate = repoLocator(root);
  const summary = summarize(profiles, locate, { includeIdle: values['include-idle'] });
  const idle = values['include-idle'] ? 'all samples' : 'samples except (idle)';
  process.stdout.write(`${files.length} profile(s), ${(summary.busyMicros / 1e6).toFixed(2)} s of ${idle}; self time as a share of that:\n\n`);
  const match = values.match === undefined ? undefined : new RegExp(values.match);
  process.stdout.write(`${topTable(summary, { top, total: values.total, match })}\n`);
  for (const pattern of values.stack ?? []) {
    const share = stackShare(profiles, locate, new RegExp(pattern), { includeIdle: values['include-idle'] });
    process.stdout.write(`\nframes matching /${pattern}/ on the stack: ${percent(share.micros, share.busyMicros)}\n`);
  }
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  try {
    process.exitCode = main();
  } catch (err) {
    // A missing file or a malformed profile: the message says which.
    process.stderr.write(`cpuprofile-top: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
