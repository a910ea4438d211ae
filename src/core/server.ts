/**
 * The server: configuration, storage, the served hosts (local sessions), the session registry,
 * the router and the modules. Start and stop are the lifecycle, with `reconfigure` applying a new
 * configuration live (reconfigure.ts); everything else is events.
 */
import type { SessionMover } from './session-mover.js';
import type { AddressInfo, Server as NetServer } from 'node:net';
import type { CantoConfig } from './config.js';
import { ComponentRegistry, type InternalComponent } from './components.js';
import { startInternalComponent } from './internal-components.js';
import { EventBus } from './events.js';
import { HostContext } from './host.js';
import type { Logger } from './logging.js';
import { Metrics } from './metrics.js';
import { registerCoreMetrics, type CoreMetrics } from './core-metrics.js';
import { moduleOptions } from './module-config.js';
import { loadModule, resolveLoadOrder, suggestModule, type LoadedModule, type ModuleDefinition, type ModuleRegistry } from './modules.js';
import { Router } from './router.js';
import { SessionManager } from './sessionmanager.js';
import { ServiceScope } from './services.js';
import { systemClock, type Clock } from './clock.js';
import type { CloseReason, StreamSession } from './session.js';
import { changedGlobalOptions, changedHostSettings, changedModuleOptions, effectiveConfig, globalReloadBlocker, hostModuleNames, hostModuleOrder, wantedGlobal, withDependents, type ReconfigureReport } from './reconfigure.js';
import type { StorageDriver } from '../storage/types.js';
import { measureStorage } from './storage-metrics.js';
import type { ServerTls } from './connection.js';

/** Modules every server loads whatever the config says (the connection layer). */
export const CORE_GLOBAL_MODULES = ['c2s', 'component', 's2s'];
/** Host modules every host loads: without them no client can log in. */
export const CORE_HOST_MODULES = ['tls', 'saslauth', 'bind', 'iq'];

/** How long a reload waits for the streams of a removed host to close before cutting them. */
const REMOVED_HOST_GRACE_MS = 3000;

/** This process's place in a cluster (`[cluster] redis`; docs/scaling.md). */
export interface ClusterRole {
  /** The node_id (a number only in unit tests' pipes). */
  readonly worker: number | string;
  readonly workers: number;
  /** Runs the HTTP (BOSH, WebSocket), s2s and component listeners itself: every Redis node does. */
  readonly serviceWorker: boolean;
  /** Moves XEP-0198 sessions between nodes (Redis engine only). */
  readonly sessionMover?: SessionMover | undefined;
}

export interface ServerOptions {
  config: CantoConfig;
  log: Logger;
  storage: StorageDriver;
  modules: ModuleRegistry;
  tls: ServerTls;
  cluster?: ClusterRole;
  /** Where time comes from for module timers (default: the system clock; tests pass a FakeClock). */
  clock?: Clock;
}

/**
 * What modules see of the server (`mod.server`): its configuration, stores, sessions, router,
 * hosts and components, services and metrics, and the listener registry. Not the lifecycle
 * (start, stop), the module registry or the server-wide bus (modules use `mod.hookGlobal`).
 */
export type ModuleServer = Pick<
  Server,
  | 'config' | 'log' | 'storage' | 'tls' | 'hosts' | 'components' | 'sessions' | 'router' | 'services' | 'metrics'
  | 'startedAt' | 'cluster' | 'runsServiceListeners' | 'registerListener' | 'unregisterListener' | 'addresses' | 'port'
  | 'startInternalComponent' | 'afterModulesLoaded' | 'serves'
>;

export interface ListenerInfo {
  kind: string;
  server: NetServer;
}

export class Server {
  private currentConfig: CantoConfig;
  readonly log: Logger;
  readonly storage: StorageDriver;
  readonly registry: ModuleRegistry;
  /** Secure contexts per host, chosen by SNI. */
  readonly tls: ServerTls;
  /** Server-wide events (global modules, session lifecycle, remote/component routing). */
  readonly events: EventBus;
  readonly hosts = new Map<string, HostContext>();
  /**
   * Keyval stores whose values modules keep in memory (ModuleApi.cachedStore), with how many
   * loaded modules cache each: a cluster announces writes to them.
   */
  readonly cachedStoreCounts = new Map<string, number>();
  /** Services provided by global modules (ModuleApi.provides). */
  readonly services = new ServiceScope('the server');
  /** Component domains from the config, whether connected or not, and what serves each. */
  readonly components: ComponentRegistry;
  readonly sessions: SessionManager;
  readonly router: Router;
  /** This server's Prometheus registry and render() (docs/metrics.md). */
  readonly metrics: Metrics;
  readonly coreMetrics: CoreMetrics;
  readonly startedAt = Date.now();
  /** Where modules' timers and `mod.now()` read time. */
  readonly clock: Clock;
  /** Set when this process is one worker of a cluster; undefined for a single process. */
  readonly cluster: ClusterRole | undefined;
  private readonly globalModules = new Map<string, LoadedModule>();
  private readonly listeners: ListenerInfo[] = [];
  /** Start-up tasks run once every module is loaded (afterModulesLoaded). */
  private readonly afterLoadTasks: Array<() => Promise<void>> = [];
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';

  constructor(opts: ServerOptions) {
    this.currentConfig = opts.config;
    this.log = opts.log;
    this.registry = opts.modules;
    this.tls = opts.tls;
    this.cluster = opts.cluster;
    this.clock = opts.clock ?? systemClock;
    this.events = new EventBus(this.log);
    this.metrics = new Metrics(this.log);
    this.storage = measureStorage(opts.storage, this.metrics);
    this.sessions = new SessionManager(this);
    this.router = new Router(this);
    this.coreMetrics = registerCoreMetrics(this);
    this.components = new ComponentRegistry(this.config.component);
  }

  /** Whether this server serves `domain`: one of its virtual hosts or components. */
  serves(domain: string): boolean {
    return this.hosts.has(domain) || this.components.has(domain);
  }

  /** The configuration in force: the one started with, or the last one a reload applied. */
  get config(): CantoConfig {
    return this.currentConfig;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`server cannot start from state ${this.state}`);
    this.state = 'starting';
    try {
      for (const vh of this.config.virtualhost) {
        const ctx = new HostContext(vh.domain, vh, this.log.child({ host: vh.domain }), (stanza) => this.router.route(ctx.session, stanza));
        this.hosts.set(vh.domain, ctx);
      }
      // Global modules that host and component modules depend on or use (services such as
      // http) load first; then the hosts; then the other global modules (the component module
      // loads the internal components), so listeners only accept once hosts are ready; then
      // the listeners that serve what all of them mount (the HTTP server's routes).
      await this.loadGlobalModules(this.globalModulesFirst());
      for (const ctx of this.hosts.values()) await this.activateHost(ctx);
      await this.loadGlobalModules(this.wantedGlobalModules());
      for (const task of this.afterLoadTasks.splice(0)) await task();
      this.warnUnknownModules();
    } catch (err) {
      await this.stop('startup failed').catch(() => {});
      throw err;
    }
    this.state = 'running';
    this.events.fire('server-started', {});
    this.log.info({ hosts: [...this.hosts.keys()], listening: this.describeListeners() }, 'server started');
  }

  private async loadGlobalModules(wanted: string[]): Promise<void> {
    for (const def of resolveLoadOrder(wanted, this.registry, 'global').order) {
      if (this.globalModules.has(def.name)) continue;
      this.globalModules.set(def.name, await loadModule(this, def, undefined));
    }
  }

  /**
   * Run `task` once every module (hosts, internal components, global modules) is loaded, before
   * the server counts as started; a failing task fails the start. For listeners that serve what
   * other modules mount (the HTTP server and its routes), so that no request can arrive before
   * its route exists. Only during start-up (from a module's setup).
   */
  afterModulesLoaded(task: () => Promise<void>): void {
    if (this.state !== 'starting') throw new Error('afterModulesLoaded is for module setup during start-up');
    this.afterLoadTasks.push(task);
  }

  /** The global modules the configuration asks for (with what they depend on, resolved later). */
  private wantedGlobalModules(): string[] {
    return [...CORE_GLOBAL_MODULES, ...this.config.modules_enabled];
  }

  /**
   * Global modules to load before the hosts: those the host modules of some host, or the modules
   * serving internal components, name in `depends` (loaded whether configured or not), and
   * those they name in `uses` that the configuration loads anyway.
   */
  private globalModulesFirst(): string[] {
    const wanted = new Set(resolveLoadOrder(this.wantedGlobalModules(), this.registry, 'global').order.map((d) => d.name));
    const out = new Set<string>();
    const lists = [...[...this.hosts.values()].map((ctx) => this.hostModuleNames(ctx)), ...this.config.component.flatMap((c) => (c.module === undefined ? [] : [[c.module]]))];
    for (const names of lists) {
      for (const def of resolveLoadOrder(names, this.registry, 'host').order) {
        for (const dep of def.depends ?? []) if (this.registry.get(dep)?.scope === 'global') out.add(dep);
        for (const used of def.uses ?? []) if (wanted.has(used)) out.add(used);
      }
    }
    return [...out];
  }

  private hostModuleNames(ctx: HostContext): string[] {
    return hostModuleNames(this.config, ctx.settings, CORE_HOST_MODULES);
  }

  private async activateHost(ctx: HostContext, loadable: (def: ModuleDefinition) => boolean = () => true): Promise<void> {
    for (const def of resolveLoadOrder(this.hostModuleNames(ctx), this.registry, 'host').order) {
      if (loadable(def)) ctx.modules.set(def.name, await loadModule(this, def, ctx));
    }
    this.events.fire('host-activated', { host: ctx.host });
    ctx.log.debug({ modules: [...ctx.modules.keys()] }, 'host activated');
  }

  /** Module names in the config that no built-in module has: warned about once, then skipped. */
  private warnUnknownModules(): void {
    const named = new Set([...this.config.modules_enabled, ...this.config.virtualhost.flatMap((vh) => vh.modules_enabled)]);
    const unknown = [...named].filter((name) => !this.registry.has(name));
    if (unknown.length === 0) return;
    const described = unknown.map((name) => {
      const hint = suggestModule(name, this.registry);
      return hint ? `${name} (did you mean ${hint}?)` : name;
    });
    this.log.warn({ modules: unknown }, `modules_enabled names modules this version does not have, skipped: ${described.join(', ')}`);
  }

  /**
   * Apply a new, already validated configuration without a restart (`canto reload`, SIGHUP):
   * the live keys (reconfigure.ts) take effect, the others keep their running values and are
   * reported as needing a restart. Hosts that stay keep their sessions; a module whose options
   * changed is loaded again (with its dependents); a removed host's streams are closed with
   * `host-gone` (RFC 6120 §4.9.3.6). Certificates are the caller's (src/app/reload.ts).
   */
  async reconfigure(next: CantoConfig): Promise<ReconfigureReport> {
    if (this.state !== 'running') throw new Error(`cannot reload a server that is ${this.state}`);
    const previous = this.currentConfig;
    const { config, needsRestart, rebind } = effectiveConfig(previous, next);
    const report: ReconfigureReport = { applied: [], needsRestart, failed: [] };
    const globalChanged = changedGlobalOptions(previous, config, this.registry);
    const globalBefore = wantedGlobal(previous, CORE_GLOBAL_MODULES, this.registry);
    const globalAfter = wantedGlobal(config, CORE_GLOBAL_MODULES, this.registry);
    for (const name of globalAfter) if (!globalBefore.has(name)) report.needsRestart.push(`module ${name}: a global module enabled; needs a restart to load`);
    for (const name of globalBefore) if (!globalAfter.has(name)) report.needsRestart.push(`module ${name}: a global module disabled; needs a restart to unload`);
    const optionsChanged = changedModuleOptions(previous, config, this.registry);
    this.currentConfig = config;
    await this.reconfigureGlobalModules(previous, globalChanged, report);
    await this.rebindListeners(previous, rebind, report);

    if (previous.log_level !== config.log_level) {
      this.log.level = config.log_level;
      report.applied.push(`log_level: ${previous.log_level} → ${config.log_level}`);
    }
    if (JSON.stringify(previous.admins) !== JSON.stringify(config.admins)) report.applied.push(`admins: ${config.admins.join(', ') || '(none)'}`);

    // A host module needing a global module that is not loaded waits for a restart.
    const loadable = (def: ModuleDefinition, host: string): boolean => {
      const missing = (def.depends ?? []).filter((dep) => this.registry.get(dep)?.scope === 'global' && !this.globalModules.has(dep));
      if (missing.length === 0) return true;
      report.needsRestart.push(`module ${def.name} on ${host}: needs the global module ${missing.join(', ')}; needs a restart to load`);
      return false;
    };
    const nextHosts = new Map(config.virtualhost.map((vh) => [vh.domain, vh]));
    for (const [domain, ctx] of [...this.hosts]) {
      if (!nextHosts.has(domain)) await this.removeHost(ctx, report);
    }
    for (const [domain, vh] of nextHosts) {
      const ctx = this.hosts.get(domain);
      if (ctx) await this.reconfigureHost(ctx, vh, optionsChanged, loadable, report);
      else {
        const added = new HostContext(domain, vh, this.log.child({ host: domain }), (stanza) => this.router.route(added.session, stanza));
        this.hosts.set(domain, added);
        try {
          await this.activateHost(added, (def) => loadable(def, domain));
          report.applied.push(`host ${domain}: added`);
        } catch (err) {
          added.log.error({ err }, 'a module of an added host failed to load');
          report.failed.push(`host ${domain}: ${(err as Error).message}`);
        }
      }
    }
    this.events.fire('config-reloaded', { applied: report.applied, needsRestart: report.needsRestart });
    return report;
  }

  /**
   * Apply the changed options of loaded global modules (`this.currentConfig` has the new tables):
   * through the module's onReconfigure hook, else by unloading and loading it again when nothing
   * holds it (globalReloadBlocker). Options that cannot be applied, or that the module refuses,
   * are put back in the configuration in force, so it says what runs.
   */
  private async reconfigureGlobalModules(previous: CantoConfig, changed: ReadonlySet<string>, report: ReconfigureReport): Promise<void> {
    const modules = this.currentConfig.modules;
    const keepOld = (name: string): void => {
      const old = previous.modules[name];
      if (old === undefined) delete modules[name];
      else modules[name] = old;
    };
    for (const name of changed) {
      const loaded = this.globalModules.get(name);
      // Not loaded: the new table is what a restart that loads it will read.
      if (!loaded) continue;
      const def = loaded.definition;
      const next = moduleOptions(def, this.currentConfig);
      let result: Awaited<ReturnType<LoadedModule['reconfigure']>> = 'reload';
      if (loaded.reconfigurable) {
        try {
          result = await loaded.reconfigure(next);
        } catch (err) {
          this.log.error({ err, module: name }, 'a global module refused its new options');
          report.failed.push(`module ${name}: new options refused, the running ones stay in force: ${(err as Error).message}`);
          keepOld(name);
          continue;
        }
        if (result === undefined) {
          report.applied.push(`module ${name}: new options in force`);
          continue;
        }
        if (result !== 'reload') {
          report.applied.push(`module ${name}: new options in force, except: ${result.needsRestart}`);
          report.needsRestart.push(`modules.${name}: ${result.needsRestart}; needs a restart`);
          continue;
        }
      }
      const blocker = globalReloadBlocker(def, [...this.globalModules.values()].map((m) => m.definition), [...this.hosts.values()].flatMap((ctx) => [...ctx.modules.values()].map((m) => m.definition)));
      if (blocker !== undefined) {
        report.needsRestart.push(`modules.${name}: options changed, but ${blocker}; needs a restart (the running options are kept)`);
        keepOld(name);
        continue;
      }
      await loaded.unload();
      this.globalModules.delete(name);
      try {
        this.globalModules.set(name, await loadModule(this, def, undefined));
        report.applied.push(`module ${name}: loaded again with its new options`);
      } catch (err) {
        this.log.error({ err, module: name }, 'a global module failed to load with its new options; loading it with the running ones');
        report.failed.push(`module ${name}: failed to load with its new options (${(err as Error).message}); the running ones stay in force`);
        keepOld(name);
        try {
          this.globalModules.set(name, await loadModule(this, def, undefined));
        } catch (again) {
          this.log.error({ err: again, module: name }, 'a global module failed to load again with its running options: it stays unloaded until a restart');
          report.failed.push(`module ${name}: failed to load again with its running options too; unloaded until a restart`);
        }
      }
    }
  }

  /**
   * Rebind the listeners of the listener tables whose addresses changed (`this.currentConfig`
   * has the new values) through the onRebind handler of the global module owning each table.
   * A table no loaded module rebinds, or whose new listeners cannot be opened, keeps its
   * running value (the listeners in force stay).
   */
  private async rebindListeners(previous: CantoConfig, tables: readonly string[], report: ReconfigureReport): Promise<void> {
    const current = this.currentConfig as unknown as Record<string, unknown>;
    const before = previous as unknown as Record<string, unknown>;
    for (const table of tables) {
      const owner = [...this.globalModules.values()].find((m) => m.rebinders.has(table));
      const rebindFn = owner?.rebinders.get(table);
      if (!owner || !rebindFn) {
        report.needsRestart.push(`${table}: changed; needs a restart (no loaded module rebinds its listeners; the running value is kept)`);
        current[table] = before[table];
        continue;
      }
      try {
        await rebindFn();
        report.applied.push(`${table}: listeners rebound (${this.addressesOf(table).join(', ') || 'none'}); established streams stay`);
      } catch (err) {
        this.log.error({ err, table }, 'could not open the new listeners: the running ones stay');
        report.failed.push(`${table}: the new listeners could not be opened (${(err as Error).message}); the running ones stay`);
        current[table] = before[table];
      }
    }
  }

  /** The bound addresses of the listener kinds named after a table ('c2s': c2s and c2s_direct_tls). */
  private addressesOf(table: string): string[] {
    return this.listeners.filter((l) => l.kind === table || l.kind.startsWith(`${table}_`)).flatMap((l) => {
      const a = l.server.address();
      return a && typeof a === 'object' ? [`${l.kind} ${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`] : [];
    });
  }

  private async removeHost(ctx: HostContext, report: ReconfigureReport): Promise<void> {
    const domain = ctx.host;
    const streams = [...this.sessions.all].filter((s) =>
      s.type === 'c2s' || s.type === 'c2s_unauthed' ? s.host === domain
      : s.type === 's2s' || s.type === 's2s_unauthed' ? (s.direction === 'incoming' ? s.toHost : s.fromHost) === domain
      : false);
    // The host's modules stay loaded until its sessions have ended (presence goes out, state is saved).
    await this.closeSessions(streams, { condition: 'host-gone', text: `${domain} is no longer served here` }, REMOVED_HOST_GRACE_MS);
    const closed = streams.length;
    this.hosts.delete(domain);
    for (const m of [...ctx.modules.values()].reverse()) await m.unload();
    ctx.modules.clear();
    this.events.fire('host-deactivated', { host: domain });
    report.applied.push(`host ${domain}: removed (${closed} stream${closed === 1 ? '' : 's'} closed with host-gone)`);
  }

  private async reconfigureHost(
    ctx: HostContext,
    vh: CantoConfig['virtualhost'][number],
    optionsChanged: ReadonlySet<string>,
    loadable: (def: ModuleDefinition, host: string) => boolean,
    report: ReconfigureReport,
  ): Promise<void> {
    const host = ctx.host;
    const settings = changedHostSettings(ctx.settings, vh);
    Object.assign(ctx.settings, { allow_registration: vh.allow_registration, channel_binding: vh.channel_binding, modules_enabled: vh.modules_enabled, modules_disabled: vh.modules_disabled, certificate: vh.certificate, key: vh.key });
    for (const s of settings) report.applied.push(`host ${host}: ${s}`);
    const wanted = hostModuleOrder(this.currentConfig, vh, CORE_HOST_MODULES, this.registry);
    const wantedNames = new Set(wanted.map((d) => d.name));
    const loaded = [...ctx.modules.values()].map((m) => m.definition);
    const reload = withDependents(loaded, optionsChanged);
    const unload = loaded.filter((d) => !wantedNames.has(d.name) || reload.has(d.name));
    for (const def of unload.reverse()) {
      await ctx.modules.get(def.name)?.unload();
      ctx.modules.delete(def.name);
      if (!wantedNames.has(def.name)) report.applied.push(`module ${def.name} on ${host}: unloaded`);
    }
    for (const def of wanted) {
      if (ctx.modules.has(def.name) || !loadable(def, host)) continue;
      try {
        ctx.modules.set(def.name, await loadModule(this, def, ctx));
        report.applied.push(`module ${def.name} on ${host}: ${reload.has(def.name) ? 'loaded again with its new options' : 'loaded'}`);
      } catch (err) {
        ctx.log.error({ err, module: def.name }, 'module failed to load during a reload');
        report.failed.push(`module ${def.name} on ${host}: ${(err as Error).message}`);
      }
    }
  }

  /**
   * Load the module serving an internal component (`[[component]] module = …`) into a context of
   * its own; returns the loaded modules (none when the module cannot serve it: logged).
   */
  startInternalComponent(entry: InternalComponent, log: Logger): Promise<LoadedModule[]> {
    return startInternalComponent(this, entry, log);
  }

  /** Whether this process runs the listeners only one cluster worker may run (HTTP, s2s, components): always true outside a cluster. */
  get runsServiceListeners(): boolean {
    return this.cluster === undefined || this.cluster.serviceWorker;
  }

  /** Called by listener modules so tests and logs can learn the bound addresses (port 0). */
  registerListener(kind: string, server: NetServer): void {
    this.listeners.push({ kind, server });
  }

  unregisterListener(server: NetServer): void {
    const i = this.listeners.findIndex((l) => l.server === server);
    if (i >= 0) this.listeners.splice(i, 1);
  }

  /** Bound addresses of the listeners of one kind ('c2s', 'c2s_direct_tls', 's2s', 'http', …). */
  addresses(kind: string): AddressInfo[] {
    const out: AddressInfo[] = [];
    for (const l of this.listeners) {
      if (l.kind !== kind) continue;
      const a = l.server.address();
      if (a && typeof a === 'object') out.push(a);
    }
    return out;
  }

  /** The first bound port of a listener kind (convenience for tests). */
  port(kind: string): number {
    const a = this.addresses(kind)[0];
    if (!a) throw new Error(`no ${kind} listener`);
    return a.port;
  }

  private describeListeners(): string[] {
    return this.listeners.flatMap((l) => {
      const a = l.server.address();
      return a && typeof a === 'object' ? [`${l.kind} ${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`] : [];
    });
  }

  /**
   * Graceful shutdown: every stream closed with `system-shutdown`, listeners closed, modules
   * unloaded, storage flushed and closed. Waits at most `graceMs` for peers to close.
   */
  async stop(reason = 'shutting down', graceMs = 3000): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    this.log.info({ reason }, 'server stopping');
    this.events.fire('server-stopping', { reason });
    for (const l of this.listeners) l.server.close();
    await this.closeAllSessions({ condition: 'system-shutdown', text: reason }, graceMs);
    for (const m of [...this.globalModules.values()].reverse()) await m.unload();
    this.globalModules.clear();
    for (const ctx of this.hosts.values()) {
      for (const m of [...ctx.modules.values()].reverse()) await m.unload();
      ctx.modules.clear();
    }
    await this.storage.close();
    this.state = 'stopped';
    this.log.info('server stopped');
  }

  private async closeAllSessions(reason: CloseReason, graceMs: number): Promise<void> {
    await this.closeSessions([...this.sessions.all], reason, graceMs);
  }

  /** Close `sessions` with `reason`, wait at most `graceMs` for them to end, then cut the rest. */
  private async closeSessions(sessions: StreamSession[], reason: CloseReason, graceMs: number): Promise<void> {
    if (sessions.length === 0) return;
    const open = () => sessions.filter((s) => this.sessions.all.has(s));
    const gone = new Promise<void>((resolve) => {
      const check = () => {
        if (open().length === 0) {
          off();
          resolve();
        }
      };
      const off = this.events.on('session-destroyed', check, -1000);
    });
    // A hibernating session's close() ends it at once (it has no connection).
    for (const s of sessions) s.close(reason);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([gone, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    // Whatever did not close in time is cut.
    for (const s of open()) {
      s.conn.destroy();
      this.sessions.destroySession(s, reason, { final: true });
    }
  }
}
