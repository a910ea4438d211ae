/**
 * Live reconfiguration (`canto reload`, SIGHUP): what a new configuration changes, compared with
 * the one in force. Pure planning; Server.reconfigure applies the plan and the app layer
 * (src/app/reload.ts) reads the file, checks certificates and reports.
 *
 * What changes live: `log_level`, `admins`, `modules_enabled` and `[modules.NAME]` options of host
 * modules (a module whose options changed is unloaded and loaded again, with the loaded modules
 * that depend on it), virtual hosts added or removed and their settings, and the options of
 * loaded global modules: handed to the module's `onReconfigure` hook when it has one, else the
 * module is unloaded and loaded again when nothing else holds it (`globalReloadBlocker`); and
 * the addresses of the client listeners (`REBINDABLE`: the c2s module rebinds them).
 * Everything else (the other listener tables and keys, `data_dir`, `[storage]`, `[cluster]`, `[[component]]`,
 * `[auth]`, `[limits]`, `log_format`, which global modules are loaded, and options of global
 * modules that say `restartOnOptionChange` or that other modules depend on) needs a restart: it
 * is reported and the value in force is kept.
 */
import type { CantoConfig, VirtualHostConfig } from './config.js';
import { resolveLoadOrder, type ModuleDefinition, type ModuleRegistry } from './modules.js';

/** Top-level keys a reload applies; every other key keeps the value the server started with. */
export const LIVE_KEYS: readonly string[] = ['log_level', 'admins', 'modules_enabled', 'virtualhost', 'modules'];

/**
 * The listener tables whose changes need a restart, and the report says why. Rebinding would
 * not drop the established streams (closing a listener only stops new connections), but only
 * the keys in REBINDABLE are rebound so far.
 */
const LISTENER_TABLES: readonly string[] = ['c2s', 's2s', 'component_listener', 'http'];

/**
 * Keys of a listener table a reload applies by rebinding: the module owning the table opens
 * listeners on the new addresses and closes the old ones (ModuleApi.onRebind); the streams
 * already established stay. A change to any other key of the table leaves all of it for a restart.
 */
export const REBINDABLE: Readonly<Record<string, readonly string[]>> = { c2s: ['interfaces', 'ports', 'direct_tls_ports'] };

/** Whether two tables differ, and only in `keys`. */
function differsOnlyIn(a: unknown, b: unknown, keys: readonly string[]): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const all = new Set([...Object.keys(x), ...Object.keys(y)]);
  return [...all].every((k) => keys.includes(k) || same(x[k], y[k]));
}

/** What a reload did: each applied change, each change left for a restart, and what failed. */
export interface ReconfigureReport {
  applied: string[];
  needsRestart: string[];
  /** Modules that failed to load again (the rest of the reload is applied; see the log). */
  failed: string[];
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The configuration to run with: `next` for the live keys, the one in force for the others;
 * with the changes left for a restart, by key. (Global modules' options are `next`'s here:
 * Server.reconfigure puts back those it cannot apply.)
 */
export function effectiveConfig(current: CantoConfig, next: CantoConfig): { config: CantoConfig; needsRestart: string[]; rebind: string[] } {
  const needsRestart: string[] = [];
  const rebind: string[] = [];
  const out = { ...next } as unknown as Record<string, unknown>;
  const cur = current as unknown as Record<string, unknown>;
  const keys = new Set([...Object.keys(cur), ...Object.keys(out)]);
  for (const key of keys) {
    if (key === 'source' || LIVE_KEYS.includes(key)) continue;
    const rebindable = REBINDABLE[key];
    if (rebindable !== undefined && !same(cur[key], out[key]) && differsOnlyIn(cur[key], out[key], rebindable)) {
      rebind.push(key);
      continue;
    }
    if (!same(cur[key], out[key])) {
      const why = rebindable !== undefined ? `only ${rebindable.join(', ')} are applied live; ` : LISTENER_TABLES.includes(key) ? 'a reload does not rebind these listeners; ' : '';
      needsRestart.push(`${key}: changed; needs a restart (${why}the running value is kept)`);
    }
    out[key] = cur[key];
  }
  return { config: out as unknown as CantoConfig, needsRestart, rebind };
}

/** Global modules the configuration's modules_enabled asks for, dependencies included. */
export function wantedGlobal(config: CantoConfig, coreGlobal: readonly string[], registry: ModuleRegistry): Set<string> {
  return new Set(resolveLoadOrder([...coreGlobal, ...config.modules_enabled], registry, 'global').order.map((d) => d.name));
}

/** The module names a host asks for: the core ones, the global list and its own, less its disabled ones. */
export function hostModuleNames(config: CantoConfig, vh: Pick<VirtualHostConfig, 'modules_enabled' | 'modules_disabled'>, coreHost: readonly string[]): string[] {
  const disabled = new Set(vh.modules_disabled);
  return [...new Set([...coreHost, ...config.modules_enabled, ...vh.modules_enabled])].filter((m) => !disabled.has(m));
}

/** The host modules to load for `vh` under `config`, in load order (dependencies first). */
export function hostModuleOrder(config: CantoConfig, vh: VirtualHostConfig, coreHost: readonly string[], registry: ModuleRegistry): ModuleDefinition[] {
  return resolveLoadOrder(hostModuleNames(config, vh, coreHost), registry, 'host').order;
}

/** Global modules whose `[modules.NAME]` options differ between the two configurations. */
export function changedGlobalOptions(current: CantoConfig, next: CantoConfig, registry: ModuleRegistry): Set<string> {
  const out = new Set<string>();
  for (const name of new Set([...Object.keys(current.modules), ...Object.keys(next.modules)])) {
    if (registry.get(name)?.scope === 'global' && !same(current.modules[name], next.modules[name])) out.add(name);
  }
  return out;
}

/**
 * Why a loaded global module without an onReconfigure hook cannot be unloaded and loaded again
 * with new options, or undefined when it can: it says so itself (`restartOnOptionChange`), or
 * loaded modules depend on it or use it (they hold the services and routes it provided).
 */
export function globalReloadBlocker(def: ModuleDefinition, loadedGlobal: readonly ModuleDefinition[], loadedHost: readonly ModuleDefinition[]): string | undefined {
  if (def.restartOnOptionChange !== undefined) return def.restartOnOptionChange;
  const holders = new Set<string>();
  for (const other of [...loadedGlobal, ...loadedHost]) {
    if (other.name !== def.name && [...(other.depends ?? []), ...(other.uses ?? [])].includes(def.name)) holders.add(other.name);
  }
  if (holders.size === 0) return undefined;
  return `loaded modules depend on it (${[...holders].sort().join(', ')}), and loading it again would take their routes and services away`;
}

/** Host modules whose `[modules.NAME]` options differ between the two configurations. */
export function changedModuleOptions(current: CantoConfig, next: CantoConfig, registry: ModuleRegistry): Set<string> {
  const out = new Set<string>();
  for (const name of new Set([...Object.keys(current.modules), ...Object.keys(next.modules)])) {
    if ((registry.get(name)?.scope ?? 'host') === 'host' && !same(current.modules[name], next.modules[name])) out.add(name);
  }
  return out;
}

/**
 * Of the modules loaded on a host (in load order), those to load again: the ones named, and
 * every loaded module that depends on one of those (it holds the services it required at setup).
 */
export function withDependents(loaded: readonly ModuleDefinition[], changed: ReadonlySet<string>): Set<string> {
  const out = new Set([...changed].filter((n) => loaded.some((d) => d.name === n)));
  for (const def of loaded) {
    if ((def.depends ?? []).some((dep) => out.has(dep))) out.add(def.name);
  }
  return out;
}

/** Settings of a kept host that changed, apart from its module lists and certificate paths. */
export function changedHostSettings(current: VirtualHostConfig, next: VirtualHostConfig): string[] {
  const out: string[] = [];
  for (const key of ['allow_registration', 'channel_binding'] as const) {
    if (current[key] !== next[key]) out.push(`${key} = ${String(next[key])}`);
  }
  return out;
}
