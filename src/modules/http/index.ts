/**
 * The HTTP(S) server (global): listens on `[http] ports` and `tls_ports` (the hosts'
 * certificates, chosen by SNI), serves a plain index page at `/`, and lets other modules mount
 * paths on it through `httpRouter(server)`:
 *
 *   const router = httpRouter(mod.server);
 *   mod.onUnload(router.route('/http-bind', handler, { methods: ['POST', 'OPTIONS'], title: 'BOSH' }));
 *   mod.onUnload(router.upgrade('/xmpp-websocket', onUpgrade, { title: 'WebSocket' }));
 *   mod.onUnload(router.advertise({ rel: 'urn:xmpp:alt-connections:xbosh', path: '/http-bind', kind: 'http' }));
 *
 * Options ([modules.http]): max_body_size ("1 MiB"), max_header_size ("8 KiB"),
 * request_timeout ("30s").
 */
import type { Server as NetServer } from 'node:net';
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { duration, size } from '../../core/option-schemas.js';
import type { Server } from '../../core/server.js';
import { listenAll } from '../../net/listen.js';
import { TrustedProxies } from '../../net/proxy.js';
import { createHttpServer, DEFAULT_HTTP_LIMITS, HttpRouter, sendText, type HttpLimits } from '../../net/http.js';
import { escapeAttr, escapeText } from '../../xml/escape.js';
import { cantoVersion } from '../version/index.js';

export interface HttpService {
  readonly router: HttpRouter;
  readonly proxies: TrustedProxies;
  readonly limits: HttpLimits;
}

const services = new WeakMap<Server, HttpService>();

/** The HTTP service of a server (made on first use, so modules may mount before or after it listens). */
export function httpService(server: Server): HttpService {
  let service = services.get(server);
  if (!service) {
    service = { router: new HttpRouter(), proxies: new TrustedProxies(server.config.http.trusted_proxies), limits: { ...DEFAULT_HTTP_LIMITS } };
    services.set(server, service);
  }
  return service;
}

/** Shorthand: the router other modules mount their paths on. */
export function httpRouter(server: Server): HttpRouter {
  return httpService(server).router;
}

export default defineModule({
  name: 'http',
  description: 'HTTP(S) server for web clients (WebSocket, BOSH, host-meta)',
  scope: 'global',
  options: z.object({
    max_body_size: size('1 MiB', { min: 1 }),
    max_header_size: size('8 KiB', { min: 1 }),
    request_timeout: duration('30s', { min: 1 }),
  }),
  async setup(mod) {
    const cfg = mod.server.config.http;
    const service = httpService(mod.server);
    const limits = service.limits;
    limits.maxBodyBytes = mod.options.max_body_size;
    limits.maxHeaderBytes = mod.options.max_header_size;
    limits.requestTimeoutMs = mod.options.request_timeout;
    limits.headersTimeoutMs = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);

    const version = cantoVersion();
    mod.onUnload(service.router.route('/', (_req, res, ctx) => sendText(res, 200, indexPage(version, service.router, ctx.scheme, ctx.hostHeader), 'text/html; charset=utf-8'), { title: 'this page' }));

    if (!mod.server.runsServiceListeners) {
      // Cluster: BOSH sessions are per-process state, so one worker serves HTTP (src/cluster).
      mod.log.debug('HTTP runs on the cluster service worker');
      return;
    }
    const common = { router: service.router, proxies: service.proxies, limits, log: mod.log };
    const plain = await listenAll(cfg.interfaces, cfg.ports, () => createHttpServer(common), mod.log);
    for (const s of plain) mod.server.registerListener('http', s);
    let secure: NetServer[] = [];
    try {
      secure = await listenAll(cfg.interfaces, cfg.tls_ports, () => createHttpServer({ ...common, tls: mod.server.tls.serverOptions() }), mod.log);
    } catch (err) {
      await closeAll(plain);
      throw err;
    }
    for (const s of secure) mod.server.registerListener('https', s);
    const servers = [...plain, ...secure];
    mod.onUnload(async () => {
      for (const s of servers) mod.server.unregisterListener(s);
      await closeAll(servers);
    });
  },
});

async function closeAll(servers: NetServer[]): Promise<void> {
  for (const s of servers) {
    // Upgraded WebSocket sockets are no longer the HTTP server's: their modules close them.
    (s as NetServer & { closeAllConnections?: () => void }).closeAllConnections?.();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

function indexPage(version: string, router: HttpRouter, scheme: 'http' | 'https', host: string | undefined): string {
  const base = host ? `${scheme}://${host}` : '';
  const items = router
    .index()
    .filter((e) => e.path !== '/')
    .map((e) => {
      const ws = router.findUpgrade(e.path) !== undefined;
      const href = ws && base ? `${scheme === 'https' ? 'wss' : 'ws'}://${host ?? ''}${e.path}` : e.path;
      return `<li>${escapeText(e.title)}: <a href="${escapeAttr(href)}">${escapeText(href)}</a></li>`;
    })
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Canto</title></head>
<body>
<h1>Canto XMPP server ${escapeText(version)}</h1>
<p>This is an XMPP server. Use an XMPP client to connect; web clients use the endpoints below.</p>
<ul>
${items}
</ul>
</body></html>
`;
}
