/**
 * Singleton services on a Redis cluster (docs/scaling.md, "Singleton services"): an internal
 * component whose state lives in one process — a MUC service with its rooms and occupants — is
 * served by one node at a time, the owner of `canto:owner:{domain}` (a lease renewed with the
 * node's own). Every node loads the component, but only the owner handles its stanzas: the others
 * put them on the owner's stream (one script: owner check + XADD), and the owner routes them as
 * if they had been sent there. When no live member owns the service, the node that needs it (a
 * stanza, or the next heartbeat of any node) takes it and loads its state from storage first.
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
import type { Server } from '../../core/server.js';
import type { StanzaOrigin } from '../../core/session.js';
import { tryParseJid } from '../../jid/index.js';
import type { Element } from '../../xml/element.js';
import type { ForwardMessage } from '../protocol.js';
import type { ClusterWorker } from '../worker.js';
import type { RedisEngine } from './engine.js';

/** Internal component modules whose state is one process's: served by one node at a time. */
export const SINGLETON_MODULES: ReadonlySet<string> = new Set(['muc']);

/** Before component delivery (priority 0), after the sender-side modules. */
const PLACEMENT_PRIORITY = 1;

export class ServicePlacement {
  private readonly domains = new Set<string>();
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
    }
    if (this.domains.size === 0) return;
    for (const d of this.domains) this.engine.addService(d);
    const measure = server.metrics.scope('cluster');
    this.routed = measure.counter('cluster_service_stanzas_total', 'Stanzas for a singleton service (MUC domain) this node did not serve, by where they went: queued (to the owner), local (taken here), refused', ['service', 'route']);
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
    const origin = server?.hosts.get(tryParseJid(stanza.attrs.from ?? '')?.domain ?? '')?.session;
    if (!server || !origin || !this.domains.has(domain)) {
      this.log.warn({ service: domain, from: stanza.attrs.from }, 'dropping a stanza for a singleton service not from a local host');
      return;
    }
    return this.engine.settled(domain).then(() => {
      if (this.engine.owns(domain)) this.routeHere(stanza, origin);
      else if ((msg.hops ?? 0) === 0 || again) this.forward(domain, stanza, origin, 1);
      else this.refuse(stanza, origin);
    });
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

  /** The component loads its state from storage when this node takes it, and drops it when it loses it. */
  private async changed(service: string, owned: boolean): Promise<void> {
    this.changes?.inc({ service, change: owned ? 'acquired' : 'released' });
    const entry = this.server?.components.get(service);
    const bus = entry?.kind === 'internal' ? entry.context?.events : undefined;
    if (!bus) return;
    await bus.dispatch(owned ? 'cluster-service-acquired' : 'cluster-service-released', { service });
  }
}
