// Canto's configuration: a TOML file validated into a typed, fully defaulted object.
//
// The pipeline is: TOML text → smol-toml → zod schema (types, ranges, defaults, unknown
// keys) + cross-field checks on the raw table → relative paths made absolute. Every
// problem found becomes a ConfigIssue naming the key in TOML form and the line it is
// on (found by a small scanner over the source text, since the TOML parser does not
// keep positions), and all of them are reported together in one ConfigError.

import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { parseDuration, parseSize } from './units.js';
import { storageConfigSchema, type StorageConfig } from '../storage/registry.js';

// ───────────────────────────── public types ─────────────────────────────

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export type ScramHash = 'SHA-1' | 'SHA-256';

export interface ListenerConfig {
  /** Addresses to listen on; `'*'` means all (IPv4 and IPv6). */
  interfaces: string[];
  /** Ports to listen on; `[]` disables the listener, `0` picks a free port. */
  ports: number[];
}

export interface VirtualHostConfig {
  domain: string; // lower-cased
  certificate?: string; // absolute path
  key?: string; // absolute path
  allow_registration: boolean;
  modules_enabled: string[]; // added to the global list for this host
  modules_disabled: string[]; // removed from the global list for this host
}

export interface ComponentConfig {
  domain: string; // lower-cased
  secret?: string; // external component (XEP-0114)
  module?: string; // internal component provided by a module (e.g. 'muc')
}

export interface CantoConfig {
  data_dir: string;
  log_level: LogLevel;
  log_format: 'json' | 'text';
  admins: string[];
  modules_enabled: string[];
  /** The driver and its own options, checked against src/storage/registry.ts. */
  storage: StorageConfig;
  auth: { scram_iterations: number; scram_hashes: ScramHash[] };
  limits: {
    max_stanza_size: number; // bytes
    max_depth: number;
    max_attributes: number;
    max_name_length: number;
    max_send_buffer: number; // bytes
  };
  c2s: ListenerConfig & {
    direct_tls_ports: number[];
    require_encryption: boolean;
    auth_timeout: number; // ms
    max_unauthed_per_ip: number;
  };
  s2s: ListenerConfig & {
    direct_tls_ports: number[];
    secure_auth: boolean;
    insecure_domains: string[];
    secure_domains: string[];
    ca_file?: string; // absolute path
    idle_timeout: number; // ms
    hosts: Record<string, string>; // domain → "host:port"
  };
  component_listener: ListenerConfig;
  http: ListenerConfig & {
    tls_ports: number[];
    cors_origins: string[];
    trusted_proxies: string[];
    /** The URL clients reach the HTTP server at (e.g. behind a proxy); endpoints advertised from it. */
    public_url?: string;
  };
  virtualhost: VirtualHostConfig[];
  component: ComponentConfig[];
  modules: Record<string, Record<string, unknown>>;
  /** Several worker processes on one machine (docs/scaling.md); 1 = a single process. */
  cluster: { workers: number };
}

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

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const satisfies readonly LogLevel[];

/** Modules enabled on every host unless the config says otherwise. */
export const DEFAULT_MODULES_ENABLED: readonly string[] = [
  'disco', 'ping', 'version', 'time', 'roster', 'presence', 'message',
  'offline', 'vcard', 'private', 'blocking', 'last', 'register', 'contact',
  'websocket', 'hostmeta', 'bosh',
];

// ───────────────────────────── value checks ─────────────────────────────

function isDomain(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 1023 &&
    !/[\s@/\\"'<>]/.test(v) && !v.startsWith('.') && !v.endsWith('.') && !v.includes('..');
}

/** A bare JID with a domain (full JID parsing lives in src/jid). */
function isBareJid(v: unknown): v is string {
  if (typeof v !== 'string' || v.includes('/') || /\s/.test(v)) return false;
  const at = v.indexOf('@');
  if (at === 0) return false;
  return isDomain(at === -1 ? v : v.slice(at + 1));
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535;
}

function isInterface(v: unknown): v is string {
  return typeof v === 'string' && (v === '*' || isIP(v) !== 0 || /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(v));
}

function isIpOrCidr(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  const [address = '', prefix, ...rest] = v.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

function isHostPort(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]/@]+)):(\d{1,5})$/.exec(v);
  if (!m) return false;
  if (m[1] !== undefined && isIP(m[1]) !== 6) return false;
  const port = Number(m[3]);
  return port >= 1 && port <= 65535;
}

function isOrigin(v: unknown): v is string {
  return typeof v === 'string' && (v === '*' || /^https?:\/\/[^/\s?#]+$/.test(v));
}

function isHttpUrl(v: unknown): v is string {
  if (typeof v !== 'string' || !/^https?:\/\/[^/\s?#]+(\/[^\s?#]*)?$/.test(v)) return false;
  try {
    new URL(v);
    return true;
  } catch {
    return false;
  }
}

function isModuleName(v: unknown): v is string {
  return typeof v === 'string' && /^[A-Za-z0-9_-]+$/.test(v);
}

// ───────────────────────────── schema ─────────────────────────────

/** `[cluster] workers` upper bound: far more processes than cores only adds relaying. */
export const MAX_CLUSTER_WORKERS = 64;

const check = <T>(test: (v: unknown) => v is T, expected: string) => z.custom<T>(test, { message: `expected ${expected}` });

const intAtLeast = (min: number, why = '') =>
  check((v): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min, `an integer >= ${min}${why}`);

const port = check(isPort, 'a port number (0 to 65535)');
const ports = (dflt: number[]) => z.array(port).default(() => [...dflt]);
const domain = check(isDomain, 'a domain name such as "example.com"').transform((d) => d.toLowerCase());
const moduleName = check(isModuleName, 'a module name (letters, digits, "_" and "-")');
const interfaces = (dflt: string[]) =>
  z.array(check(isInterface, 'an interface address: "*", an IP address or a host name'))
    .refine((a) => a.length > 0, { message: 'expected at least one interface (to disable a listener, set its ports = [])' })
    .default(() => [...dflt]);
const strings = (item: z.ZodType<string> = z.string()) => z.array(item).default(() => []);

/** Transforms a unit-bearing value with `parse`, turning its Error into an issue. */
function unitValue(parse: (v: string | number) => number, expected: string, min: number) {
  return z.unknown().transform((v, ctx) => {
    if (typeof v !== 'string' && typeof v !== 'number') {
      ctx.addIssue({ code: 'custom', message: `expected ${expected}` });
      return z.NEVER;
    }
    try {
      const n = parse(v);
      if (n < min) throw new Error(`must be at least ${min}`);
      return n;
    } catch (err) {
      // The units parser's message already quotes the value, so no "got …" is appended.
      ctx.addIssue({ code: 'custom', message: `expected ${expected}: ${(err as Error).message}`, params: { complete: true } });
      return z.NEVER;
    }
  });
}
const duration = (dflt: string) => unitValue(parseDuration, 'a duration ("30s", "5 minutes", or a number of seconds)', 1).prefault(dflt);
const size = (dflt: string) => unitValue(parseSize, 'a size ("256 KiB", "1 MiB", or a number of bytes)', 1).prefault(dflt);

/** A [table] whose keys all have defaults, so a missing table means "all defaults". */
const table = <S extends z.ZodRawShape>(shape: S) => {
  const schema = z.strictObject(shape);
  // The cast is sound because every key given to table() has a default; the compiler
  // cannot see that through the generic shape.
  return schema.prefault({} as z.input<typeof schema>);
};

const listener = (ifaces: string[], portList: number[]) => ({ interfaces: interfaces(ifaces), ports: ports(portList) });

const virtualHostSchema = z.strictObject({
  domain,
  certificate: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  allow_registration: z.boolean().default(false),
  modules_enabled: strings(moduleName),
  modules_disabled: strings(moduleName),
});

const componentSchema = z.strictObject({
  domain,
  secret: z.string().min(1).optional(),
  module: moduleName.optional(),
});

const configSchema = z.strictObject({
  data_dir: z.string().min(1).default('./data'),
  log_level: z.enum(LOG_LEVELS).default('info'),
  log_format: z.enum(['json', 'text']).default('text'),
  admins: strings(check(isBareJid, 'a bare JID such as "admin@example.com"')),
  modules_enabled: z.array(moduleName).default(() => [...DEFAULT_MODULES_ENABLED]),
  storage: storageConfigSchema(),
  auth: table({
    scram_iterations: intAtLeast(4096, ' (the minimum RFC 7677 recommends)').default(4096),
    scram_hashes: z.array(z.enum(['SHA-1', 'SHA-256']))
      .refine((a) => a.length > 0, { message: 'expected at least one hash, "SHA-1" and/or "SHA-256"' })
      .default((): ScramHash[] => ['SHA-1', 'SHA-256']),
  }),
  limits: table({
    max_stanza_size: size('256 KiB'),
    max_depth: intAtLeast(1).default(64),
    max_attributes: intAtLeast(1).default(64),
    max_name_length: intAtLeast(1).default(256),
    max_send_buffer: size('1 MiB'),
  }),
  c2s: table({
    ...listener(['*'], [5222]),
    direct_tls_ports: ports([5223]),
    require_encryption: z.boolean().default(true),
    auth_timeout: duration('60s'),
    max_unauthed_per_ip: intAtLeast(1).default(100),
  }),
  s2s: table({
    ...listener(['*'], [5269]),
    direct_tls_ports: ports([]),
    secure_auth: z.boolean().default(false),
    insecure_domains: strings(domain),
    secure_domains: strings(domain),
    ca_file: z.string().min(1).optional(),
    idle_timeout: duration('5 minutes'),
    hosts: z.record(z.string(), check(isHostPort, 'a "host:port" address such as "xmpp.example.net:5269" or "[2001:db8::1]:5269"'))
      .default(() => ({}))
      .transform((hosts) => Object.fromEntries(Object.entries(hosts).map(([d, hp]) => [d.toLowerCase(), hp]))),
  }),
  component_listener: table(listener(['127.0.0.1'], [5347])),
  http: table({
    ...listener(['*'], [5280]),
    tls_ports: ports([5281]),
    cors_origins: strings(check(isOrigin, 'an origin such as "https://chat.example.com" (no path), or "*"')),
    trusted_proxies: strings(check(isIpOrCidr, 'an IP address or CIDR range such as "10.0.0.0/8"')),
    public_url: check(isHttpUrl, 'an http(s) URL such as "https://chat.example.com" (no query)').optional(),
  }),
  virtualhost: z.array(virtualHostSchema).prefault(() => [{ domain: 'localhost' }]),
  component: z.array(componentSchema).default(() => []),
  modules: z.record(z.string(), z.record(z.string(), z.unknown())).default(() => ({})),
  cluster: table({
    workers: check((v): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_CLUSTER_WORKERS, `an integer from 1 to ${MAX_CLUSTER_WORKERS}`).default(1),
  }),
});

// ───────────────────────── key paths and source lines ─────────────────────────

type Segment = string | number;

/** A key path in TOML form: `virtualhost[1].domain`, `s2s.hosts."example.com"`. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const name = String(seg);
      const bare = /^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name);
      out += out === '' ? bare : `.${bare}`;
    }
  }
  return out;
}

/**
 * Finds the line of every key, table header and array element in TOML source text.
 * It assumes the text already parsed (so it is well-formed) and only tracks structure:
 * table headers (with array tables counted by index), dotted and quoted keys, inline
 * tables and arrays, skipping strings and comments.
 */
class KeyLineScanner {
  readonly lines = new Map<string, number>();
  private pos = 0;
  private line = 1;
  /** For each array table path, the index of its latest element. */
  private readonly arrayTables = new Map<string, number>();

  constructor(private readonly text: string) {}

  scan(): Map<string, number> {
    let current: Segment[] = [];
    while (this.skipBlank(true)) {
      const start = this.pos;
      if (this.text.startsWith('[[', this.pos)) {
        this.pos += 2;
        const keys = this.readKey();
        const parent = this.resolve(keys.slice(0, -1));
        const last = keys[keys.length - 1];
        if (last !== undefined) {
          const arrayPath = [...parent, last];
          const id = formatPath(arrayPath);
          const index = (this.arrayTables.get(id) ?? -1) + 1;
          this.arrayTables.set(id, index);
          current = [...arrayPath, index];
          this.record(current);
        }
      } else if (this.peek() === '[') {
        this.pos += 1;
        current = this.resolve(this.readKey());
        this.record(current);
      } else {
        this.keyValue(current);
      }
      this.skipRestOfLine();
      if (this.pos === start) this.advance(); // never stall on unexpected input
    }
    return this.lines;
  }

  /** Adds the current index of every array table along a header's path. */
  private resolve(keys: string[]): Segment[] {
    const out: Segment[] = [];
    for (const key of keys) {
      out.push(key);
      const index = this.arrayTables.get(formatPath(out));
      if (index !== undefined) out.push(index);
    }
    return out;
  }

  /** Records the line of a path and of its prefixes not seen yet (first definition wins). */
  private record(path: Segment[]): void {
    for (let i = 1; i <= path.length; i++) {
      const id = formatPath(path.slice(0, i));
      if (!this.lines.has(id)) this.lines.set(id, this.line);
    }
  }

  private keyValue(table: Segment[]): void {
    const keys = this.readKey();
    if (keys.length === 0) return;
    this.skipBlank(false);
    if (this.peek() !== '=') return;
    this.pos += 1;
    this.skipBlank(false);
    const path = [...table, ...keys];
    this.record(path);
    this.value(path);
  }

  private value(path: Segment[]): void {
    const c = this.peek();
    if (this.text.startsWith('"""', this.pos)) this.skipString('"""', true);
    else if (this.text.startsWith("'''", this.pos)) this.skipString("'''", false);
    else if (c === '"') this.skipString('"', true);
    else if (c === "'") this.skipString("'", false);
    else if (c === '[') this.arrayValue(path);
    else if (c === '{') this.inlineTable(path);
    else while (this.pos < this.text.length && !',]}\r\n#'.includes(this.text[this.pos] ?? '')) this.pos += 1;
  }

  private arrayValue(path: Segment[]): void {
    this.pos += 1;
    for (let index = 0; this.skipBlank(true); index++) {
      if (this.peek() === ']') break;
      const start = this.pos;
      this.record([...path, index]);
      this.value([...path, index]);
      this.skipBlank(true);
      if (this.peek() === ',') this.pos += 1;
      else if (this.pos === start) break;
    }
    if (this.peek() === ']') this.pos += 1;
  }

  private inlineTable(path: Segment[]): void {
    this.pos += 1;
    while (this.skipBlank(true) && this.peek() !== '}') {
      const start = this.pos;
      this.keyValue(path);
      this.skipBlank(true);
      if (this.peek() === ',') this.pos += 1;
      else if (this.pos === start) break;
    }
    if (this.peek() === '}') this.pos += 1;
  }

  /** Reads a possibly dotted, possibly quoted key; stops before `=` or `]`. */
  private readKey(): string[] {
    const keys: string[] = [];
    for (;;) {
      this.skipBlank(false);
      const c = this.peek();
      let key: string | undefined;
      if (c === '"') {
        const start = this.pos;
        this.skipString('"', true);
        const literal = this.text.slice(start, this.pos);
        try {
          key = JSON.parse(literal) as string;
        } catch {
          key = literal.slice(1, -1); // a TOML-only escape such as \e; close enough for lookups
        }
      } else if (c === "'") {
        const start = this.pos;
        this.skipString("'", false);
        key = this.text.slice(start + 1, this.pos - 1);
      } else {
        const m = /[A-Za-z0-9_-]+/y;
        m.lastIndex = this.pos;
        const found = m.exec(this.text);
        if (found) {
          key = found[0];
          this.pos += key.length;
        }
      }
      if (key === undefined) break;
      keys.push(key);
      this.skipBlank(false);
      if (this.peek() !== '.') break;
      this.pos += 1;
    }
    return keys;
  }

  private skipString(quote: string, escapes: boolean): void {
    this.pos += quote.length;
    while (this.pos < this.text.length) {
      if (escapes && this.peek() === '\\') {
        this.advance();
        this.advance();
      } else if (this.text.startsWith(quote, this.pos)) {
        this.pos += quote.length;
        // A multi-line string may end with up to two extra quotes: """a"""".
        if (quote.length === 3) for (let i = 0; i < 2 && this.peek() === quote[0]; i++) this.pos += 1;
        return;
      } else this.advance();
    }
  }

  /** Skips spaces and comments (and newlines if asked); returns false at end of text. */
  private skipBlank(newlines: boolean): boolean {
    while (this.pos < this.text.length) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || (newlines && (c === '\n' || c === '\r'))) this.advance();
      else if (c === '#' && newlines) this.skipRestOfLine();
      else return true; // a value, a key, or a comment that ends the current line
    }
    return false;
  }

  private skipRestOfLine(): void {
    while (this.pos < this.text.length && this.peek() !== '\n') this.pos += 1;
  }

  private peek(): string | undefined {
    return this.text[this.pos];
  }

  private advance(): void {
    if (this.text[this.pos] === '\n') this.line += 1;
    this.pos += 1;
  }
}

/** The line of a path, or of its nearest ancestor that appears in the file. */
function lineOf(lines: Map<string, number>, path: readonly PropertyKey[]): number | undefined {
  for (let n = path.length; n > 0; n--) {
    const line = lines.get(formatPath(path.slice(0, n)));
    if (line !== undefined) return line;
  }
  return undefined;
}

// ───────────────────────────── issue messages ─────────────────────────────

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

/** Edit distance counting a swap of two neighbours as one edit ("prots" → "ports"). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
  const at = (i: number, j: number) => d[i]?.[j] ?? Infinity;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      row[j] = best;
    }
  }
  return at(a.length, b.length);
}

/** The closest known name, if it is close enough to be a plausible typo. */
function closest(name: string, known: readonly string[]): string | undefined {
  const wanted = name.toLowerCase().replaceAll('-', '_');
  let best: { name: string; distance: number } | undefined;
  for (const k of known) {
    const candidate = k.toLowerCase();
    // "warning" for "warn", "registration" for "allow_registration": one contains the other.
    const contained = Math.min(wanted.length, candidate.length) >= 3 && (wanted.includes(candidate) || candidate.includes(wanted));
    const distance = contained ? 1 : editDistance(wanted, candidate);
    if (!best || distance < best.distance) best = { name: k, distance };
  }
  const allowed = Math.max(1, Math.floor(name.length / 3));
  return best && best.distance <= allowed ? best.name : undefined;
}

/** Follows a path through the schema, looking through defaults, optionals and transforms. */
function schemaAt(path: readonly PropertyKey[]): z.ZodType | undefined {
  let s: z.ZodType | undefined = configSchema;
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

interface RawIssue {
  path: PropertyKey[];
  message: string;
}

function unknownKeyIssue(objectPath: PropertyKey[], key: string): RawIssue {
  const shape = schemaAt(objectPath);
  const known = shape instanceof z.ZodObject ? Object.keys(shape.shape as object) : [];
  const suggestion = closest(key, known);
  const hint = suggestion !== undefined
    ? `did you mean \`${suggestion}\`?`
    : known.length > 0 ? `known keys here: ${known.join(', ')}` : '';
  return { path: [...objectPath, key], message: `unknown key${hint ? `; ${hint}` : ''}` };
}

/** Turns zod's issues into messages that say what was expected and what was found. */
function describeZodIssues(issues: readonly z.core.$ZodIssue[], raw: unknown): RawIssue[] {
  const out: RawIssue[] = [];
  for (const issue of issues) {
    const path = issue.path as PropertyKey[];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push(unknownKeyIssue(path, key));
      continue;
    }
    const { found, value } = valueAt(raw, path);
    let expected: string;
    switch (issue.code) {
      case 'invalid_type': {
        expected = `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}`;
        const target = schemaAt(path);
        if (issue.expected === 'array' && target instanceof z.ZodArray && schemaAt([...path, 0]) instanceof z.ZodObject) {
          const name = formatPath(path);
          expected = `expected an array of tables (write [[${name}]] with double brackets for each entry)`;
        }
        break;
      }
      case 'invalid_value': {
        const options = issue.values.map((v) => JSON.stringify(v));
        const suggestion = typeof value === 'string' ? closest(value, issue.values.map(String)) : undefined;
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

// ───────────────────────────── cross-field checks ─────────────────────────────

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)
    ? (v as Record<string, unknown>) : undefined;
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/**
 * Checks that span several keys. They run on the raw table, independently of the
 * schema, so that all problems are reported in one go; values of the wrong type are
 * left to the schema's messages.
 */
function crossFieldIssues(raw: Record<string, unknown>, lines: Map<string, number>): RawIssue[] {
  const out: RawIssue[] = [];
  const where = (path: PropertyKey[]) => {
    const line = lineOf(lines, path);
    return line !== undefined ? `${formatPath(path)}, line ${line}` : formatPath(path);
  };

  const hostDomains = new Map<string, PropertyKey[]>();
  asArray(raw['virtualhost']).forEach((entry, i) => {
    const host = asRecord(entry);
    if (!host) return;
    const path = ['virtualhost', i];
    if (isDomain(host['domain'])) {
      const d = host['domain'].toLowerCase();
      const first = hostDomains.get(d);
      if (first) out.push({ path: [...path, 'domain'], message: `duplicate virtualhost domain "${d}" (already defined at ${where(first)})` });
      else hostDomains.set(d, [...path, 'domain']);
    }
    const hasCert = host['certificate'] !== undefined;
    const hasKey = host['key'] !== undefined;
    if (hasCert && !hasKey) out.push({ path: [...path, 'certificate'], message: 'certificate is set but key is not; set both (or neither, to use the default TLS setup)' });
    if (hasKey && !hasCert) out.push({ path: [...path, 'key'], message: 'key is set but certificate is not; set both (or neither, to use the default TLS setup)' });
  });

  const componentDomains = new Map<string, PropertyKey[]>();
  asArray(raw['component']).forEach((entry, i) => {
    const component = asRecord(entry);
    if (!component) return;
    const path = ['component', i];
    if (isDomain(component['domain'])) {
      const d = component['domain'].toLowerCase();
      const host = hostDomains.get(d);
      const first = componentDomains.get(d);
      if (host) out.push({ path: [...path, 'domain'], message: `component domain "${d}" is also a virtualhost (${where(host)}); a domain is either a host or a component` });
      else if (first) out.push({ path: [...path, 'domain'], message: `duplicate component domain "${d}" (already defined at ${where(first)})` });
      else componentDomains.set(d, [...path, 'domain']);
    }
    const hasSecret = component['secret'] !== undefined;
    const hasModule = component['module'] !== undefined;
    if (hasSecret === hasModule) {
      out.push({
        path,
        message: hasSecret
          ? 'set either secret (an external XEP-0114 component) or module (an internal component), not both'
          : 'set secret (for an external XEP-0114 component) or module (for an internal component such as "muc")',
      });
    }
  });

  const s2s = asRecord(raw['s2s']);
  if (s2s) {
    const secure = new Set(asArray(s2s['secure_domains']).filter(isDomain).map((d) => d.toLowerCase()));
    asArray(s2s['insecure_domains']).forEach((d, i) => {
      if (isDomain(d) && secure.has(d.toLowerCase())) {
        out.push({ path: ['s2s', 'insecure_domains', i], message: `"${d}" is listed in both s2s.secure_domains and s2s.insecure_domains` });
      }
    });
    const hosts = asRecord(s2s['hosts']);
    for (const d of Object.keys(hosts ?? {})) {
      if (!isDomain(d)) out.push({ path: ['s2s', 'hosts', d], message: `expected a domain name as the key, got ${JSON.stringify(d)}` });
    }
  }

  return out;
}

/**
 * Two listeners on the same port and overlapping interfaces cannot both bind. Values
 * missing from the file (or invalid, which the schema reports) count as their
 * defaults, so that a clash with a default port is found too.
 */
function portConflicts(raw: Record<string, unknown>, lines: Map<string, number>): RawIssue[] {
  const lists: Array<[section: keyof CantoConfig, key: string]> = [
    ['c2s', 'ports'], ['c2s', 'direct_tls_ports'], ['s2s', 'ports'], ['s2s', 'direct_tls_ports'],
    ['component_listener', 'ports'], ['http', 'ports'], ['http', 'tls_ports'],
  ];
  const defaults = defaultListeners();
  const inFile = (path: PropertyKey[]) => lines.has(formatPath(path));
  const out: RawIssue[] = [];
  const seen: Array<{ port: number; interfaces: unknown[]; path: PropertyKey[] }> = [];
  for (const [section, key] of lists) {
    const table = asRecord(raw[section]);
    const fallback = asRecord(defaults[section]) ?? {};
    const pick = (k: string, valid: (v: unknown) => boolean) => {
      const given = table?.[k];
      return Array.isArray(given) && given.length > 0 && given.every(valid) ? given : asArray(fallback[k]);
    };
    const ifaces = pick('interfaces', isInterface);
    const portList = table?.[key] !== undefined ? asArray(table[key]) : asArray(fallback[key]);
    portList.forEach((p, i) => {
      if (!isPort(p) || p === 0) return; // port 0 asks for any free port, so never clashes
      const path = [section, key, i];
      const clash = seen.find((s) => s.port === p &&
        (s.interfaces.includes('*') || ifaces.includes('*') || s.interfaces.some((x) => ifaces.includes(x))));
      if (!clash) {
        seen.push({ port: p, interfaces: ifaces, path });
        return;
      }
      // Report it where the user wrote a port: one of the two may be a default.
      const [at, other] = inFile(path) || !inFile(clash.path) ? [path, clash.path] : [clash.path, path];
      const otherText = inFile(other) ? `${formatPath(other)} (line ${lineOf(lines, other)})` : `${formatPath(other)} (by default)`;
      out.push({ path: at, message: `port ${p} is also used by ${otherText}; set a different port or interfaces` });
    });
  }
  return out;
}

let cachedDefaults: CantoConfig | undefined;
/** The schema's defaults, before paths are resolved (only listener values are read). */
function defaultListeners(): CantoConfig {
  cachedDefaults ??= configSchema.parse({});
  return cachedDefaults;
}

// ───────────────────────────── entry points ─────────────────────────────

/** "canto.toml, line 5" (or "line 5", or "canto.toml"): spelled out for operators. */
function location(file: string | undefined, line: number | undefined, column?: number): string {
  const parts = [file, line !== undefined ? `line ${line}` : undefined, column !== undefined ? `column ${column}` : undefined];
  return parts.filter((p) => p !== undefined).join(', ');
}

function formatIssue(issue: ConfigIssue, file: string | undefined): string {
  return [location(file, issue.line), issue.key, issue.message].filter((s) => s !== undefined && s !== '').join(': ');
}


function errorFor(issues: ConfigIssue[], file: string | undefined): ConfigError {
  const first = issues[0];
  const message = issues.length === 1 && first
    ? formatIssue(first, file)
    : `${issues.length} problems in ${file ?? 'the configuration'}:\n${issues.map((i) => `  ${formatIssue(i, file)}`).join('\n')}`;
  return new ConfigError(message, { file, line: first?.line, key: first?.key, issues });
}

function parseTomlText(text: string, file: string | undefined): Record<string, unknown> {
  try {
    return parseToml(text, { unsafeKeyBehaviour: 'throw' });
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const reason = err.message.split('\n')[0]?.replace(/^Invalid TOML document: /, '') ?? 'syntax error';
    throw new ConfigError(`${location(file, err.line, err.column)}: TOML syntax error: ${reason}\n${err.codeblock}`, {
      file, line: err.line, column: err.column,
      issues: [{ line: err.line, message: `TOML syntax error: ${reason} (column ${err.column})` }],
    });
  }
}

function resolvePaths(config: CantoConfig, baseDir: string): CantoConfig {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  config.data_dir = abs(config.data_dir);
  if (config.s2s.ca_file !== undefined) config.s2s.ca_file = abs(config.s2s.ca_file);
  for (const host of config.virtualhost) {
    if (host.certificate !== undefined) host.certificate = abs(host.certificate);
    if (host.key !== undefined) host.key = abs(host.key);
  }
  return config;
}

/**
 * Parses and validates TOML text. `file` names the source in messages and anchors
 * relative paths (its directory; the cwd when absent). Throws ConfigError listing
 * every problem with its key and line.
 */
export function parseConfig(text: string, file?: string): CantoConfig {
  const raw = parseTomlText(text, file);
  const lines = new KeyLineScanner(text).scan();
  const result = configSchema.safeParse(raw);
  const problems = [
    ...(result.success ? [] : describeZodIssues(result.error.issues, raw)),
    ...crossFieldIssues(raw, lines),
    ...portConflicts(raw, lines),
  ];
  if (problems.length > 0 || !result.success) {
    const issues = problems
      .map((p): ConfigIssue => ({ key: p.path.length > 0 ? formatPath(p.path) : undefined, line: lineOf(lines, p.path), message: p.message }))
      .sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
    throw errorFor(issues, file);
  }
  const config: CantoConfig = result.data;
  return resolvePaths(config, file !== undefined ? dirname(resolve(file)) : process.cwd());
}

/** The configuration used when there is no file: serves 'localhost', data in ./data (absolute). */
export function defaultConfig(): CantoConfig {
  return parseConfig('');
}

/**
 * Loads a config file. With a path, the file must exist. Without one, './canto.toml'
 * is used if present, else the defaults (and `file` is undefined). `file` is absolute.
 */
export function loadConfig(path?: string): { config: CantoConfig; file: string | undefined } {
  const candidate = path ?? 'canto.toml';
  const file = resolve(candidate);
  if (!existsSync(file)) {
    if (path === undefined) return { config: defaultConfig(), file: undefined };
    throw new ConfigError(`config file not found: ${file}`, { file });
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`, { file });
  }
  return { config: parseConfig(text, candidate), file };
}
