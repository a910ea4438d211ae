/**
 * The numbers the dashboard polls: sessions by type, stanza totals (the browser turns two
 * readings into a rate), memory and event-loop lag. Sessions are counted from the session
 * table; the stanza totals are read from the server's own counters (docs/metrics.md), so the
 * console and /metrics always agree. The event-loop delay is measured only while someone
 * watches: the monitor starts at the first reading and stops when the module unloads.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { ModuleServer } from '../../core/server.js';

export interface DashboardSample {
  /** ms since the epoch */
  time: number;
  uptimeSeconds: number;
  sessions: { c2s: number; s2s: number; component: number; unauthenticated: number };
  /** Totals since the start (all kinds of peer and stanza). */
  stanzas: { received: number; sent: number };
  memory: { rssBytes: number; heapUsedBytes: number; heapTotalBytes: number };
  /** Since the previous reading, ms; null before the monitor has a sample. */
  eventLoopLag: { meanMs: number | null; p99Ms: number | null; maxMs: number | null };
}

export class DashboardStats {
  private monitor: IntervalHistogram | undefined;

  constructor(private readonly server: ModuleServer) {}

  async sample(): Promise<DashboardSample> {
    const sessions = { c2s: 0, s2s: 0, component: 0, unauthenticated: 0 };
    for (const s of this.server.sessions.all) {
      if (s.type === 'c2s' || s.type === 's2s' || s.type === 'component') sessions[s.type]++;
      else if (s.type === 'c2s_unauthed' || s.type === 's2s_unauthed') sessions.unauthenticated++;
    }
    const mem = process.memoryUsage();
    return {
      time: Date.now(),
      uptimeSeconds: Math.floor((Date.now() - this.server.startedAt) / 1000),
      sessions,
      stanzas: { received: await this.total('canto_stanzas_received_total'), sent: await this.total('canto_stanzas_sent_total') },
      memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, heapTotalBytes: mem.heapTotal },
      eventLoopLag: this.lag(),
    };
  }

  stop(): void {
    this.monitor?.disable();
    this.monitor = undefined;
  }

  private lag(): DashboardSample['eventLoopLag'] {
    if (!this.monitor) {
      this.monitor = monitorEventLoopDelay({ resolution: 20 });
      this.monitor.enable();
      return { meanMs: null, p99Ms: null, maxMs: null };
    }
    const h = this.monitor;
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    const out = h.count === 0 ? { meanMs: null, p99Ms: null, maxMs: null } : { meanMs: ms(h.mean), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max) };
    h.reset();
    return out;
  }

  /** The sum of every series of a counter of the server's registry (0 if it is not registered). */
  private async total(name: string): Promise<number> {
    const metric = this.server.metrics.registry.getSingleMetric(name);
    if (!metric) return 0;
    const data = await metric.get();
    return data.values.reduce((sum, v) => sum + v.value, 0);
  }
}
