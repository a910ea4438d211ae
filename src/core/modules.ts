/**
 * The module system. A module is a definition with a name, its dependencies and a `setup`
 * that receives a typed API. Host modules are loaded once per virtual host that enables them
 * and see only that host's events and stores; global modules (listeners, s2s, …) are loaded
 * once. Unloading removes every hook, timer, feature and identity the module added.
 *
 * The core never imports a module: the server is given a registry (src/modules/index.ts).
 */
import type { Element } from '../xml/element.js';
import type { EventName, Handler, HandlerResult } from './events.js';
import type { Destination, EventMap, StanzaEvent } from './event-map.js';
import { StanzaError } from './errors.js';
import { errorReply, reply } from '../xml/stanza.js';
import type { Logger } from './logging.js';
import type { HostContext, DiscoIdentity } from './host.js';
import type { Measure } from './metrics.js';
import type { ModuleServer, Server } from './server.js';
import type { ArchiveStore, KeyValStore, MapStore } from '../storage/types.js';
import type { z } from 'zod';
import { editDistance } from '../util/edit-distance.js';
import { moduleOptions } from './module-config.js';
import type { Clock } from './clock.js';
import { ServiceNotFoundError, type ServiceMap, type ServiceName } from './services.js';

/**
 * A module definition. `O` is the type of its options, inferred from the `options` schema:
 * write `defineModule({ name, options: z.object({…}), setup(mod) {…} })` and `mod.options`
 * is typed.
 */
export interface ModuleDefinition<O extends object = object> {
  name: string;
  /** One line for `canto --help`-style listings and logs, e.g. 'XEP-0199: XMPP Ping'. */
  description?: string;
  /** Modules that must be loaded (on the same host) first; they are loaded automatically. */
  depends?: string[];
  /**
   * Global modules this host module works with when the configuration loads them (never loaded
   * for it): they load before it, so a component's module using the http module mounts its
   * routes at setup. Reach them with `mod.optional`.
   */
  uses?: string[];
  /** 'host' (default): per virtual host; 'global': once per server. */
  scope?: 'host' | 'global';
  /**
   * The `[modules.NAME]` options as a zod schema (helpers with units in option-schemas.ts).
   * Checked for every table at start-up and by `canto check`, unknown keys included; the
   * parsed value, defaults filled in, is `mod.options`. Without a schema the table must be empty.
   */
  options?: z.ZodType<O, unknown>;
  /**
   * Global modules: why a change of its options cannot be applied by a reload (for instance, it
   * holds client streams an unload would close). Such a change is reported as needing a restart.
   * Without it, and without an `onReconfigure` hook, a reload unloads the module and loads it again.
   */
  restartOnOptionChange?: string;
  setup(mod: ModuleApi<O>): void | Promise<void>;
}

/**
 * What an `onReconfigure` hook returns: nothing when the new options are in force, `'reload'` to
 * be unloaded and loaded again with them instead, or `{ needsRestart }` when part of them only
 * takes effect at the next start (the rest is in force; the text says which part and why).
 */
export type ReconfigureResult = void | 'reload' | { needsRestart: string };

/**
 * Identity function that gives module files a typed definition: `mod.options` gets the type of
 * the `options` schema's output. The result is a plain ModuleDefinition, so definitions with
 * different options go in one registry.
 */
export function defineModule<O extends object = object>(def: ModuleDefinition<O>): ModuleDefinition {
  return def;
}

export type ModuleRegistry = ReadonlyMap<string, ModuleDefinition>;

export interface ModuleApi<O extends object = object> {
  readonly name: string;
  /** The virtual host, or '*' for a global module. */
  readonly host: string;
  /** What a module may use of the server (not its lifecycle, module registry or server bus). */
  readonly server: ModuleServer;
  readonly log: Logger;
  /** Prometheus metrics named `<module>_…` (a `host` label added on host modules), removed at unload (docs/metrics.md). */
  readonly measure: Measure;
  /** The host context (undefined for global modules). */
  readonly context: HostContext | undefined;
  /** This module's `[modules.NAME]` options, parsed by its `options` schema (defaults filled in). */
  readonly options: O;
  /** Hook an event on this module's host (global modules: on the server-wide bus). */
  hook<E extends EventName>(event: E, handler: Handler<E>, priority?: number): void;
  /**
   * Answer iq get/set requests whose payload is <name xmlns=…> sent to this host (or, with `to`,
   * to a user's bare or full JID). The handler returns the result: a whole iq, a payload element
   * (wrapped in the result), or nothing (an empty result); a thrown StanzaError becomes the error
   * reply, anything else thrown an internal-server-error (logged). Handlers may be async.
   */
  iq(type: 'get' | 'set', xmlns: string, name: string, handler: IqHandler, opts?: { to?: Destination | readonly Destination[]; priority?: number }): void;
  /** Hook the raw payload event `iq-<type>/<dest>/<xmlns>:<name>` (handlers reply themselves and return true). */
  hookIq(type: 'get' | 'set', dest: Destination, xmlns: string, name: string, handler: (event: StanzaEvent) => HandlerResult, priority?: number): void;
  /** Hook an event on the server-wide bus. */
  hookGlobal<E extends EventName>(event: E, handler: Handler<E>, priority?: number): void;
  /**
   * Hook an event on every virtual host's bus: those there now and each one a reload adds later
   * (global modules that act on every host's stanzas: without this, a host added by a reload
   * would go without them until a restart).
   */
  hookEveryHost<E extends EventName>(event: E, handler: Handler<E>, priority?: number): void;
  fire<E extends EventName>(event: E, payload: EventMap[E]): boolean;
  /**
   * Fire an event on this module's bus whose handlers may hold it (EventBus.dispatch): a boolean
   * when nobody held it, else a promise of whether some handler handled it. Return that promise
   * from a stanza handler so the router (and the sender's in-order completion) waits for it.
   */
  dispatch<E extends EventName>(event: E, payload: EventMap[E]): boolean | Promise<boolean>;
  /** Whether `username` has an account on this host: a bound session says yes at once, else the account store. */
  accountExists(username: string): Promise<boolean>;
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
  /** Timers on the server's clock (a FakeClock in tests), cancelled at unload; they return their cancel function. */
  setTimeout(fn: () => void, ms: number): () => void;
  setInterval(fn: () => void, ms: number): () => void;
  /** The server clock's time (ms since the epoch): read it instead of Date.now() where tests should control time. */
  now(): number;
  /** The same as a Clock object, for code that takes one (its timers are cancelled at unload too). */
  readonly clock: Clock;
  /** Run at unload (close listeners, flush state). May be async. */
  onUnload(fn: () => void | Promise<void>): void;
  /**
   * Apply changed `[modules.NAME]` options without unloading (`canto reload`, SIGHUP; global
   * modules only). `next` is parsed and valid; once the hook returns, `mod.options` is `next`. It
   * throws to refuse them (the module keeps `previous`, the reload reports the error). Without a
   * hook, a reload unloads the module and loads it again (ModuleDefinition.restartOnOptionChange).
   */
  onReconfigure(fn: (next: O, previous: O) => ReconfigureResult | Promise<ReconfigureResult>): void;
  /**
   * Rebind this module's listeners of the top-level `[table]` to the addresses now in
   * `mod.server.config` (a reload changed them; reconfigure.ts REBINDABLE says which keys): open
   * the new listeners, then stop the old ones accepting, leaving established streams alone.
   * Throw when the new ones cannot be opened, with the old ones still listening. Global modules only.
   */
  onRebind(table: string, fn: () => Promise<void>): void;
  /**
   * Declare that this module keeps values of a keyval store in memory: when another process of a
   * cluster writes a user's value, `changed(username)` runs (reload or forget it). Nothing
   * happens in a single process.
   */
  cachedStore(store: string, changed: (username: string) => void | Promise<void>): void;
  /** Provide a service to other modules (on this host; server-wide for a global module); withdrawn on unload. */
  provides<K extends ServiceName>(name: K, api: ServiceMap[K]): void;
  /** A service provided on this host or server-wide; throws when none is (list its module in `depends`). */
  require<K extends ServiceName>(name: K): ServiceMap[K];
  /** A service provided on this host or server-wide, if any. */
  optional<K extends ServiceName>(name: K): ServiceMap[K] | undefined;
}

/** What a `mod.iq` handler returns: the result iq, a payload for it, or nothing (an empty result). */
export type IqHandler = (event: StanzaEvent) => Element | undefined | Promise<Element | undefined>;

/** The event name of an iq payload (the names are made here, so EventMap needs no catch-all). */
export function iqEventName(type: 'get' | 'set', dest: Destination, xmlns: string, name: string): EventName {
  return `iq-${type}/${dest}/${xmlns}:${name}` as EventName;
}

export interface LoadedModule {
  readonly definition: ModuleDefinition;
  readonly api: ModuleApi;
  unload(): Promise<void>;
  /** Whether the module set an onReconfigure hook. */
  readonly reconfigurable: boolean;
  /**
   * Give the module new options through its onReconfigure hook (throws what the hook throws,
   * and then the options in force stay); `mod.options` becomes `next` unless it asks for 'reload'.
   */
  reconfigure(next: object): Promise<ReconfigureResult>;
  /** The module's onRebind handlers, by table. */
  readonly rebinders: ReadonlyMap<string, () => Promise<void>>;
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
  // mod.clock: the module's timers on the server's clock (made once; tracked like mod.setTimeout).
  const moduleClock: Clock = {
    now: () => server.clock.now(),
    setTimeout: (fn, ms) => api.setTimeout(fn, ms),
    setInterval: (fn, ms) => api.setInterval(fn, ms),
  };
  let options = moduleOptions(def, server.config);
  let reconfigureHook: ((next: object, previous: object) => ReconfigureResult | Promise<ReconfigureResult>) | undefined;
  const rebinders = new Map<string, () => Promise<void>>();
  const api: ModuleApi = {
    name: def.name,
    host,
    server,
    log,
    measure,
    context,
    get options(): object {
      return options;
    },
    hook(event, handler, priority) {
      cleanups.push(bus.on(event, handler, priority));
    },
    iq(type, xmlns, name, handler, opts = {}) {
      const dests: readonly Destination[] = opts.to === undefined ? ['host'] : typeof opts.to === 'string' ? [opts.to] : opts.to;
      const answer = (event: StanzaEvent): true => {
        answerIq(event, handler, log);
        return true;
      };
      // The payload events carry a StanzaEvent; their names are computed, so the map cannot say so.
      for (const dest of dests) cleanups.push(bus.on(iqEventName(type, dest, xmlns, name), answer as Handler<EventName>, opts.priority));
    },
    hookIq(type, dest, xmlns, name, handler, priority) {
      cleanups.push(bus.on(iqEventName(type, dest, xmlns, name), handler as Handler<EventName>, priority));
    },
    hookGlobal(event, handler, priority) {
      cleanups.push(server.events.on(event, handler, priority));
    },
    hookEveryHost(event, handler, priority) {
      // By context, not name: a host removed and added again by later reloads is a new bus.
      const hooked = new WeakSet<HostContext>();
      const hookOne = (ctx: HostContext | undefined): void => {
        if (ctx === undefined || hooked.has(ctx)) return;
        hooked.add(ctx);
        cleanups.push(ctx.events.on(event, handler, priority));
      };
      for (const ctx of server.hosts.values()) hookOne(ctx);
      // At start the hosts are listed before their host-activated fires: hooked once all the same.
      cleanups.push(server.events.on('host-activated', ({ host }) => hookOne(server.hosts.get(host))));
    },
    fire(event, payload) {
      return bus.fire(event, payload);
    },
    dispatch(event, payload) {
      return bus.dispatch(event, payload);
    },
    async accountExists(username) {
      const h = needHost('accountExists').host;
      if (server.sessions.getUserSessions(h, username).length > 0) return true;
      return server.storage.accounts.exists(h, username);
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
      const cancel = server.clock.setTimeout(fn, ms);
      cleanups.push(cancel);
      return cancel;
    },
    setInterval(fn, ms) {
      const cancel = server.clock.setInterval(fn, ms);
      cleanups.push(cancel);
      return cancel;
    },
    now() {
      return server.clock.now();
    },
    get clock(): Clock {
      return moduleClock;
    },
    onUnload(fn) {
      cleanups.push(fn);
    },
    onReconfigure(fn) {
      if (context) throw new Error(`module ${def.name}: onReconfigure is for global modules (a host module whose options change is loaded again)`);
      reconfigureHook = fn;
    },
    onRebind(table, fn) {
      if (context) throw new Error(`module ${def.name}: onRebind is for global modules`);
      rebinders.set(table, fn);
    },
    cachedStore(store, changed) {
      const counts = server.cachedStoreCounts;
      counts.set(store, (counts.get(store) ?? 0) + 1);
      cleanups.push(() => {
        const n = (counts.get(store) ?? 1) - 1;
        if (n <= 0) counts.delete(store);
        else counts.set(store, n);
      });
      cleanups.push(bus.on('store-changed', (event) => (event.store === store ? changed(event.username) : undefined)));
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
    rebinders,
    get reconfigurable() {
      return reconfigureHook !== undefined;
    },
    async reconfigure(next) {
      if (reconfigureHook === undefined) return 'reload';
      const result = await reconfigureHook(next, options);
      if (result !== 'reload') options = next;
      return result;
    },
  };
}

/** Run a mod.iq handler and send its result or error to the requester. */
function answerIq(event: StanzaEvent, handler: IqHandler, log: Logger): void {
  const { origin, stanza } = event;
  const send = (result: Element | undefined): void => {
    if (result === undefined) origin.send(reply(stanza));
    else if (result.name === 'iq') origin.send(result);
    else origin.send(reply(stanza).cnode(result).root());
  };
  const fail = (err: unknown): void => {
    if (err instanceof StanzaError) {
      origin.send(err.replyTo(stanza));
      return;
    }
    log.error({ err, iq: stanza.elements[0]?.name, ns: stanza.elements[0]?.xmlns }, 'iq handler failed');
    origin.send(errorReply(stanza, 'internal-server-error'));
  };
  let result: ReturnType<IqHandler>;
  try {
    result = handler(event);
  } catch (err) {
    fail(err);
    return;
  }
  if (result instanceof Promise) result.then(send, fail);
  else send(result);
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
