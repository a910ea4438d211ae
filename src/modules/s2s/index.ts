/**
 * Federation (RFC 6120 server-to-server, XEP-0220 dialback, XEP-0178 SASL EXTERNAL, XEP-0368
 * direct TLS). A global module, always loaded, active when `[s2s] ports` or `direct_tls_ports`
 * is non-empty: dialback needs the remote server to connect back to us, so a server that
 * accepts no server connections does not federate (stanzas to other domains are bounced with
 * remote-server-not-found by the router, as before).
 *
 * Delivery hooks 'route/remote' on every host's bus at priority 0, after presence (100) and
 * blocking (1000) have seen the stanza. Options in `[modules.s2s]`: connect_timeout (10s),
 * negotiation_timeout (30s), auth_timeout (60s), queue_size (500), dialback_secret (when left
 * out: random per start, or in a Redis cluster one derived from the cluster's shared secret, so a
 * key any node made is verified by every node; dialbackSecret below).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server as NetServer } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { duration } from '../../core/option-schemas.js';
import type { ModuleServer } from '../../core/server.js';
import type { EventMap } from '../../core/event-map.js';
import type { Measure } from '../../core/metrics.js';
import { listenAll } from '../../net/listen.js';
import { emptyStats, type S2SContext, type S2SStats } from './context.js';
import { acceptIncoming, type IncomingHandle } from './incoming.js';
import { OutgoingManager } from './outgoing.js';
import { S2SSecurity } from './security.js';
import { s2sDns } from './dns.js';
import { promises as dnsPromises } from 'node:dns';

/** What the s2s module provides (server-wide, while federation is on) as the 's2s' service. */
export interface S2SService {
  readonly stats: Readonly<S2SStats>;
  /** The outgoing streams, for diagnostics. */
  readonly outgoing: OutgoingManager;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    s2s: S2SService;
  }
}

/** The s2s counters of a server (undefined when federation is off). */
export function s2sStats(server: ModuleServer): Readonly<S2SStats> | undefined {
  return server.services.get('s2s')?.stats;
}

/** The outgoing streams of a server, for tests and diagnostics. */
export function s2sOutgoing(server: ModuleServer): OutgoingManager | undefined {
  return server.services.get('s2s')?.outgoing;
}

export default defineModule({
  name: 's2s',
  description: 'RFC 6120 server-to-server streams, XEP-0220 dialback, XEP-0178 SASL EXTERNAL',
  scope: 'global',
  restartOnOptionChange: 'its options shape the server-to-server streams in progress, and loading it again would close them',
  options: z.object({
    dialback_secret: z.string().min(1).optional(), // left out: random per process, or the Redis cluster's (dialbackSecret)
    connect_timeout: duration('10s', { min: 1 }),
    negotiation_timeout: duration('30s', { min: 1 }),
    auth_timeout: duration('60s', { min: 1 }),
    queue_size: z.number().int().min(1).default(500),
  }),
  async setup(mod) {
    const server = mod.server;
    const cfg = server.config.s2s;
    if (cfg.ports.length === 0 && cfg.direct_tls_ports.length === 0) {
      mod.log.debug('federation is off: [s2s] has no ports');
      return;
    }
    if (!server.runsServiceListeners) {
      // Cluster: only the service worker federates; the others forward route/remote to it (src/cluster).
      mod.log.debug('s2s runs on the cluster service worker');
      return;
    }
    const ctx: S2SContext = {
      server,
      log: mod.log,
      security: new S2SSecurity(cfg, server.tls),
      secret: await dialbackSecret(mod.options.dialback_secret, server.config.cluster.redis),
      stats: emptyStats(),
      options: {
        connectTimeout: mod.options.connect_timeout,
        negotiationTimeout: mod.options.negotiation_timeout,
        authTimeout: mod.options.auth_timeout,
        queueSize: mod.options.queue_size,
      },
      // Both replaced just below by the OutgoingManager, which needs the context to be made.
      verifier: { verify: () => Promise.resolve({ error: 'internal-server-error' }) },
      bidiRoutes: { addBidiRoute: () => () => undefined },
      dns: s2sDns(cfg.dns_servers, dnsPromises),
    };
    const redisUrl = server.config.cluster.redis;
    if (mod.options.dialback_secret === undefined && redisUrl !== undefined) keepSharedSecret(mod, redisUrl);
    const outgoing = new OutgoingManager(ctx);
    ctx.verifier = outgoing;
    ctx.bidiRoutes = outgoing;
    mod.provides('s2s', { stats: ctx.stats, outgoing });
    exportStats(mod.measure, ctx.stats);

    const deliver = (event: EventMap['route/remote']): true | undefined => {
      const { stanza, origin, toHost, fromHost } = event;
      // Only our own domains can be authenticated to a peer.
      if (!server.hosts.has(fromHost) && !server.components.has(fromHost)) return undefined;
      // Server-to-server stanzas always carry both addresses (RFC 6120 §8.1.1.1, §8.1.2.1).
      stanza.attrs.from ??= event.from.full;
      stanza.attrs.to ??= event.to.full;
      outgoing.send(fromHost, toHost, stanza, origin);
      return true;
    };
    // The router fires route/remote on the sender's host bus (hosts a reload adds included), or
    // the server bus for a component.
    mod.hookEveryHost('route/remote', deliver, 0);
    mod.hook('route/remote', deliver, 0);

    const live = new Set<IncomingHandle>();
    const plain = await listenAll(cfg.interfaces, cfg.ports, () => createServer({ noDelay: true }, (socket) => acceptIncoming(ctx, socket, live)), mod.log);
    for (const s of plain) server.registerListener('s2s', s);
    const direct = await listenAll(cfg.interfaces, cfg.direct_tls_ports, () => createTlsServer(ctx.security.listenerOptions(), (socket) => acceptIncoming(ctx, socket, live)), mod.log);
    for (const s of direct) server.registerListener('s2s_direct_tls', s);
    const servers: NetServer[] = [...plain, ...direct];

    // Idle streams: outgoing ones that carried nothing, incoming ones that received nothing.
    const sweep = Math.max(1000, Math.min(cfg.idle_timeout / 4, 30_000));
    mod.setInterval(() => {
      const now = Date.now();
      outgoing.closeIdle(cfg.idle_timeout, now);
      for (const h of live) {
        const last = h.session.lastActivity ?? now;
        if (h.pairs.size > 0 && now - last > cfg.idle_timeout) h.session.close();
      }
    }, sweep);

    mod.onUnload(async () => {
      outgoing.shutdown();
      for (const s of servers) {
        server.unregisterListener(s);
        await new Promise<void>((r) => s.close(() => r()));
      }
    });
  },
});

/**
 * The XEP-0185 secret dialback keys are made and checked with: the configured one; else, on a
 * node of a Redis cluster, one derived from the cluster's shared secret (every node of the domain
 * must answer a remote server's db:verify for a key another node sent); else random per start.
 */
async function dialbackSecret(configured: string | undefined, redisUrl: string | undefined): Promise<string> {
  if (configured !== undefined) return configured;
  if (redisUrl === undefined) return randomBytes(32).toString('hex');
  const { clusterSecret, deriveSecret } = await import('../../cluster/redis/shared-secret.js');
  try {
    return deriveSecret(await clusterSecret(redisUrl), 's2s dialback');
  } catch (err) {
    throw new Error(`s2s: cannot read the cluster's shared secret from Redis for dialback (set [modules.s2s] dialback_secret, or make Redis reachable): ${(err as Error).message}`);
  }
}

/**
 * Every KEEP_SECRET_EVERY_MS, put the cluster secret back in Redis if Redis lost it (restarted
 * empty), so that a node started afterwards derives the same dialback secret; warn when Redis
 * holds another one (the nodes then disagree until this one restarts).
 */
function keepSharedSecret(mod: { setInterval(fn: () => void, ms: number): unknown; log: S2SContext['log'] }, redisUrl: string): void {
  let warned = false;
  mod.setInterval(() => {
    void (async () => {
      const { clusterSecret, keepClusterSecret } = await import('../../cluster/redis/shared-secret.js');
      const same = await keepClusterSecret(redisUrl, await clusterSecret(redisUrl));
      if (!same && !warned) {
        warned = true;
        mod.log.warn('s2s: the cluster secret in Redis is not the one this node started with (Redis was emptied and another node made a new one): remote servers may find this node\'s dialback keys invalid on other nodes; restart this node');
      }
    })().catch(() => undefined); // Redis away: the next round tries again
  }, KEEP_SECRET_EVERY_MS);
}

const KEEP_SECRET_EVERY_MS = 30_000;

/** The federation counters the streams keep as plain numbers, read when scraped (docs/metrics.md). */
function exportStats(measure: Measure, stats: Readonly<S2SStats>): void {
  measure.counter('s2s_streams_opened_total', 'Server-to-server streams opened, by direction', ['direction'], (c) => {
    c.set(stats.incomingStreams, { direction: 'incoming' });
    c.set(stats.outgoingStreams, { direction: 'outgoing' });
  });
  measure.counter('s2s_authentications_total', 'Server-to-server streams authenticated, by method (external: certificate, dialback)', ['method'], (c) => {
    c.set(stats.authExternal, { method: 'external' });
    c.set(stats.authDialback, { method: 'dialback' });
  });
  measure.counter('s2s_authentication_failures_total', 'Server-to-server authentications refused or failed, either direction', [], (c) => c.set(stats.authFailures));
  measure.counter('s2s_connect_failures_total', 'Connection attempts to a remote server that failed (refused, timed out, TLS failed)', [], (c) => c.set(stats.connectFailures));
  measure.counter('s2s_dialback_verifies_answered_total', 'Dialback verification requests answered as the authoritative server', [], (c) => c.set(stats.dialbackVerifiesAnswered));
  measure.counter('s2s_bidi_streams_total', 'Streams on which bidirectional use (XEP-0288) was negotiated', [], (c) => c.set(stats.bidiStreams));
  measure.counter('s2s_stanzas_bounced_total', 'Stanzas to remote domains bounced because no stream could be made', [], (c) => c.set(stats.stanzasBounced));
}
