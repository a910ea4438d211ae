/**
 * The HTTP(S) server (global): listens on `[http] ports` and `tls_ports` (the hosts'
 * certificates, chosen by SNI), serves a plain index page at `/`, and provides the `http`
 * service other modules mount their routes on (service.ts; README.md in this folder):
 *
 *   const http = mod.require('http'); // with depends: ['http']
 *   mod.onUnload(http.route({ path: '/http-bind', methods: ['POST', 'OPTIONS'], title: 'BOSH', handler }));
 *
 * Options ([modules.http]): max_body_size ("1 MiB"), max_header_size ("8 KiB"),
 * request_timeout ("30s"); a reload applies new ones live. The listeners (`[http]`) need a restart.
 */
import { Server as TlsServer } from 'node:tls';
import type { Server as NetServer } from 'node:net';
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { duration, size } from '../../core/option-schemas.js';
import { listenAll } from '../../net/listen.js';
import { TrustedProxies } from '../../net/proxy.js';
import { DEFAULT_HTTP_LIMITS, sendText, type HttpLimits } from '../../net/http.js';
import { HttpRouter } from '../../net/http-router.js';
import { createHttpServer } from '../../net/http-server.js';
import { cantoVersion } from '../version/index.js';
import { indexPage } from './index-page.js';
import { httpServiceOf } from './service.js';

export type { HttpService } from './service.js';

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
    const router = new HttpRouter();
    const proxies = new TrustedProxies(cfg.trusted_proxies);
    const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS };
    limits.maxBodyBytes = mod.options.max_body_size;
    limits.maxHeaderBytes = mod.options.max_header_size;
    limits.requestTimeoutMs = mod.options.request_timeout;
    limits.headersTimeoutMs = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);

    const version = cantoVersion();
    mod.provides('http', httpServiceOf(router, limits, proxies));
    mod.onUnload(
      router.route({
        path: '/',
        title: 'this page',
        handler: (_req, res, ctx) => sendText(res, 200, indexPage(version, router, ctx.scheme, ctx.hostHeader), 'text/html; charset=utf-8'),
      }),
    );

    const servers: NetServer[] = [];
    // A reload applies new limits live: bodies and timeouts are read at each request, the
    // header size and header timeout are set again on the listeners (new connections get them).
    mod.onReconfigure((next) => {
      limits.maxBodyBytes = next.max_body_size;
      limits.maxHeaderBytes = next.max_header_size;
      limits.requestTimeoutMs = next.request_timeout;
      limits.headersTimeoutMs = Math.min(DEFAULT_HTTP_LIMITS.headersTimeoutMs, next.request_timeout);
      for (const s of servers) {
        // Node reads both from the server object for each new connection.
        const h = s as NetServer & { maxHeaderSize?: number; headersTimeout?: number };
        h.maxHeaderSize = limits.maxHeaderBytes;
        h.headersTimeout = limits.headersTimeoutMs;
      }
    });
    if (!mod.server.runsServiceListeners) {
      // Cluster: BOSH sessions are per-process state, so one worker serves HTTP (src/cluster).
      mod.log.debug('HTTP runs on the cluster service worker');
      return;
    }
    // Listen once every module is loaded: hosts and internal components mount routes during
    // start-up, and a request must never arrive before its route exists.
    mod.onUnload(async () => {
      for (const s of servers) mod.server.unregisterListener(s);
      await closeAll(servers);
    });
    mod.server.afterModulesLoaded(async () => {
      const common = { router, proxies, limits, log: mod.log };
      const plain = await listenAll(cfg.interfaces, cfg.ports, () => createHttpServer(common), mod.log);
      servers.push(...plain);
      for (const s of plain) mod.server.registerListener('http', s);
      const secure = await listenAll(cfg.interfaces, cfg.tls_ports, () => createHttpServer({ ...common, tls: mod.server.tls.serverOptions() }), mod.log);
      servers.push(...secure);
      for (const s of secure) {
        mod.server.registerListener('https', s);
        // An https.Server is a tls.Server: its session-ticket key rotates with the others'.
        if (s instanceof TlsServer) mod.onUnload(mod.server.tls.trackServer(s));
      }
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
