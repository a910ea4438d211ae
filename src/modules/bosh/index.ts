/**
 * BOSH (XEP-0124) carrying XMPP (XEP-0206), mounted on the HTTP server at `/http-bind`. A BOSH
 * session is a client session like a TCP or WebSocket one (client-session.ts): same lifecycle
 * and modules; session.ts keeps it alive across HTTP requests. POST only (and the OPTIONS
 * preflight, answered with CORS headers from `http.cors_origins`: by default every origin, since
 * BOSH carries no ambient credentials); with that list set, a browser whose Origin is not in it
 * is refused with 403.
 *
 * A session's `ip` and `secure` are those of its creation request (trusted-proxy headers
 * applied). Later requests are not tied to that address (mobile clients move), but a session
 * created over HTTPS is only reachable over HTTPS: the sid alone must not be enough on plain
 * HTTP, where it could have been read.
 *
 * Options ([modules.bosh]): path ("/http-bind"), max_wait ("60s"), max_hold (1),
 * inactivity ("60s"), polling ("5s"), max_body_size (the http module's max_body_size).
 *
 * In a Redis cluster a request for a session another node holds is forwarded to that node
 * (cluster.ts), so a load balancer need not keep a BOSH client on one node.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import type { ModuleServer } from '../../core/server.js';
import type { Logger } from '../../core/logging.js';
import { corsHeaders, originAllowed, sendText } from '../../net/http.js';
import type { RouteContext } from '../../net/http-router.js';
import { duration, size } from '../../core/option-schemas.js';
import { normalizeAddress } from '../../net/proxy.js';
import { intAttr, parseBody, terminateBody } from './body.js';
import { BoshSession, type BoshReply, type BoshSettings } from './session.js';
import { BoshCluster, PUBLISH_EVERY_MS } from './cluster.js';

export const REL_BOSH = 'urn:xmpp:alt-connections:xbosh';
const CONTENT_TYPE = 'text/xml; charset=utf-8';

/** What the BOSH module provides (server-wide) as the 'bosh' service: a look inside for diagnostics and tests. */
export interface BoshService {
  /** BOSH sessions alive. */
  count(): number;
  /** Requests a session holds right now (waiting for output, or parked ahead of a gap); 0 for an unknown sid. */
  requestsInside(sid: string): number;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    bosh: BoshService;
  }
}

export default defineModule({
  name: 'bosh',
  description: 'XEP-0124/XEP-0206 XMPP over BOSH',
  scope: 'global',
  depends: ['http', 'c2s'],
  restartOnOptionChange: 'loading it again would end every BOSH session',
  options: z.object({
    path: z.string().startsWith('/', { message: 'expected a path starting with "/"' }).default('/http-bind'),
    max_wait: duration('60s'),
    max_hold: z.number().int().min(0).max(1).default(1),
    inactivity: duration('60s', { min: 1 }),
    polling: duration('5s'),
    max_body_size: size(0), // 0: derived from [limits] max_stanza_size
  }),
  async setup(mod) {
    const server = mod.server;
    const http = mod.require('http');
    const path = mod.options.path;
    const settings: BoshSettings = {
      maxWaitMs: mod.options.max_wait,
      maxHold: mod.options.max_hold,
      inactivityMs: mod.options.inactivity,
      pollingMs: mod.options.polling,
    };
    const configuredBodySize = mod.options.max_body_size;
    const limits = server.config.limits;
    const corsOrigins = server.config.http.cors_origins;
    const sessions = new Map<string, BoshSession>();
    const cluster = await clusterOf(mod.server, path, settings.maxWaitMs, mod.log);
    if (cluster) {
      const publish = (): void => void cluster.publish();
      mod.setInterval(publish, PUBLISH_EVERY_MS);
      try {
        server.afterModulesLoaded(() => cluster.publish()); // once the HTTP listeners are open
      } catch {
        publish(); // loaded after start-up: the listeners are open already
      }
      mod.onUnload(() => cluster.close());
    }
    mod.provides('bosh', {
      count: () => sessions.size,
      requestsInside: (sid) => sessions.get(sid)?.requestsInside ?? 0,
    });

    // The route reads the body (413 above the limit) before calling this.
    const onRequest = (req: IncomingMessage, res: ServerResponse, ctx: RouteContext<undefined, Buffer>): void => {
      if (!originAllowed(ctx.origin, corsOrigins)) {
        mod.log.info({ origin: ctx.origin, ip: ctx.ip }, 'BOSH request from an origin not in http.cors_origins refused');
        sendText(res, 403, 'origin not allowed');
        return;
      }
      const cors = corsHeaders(ctx.origin, corsOrigins, 'POST, OPTIONS') ?? {};
      if (req.method === 'OPTIONS') {
        res.writeHead(204, cors);
        res.end();
        return;
      }
      const reply = httpReply(res, cors);
      // A request another node forwarded here: the secure flag it saw, and never forwarded again.
      const forwarded = cluster?.forwarded(req.headers);
      const secure = forwarded?.secure ?? ctx.secure;
      const parsed = parseBody(ctx.body, { maxBytes: ctx.maxBodyBytes, maxDepth: limits.max_depth, maxAttributes: limits.max_attributes, maxNameLength: limits.max_name_length });
      if (!parsed.ok) {
        mod.log.debug({ ip: ctx.ip, reason: parsed.reason }, 'bad BOSH request body');
        reply.send(terminateBody('bad-request'));
        return;
      }
      const body = parsed.body;
      const sid = body.attrs.sid;
      if (sid === undefined) {
        const rid = intAttr(body, 'rid');
        if (rid === undefined) {
          reply.send(terminateBody('bad-request'));
          return;
        }
        const socket = req.socket;
        const session = new BoshSession({
          server,
          clientSessions: mod.require('c2s'),
          log: mod.log,
          settings,
          ip: ctx.ip,
          secure,
          remoteAddress: normalizeAddress(socket.remoteAddress ?? ''),
          remotePort: socket.remotePort ?? 0,
          forget: (gone) => sessions.delete(gone),
          sidSuffix: cluster?.sidSuffix,
        });
        sessions.set(session.sid, session);
        session.create(body, rid, reply);
        return;
      }
      const session = sessions.get(sid);
      if (!session) {
        const owner = forwarded ? undefined : cluster?.foreignOwner(sid);
        if (cluster && owner !== undefined) {
          forwardTo(cluster, owner).catch((err: unknown) => {
            mod.log.error({ err }, 'BOSH: forwarding a request failed');
            reply.send(terminateBody('item-not-found'));
          });
          return;
        }
        reply.send(terminateBody('item-not-found'));
        return;
      }
      if (session.secure && !secure) {
        reply.send(terminateBody('item-not-found'));
        return;
      }
      session.receive(body, reply, ctx.body.length);

      /** The sid is another node's: pass the request there; a node that is not live is an unknown sid. */
      async function forwardTo(c: BoshCluster, owner: string): Promise<void> {
        const base = await c.ownerUrl(owner);
        if (base !== undefined && !res.destroyed && (await c.forward(base, ctx.body, secure, res, cors))) return;
        mod.log.debug({ sid, owner, reachable: base !== undefined }, 'BOSH request for a session of a node that is not reachable');
        reply.send(terminateBody('item-not-found'));
      }
    };

    mod.onUnload(
      http.route({
        path,
        methods: ['POST', 'OPTIONS'],
        title: 'XMPP over BOSH (XEP-0124, XEP-0206)',
        maxBodyBytes: configuredBodySize > 0 ? configuredBodySize : undefined,
        handler: onRequest,
      }),
    );
    mod.onUnload(http.advertise({ rel: REL_BOSH, path, kind: 'http' }));
    mod.onUnload(() => {
      for (const s of [...sessions.values()]) s.shutdown();
      sessions.clear();
    });
  },
});

/**
 * In a Redis cluster: the forwarding of requests for other nodes' sessions, with the token
 * derived from the cluster's shared secret; undefined on a single server.
 */
async function clusterOf(server: ModuleServer, path: string, maxWaitMs: number, log: Logger): Promise<BoshCluster | undefined> {
  const { redis, node_id: nodeId, advertise_http: advertise } = server.config.cluster;
  if (redis === undefined) return undefined;
  const { clusterSecret, deriveSecret } = await import('../../cluster/redis/shared-secret.js');
  let token: string;
  try {
    token = deriveSecret(await clusterSecret(redis), 'bosh forward');
  } catch (err) {
    throw new Error(`bosh: cannot read the cluster's shared secret from Redis: ${(err as Error).message}`);
  }
  return new BoshCluster({
    redisUrl: redis, nodeId: nodeId ?? hostname(), advertise, path, token, maxWaitMs, log,
    addresses: () => server.addresses('http'),
  });
}

/** A BoshReply answering one HTTP request with a text/xml body. */
function httpReply(res: ServerResponse, cors: Record<string, string>): BoshReply {
  let answered = false;
  return {
    send(body) {
      if (answered) return;
      answered = true;
      if (res.destroyed || res.writableEnded) return;
      const bytes = Buffer.from(body, 'utf8');
      res.writeHead(200, { 'Content-Type': CONTENT_TYPE, 'Content-Length': String(bytes.length), 'Cache-Control': 'no-store', ...cors });
      res.end(bytes);
    },
    onAbort(listener) {
      res.on('close', () => {
        if (!answered) listener();
      });
    },
  };
}
