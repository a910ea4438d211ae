/**
 * Config problems as operators read them: each ConfigIssue names the key in TOML form and its
 * line, says what was expected and what was found. Shared by the core schema (config.ts) and
 * the modules' option schemas (module-config.ts).
 */
import { z } from 'zod';
import { closestName } from '../util/edit-distance.js';
import { formatPath, lineOf, type KeyLines } from './toml-lines.js';

/** One problem in a config file. `message` says what is expected (and what was found). */
export interface ConfigIssue {
  key?: string; // TOML form: `virtualhost[1].allow_registration`
  line?: number; // 1-based
  message: string;
}

export class ConfigError extends Error {
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly key?: string;
  /** Every problem found; `line`/`key` above are the first one's. */
  readonly issues: readonly ConfigIssue[];

  constructor(message: string, details: { file?: string; line?: number; column?: number; key?: string; issues?: ConfigIssue[] } = {}) {
    super(message);
    this.name = 'ConfigError';
    this.file = details.file;
    this.line = details.line;
    this.column = details.column;
    this.key = details.key;
    this.issues = details.issues ?? [{ key: details.key, line: details.line, message }];
  }
}

function valueAt(root: unknown, path: readonly PropertyKey[]): { found: boolean; value: unknown } {
  let value = root;
  for (const seg of path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, seg)) return { found: false, value: undefined };
    value = (value as Record<PropertyKey, unknown>)[seg];
  }
  return { found: true, value };
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return 'a date/time';
  if (Array.isArray(v)) return v.length === 0 ? 'an empty array' : 'an array';
  if (v !== null && typeof v === 'object') return 'a table';
  return String(v);
}

const TYPE_NAMES: Record<string, string> = {
  boolean: 'a boolean (true or false)', string: 'a string', number: 'a number', int: 'an integer',
  array: 'an array', object: 'a table', record: 'a table',
};

/** Follows a path through the schema, looking through defaults, optionals and transforms. */
function schemaAt(root: z.ZodType, path: readonly PropertyKey[]): z.ZodType | undefined {
  let s: z.ZodType | undefined = root;
  for (let i = 0; ; i++) {
    while (s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodOptional || s instanceof z.ZodPipe) {
      s = s instanceof z.ZodPipe ? (s.in as z.ZodType) : (s.unwrap() as z.ZodType);
    }
    const seg = path[i];
    if (seg === undefined || s === undefined) return s;
    if (typeof seg === 'number') s = s instanceof z.ZodArray ? (s.element as z.ZodType) : undefined;
    else if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.ZodType>)[String(seg)];
    else if (s instanceof z.ZodRecord) s = s.valueType as z.ZodType;
    else return undefined;
  }
}

/** An issue before its key path is formatted and its line looked up. */
export interface RawIssue {
  path: PropertyKey[];
  message: string;
}

function unknownKeyIssue(root: z.ZodType, objectPath: PropertyKey[], key: string): RawIssue {
  const shape = schemaAt(root, objectPath);
  const known = shape instanceof z.ZodObject ? Object.keys(shape.shape as object) : [];
  const suggestion = closestName(key, known);
  const hint = suggestion !== undefined
    ? `did you mean \`${suggestion}\`?`
    : known.length > 0 ? `known keys here: ${known.join(', ')}` : '';
  return { path: [...objectPath, key], message: `unknown key${hint ? `; ${hint}` : ''}` };
}

/** Turns zod's issues into messages that say what was expected and what was found. */
export function describeZodIssues(issues: readonly z.core.$ZodIssue[], raw: unknown, root: z.ZodType): RawIssue[] {
  const out: RawIssue[] = [];
  for (const issue of issues) {
    const path = issue.path as PropertyKey[];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push(unknownKeyIssue(root, path, key));
      continue;
    }
    const { found, value } = valueAt(raw, path);
    let expected: string;
    switch (issue.code) {
      case 'invalid_type': {
        expected = `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}`;
        const target = schemaAt(root, path);
        if (issue.expected === 'array' && target instanceof z.ZodArray && schemaAt(root, [...path, 0]) instanceof z.ZodObject) {
          const name = formatPath(path);
          expected = `expected an array of tables (write [[${name}]] with double brackets for each entry)`;
        }
        break;
      }
      case 'invalid_value': {
        const options = issue.values.map((v) => JSON.stringify(v));
        const suggestion = typeof value === 'string' ? closestName(value, issue.values.map(String)) : undefined;
        expected = `expected one of ${options.join(', ')}${suggestion !== undefined ? ` (did you mean "${suggestion}"?)` : ''}`;
        break;
      }
      case 'too_small':
        expected = issue.origin === 'string' ? 'expected a non-empty string'
          : issue.origin === 'array' ? `expected at least ${issue.minimum} item(s)`
          : `expected a number ${issue.inclusive ? '>=' : '>'} ${issue.minimum}`;
        break;
      case 'too_big':
        expected = issue.origin === 'array' ? `expected at most ${issue.maximum} item(s)`
          : `expected a value ${issue.inclusive ? '<=' : '<'} ${issue.maximum}`;
        break;
      case 'custom':
        if (issue.params?.['complete'] === true) {
          out.push({ path, message: issue.message });
          continue;
        }
        expected = issue.message;
        break;
      default:
        expected = issue.message;
    }
    const message = !found
      ? `missing required key (${expected})`
      : `${expected}, got ${describe(value)}`;
    out.push({ path, message });
  }
  return out;
}

/** "canto.toml, line 5" (or "line 5", or "canto.toml"): spelled out for operators. */
export function location(file: string | undefined, line: number | undefined, column?: number): string {
  const parts = [file, line !== undefined ? `line ${line}` : undefined, column !== undefined ? `column ${column}` : undefined];
  return parts.filter((p) => p !== undefined).join(', ');
}

export function formatIssue(issue: ConfigIssue, file: string | undefined): string {
  return [location(file, issue.line), issue.key, issue.message].filter((s) => s !== undefined && s !== '').join(': ');
}

export function errorFor(issues: ConfigIssue[], file: string | undefined): ConfigError {
  const first = issues[0];
  const message = issues.length === 1 && first
    ? formatIssue(first, file)
    : `${issues.length} problems in ${file ?? 'the configuration'}:\n${issues.map((i) => `  ${formatIssue(i, file)}`).join('\n')}`;
  return new ConfigError(message, { file, line: first?.line, key: first?.key, issues });
}

/** Formats raw issues with their lines, sorted by line (issues without a line last). */
export function withLines(problems: readonly RawIssue[], lines: KeyLines | undefined): ConfigIssue[] {
  return problems
    .map((p): ConfigIssue => ({
      key: p.path.length > 0 ? formatPath(p.path) : undefined,
      line: lines ? lineOf(lines, p.path) : undefined,
      message: p.message,
    }))
    .sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
}
