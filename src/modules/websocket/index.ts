/**
 * XMPP over WebSocket (RFC 7395), mounted on the HTTP server at `/xmpp-websocket`. A WebSocket
 * session is a client session like a TCP one (client-session.ts): same lifecycle, same modules
 * (SASL, bind, …), only the connection and the framing differ. The `xmpp` subprotocol is
 * required; with `http.cors_origins` set, a browser's Origin must be in it. Sockets that stop
 * answering WebSocket pings are cut.
 *
 * Options ([modules.websocket]): path ("/xmpp-websocket"), ping_interval ("30s"; 0 disables),
 * see_other_uri (""; when set, every client is told to reconnect there).
 */
import type { IncomingMessage } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import { defineModule, type ModuleApi } from '../../core/modules.js';
import { duration } from '../../core/option-schemas.js';
import type { RequestContext } from '../../net/http.js';
import { originAllowed, refuseUpgrade } from '../../net/http.js';
import { normalizeAddress } from '../../net/proxy.js';
import { WebSocketConnection } from './connection.js';
import { WebSocketFraming } from './framing.js';

export const WEBSOCKET_SUBPROTOCOL = 'xmpp';
export const REL_WEBSOCKET = 'urn:xmpp:alt-connections:websocket';

interface Liveness {
  alive: boolean;
  conn: WebSocketConnection;
}

export default defineModule({
  name: 'websocket',
  description: 'RFC 7395 XMPP over WebSocket',
  scope: 'global',
  depends: ['http', 'c2s'],
  restartOnOptionChange: 'loading it again would close every WebSocket client',
  options: z.object({
    path: z.string().startsWith('/', { message: 'expected a path starting with "/"' }).default('/xmpp-websocket'),
    ping_interval: duration('30s'),
    see_other_uri: z.string().default(''),
  }),
  setup(mod) {
    const server = mod.server;
    const { path, ping_interval: pingInterval, see_other_uri: seeOtherUri } = mod.options;
    const limits = server.config.limits;
    const corsOrigins = server.config.http.cors_origins;

    const wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      // Room for a message a little over the limit, so the session can answer it with a
      // policy-violation stream error instead of a bare WebSocket close.
      maxPayload: limits.max_stanza_size * 2,
      handleProtocols: (protocols) => (protocols.has(WEBSOCKET_SUBPROTOCOL) ? WEBSOCKET_SUBPROTOCOL : false),
    });
    const live = new Map<WebSocket, Liveness>();

    const http = mod.require('http');
    mod.onUnload(
      http.upgrade(
        path,
        (req, socket, head, ctx) => {
          const offered = String(req.headers['sec-websocket-protocol'] ?? '')
            .split(',')
            .map((p) => p.trim());
          if (!offered.includes(WEBSOCKET_SUBPROTOCOL)) {
            refuseUpgrade(socket, 400, `the "${WEBSOCKET_SUBPROTOCOL}" WebSocket subprotocol is required`);
            return;
          }
          if (!originAllowed(ctx.origin, corsOrigins)) {
            mod.log.info({ origin: ctx.origin, ip: ctx.ip }, 'WebSocket from an origin not in http.cors_origins refused');
            refuseUpgrade(socket, 403, 'origin not allowed');
            return;
          }
          wss.handleUpgrade(req, socket, head, (ws) => accept(mod, ws, req, ctx, live, seeOtherUri));
        },
        { title: 'XMPP over WebSocket (RFC 7395)' },
      ),
    );
    mod.onUnload(http.advertise({ rel: REL_WEBSOCKET, path, kind: 'ws' }));

    if (pingInterval > 0) {
      mod.setInterval(() => {
        for (const [ws, state] of live) {
          // Reading held by a rate limit: its pongs wait unread in the socket; not a dead peer.
          if (state.conn.readingHeld) {
            state.alive = true;
            continue;
          }
          if (!state.alive) {
            mod.log.debug('WebSocket did not answer a ping: cutting it');
            ws.terminate();
            continue;
          }
          state.alive = false;
          ws.ping();
        }
      }, pingInterval);
    }
    mod.onUnload(() => {
      for (const ws of live.keys()) ws.terminate();
      live.clear();
      wss.close();
    });
  },
});

function accept(mod: ModuleApi, ws: WebSocket, req: IncomingMessage, ctx: RequestContext, live: Map<WebSocket, Liveness>, seeOtherUri: string): void {
  const server = mod.server;
  const socket = req.socket;
  const conn = new WebSocketConnection(ws, normalizeAddress(socket.remoteAddress ?? ''), socket.remotePort ?? 0, ctx.secure);
  let framing: WebSocketFraming | undefined;
  const handle = mod.require('c2s').start({
    server,
    log: mod.log,
    conn,
    ip: ctx.ip,
    logFields: { port: socket.localPort, viaProxy: ctx.viaProxy || undefined },
    makeFraming: (events, log) => {
      framing = new WebSocketFraming(conn, server.config.limits, log, events, { seeOtherUri });
      return framing;
    },
  });
  const state: Liveness = { alive: true, conn };
  live.set(ws, state);
  ws.on('pong', () => {
    state.alive = true;
  });
  ws.on('message', (data, isBinary) => {
    handle.activity();
    state.alive = true;
    const buffer = toBuffer(data);
    // Through the connection's read gate (rate limits), which may hold it and pause reading.
    conn.receive(buffer.length, () => framing?.message(buffer, isBinary));
  });
  ws.on('error', (err) => handle.session.log.debug({ err: err.message }, 'WebSocket error'));
  ws.on('close', () => {
    conn.closedByPeer();
    live.delete(ws);
    handle.connectionClosed();
  });
}

function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
