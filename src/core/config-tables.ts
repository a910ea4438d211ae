/**
 * Top-level config tables owned by modules: the listener tables `[c2s]`, `[s2s]`,
 * `[component_listener]` and `[http]`. Each module declares its table (schema, port keys, path
 * keys, cross-field checks) in its own folder; src/modules/index.ts lists them and src/app/config.ts
 * hands them to the core parser (config.ts), which never imports a module. The module adds the
 * table's type to `CantoConfig` by declaration merging:
 *
 *   declare module '../../core/config.js' { interface CantoConfig { c2s: C2SConfig } }
 *
 * Also here: the pieces every listener table shares (interfaces, ports) and the check that two
 * listeners do not use the same port on overlapping interfaces.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { RawIssue } from './config-errors.js';
import { check } from './option-schemas.js';
import { formatPath, lineOf, type KeyLines } from './toml-lines.js';

/** One top-level table a module owns. */
export interface ConfigTable {
  /**
   * The table's schema. It must accept `undefined` (the table left out: every key takes its
   * default), as `defaultedTable()` does.
   */
  schema: z.ZodType<object, unknown>;
  /**
   * Keys holding lists of ports this table listens on, checked against every other table's for
   * clashes. Such a table has an `interfaces` key too (`listener()` gives both).
   */
  portKeys?: readonly string[];
  /** Keys holding a file path, made absolute against the config file's folder. */
  pathKeys?: readonly string[];
  /**
   * Checks across keys, on the raw table (run even when the schema rejects it, so that every
   * problem is reported at once; values of the wrong type are left to the schema). Paths are
   * relative to the table.
   */
  check?: (raw: Record<string, unknown>) => RawIssue[];
}

/** Tables by name, in the order their port clashes are looked for. */
export type ConfigTables = Readonly<Record<string, ConfigTable>>;

/** What every listener table has. */
export interface ListenerConfig {
  /** Addresses to listen on; `'*'` means all (IPv4 and IPv6). */
  interfaces: string[];
  /** Ports to listen on; `[]` disables the listener, `0` picks a free port. */
  ports: number[];
}

// ───────────────────────────── value checks ─────────────────────────────

export function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535;
}

export function isInterface(v: unknown): v is string {
  return typeof v === 'string' && (v === '*' || isIP(v) !== 0 || /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(v));
}

export function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)
    ? (v as Record<string, unknown>) : undefined;
}

export function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

// ───────────────────────────── schema pieces ─────────────────────────────

const port = check(isPort, 'a port number (0 to 65535)');

/** A list of ports, `dflt` when left out. */
export const ports = (dflt: number[]) => z.array(port).default(() => [...dflt]);

const interfaces = (dflt: string[]) =>
  z.array(check(isInterface, 'an interface address: "*", an IP address or a host name'))
    .refine((a) => a.length > 0, { message: 'expected at least one interface (to disable a listener, set its ports = [])' })
    .default(() => [...dflt]);

/** `interfaces` and `ports` with their defaults, to spread into a listener table's shape. */
export const listener = (ifaces: string[], portList: number[]) => ({ interfaces: interfaces(ifaces), ports: ports(portList) });

/**
 * A [table] whose keys all have defaults, so a missing table means "all defaults"; unknown keys
 * are errors (with a "did you mean").
 */
export const defaultedTable = <S extends z.ZodRawShape>(shape: S) => {
  const schema = z.strictObject(shape);
  // The cast is sound because every key given to defaultedTable() has a default; the compiler
  // cannot see that through the generic shape.
  return schema.prefault({} as z.input<typeof schema>);
};

// ───────────────────────────── port clashes ─────────────────────────────

const defaultsCache = new WeakMap<ConfigTable, Record<string, unknown>>();
function defaultsOf(table: ConfigTable): Record<string, unknown> {
  let defaults = defaultsCache.get(table);
  if (!defaults) {
    defaults = asRecord(table.schema.parse(undefined)) ?? {};
    defaultsCache.set(table, defaults);
  }
  return defaults;
}

/**
 * Two listeners on the same port and overlapping interfaces cannot both bind. Values
 * missing from the file (or invalid, which the schema reports) count as their
 * defaults, so that a clash with a default port is found too.
 */
export function portConflicts(raw: Record<string, unknown>, lines: KeyLines, tables: ConfigTables): RawIssue[] {
  const inFile = (path: PropertyKey[]) => lines.has(formatPath(path));
  const out: RawIssue[] = [];
  const seen: Array<{ port: number; interfaces: unknown[]; path: PropertyKey[] }> = [];
  for (const [section, def] of Object.entries(tables)) {
    const table = asRecord(raw[section]);
    for (const key of def.portKeys ?? []) {
      const fallback = defaultsOf(def);
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
  }
  return out;
}
