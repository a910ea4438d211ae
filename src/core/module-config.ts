/**
 * Module-owned configuration: each `[modules.NAME]` table is validated against the option
 * schema its module declares (`defineModule({ options: z.object({…}) })`). The core schema
 * (config.ts) cannot do it, since the core never imports a module: whoever holds the registry
 * (start-up in src/app/boot.ts, `canto check` and the other commands in src/cli/main.ts) calls
 * `checkModuleConfig`, so a bad option is found before anything starts, with its line.
 */
import { z } from 'zod';
import { closestName } from '../util/edit-distance.js';
import type { CantoConfig } from './config.js';
import { describeZodIssues, errorFor, formatIssue, withLines, type ConfigIssue, type RawIssue } from './config-errors.js';
import type { ModuleDefinition, ModuleRegistry } from './modules.js';

/** A module without an option schema takes no options: any key in its table is unknown. */
const NO_OPTIONS = z.strictObject({});

/** The schema to check a table with: unknown keys are errors (reported with a "did you mean"). */
function strictSchema(def: ModuleDefinition): z.ZodType<object, unknown> {
  const schema = def.options ?? NO_OPTIONS;
  return schema instanceof z.ZodObject ? schema.strict() : schema;
}

function tableOf(config: CantoConfig, name: string): unknown {
  return config.modules[name] ?? {};
}

/** Parses one module's table; issues carry full key paths (`modules.NAME.key`). */
function parseTable(def: ModuleDefinition, raw: unknown): { options: object } | { issues: RawIssue[] } {
  const schema = strictSchema(def);
  const result = schema.safeParse(raw);
  if (result.success) return { options: result.data };
  const issues = describeZodIssues(result.error.issues, raw, schema);
  const takesNone = def.options === undefined;
  return {
    issues: issues.map((i) => ({
      path: ['modules', def.name, ...i.path],
      message: takesNone ? `unknown key; module "${def.name}" takes no options` : i.message,
    })),
  };
}

export interface ModuleConfigIssues {
  /** Options a module's schema rejects, unknown keys: the config is invalid. */
  errors: ConfigIssue[];
  /**
   * Tables that name no module of this version. They are skipped, as unknown names in
   * `modules_enabled` are, so a config written for a newer version (or naming a module not
   * built in, such as `muc`) still starts; a near miss gets a "did you mean".
   */
  warnings: ConfigIssue[];
}

/** Every problem in the `[modules.*]` tables, each naming its key and line. */
export function moduleConfigIssues(config: CantoConfig, registry: ModuleRegistry): ModuleConfigIssues {
  const errors: RawIssue[] = [];
  const warnings: RawIssue[] = [];
  for (const name of Object.keys(config.modules)) {
    const def = registry.get(name);
    if (def) {
      const parsed = parseTable(def, tableOf(config, name));
      if ('issues' in parsed) errors.push(...parsed.issues);
      continue;
    }
    const hint = closestName(name, [...registry.keys()]);
    warnings.push({
      path: ['modules', name],
      message: `no module "${name}" in this version: the table is ignored${hint !== undefined ? ` (did you mean [modules.${hint}]?)` : ''}`,
    });
  }
  const lines = config.source?.lines;
  return { errors: withLines(errors, lines), warnings: withLines(warnings, lines) };
}

/**
 * Throws a ConfigError listing every invalid module option; returns the warnings (tables no
 * module reads) as lines for a log or `canto check`.
 */
export function checkModuleConfig(config: CantoConfig, registry: ModuleRegistry): string[] {
  const { errors, warnings } = moduleConfigIssues(config, registry);
  if (errors.length > 0) throw errorFor(errors, config.source?.file);
  return warnings.map((w) => formatIssue(w, config.source?.file));
}

/**
 * A module's options: its table parsed by its schema, defaults filled in. Throws a ConfigError
 * if the table is invalid (start-up has normally reported that already, for every module).
 */
export function moduleOptions<O extends object>(def: ModuleDefinition<O>, config: CantoConfig): O {
  const parsed = parseTable(def as ModuleDefinition, tableOf(config, def.name));
  if ('issues' in parsed) throw errorFor(withLines(parsed.issues, config.source?.lines), config.source?.file);
  // The schema is def.options (made strict), whose output is O.
  return parsed.options as O;
}
