/**
 * The components this server knows (`[[component]]` in the config): for each domain, whether
 * it is external (XEP-0114, a program connecting with a shared secret) or internal (served by
 * a module in this process), and what currently serves it. The router only asks `has(domain)`;
 * the component module fills in `session` / `context` as components connect and load.
 *
 * Iterating the registry yields the domains (disco#items lists them).
 */
import type { ComponentConfig } from './config.js';
import type { HostContext } from './host.js';
import type { ComponentSession } from './session.js';

interface EntryBase {
  readonly domain: string;
  /** Stanzas the component sent into the router. */
  stanzasIn: number;
  /** Stanzas delivered to the component. */
  stanzasOut: number;
}

export interface ExternalComponent extends EntryBase {
  readonly kind: 'external';
  readonly secret: string;
  /** The authenticated stream, while the component is connected. */
  session: ComponentSession | undefined;
}

export interface InternalComponent extends EntryBase {
  readonly kind: 'internal';
  /** The module that serves the domain (`module = "…"`). */
  readonly module: string;
  /** The component's context (its event bus and loaded modules), once the module loaded. */
  context: HostContext | undefined;
}

export type ComponentEntry = ExternalComponent | InternalComponent;

/** Server-wide counters of the external component listener. */
export interface ComponentCounters {
  connections: number;
  authSucceeded: number;
  authFailed: number;
}

/**
 * Where an external component's domain is held across the nodes of a cluster (the Redis
 * engine's src/cluster/redis/placement.ts sets it): the node a component authenticates on claims
 * the domain and gives it up when the connection ends; the other nodes route its stanzas there.
 */
export interface ComponentPlacement {
  /**
   * Hold `domain` for a connection that just authenticated here. `replace`: take it even from a
   * connection on another node (which is then closed with `conflict`). Resolves false when a
   * connection on another node holds it (without `replace`) or the cluster cannot be asked.
   */
  claim(domain: string, replace: boolean): Promise<boolean>;
  /** The connection holding `domain` here ended. */
  release(domain: string): void;
}

export class ComponentRegistry implements Iterable<string> {
  private readonly entries = new Map<string, ComponentEntry>();
  readonly counters: ComponentCounters = { connections: 0, authSucceeded: 0, authFailed: 0 };
  /** Set on a cluster node (Redis engine); undefined on one process: a connection here is the only one. */
  placement: ComponentPlacement | undefined;

  constructor(configs: readonly ComponentConfig[] = []) {
    for (const c of configs) {
      const base = { domain: c.domain, stanzasIn: 0, stanzasOut: 0 };
      // The config schema guarantees exactly one of secret and module.
      if (c.module !== undefined) this.entries.set(c.domain, { ...base, kind: 'internal', module: c.module, context: undefined });
      else this.entries.set(c.domain, { ...base, kind: 'external', secret: c.secret ?? '', session: undefined });
    }
  }

  /** Whether the domain is a configured component (connected or not). */
  has(domain: string): boolean {
    return this.entries.has(domain);
  }

  get(domain: string): ComponentEntry | undefined {
    return this.entries.get(domain);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Whether something serves the domain right now (an external stream, or a loaded module). */
  isAvailable(domain: string): boolean {
    const e = this.entries.get(domain);
    if (!e) return false;
    return e.kind === 'external' ? e.session !== undefined : e.context !== undefined;
  }

  entriesOf<K extends ComponentEntry['kind']>(kind: K): Array<Extract<ComponentEntry, { kind: K }>> {
    return [...this.entries.values()].filter((e): e is Extract<ComponentEntry, { kind: K }> => e.kind === kind);
  }

  [Symbol.iterator](): Iterator<string> {
    return this.entries.keys();
  }
}
