/**
 * The operator's metrics endpoint (global module, on by default): `GET /metrics` in the
 * Prometheus text format, or OpenMetrics when the scraper asks for it (`Accept:
 * application/openmetrics-text`). What is measured: docs/metrics.md.
 *
 * Metrics say who is online how much and from where, so they are not public: by default they are
 * served on the HTTP listeners only to loopback clients (`allow_ips`); a request from anywhere
 * else gets 403 and a log line. Behind a reverse proxy the client's address is the forwarded one
 * only when the proxy is in `[http] trusted_proxies` (else every request looks like the proxy's).
 * With `port` set, the endpoint moves to a listener of its own on `interface` (default
 * 127.0.0.1) and leaves the public HTTP listeners.
 *
 * Options ([modules.metrics]): allow_ips, port, interface, path. A reload applies new ones live
 * (allow_ips and path at once; a new port or interface rebinds its own listener).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server as NetServer } from 'node:net';
import { Registry } from 'prom-client';
import { z } from 'zod';
import { defineModule, type ModuleApi } from '../../core/modules.js';
import { check, list } from '../../core/option-schemas.js';
import { DEFAULT_HTTP_LIMITS, sendText } from '../../net/http.js';
import { HttpRouter, type RouteMatchContext } from '../../net/http-router.js';
import { createHttpServer } from '../../net/http-server.js';
import { listenAll } from '../../net/listen.js';
import { AddressList, TrustedProxies } from '../../net/proxy.js';
import { isIpOrCidr } from '../http/config.js';

const ipOrCidr = check(isIpOrCidr, 'an IP address or CIDR range such as "10.0.0.0/8"');

export default defineModule({
  name: 'metrics',
  description: 'Prometheus/OpenMetrics endpoint for operators (loopback only by default)',
  scope: 'global',
  depends: ['http'],
  options: z.object({
    /** Who may scrape: addresses and CIDR ranges. */
    allow_ips: list(ipOrCidr).default(() => ['127.0.0.0/8', '::1']),
    /** A listener of its own for the endpoint (then not on the public HTTP listeners); 0: none. */
    port: z.number().int().min(0).max(65535).default(0),
    interface: z.string().min(1).default('127.0.0.1'),
    path: z.string().regex(/^\/[A-Za-z0-9/_.-]*$/, 'a path such as "/metrics"').default('/metrics'),
  }),
  async setup(mod) {
    // Both change on a reload (onReconfigure below); the handler reads them at each request.
    let allowed = new AddressList(mod.options.allow_ips);
    const spec = {
      path: mod.options.path,
      methods: ['GET' as const],
      handler: (req: IncomingMessage, res: ServerResponse, ctx: RouteMatchContext) => serve(mod, allowed, req, res, ctx),
    };
    const ownListener = mod.options.port !== 0;
    if (ownListener && !mod.server.runsServiceListeners) {
      mod.log.debug('the metrics listener runs on the cluster service worker');
      return;
    }
    const router = ownListener ? new HttpRouter() : undefined;
    const mount = (path: string): (() => void) => (router ?? mod.require('http')).route({ ...spec, path });
    let unroute = mount(spec.path);
    mod.onUnload(() => unroute());
    // A new allow-list or path applies at once; a new port or interface rebinds the listener (the
    // module is loaded again: scrapes are short requests and nothing else holds the listener).
    mod.onReconfigure((next, previous) => {
      if (next.port !== previous.port || next.interface !== previous.interface) return 'reload';
      allowed = new AddressList(next.allow_ips);
      if (next.path !== previous.path) {
        const mounted = mount(next.path);
        unroute();
        unroute = mounted;
      }
      return undefined;
    });
    if (!router) return;
    const servers: NetServer[] = await listenAll(
      [mod.options.interface],
      [mod.options.port],
      () => createHttpServer({ router, proxies: new TrustedProxies([]), limits: { ...DEFAULT_HTTP_LIMITS }, log: mod.log }),
      mod.log,
    );
    for (const s of servers) mod.server.registerListener('metrics', s);
    mod.onUnload(async () => {
      for (const s of servers) {
        mod.server.unregisterListener(s);
        // A scraper's idle keep-alive connection would hold close() for its whole timeout.
        (s as NetServer & { closeIdleConnections?: () => void }).closeIdleConnections?.();
        await new Promise<void>((r) => s.close(() => r()));
      }
    });
  },
});

async function serve(mod: ModuleApi, allowed: AddressList, req: IncomingMessage, res: ServerResponse, ctx: RouteMatchContext): Promise<void> {
  if (!allowed.has(ctx.ip)) {
    mod.log.warn({ ip: ctx.ip, viaProxy: ctx.viaProxy }, 'metrics scrape refused: address not in [modules.metrics] allow_ips');
    sendText(res, 403, 'metrics are not served to this address\n');
    return;
  }
  const openMetrics = wantsOpenMetrics(req.headers.accept);
  const body = await mod.server.metrics.render({ openMetrics });
  sendText(res, 200, body, openMetrics ? Registry.OPENMETRICS_CONTENT_TYPE : mod.server.metrics.contentType, { 'Cache-Control': 'no-store' });
}

/** Prometheus asks for OpenMetrics first in its Accept header; anything else gets the classic text format. */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && /application\/openmetrics-text/i.test(accept);
}
