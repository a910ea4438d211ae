// Canto's configuration: a TOML file validated into a typed, fully defaulted object.
//
// The pipeline is: TOML text → smol-toml → zod schema (types, ranges, defaults, unknown
// keys) + cross-field checks on the raw table → relative paths made absolute. Every
// problem found becomes a ConfigIssue naming the key in TOML form and the line it is
// on (toml-lines.ts), and all of them are reported together in one ConfigError
// (config-errors.ts).
//
// This file holds only the core schema. Each `[modules.NAME]` table is left as it is here
// and validated against its module's own option schema by module-config.ts, which needs
// the module registry (start-up and `canto check` run it); `source` keeps the key lines
// for its messages.

import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { storageConfigSchema, type StorageConfig } from '../storage/registry.js';
import { check, domain, duration as anyDuration, isBareJid, isDomain, size as anySize } from './option-schemas.js';
import { ConfigError, describeZodIssues, errorFor, location, withLines, type RawIssue } from './config-errors.js';
import { formatPath, lineOf, scanKeyLines, type KeyLines } from './toml-lines.js';

export { ConfigError, type ConfigIssue } from './config-errors.js';

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
  /** Where the config was read from, for messages about `[modules.NAME]` tables; absent when built in code. */
  source?: ConfigSource;
}

export interface ConfigSource {
  /** The file name as given (as in other config messages); undefined for text without a file. */
  file?: string;
  lines: KeyLines;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const satisfies readonly LogLevel[];

/** Modules enabled on every host unless the config says otherwise. */
export const DEFAULT_MODULES_ENABLED: readonly string[] = [
  'disco', 'ping', 'version', 'time', 'roster', 'presence', 'message',
  'offline', 'vcard', 'private', 'blocking', 'last', 'register', 'contact',
  'websocket', 'hostmeta', 'bosh',
];

// ───────────────────────────── value checks ─────────────────────────────

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

const intAtLeast = (min: number, why = '') =>
  check((v): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min, `an integer >= ${min}${why}`);

const port = check(isPort, 'a port number (0 to 65535)');
const ports = (dflt: number[]) => z.array(port).default(() => [...dflt]);
const moduleName = check(isModuleName, 'a module name (letters, digits, "_" and "-")');
const interfaces = (dflt: string[]) =>
  z.array(check(isInterface, 'an interface address: "*", an IP address or a host name'))
    .refine((a) => a.length > 0, { message: 'expected at least one interface (to disable a listener, set its ports = [])' })
    .default(() => [...dflt]);
const strings = (item: z.ZodType<string> = z.string()) => z.array(item).default(() => []);

// Core durations and sizes are never zero: a zero timeout or limit is always a mistake here.
const duration = (dflt: string) => anyDuration(dflt, { min: 1 });
const size = (dflt: string) => anySize(dflt, { min: 1 });

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
function crossFieldIssues(raw: Record<string, unknown>, lines: KeyLines): RawIssue[] {
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
function portConflicts(raw: Record<string, unknown>, lines: KeyLines): RawIssue[] {
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
  const lines = scanKeyLines(text);
  const result = configSchema.safeParse(raw);
  const problems = [
    ...(result.success ? [] : describeZodIssues(result.error.issues, raw, configSchema)),
    ...crossFieldIssues(raw, lines),
    ...portConflicts(raw, lines),
  ];
  if (problems.length > 0 || !result.success) {
    throw errorFor(withLines(problems, lines), file);
  }
  const config: CantoConfig = { ...result.data, source: { file, lines } };
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
