/**
 * Route patterns of the HTTP router, three kinds:
 *
 *   exact   `/.well-known/host-meta`      the path itself
 *   params  `/upload/:slot/:filename`     one non-empty segment per `:name`, %-decoded
 *   prefix  `/admin/*`                    `/admin` and everything under `/admin/`; the rest of
 *                                         the path (still %-encoded) is handed over as `rest`
 *
 * Precedence when several match: exact, then params (at the first segment where two patterns
 * differ, a literal beats a parameter), then prefixes, longest first.
 */

export type PatternKind = 'exact' | 'params' | 'prefix';

type Segment = { literal: string } | { param: string };

export interface RoutePattern {
  /** As written at mount. */
  readonly source: string;
  readonly kind: PatternKind;
  /**
   * Patterns with the same key match the same paths (`/a/:x` and `/a/:y` do): they share one
   * resource, whose routes must differ by method.
   */
  readonly key: string;
  readonly segments: readonly Segment[];
  /** Prefix patterns: the path before `/*` ('' for `/*`). */
  readonly base: string;
}

export type PatternMatch = { params: Record<string, string>; rest: string } | 'bad-escape';

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function compilePattern(source: string): RoutePattern {
  if (!source.startsWith('/')) throw new Error(`HTTP route "${source}": a pattern starts with "/"`);
  if (source.endsWith('/*')) {
    const base = source.slice(0, -2);
    if (base.includes('*') || base.includes(':')) throw new Error(`HTTP route "${source}": a prefix pattern has only literal segments before "/*"`);
    return { source, kind: 'prefix', key: source, segments: [], base };
  }
  if (source.includes('*')) throw new Error(`HTTP route "${source}": "*" may only end a pattern, as "/*"`);
  const names = new Set<string>();
  const segments: Segment[] = source
    .slice(1)
    .split('/')
    .map((s) => {
      if (!s.startsWith(':')) return { literal: s };
      const name = s.slice(1);
      if (!PARAM_NAME.test(name)) throw new Error(`HTTP route "${source}": bad parameter name "${name}"`);
      if (names.has(name)) throw new Error(`HTTP route "${source}": parameter "${name}" twice`);
      names.add(name);
      return { param: name };
    });
  if (names.size === 0) return { source, kind: 'exact', key: source, segments, base: '' };
  const key = '/' + segments.map((s) => ('literal' in s ? s.literal : ':')).join('/');
  return { source, kind: 'params', key, segments, base: '' };
}

/** Whether `pattern` matches `path` (a URL pathname, still %-encoded), with what. */
export function matchPattern(pattern: RoutePattern, path: string): PatternMatch | undefined {
  switch (pattern.kind) {
    case 'exact':
      return path === pattern.source ? { params: {}, rest: '' } : undefined;
    case 'prefix':
      if (path === pattern.base) return { params: {}, rest: '' };
      return path.startsWith(pattern.base + '/') ? { params: {}, rest: path.slice(pattern.base.length + 1) } : undefined;
    case 'params':
      return matchParams(pattern.segments, path);
  }
}

function matchParams(segments: readonly Segment[], path: string): PatternMatch | undefined {
  const parts = path.slice(1).split('/');
  if (parts.length !== segments.length) return undefined;
  const raw: Array<[string, string]> = [];
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i] as Segment;
    const part = parts[i] as string;
    if ('literal' in seg) {
      if (part !== seg.literal) return undefined;
    } else {
      if (part === '') return undefined;
      raw.push([seg.param, part]);
    }
  }
  // Decoded only once the shape matched: a malformed escape in a path that is not ours is a 404.
  const params: Record<string, string> = {};
  for (const [name, value] of raw) {
    try {
      params[name] = decodeURIComponent(value);
    } catch {
      return 'bad-escape';
    }
  }
  return { params, rest: '' };
}

/** Sort order of non-exact patterns: negative when `a` is tried before `b`. */
export function comparePrecedence(a: RoutePattern, b: RoutePattern): number {
  const rank = (p: RoutePattern) => (p.kind === 'exact' ? 0 : p.kind === 'params' ? 1 : 2);
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  if (a.kind === 'prefix') return b.base.length - a.base.length;
  const n = Math.min(a.segments.length, b.segments.length);
  for (let i = 0; i < n; i++) {
    const la = 'literal' in (a.segments[i] as Segment);
    const lb = 'literal' in (b.segments[i] as Segment);
    if (la !== lb) return la ? -1 : 1;
  }
  return 0;
}
