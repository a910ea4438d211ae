/**
 * The storage drivers `[storage] driver` can name, and how each is opened.
 *
 * A driver is an entry in STORAGE_DRIVERS: a zod shape for its own keys in the `[storage]`
 * table (beside `driver`), whether what it stores outlives the process, and `open`. Config
 * validation (src/core/config.ts) checks the name and the options against this table, so every
 * mistake is reported with its key and line; `openStorage` opens the configured driver.
 * Drivers are imported only when opened, so a network driver's client library costs nothing
 * to a server that does not use it.
 */
import { z } from 'zod';
import type { CantoConfig } from '../core/config.js';
import type { Logger } from '../core/logging.js';
import { duration } from '../core/option-schemas.js';
import type { StorageDriver } from './types.js';

/** What `open` is given: the whole config (for `data_dir`), the driver's validated options, a logger. */
export interface StorageOpenContext<Options> {
  config: CantoConfig;
  options: Options;
  log: Logger;
}

export interface StorageDriverEntry {
  readonly description: string;
  /**
   * Data outlives the process and is shared by every process that opens the same config
   * (cluster workers, the account commands). Only the memory driver is not.
   */
  readonly persistent: boolean;
  /** The driver's own `[storage]` keys: unknown keys are refused, defaults applied. */
  readonly options: z.ZodObject;
  open(config: CantoConfig, log: Logger): Promise<StorageDriver>;
  /**
   * For `canto check`: reach the driver's server without changing anything and say how it is
   * (resolves to a line to print; rejects with the reason). Only network drivers have one.
   */
  readonly probe?: (config: CantoConfig) => Promise<string>;
}

/**
 * Declares a driver. `options` is a zod shape for its keys (omitted: it takes none); `open`
 * receives them parsed, with their types.
 */
export function defineStorageDriver<Shape extends z.ZodRawShape = Record<never, never>>(def: {
  description: string;
  persistent: boolean;
  options?: Shape;
  open(ctx: StorageOpenContext<z.output<z.ZodObject<Shape, z.core.$strict>>>): StorageDriver | Promise<StorageDriver>;
  probe?(options: z.output<z.ZodObject<Shape, z.core.$strict>>): Promise<string>;
}): StorageDriverEntry {
  // The cast only restores the default for a driver without options: an empty shape.
  const options = z.strictObject(def.options ?? ({} as Shape));
  const parse = (config: CantoConfig) => {
    const { driver, ...given } = config.storage;
    const parsed = options.safeParse(given);
    // parseConfig has already reported these with lines; this catches hand-built configs.
    if (!parsed.success) throw new Error(`[storage] options for driver "${driver}": ${z.prettifyError(parsed.error)}`);
    return parsed.data;
  };
  const probe = def.probe;
  return {
    description: def.description,
    persistent: def.persistent,
    options,
    async open(config, log) {
      return def.open({ config, options: parse(config), log });
    },
    ...(probe && { probe: (config: CantoConfig) => probe(parse(config)) }),
  };
}

export const STORAGE_DRIVERS = {
  sqlite: defineStorageDriver({
    description: 'one SQLite file in data_dir (the default)',
    persistent: true,
    async open({ config }) {
      const { openSqliteStorage } = await import('./sqlite.js');
      return openSqliteStorage({ dataDir: config.data_dir });
    },
  }),
  postgres: defineStorageDriver({
    description: 'PostgreSQL; shared by every process and machine (docs/storage.md)',
    persistent: true,
    options: {
      url: z
        .string()
        .refine((u) => /^postgres(ql)?:\/\//.test(u), { message: 'expected a URL such as "postgres://canto:secret@db.example:5432/canto"' }),
      pool_size: z.number().int().min(1).max(1000).default(10),
      connect_timeout: duration('5s', { min: 1 }),
    },
    async open({ options, log }) {
      const { openPostgresStorage } = await import('./postgres.js'); // pg is loaded only when chosen
      return openPostgresStorage(options, log);
    },
    async probe(options) {
      const { probePostgres } = await import('./postgres.js');
      return probePostgres(options);
    },
  }),
  memory: defineStorageDriver({
    description: 'in memory, for tests: nothing is kept',
    persistent: false,
    async open({ log }) {
      log.warn('storage driver "memory": nothing is kept; every account and all data are lost when the server stops');
      const { openMemoryStorage } = await import('./memory.js');
      return openMemoryStorage();
    },
  }),
} satisfies Record<string, StorageDriverEntry>;

export type StorageDriverName = keyof typeof STORAGE_DRIVERS;

/** `[storage]` as parsed: the driver's name, and its own options as written (checked, not yet defaulted). */
export interface StorageConfig {
  driver: StorageDriverName;
  [option: string]: unknown;
}

/**
 * The `[storage]` table's schema. An unknown driver is reported by the enum as
 * `expected one of "sqlite", "postgres", "memory", got …`; the other keys are checked against the named
 * driver's options, so their issues carry their own keys.
 */
export function storageConfigSchema() {
  return storageTableSchema(STORAGE_DRIVERS, 'sqlite');
}

/** The same for any table of drivers (tests exercise driver options with it). */
export function storageTableSchema<Name extends string>(drivers: Record<Name, StorageDriverEntry>, fallback: NoInfer<Name>) {
  // Object.keys loses the key type; the keys are exactly the names.
  const names = Object.keys(drivers) as [Name, ...Name[]];
  return z
    .looseObject({ driver: z.enum(names).default(fallback) })
    .superRefine((table, ctx) => {
      const { driver, ...given } = table;
      const entry: StorageDriverEntry = drivers[driver];
      const parsed = entry.options.safeParse(given);
      if (parsed.success) return;
      for (const issue of parsed.error.issues) {
        if (issue.code !== 'unrecognized_keys') {
          ctx.addIssue({ ...issue }); // its path is relative to [storage], as this check is
          continue;
        }
        const known = Object.keys(entry.options.shape);
        const hint = known.length > 0 ? `its keys are ${known.join(', ')}` : 'it takes no options';
        for (const key of issue.keys) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `unknown key for storage driver "${driver}"; ${hint}`,
            params: { complete: true }, // config.ts: use the message as it is
          });
        }
      }
    })
    .prefault({});
}

export function storageDriverEntry(config: CantoConfig): StorageDriverEntry {
  return STORAGE_DRIVERS[config.storage.driver];
}

/** Opens the driver `[storage] driver` names. */
export function openStorage(config: CantoConfig, log: Logger): Promise<StorageDriver> {
  return storageDriverEntry(config).open(config, log);
}
