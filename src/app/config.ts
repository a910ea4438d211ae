/**
 * The configuration with the built-in modules' tables: what the CLI, start-up, the test kit,
 * benchmarks and tests load configs with. The core parser (src/core/config.ts) cannot know the
 * listener tables, since the core never imports a module; this passes them in.
 */
import {
  defaultConfig as coreDefaultConfig, loadConfig as coreLoadConfig, parseConfig as coreParseConfig, type CantoConfig,
} from '../core/config.js';
import { builtinConfigTables } from '../modules/index.js';

export {
  ConfigError, DEFAULT_MODULES_ENABLED, LOG_LEVELS, MAX_CLUSTER_WORKERS,
  type CantoConfig, type ConfigIssue, type ConfigSource, type LogLevel,
} from '../core/config.js';

/**
 * Parses and validates TOML text. `file` names the source in messages and anchors relative
 * paths (its directory; the cwd when absent). Throws ConfigError listing every problem with its
 * key and line.
 */
export function parseConfig(text: string, file?: string): CantoConfig {
  return coreParseConfig(text, file, builtinConfigTables);
}

/**
 * The configuration used when there is no file: serves 'localhost', data in ./data (absolute),
 * with the internal components a client expects out of the box: chat rooms (XEP-0045) at
 * `conference.localhost` and file upload (XEP-0363) at `upload.localhost`. A config file names
 * its own components.
 */
export function defaultConfig(): CantoConfig {
  const config = coreDefaultConfig(builtinConfigTables);
  config.component.push(...BUILTIN_DEFAULT_COMPONENTS.map((c) => ({ ...c })));
  return config;
}

/** The `[[component]]` tables of the built-in default configuration. */
export const BUILTIN_DEFAULT_COMPONENTS: ReadonlyArray<{ domain: string; module: string }> = [
  { domain: 'conference.localhost', module: 'muc' },
  { domain: 'upload.localhost', module: 'upload' },
];

/**
 * Loads a config file. With a path, the file must exist. Without one, './canto.toml' is used
 * if present, else the defaults (and `file` is undefined). `file` is absolute.
 */
export function loadConfig(path?: string): { config: CantoConfig; file: string | undefined } {
  const loaded = coreLoadConfig(path, builtinConfigTables);
  return loaded.file === undefined ? { config: defaultConfig(), file: undefined } : loaded;
}
