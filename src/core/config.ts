// Canto's configuration: a TOML file validated into a typed, fully defaulted object.
//
// The pipeline is: TOML text → smol-toml → zod schema (types, ranges, defaults, unknown
// keys) + cross-field checks on the raw table → relative paths made absolute. Every
// problem found becomes a ConfigIssue naming the key in TOML form and the line it is
// on (toml-lines.ts), and all of them are reported together in one ConfigError
// (config-errors.ts).
//
// This file holds only the core schema. The listener tables (`[c2s]`, `[s2s]`,
// `[component_listener]`, `[http]`) belong to their modules: the caller passes them in as
// ConfigTables (config-tables.ts; src/app/config.ts passes the built-in ones) and the core
// schema is extended with them, their port lists checked for clashes and their paths resolved.
// Each `[modules.NAME]` table is left as it is here and validated against its module's own
// option schema by module-config.ts, which needs the module registry (start-up and
// `canto check` run it); `source` keeps the key lines for its messages.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { storageConfigSchema, type StorageConfig } from '../storage/registry.js';
import { check, domain, duration, intAtLeast, isBareJid, isDomain, list as strings, size as anySize } from './option-schemas.js';
import { ConfigError, describeZodIssues, errorFor, location, withLines, type RawIssue } from './config-errors.js';
import { asArray, asRecord, defaultedTable, portConflicts, type ConfigTables } from './config-tables.js';
import { formatPath, lineOf, scanKeyLines, type KeyLines } from './toml-lines.js';

export { ConfigError, type ConfigIssue } from './config-errors.js';
export type { ConfigTable, ConfigTables, ListenerConfig } from './config-tables.js';

// ───────────────────────────── public types ─────────────────────────────

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export type LogFormat = 'json' | 'text' | 'journald';
export type ScramHash = 'SHA-1' | 'SHA-256' | 'SHA-512';

export interface VirtualHostConfig {
  domain: string; // lower-cased
  certificate?: string; // absolute path
  key?: string; // absolute path
  allow_registration: boolean;
  /** Overrides `[auth] channel_binding` for this host. */
  channel_binding?: boolean;
  modules_enabled: string[]; // added to the global list for this host
  modules_disabled: string[]; // removed from the global list for this host
}

export interface ComponentConfig {
  domain: string; // lower-cased
  secret?: string; // external component (XEP-0114)
  module?: string; // internal component provided by a module (e.g. 'muc')
}

/**
 * The whole configuration. The listener tables (`c2s`, `s2s`, `component_listener`, `http`) are
 * added by their modules through declaration merging (src/modules/<name>/config.ts).
 */
export interface CantoConfig {
  data_dir: string;
  log_level: LogLevel;
  log_format: LogFormat;
  admins: string[];
  modules_enabled: string[];
  /** The driver and its own options, checked against src/storage/registry.ts. */
  storage: StorageConfig;
  /**
   * `channel_binding`: offer SCRAM-*-PLUS and advertise the binding types (XEP-0440). Off, clients
   * whose binding code is out of date (tls-unique only, on TLS 1.3) can log in; see configuration.md.
   */
  auth: { scram_iterations: number; scram_hashes: ScramHash[]; channel_binding: boolean };
  limits: {
    max_stanza_size: number; // bytes
    max_depth: number;
    max_attributes: number;
    max_name_length: number;
    max_send_buffer: number; // bytes
  };
  virtualhost: VirtualHostConfig[];
  component: ComponentConfig[];
  modules: Record<string, Record<string, unknown>>;
  /**
   * Several processes (docs/scaling.md): `redis` makes this process one node of a Redis-backed
   * cluster named `node_id`; `workers` > 1 (only with `redis`) forks that many Redis nodes on this
   * machine, named `{node_id}-1` … `{node_id}-N`.
   */
  cluster: { workers: number; redis?: string; node_id?: string; advertise_http?: string; lease: number };
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
  'websocket', 'hostmeta', 'bosh', 'carbons', 'csi', 'mam', 'smacks', 'caps', 'pep', 'avatar', 'bookmarks',
  'push', 'sasl2', 'fast',
  'external_services', // announces nothing until [modules.external_services] lists services
  'account_state', 'adhoc', 'invites',
  'metrics', // GET /metrics on the HTTP listeners, to loopback clients only unless configured
  'acme', // obtains nothing until [acme] directory is set
  'admin_api', // /admin/api/v1: nothing is reachable until `canto token create` makes a token
  'admin_console', // /admin: login only for the accounts listed in admins, from admin_api's allow_ips
  'rtbl', // checks nothing until [modules.rtbl] sources lists block lists
  'stranger', // messages from strangers on other servers become message requests (docs/abuse.md)
  'spam_reporting', // XEP-0377 reports stored for `canto reports`
  'limits', // rate limits on connections and accounts (docs/abuse.md)
];

// ───────────────────────────── value checks ─────────────────────────────

function isModuleName(v: unknown): v is string {
  return typeof v === 'string' && /^[A-Za-z0-9_-]+$/.test(v);
}

// ───────────────────────────── schema ─────────────────────────────

/** `[cluster] workers` upper bound: far more processes than cores only adds cross-node hops. */
export const MAX_CLUSTER_WORKERS = 64;

/**
 * `[cluster] lease` bounds: renewed every quarter of it, so 2 s still leaves 500 ms per round
 * trip; past 60 s a dead node's users look online, and its services stay unserved, for too long.
 */
export const MIN_CLUSTER_LEASE_MS = 2000;
export const MAX_CLUSTER_LEASE_MS = 60_000;

/** A cluster node id: it names Redis keys and the node's admin socket, so a plain token. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

function isHttpBaseUrl(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' && (u.pathname === '/' || u.pathname === '') && u.search === '' && u.hash === '';
  } catch {
    return false;
  }
}

function isRedisUrl(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  try {
    const u = new URL(v);
    return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '';
  } catch {
    return false;
  }
}

const moduleName = check(isModuleName, 'a module name (letters, digits, "_" and "-")');

// Core sizes are never zero: a zero limit is always a mistake here.
const size = (dflt: string) => anySize(dflt, { min: 1 });

/** A [table] whose keys all have defaults, so a missing table means "all defaults". */
const table = defaultedTable;

const virtualHostSchema = z.strictObject({
  domain,
  certificate: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  allow_registration: z.boolean().default(false),
  channel_binding: z.boolean().optional(),
  modules_enabled: strings(moduleName),
  modules_disabled: strings(moduleName),
});

const componentSchema = z.strictObject({
  domain,
  secret: z.string().min(1).optional(),
  module: moduleName.optional(),
});

/**
 * The core schema extended with the modules' tables. They go after `[limits]`, where the docs
 * list them (the order of keys decides which "did you mean" wins a tie).
 */
function buildSchema(tables: ConfigTables) {
  const clash = Object.keys(tables).find((name) => CORE_KEYS.includes(name));
  if (clash !== undefined) throw new Error(`config table [${clash}] is a core key; a module cannot declare it`);
  const tableShapes = Object.fromEntries(Object.entries(tables).map(([name, t]) => [name, t.schema]));
  return z.strictObject({
    ...coreBefore,
    ...tableShapes,
    ...coreAfter,
  });
}

const coreBefore = {
  data_dir: z.string().min(1).default('./data'),
  log_level: z.enum(LOG_LEVELS).default('info'),
  log_format: z.enum(['json', 'text', 'journald']).default('text'),
  admins: strings(check(isBareJid, 'a bare JID such as "admin@example.com"')),
  modules_enabled: z.array(moduleName).default(() => [...DEFAULT_MODULES_ENABLED]),
  storage: storageConfigSchema(),
  auth: table({
    scram_iterations: intAtLeast(4096, ' (the minimum RFC 7677 recommends)').default(4096),
    scram_hashes: z.array(z.enum(['SHA-1', 'SHA-256', 'SHA-512']))
      .refine((a) => a.length > 0, { message: 'expected at least one hash: "SHA-1", "SHA-256", "SHA-512"' })
      .default((): ScramHash[] => ['SHA-1', 'SHA-256']),
    channel_binding: z.boolean().default(true),
  }),
  limits: table({
    max_stanza_size: size('256 KiB'),
    max_depth: intAtLeast(1).default(64),
    max_attributes: intAtLeast(1).default(64),
    max_name_length: intAtLeast(1).default(256),
    max_send_buffer: size('1 MiB'),
  }),
};

const coreAfter = {
  virtualhost: z.array(virtualHostSchema).prefault(() => [{ domain: 'localhost' }]),
  component: z.array(componentSchema).default(() => []),
  modules: z.record(z.string(), z.record(z.string(), z.unknown())).default(() => ({})),
  cluster: table({
    workers: check((v): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_CLUSTER_WORKERS, `an integer from 1 to ${MAX_CLUSTER_WORKERS}`).default(1),
    redis: check(isRedisUrl, 'a Redis URL such as "redis://127.0.0.1:6379" (redis: or rediss:)').optional(),
    node_id: check((v): v is string => typeof v === 'string' && NODE_ID_PATTERN.test(v), 'a node id: 1 to 63 letters, digits, ".", "_" or "-", starting with a letter or digit').optional(),
    // This node's HTTP base URL other nodes forward BOSH requests to (src/modules/bosh/cluster.ts).
    advertise_http: check(isHttpBaseUrl, 'an http(s) URL other nodes reach this node\'s HTTP listener at, such as "http://10.0.0.5:5280" (no path)').optional(),
    // The node's Redis lease (ms), renewed every quarter of it (src/cluster/redis/engine.ts).
    lease: duration('6s', { min: MIN_CLUSTER_LEASE_MS, max: MAX_CLUSTER_LEASE_MS }),
  }),
};

const CORE_KEYS: readonly string[] = [...Object.keys(coreBefore), ...Object.keys(coreAfter), 'source'];

/** Built once per set of tables (the app passes the same object every time). */
const schemas = new WeakMap<ConfigTables, ReturnType<typeof buildSchema>>();
function schemaFor(tables: ConfigTables): ReturnType<typeof buildSchema> {
  let schema = schemas.get(tables);
  if (!schema) {
    schema = buildSchema(tables);
    schemas.set(tables, schema);
  }
  return schema;
}

// ───────────────────────────── cross-field checks ─────────────────────────────

/**
 * Checks that span several keys. They run on the raw table, independently of the
 * schema, so that all problems are reported in one go; values of the wrong type are
 * left to the schema's messages.
 */
function crossFieldIssues(raw: Record<string, unknown>, lines: KeyLines, tables: ConfigTables): RawIssue[] {
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

  const cluster = asRecord(raw['cluster']);
  if (cluster && typeof cluster['workers'] === 'number' && cluster['workers'] > 1 && cluster['redis'] === undefined) {
    out.push({ path: ['cluster', 'workers'], message: `workers = ${cluster['workers']} runs that many Redis cluster nodes on this machine: set [cluster] redis too, e.g. redis = "redis://127.0.0.1:6379" with a local redis-server or valkey-server running (Debian: apt install redis-server); the primary relay that needed no Redis was retired (docs/scaling.md)` });
  }
  // workers = N with redis: N local nodes named `{node_id}-{k}` (src/cluster/local-nodes.ts), which must stay valid ids.
  if (cluster && typeof cluster['node_id'] === 'string' && NODE_ID_PATTERN.test(cluster['node_id']) && typeof cluster['workers'] === 'number' && cluster['workers'] > 1) {
    const longest = `${cluster['node_id']}-${cluster['workers']}`;
    if (!NODE_ID_PATTERN.test(longest)) {
      out.push({ path: ['cluster', 'node_id'], message: `with workers = ${cluster['workers']} the local nodes are named "${cluster['node_id']}-1" … "${longest}", longer than a node id may be (63 characters): shorten node_id` });
    }
  }
  if (cluster && cluster['advertise_http'] !== undefined && cluster['redis'] === undefined) {
    out.push({ path: ['cluster', 'advertise_http'], message: 'advertise_http is for the nodes of a Redis cluster: set [cluster] redis too, or remove advertise_http' });
  }
  if (cluster && cluster['lease'] !== undefined && cluster['redis'] === undefined) {
    out.push({ path: ['cluster', 'lease'], message: 'lease is the Redis lease of a cluster node: set [cluster] redis too, or remove lease' });
  }
  if (cluster && cluster['node_id'] !== undefined && cluster['redis'] === undefined) {
    out.push({ path: ['cluster', 'node_id'], message: 'node_id names this node in a Redis cluster: set [cluster] redis too, or remove node_id' });
  }

  for (const [name, def] of Object.entries(tables)) {
    const table = asRecord(raw[name]);
    if (!table || !def.check) continue;
    for (const issue of def.check(table)) out.push({ path: [name, ...issue.path], message: issue.message });
  }

  return out;
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

function resolvePaths(config: CantoConfig, baseDir: string, tables: ConfigTables): CantoConfig {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  config.data_dir = abs(config.data_dir);
  for (const [name, def] of Object.entries(tables)) {
    const table = asRecord((config as unknown as Record<string, unknown>)[name]);
    for (const key of def.pathKeys ?? []) {
      const value = table?.[key];
      if (table && typeof value === 'string') table[key] = abs(value);
    }
  }
  for (const host of config.virtualhost) {
    if (host.certificate !== undefined) host.certificate = abs(host.certificate);
    if (host.key !== undefined) host.key = abs(host.key);
  }
  return config;
}

/**
 * Parses and validates TOML text. `file` names the source in messages and anchors
 * relative paths (its directory; the cwd when absent); `tables` are the module-owned
 * top-level tables (src/app/config.ts passes the built-in ones). Throws ConfigError
 * listing every problem with its key and line.
 */
export function parseConfig(text: string, file: string | undefined, tables: ConfigTables): CantoConfig {
  const raw = parseTomlText(text, file);
  const lines = scanKeyLines(text);
  const schema = schemaFor(tables);
  const result = schema.safeParse(raw);
  const problems = [
    ...(result.success ? [] : describeZodIssues(result.error.issues, raw, schema)),
    ...crossFieldIssues(raw, lines, tables),
    ...portConflicts(raw, lines, tables),
  ];
  if (problems.length > 0 || !result.success) {
    throw errorFor(withLines(problems, lines), file);
  }
  // The listener keys of CantoConfig are declared by the modules whose tables are passed in
  // here; the compiler cannot connect the two, so the parsed object is cast.
  const config = { ...result.data, source: { file, lines } } as unknown as CantoConfig;
  return resolvePaths(config, file !== undefined ? dirname(resolve(file)) : process.cwd(), tables);
}

/** The configuration used when there is no file: serves 'localhost', data in ./data (absolute). */
export function defaultConfig(tables: ConfigTables): CantoConfig {
  return parseConfig('', undefined, tables);
}

/**
 * Loads a config file. With a path, the file must exist. Without one, './canto.toml'
 * is used if present, else the defaults (and `file` is undefined). `file` is absolute.
 */
export function loadConfig(path: string | undefined, tables: ConfigTables): { config: CantoConfig; file: string | undefined } {
  const candidate = path ?? 'canto.toml';
  const file = resolve(candidate);
  if (!existsSync(file)) {
    if (path === undefined) return { config: defaultConfig(tables), file: undefined };
    throw new ConfigError(`config file not found: ${file}`, { file });
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`, { file });
  }
  return { config: parseConfig(text, candidate, tables), file };
}
