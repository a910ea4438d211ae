/**
 * The metrics the core registers on every server (docs/metrics.md): stream sessions by type and
 * bound resources by host, read when scraped; stanzas routed by kind, counted by the router.
 */
import { Counter } from 'prom-client';
import { METRIC_PREFIX } from './metric-names.js';
import type { Server } from './server.js';
import type { StreamSession } from './session.js';

export interface CoreMetrics {
  /**
   * Stanzas routed by kind, counted by Router.routeFrom as plain numbers (the per-message path
   * pays an increment, not a label lookup) and read into the counter when scraped.
   */
  readonly stanzasRouted: Record<'message' | 'presence' | 'iq', number>;
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
  const stanzasRouted = { message: 0, presence: 0, iq: 0 };
  new Counter({
    name: `${METRIC_PREFIX}stanzas_routed_total`,
    help: 'Stanzas routed, by kind (message, presence, iq)',
    labelNames: ['kind'],
    registers: [server.metrics.registry],
    collect() {
      this.reset();
      for (const [kind, n] of Object.entries(stanzasRouted)) this.inc({ kind }, n);
    },
  });
  return { stanzasRouted };
}
