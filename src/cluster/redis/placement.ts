/**
 * Singleton services on a Redis cluster (docs/scaling.md, "Singleton services"): an internal
 * component whose state lives in one process — a MUC service with its rooms and occupants, a
 * pubsub service — is served by one node at a time, the owner of `canto:owner:{domain}` (a lease
 * renewed with the node's own). Every node loads the component, but only the owner handles its
 * stanzas: the others put them on the owner's stream (one script: owner check + XADD), and the
 * owner routes them as if they had been sent there. When no live member owns the service, the
 * node that needs it (a stanza, or the next heartbeat of any node) takes it and loads its state
 * from storage first.
 *
 * External components (XEP-0114) are placed the same way, except that the owner is the node the
 * component's connection authenticated on (it claims the domain at the handshake, renews it with
 * its heartbeat while the connection lives and gives it up when it ends): a node never takes such
 * a domain for a stanza. With no live owner the sender gets what one node answers for a component
 * that is not connected (service-unavailable; presence dropped).
 *
 * The unit is the whole component domain, not each room: MucService keeps service-wide state
 * (rooms per creator, unique names, the room list of disco#items) that per-room owners would have
 * to share; one owner per domain keeps the module as it is. The cost: one node carries all of a
 * MUC domain's work (configure several MUC domains to spread it).
 */
import type { EventMap } from '../../core/event-map.js';
import type { Logger } from '../../core/logging.js';
import type { Completion } from '../../core/router.js';
import type { CounterMetric } from '../../core/metrics.js';
import type { ComponentPlacement } from '../../core/components.js';
import type { Server } from '../../core/server.js';
import type { StanzaOrigin } from '../../core/session.js';
import { tryParseJid } from '../../jid/index.js';
import type { Element } from '../../xml/element.js';
import type { ForwardMessage } from '../protocol.js';
import type { ClusterWorker } from '../worker.js';
import type { RedisEngine } from './engine.js';

/** Internal component modules whose state is one process's: served by one node at a time. */
export const SINGLETON_MODULES: ReadonlySet<string> = new Set(['muc', 'pubsub']);

/** Before component delivery (priority 0), after the sender-side modules. */
const PLACEMENT_PRIORITY = 1;

export class ServicePlacement implements ComponentPlacement {
  /** Every placed domain: singleton internal components and external components. */
  private readonly domains = new Set<string>();
  /** The external components' domains (held by the node their connection is on). */
  private readonly external = new Set<string>();
  /** Stanzas this node routes for a service it owns: the hook lets them through to the component. */
  private readonly local = new WeakSet<Element>();
  /** Results of routeService handled in the order the stanzas came (per node, one chain). */
  private chain: Promise<void> = Promise.resolve();
  private server: Server | undefined;
  /** Stanzas for a singleton service this node did not own: queued for the owner, taken here, or refused. */
  private routed: CounterMetric<'service' | 'route'> | undefined;
  private changes: CounterMetric<'service' | 'change'> | undefined;

  constructor(
    private readonly engine: RedisEngine,
    private readonly log: Logger,
  ) {}

  /** Before the server starts: the singleton components of `server`'s config. */
  install(server: Server, link: ClusterWorker): void {
    this.server = server;
    for (const c of server.config.component) {
      if (c.module !== undefined && SINGLETON_MODULES.has(c.module)) this.domains.add(c.domain);
      else if (c.module === undefined) this.external.add(c.domain);
    }
    for (const d of this.external) this.domains.add(d);
    if (this.domains.size === 0) return;
    for (const d of this.domains) this.engine.addService(d, this.external.has(d));
    if (this.external.size > 0) server.components.placement = this;
    const measure = server.metrics.scope('cluster');
    this.routed = measure.counter('cluster_service_stanzas_total', 'Stanzas for a singleton service (MUC or pubsub domain, external component) this node did not serve, by where they went: queued (to the owner), local (taken here), none (no node holds the external component), refused', ['service', 'route']);
    this.changes = measure.counter('cluster_service_changes_total', 'Times this node took (acquired) or lost (released) a singleton service', ['service', 'change']);
    this.engine.onServiceChange = (service, owned) => this.changed(service, owned);
    link.serviceRouter = (msg, stanza, again) => this.receive(msg, stanza, again);
    server.events.on('route/component', (event) => this.onRoute(event), PLACEMENT_PRIORITY);
    this.log.info({ services: [...this.domains] }, 'singleton services placed by lease');
  }

  private onRoute(event: EventMap['route/component']): boolean {
    const domain = event.toHost;
    if (!this.domains.has(domain) || this.local.has(event.stanza) || this.engine.owns(domain)) return false;
    const { stanza } = event;
    stanza.attrs.from ??= event.from.full;
    stanza.attrs.to ??= event.to.full;
    this.forward(domain, stanza, event.origin, 0);
    return true;
  }

  /** Queue for the owner, or (no live owner) take the service and handle it here; in order. */
  private forward(domain: string, stanza: Element, origin: StanzaOrigin, hops: number): void {
    const msg: ForwardMessage = { t: 'forward', kind: 'service', service: domain, from: this.engine.self, xml: stanza.toString(), hops };
    // The scripts run in call order on one connection; their results are acted on in that order.
    const routed = this.engine.routeService(domain, msg).catch((err: unknown) => {
      this.log.warn({ err: (err as Error).message, service: domain }, 'could not route a stanza to a singleton service');
      return 'fenced' as const;
    });
    this.chain = this.chain.then(async () => {
      const where = await routed;
      this.routed?.inc({ service: domain, route: where === 'fenced' ? 'refused' : where });
      if (where === 'local') this.routeHere(stanza, origin);
      else if (where === 'fenced') this.refuse(stanza, origin);
      else if (where === 'none') this.notConnected(stanza, origin);
    });
  }

  /**
   * A stanza another node queued for a service this node owned when it was queued (or, `again`,
   * one a dead member had queued and never handled). Handled here if this node owns the service
   * now; else passed on once more, never twice.
   */
  private receive(msg: ForwardMessage, stanza: Element, again: boolean): Completion {
    const server = this.server;
    const domain = msg.service ?? '';
    const origin = server && this.originOf(server, stanza.attrs.from ?? '');
    if (!server || !origin || !this.domains.has(domain)) {
      this.log.warn({ service: domain, from: stanza.attrs.from }, 'dropping a stanza for a singleton service: no origin to route it from');
      return;
    }
    return this.engine.settled(domain).then(() => {
      if (this.engine.owns(domain)) this.routeHere(stanza, origin);
      else if ((msg.hops ?? 0) === 0 || again) this.forward(domain, stanza, origin, 1);
      else this.refuse(stanza, origin);
    });
  }

  /**
   * What a queued stanza is routed from on this node (the node it entered the cluster on checked
   * its `from`): the sender's served host; an internal component's own context; for anyone else
   * (a remote server's user, an external component connected to another node) a served host's
   * session, which sends an error reply through the router like any stanza (no sender-side
   * events run for a `from` outside that host).
   */
  private originOf(server: Server, from: string): StanzaOrigin | undefined {
    const domain = tryParseJid(from)?.domain;
    if (domain === undefined) return undefined;
    const host = server.hosts.get(domain);
    if (host) return host.session;
    const component = server.components.get(domain);
    if (component?.kind === 'internal' && component.context) return component.context.session;
    if (component?.kind === 'external' && component.session) return component.session;
    for (const ctx of server.hosts.values()) return ctx.session;
    return undefined;
  }

  private routeHere(stanza: Element, origin: StanzaOrigin): void {
    this.local.add(stanza);
    // The sender-side events ran where the stanza entered the cluster.
    void this.server?.router.route(origin, stanza, { senderSideDone: true });
  }

  private refuse(stanza: Element, origin: StanzaOrigin): void {
    if (stanza.name === 'presence') return;
    this.server?.router.bounce(origin, stanza, 'service-unavailable', 'the cluster node serving this service is not reachable');
  }

  /** No node holds the external component: what one node does when it is not connected (router.ts, component module). */
  private notConnected(stanza: Element, origin: StanzaOrigin): void {
    if (stanza.name === 'presence') return;
    this.server?.router.bounce(origin, stanza, 'service-unavailable', 'the component is not connected');
  }

  // ───────────── ComponentPlacement (the component module, for external components) ─────────────

  /** An external component authenticated here: hold its domain (see RedisEngine.acquireHeld). */
  claim(domain: string, replace: boolean): Promise<boolean> {
    if (!this.external.has(domain)) return Promise.resolve(true);
    return this.engine.acquireHeld(domain, replace);
  }

  /** The external component's connection here ended. */
  release(domain: string): void {
    if (this.external.has(domain)) this.engine.releaseHeld(domain);
  }

  /**
   * The component loads its state from storage when this node takes it, and drops it when it
   * loses it. An external component's connection here is closed when this node lost its domain
   * while it lived: another node's newer connection replaced it (kick_old), or this node was fenced.
   */
  private async changed(service: string, owned: boolean): Promise<void> {
    this.changes?.inc({ service, change: owned ? 'acquired' : 'released' });
    const entry = this.server?.components.get(service);
    if (entry?.kind === 'external') {
      const session = entry.session;
      if (owned || !session) return;
      // Its end releases the domain here (connected = false), as any end of the connection does.
      this.log.warn({ service }, 'closing the external component\'s connection: this node no longer holds its domain');
      session.close(this.engine.fenced
        ? { condition: 'system-shutdown', text: 'this server node lost its cluster lease; connect to another node' }
        : { condition: 'conflict', text: 'replaced by a new connection on another cluster node' });
      return;
    }
    const bus = entry?.kind === 'internal' ? entry.context?.events : undefined;
    if (!bus) return;
    await bus.dispatch(owned ? 'cluster-service-acquired' : 'cluster-service-released', { service });
  }
}
