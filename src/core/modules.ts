/**
 * The module system. A module is a definition with a name, its dependencies and a `setup`
 * that receives a typed API. Host modules are loaded once per virtual host that enables them
 * and see only that host's events and stores; global modules (listeners, s2s, …) are loaded
 * once. Unloading removes every hook, timer, feature and identity the module added.
 *
 * The core never imports a module: the server is given a registry (src/modules/index.ts).
 */
import type { Element } from '../xml/element.js';
import type { EventName, Handler } from './events.js';
import type { EventMap } from './event-map.js';
import type { Logger } from './logging.js';
import type { HostContext, DiscoIdentity } from './host.js';
import type { Measure } from './metrics.js';
import type { Server } from './server.js';
import type { ArchiveStore, KeyValStore, MapStore } from '../storage/types.js';
import { parseDuration, parseSize } from './units.js';
import { ServiceNotFoundError, type ServiceMap, type ServiceName } from './services.js';

export interface ModuleDefinition {
  name: string;
  /** One line for `canto --help`-style listings and logs, e.g. 'XEP-0199: XMPP Ping'. */
  description?: string;
  /** Modules that must be loaded (on the same host) first; they are loaded automatically. */
  depends?: string[];
  /** 'host' (default): per virtual host; 'global': once per server. */
  scope?: 'host' | 'global';
  setup(mod: ModuleApi): void | Promise<void>;
}

/** Identity function that gives module files a typed definition. */
export function defineModule(def: ModuleDefinition): ModuleDefinition {
  return def;
}

export type ModuleRegistry = ReadonlyMap<string, ModuleDefinition>;

export class ModuleOptionError extends Error {}

/** Typed access to the module's `[modules.NAME]` config table. */
export interface ModuleOptions {
  string(key: string, fallback: string): string;
  boolean(key: string, fallback: boolean): boolean;
  number(key: string, fallback: number, min?: number, max?: number): number;
  /** A duration in ms; config may say `"5 minutes"`, `"30s"` or a number of seconds. */
  period(key: string, fallback: string | number): number;
  /** A size in bytes; config may say `"256 KiB"` or a number of bytes. */
  size(key: string, fallback: string | number): number;
  list(key: string, fallback: string[]): string[];
  oneOf<T extends string>(key: string, choices: readonly T[], fallback: T): T;
}

export interface ModuleApi {
  readonly name: string;
  /** The virtual host, or '*' for a global module. */
  readonly host: string;
  readonly server: Server;
  readonly log: Logger;
  /** Prometheus metrics named `<module>_…` (a `host` label added on host modules), removed at unload (docs/metrics.md). */
  readonly measure: Measure;
  /** The host context (undefined for global modules). */
  readonly context: HostContext | undefined;
  readonly option: ModuleOptions;
  /** Hook an event on this module's host (global modules: on the server-wide bus). */
  hook<E extends EventName>(event: E, handler: Handler<E>, priority?: number): void;
  /** Hook an event on the server-wide bus. */
  hookGlobal<E extends EventName>(event: E, handler: Handler<E>, priority?: number): void;
  fire<E extends EventName>(event: E, payload: EventMap[E]): boolean;
  /** Advertise a disco#info feature for this host. */
  addFeature(ns: string): void;
  addIdentity(identity: DiscoIdentity): void;
  /** Add a XEP-0128 extension form to this host's disco#info. */
  addDiscoExtension(form: Element): void;
  keyval<T>(store: string): KeyValStore<T>;
  map<T>(store: string): MapStore<T>;
  archive<T>(store: string): ArchiveStore<T>;
  /** Send a stanza from this host into the router. */
  send(stanza: Element): void;
  setTimeout(fn: () => void, ms: number): () => void;
  setInterval(fn: () => void, ms: number): () => void;
  /** Run at unload (close listeners, flush state). May be async. */
  onUnload(fn: () => void | Promise<void>): void;
  /** Provide a service to other modules (on this host; server-wide for a global module); withdrawn on unload. */
  provides<K extends ServiceName>(name: K, api: ServiceMap[K]): void;
  /** A service provided on this host or server-wide; throws when none is (list its module in `depends`). */
  require<K extends ServiceName>(name: K): ServiceMap[K];
  /** A service provided on this host or server-wide, if any. */
  optional<K extends ServiceName>(name: K): ServiceMap[K] | undefined;
  /** A service as provided on another served host (e.g. the sender's), if that host provides it. */
  serviceOf<K extends ServiceName>(host: string, name: K): ServiceMap[K] | undefined;
}

export interface LoadedModule {
  readonly definition: ModuleDefinition;
  readonly api: ModuleApi;
  unload(): Promise<void>;
}

function makeOptions(moduleName: string, table: Record<string, unknown>): ModuleOptions {
  const where = (key: string) => `modules.${moduleName}.${key}`;
  const get = (key: string): unknown => table[key];
  return {
    string(key, fallback) {
      const v = get(key);
      if (v === undefined) return fallback;
      if (typeof v !== 'string') throw new ModuleOptionError(`${where(key)}: expected a string`);
      return v;
    },
    boolean(key, fallback) {
      const v = get(key);
      if (v === undefined) return fallback;
      if (typeof v !== 'boolean') throw new ModuleOptionError(`${where(key)}: expected true or false`);
      return v;
    },
    number(key, fallback, min = -Infinity, max = Infinity) {
      const v = get(key);
      if (v === undefined) return fallback;
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModuleOptionError(`${where(key)}: expected a number`);
      if (v < min || v > max) throw new ModuleOptionError(`${where(key)}: expected a number from ${min} to ${max}, got ${v}`);
      return v;
    },
    period(key, fallback) {
      const v = get(key);
      try {
        return parseDuration(v === undefined ? fallback : (v as string | number));
      } catch (err) {
        throw new ModuleOptionError(`${where(key)}: ${(err as Error).message}`);
      }
    },
    size(key, fallback) {
      const v = get(key);
      try {
        return parseSize(v === undefined ? fallback : (v as string | number));
      } catch (err) {
        throw new ModuleOptionError(`${where(key)}: ${(err as Error).message}`);
      }
    },
    list(key, fallback) {
      const v = get(key);
      if (v === undefined) return fallback;
      if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new ModuleOptionError(`${where(key)}: expected a list of strings`);
      return v as string[];
    },
    oneOf(key, choices, fallback) {
      const v = get(key);
      if (v === undefined) return fallback;
      if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) {
        throw new ModuleOptionError(`${where(key)}: expected one of ${choices.map((c) => `"${c}"`).join(', ')}`);
      }
      return v as (typeof choices)[number];
    },
  };
}

/** Load one module definition for a host (or globally) and return its handle. */
export async function loadModule(server: Server, def: ModuleDefinition, context: HostContext | undefined): Promise<LoadedModule> {
  const host = context?.host ?? '*';
  const cleanups: Array<() => void | Promise<void>> = [];
  const log = server.log.child({ module: def.name, host });
  const bus = context?.events ?? server.events;
  const needHost = (what: string): HostContext => {
    if (!context) throw new Error(`module ${def.name}: ${what} needs a host (this module is global)`);
    return context;
  };
  const measure = server.metrics.scope(def.name, context?.host);
  cleanups.push(() => measure.release());
  const api: ModuleApi = {
    name: def.name,
    host,
    server,
    log,
    measure,
    context,
    option: makeOptions(def.name, server.config.modules[def.name] ?? {}),
    hook(event, handler, priority) {
      cleanups.push(bus.on(event, handler, priority));
    },
    hookGlobal(event, handler, priority) {
      cleanups.push(server.events.on(event, handler, priority));
    },
    fire(event, payload) {
      return bus.fire(event, payload);
    },
    addFeature(ns) {
      cleanups.push(needHost('addFeature').addFeature(ns));
    },
    addIdentity(identity) {
      cleanups.push(needHost('addIdentity').addIdentity(identity));
    },
    addDiscoExtension(form) {
      const list = needHost('addDiscoExtension').discoExtensions;
      list.push(form);
      cleanups.push(() => {
        const i = list.indexOf(form);
        if (i >= 0) list.splice(i, 1);
      });
    },
    keyval(store) {
      return server.storage.keyval(needHost('storage').host, store);
    },
    map(store) {
      return server.storage.map(needHost('storage').host, store);
    },
    archive(store) {
      return server.storage.archive(needHost('storage').host, store);
    },
    send(stanza) {
      server.router.route(needHost('send').session, stanza);
    },
    setTimeout(fn, ms) {
      const t = setTimeout(fn, ms);
      const cancel = () => clearTimeout(t);
      cleanups.push(cancel);
      return cancel;
    },
    setInterval(fn, ms) {
      const t = setInterval(fn, ms);
      const cancel = () => clearInterval(t);
      cleanups.push(cancel);
      return cancel;
    },
    onUnload(fn) {
      cleanups.push(fn);
    },
    provides(name, service) {
      cleanups.push((context?.services ?? server.services).provide(name, service));
    },
    require(name) {
      const found = context?.services.get(name) ?? server.services.get(name);
      if (found === undefined) throw new ServiceNotFoundError(name, context ? `on ${context.host} or server-wide` : 'server-wide');
      return found;
    },
    optional(name) {
      return context?.services.get(name) ?? server.services.get(name);
    },
    serviceOf(otherHost, name) {
      return server.hosts.get(otherHost)?.services.get(name);
    },
  };
  try {
    await def.setup(api);
  } catch (err) {
    await runCleanups(cleanups, log);
    throw err;
  }
  return {
    definition: def,
    api,
    async unload() {
      await runCleanups(cleanups, log);
      cleanups.length = 0;
    },
  };
}

async function runCleanups(cleanups: Array<() => void | Promise<void>>, log: Logger): Promise<void> {
  // Reverse order: undo the latest addition first.
  for (const fn of cleanups.slice().reverse()) {
    try {
      await fn();
    } catch (err) {
      log.error({ err }, 'module cleanup failed');
    }
  }
}

/**
 * The order to load `wanted` modules in: dependencies first, each once. A configured name that
 * no module has is reported in `unknown` (the server warns and goes on, as Prosody does, so a
 * config naming a module of a newer version still starts); an unknown dependency or a cycle
 * is a bug in the code and throws.
 */
export function resolveLoadOrder(
  wanted: string[],
  registry: ModuleRegistry,
  scope: 'host' | 'global',
): { order: ModuleDefinition[]; unknown: string[] } {
  const order: ModuleDefinition[] = [];
  const unknown: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]) => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`module dependency cycle: ${[...path, name].join(' → ')}`);
    const def = registry.get(name);
    if (!def) {
      if (path.length === 0) {
        unknown.push(name);
        state.set(name, 'done');
        return;
      }
      throw new Error(`unknown module "${name}" (needed by ${path[path.length - 1]})`);
    }
    if ((def.scope ?? 'host') !== scope) {
      state.set(name, 'done');
      return;
    }
    state.set(name, 'visiting');
    for (const dep of def.depends ?? []) visit(dep, [...path, name]);
    state.set(name, 'done');
    order.push(def);
  };
  for (const name of wanted) visit(name, []);
  return { order, unknown };
}

/** A closest known module name, for "did you mean" hints. */
export function suggestModule(name: string, registry: ModuleRegistry): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const known of registry.keys()) {
    const d = editDistance(name, known);
    if (d < bestDistance) {
      bestDistance = d;
      best = known;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] as number;
}
