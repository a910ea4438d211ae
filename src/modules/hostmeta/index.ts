/**
 * XEP-0156 discovery over HTTP: `/.well-known/host-meta` (XRD) and `/.well-known/host-meta.json`
 * list the connection endpoints other modules advertise on the HTTP router (the WebSocket one,
 * BOSH's once it exists). URLs are built from `http.public_url` when set, else from the
 * request's Host header and scheme (behind a trusted proxy, the client's scheme); without a
 * Host header, the first virtual host's name. Served to any origin (the data is public).
 */
import { defineModule } from '../../core/modules.js';
import type { RequestContext } from '../../net/http.js';
import { sendText } from '../../net/http.js';
import type { AdvertisedEndpoint } from '../../net/http-router.js';
import { escapeAttr } from '../../xml/escape.js';

export const NS_XRD = 'http://docs.oasis-open.org/ns/xri/xrd-1.0';

export interface HostMetaLink {
  rel: string;
  href: string;
}

/**
 * The absolute URL of an endpoint. `publicUrl` ("https://chat.example.com" or with a path
 * prefix) wins; otherwise the scheme and authority the client used to reach us.
 */
export function endpointUrl(endpoint: AdvertisedEndpoint, base: { publicUrl?: string; scheme: 'http' | 'https'; authority: string }): string {
  let scheme: string = base.scheme;
  let authority = base.authority;
  let prefix = '';
  if (base.publicUrl !== undefined) {
    const u = new URL(base.publicUrl);
    scheme = u.protocol.replace(/:$/, '');
    authority = u.host;
    prefix = u.pathname.replace(/\/+$/, '');
  }
  const secure = scheme === 'https';
  const finalScheme = endpoint.kind === 'ws' ? (secure ? 'wss' : 'ws') : secure ? 'https' : 'http';
  return `${finalScheme}://${authority}${prefix}${endpoint.path}`;
}

export function hostMetaXrd(links: readonly HostMetaLink[]): string {
  const body = links.map((l) => `  <Link rel='${escapeAttr(l.rel)}' href='${escapeAttr(l.href)}'/>\n`).join('');
  return `<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='${NS_XRD}'>\n${body}</XRD>\n`;
}

export function hostMetaJson(links: readonly HostMetaLink[]): string {
  return JSON.stringify({ links: links.map((l) => ({ rel: l.rel, href: l.href })) }, null, 2) + '\n';
}

export default defineModule({
  name: 'hostmeta',
  description: 'XEP-0156 connection endpoint discovery (host-meta)',
  scope: 'global',
  depends: ['http'],
  setup(mod) {
    const server = mod.server;
    const http = mod.require('http');
    const publicUrl = server.config.http.public_url;
    const firstHost = server.config.virtualhost[0]?.domain ?? 'localhost';

    const links = (ctx: RequestContext, localPort: number | undefined): HostMetaLink[] => {
      const authority = ctx.hostHeader !== undefined && ctx.hostHeader !== '' ? ctx.hostHeader : localPort === undefined ? firstHost : `${firstHost}:${localPort}`;
      return http.advertised.map((e) => ({ rel: e.rel, href: endpointUrl(e, { publicUrl, scheme: ctx.scheme, authority }) }));
    };
    const headers = { 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'max-age=300' };

    mod.onUnload(
      http.route({
        path: '/.well-known/host-meta',
        title: 'XEP-0156 host-meta (XRD)',
        handler: (req, res, ctx) => sendText(res, 200, hostMetaXrd(links(ctx, req.socket.localPort)), 'application/xrd+xml; charset=utf-8', headers),
      }),
    );
    mod.onUnload(
      http.route({
        path: '/.well-known/host-meta.json',
        title: 'XEP-0156 host-meta (JSON)',
        handler: (req, res, ctx) => sendText(res, 200, hostMetaJson(links(ctx, req.socket.localPort)), 'application/json; charset=utf-8', headers),
      }),
    );
  },
});
