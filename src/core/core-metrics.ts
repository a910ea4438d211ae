/**
 * The metrics the core registers on every server (docs/metrics.md): stream sessions by type and
 * bound resources by host, read when scraped; stanzas routed by kind, counted by the router.
 */
import type { CounterMetric } from './metrics.js';
import type { Server } from './server.js';
import type { StreamSession } from './session.js';

export interface CoreMetrics {
  /** Incremented by Router.routeFrom for every stanza it routes. */
  readonly stanzasRouted: CounterMetric<'kind'>;
}

const SESSION_TYPES: ReadonlyArray<StreamSession['type']> = ['c2s_unauthed', 'c2s', 's2s_unauthed', 's2s', 'component'];

export function registerCoreMetrics(server: Server): CoreMetrics {
  const measure = server.metrics.scope('core');
  measure.gauge('sessions', 'Stream sessions in this process, by type', ['type'], (gauge) => {
    const counts = new Map<string, number>(SESSION_TYPES.map((t) => [t, 0]));
    for (const s of server.sessions.all) counts.set(s.type, (counts.get(s.type) ?? 0) + 1);
    for (const [type, n] of counts) gauge.set(n, { type });
  });
  measure.gauge('bound_resources', 'Client resources bound in this process, by host', ['host'], (gauge) => {
    for (const host of server.hosts.keys()) gauge.set(server.sessions.countBound(host), { host });
  });
  return {
    stanzasRouted: measure.counter('stanzas_routed_total', 'Stanzas routed, by kind (message, presence, iq)', ['kind']),
  };
}
