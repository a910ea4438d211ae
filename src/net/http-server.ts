/**
 * An HTTP or HTTPS server dispatching to an HttpRouter. A request goes: target → route (404;
 * 405 with Allow; 400 for a malformed %-escape in a parameter) → the route's auth hook (401
 * with its WWW-Authenticate) → body limit by Content-Length (413) → body read or streamed
 * (413 past the limit) → handler. A handler or hook that throws is logged once and answered
 * 500 (or the response cut when it had begun); it never takes the process down. Header size
 * and the headers timeout are node:http's; the time a body may take is this server's, per
 * request (http-timeout.ts): `requestTimeoutMs` for the whole body, or the route's idle limit
 * between chunks (uploads). Past it: 408 with `Connection: close` (or the response cut when it
 * had begun), and a body being read fails.
 */
import { createServer as createPlainServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createSecureServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Logger } from '../core/logging.js';
import { HttpError, refuseUpgrade, requestContext, sendText, type HttpLimits } from './http.js';
import { bodyTooLarge, boundedBody, declaresMoreThan, readBody } from './http-body.js';
import { BodyTimer, hasBody } from './http-timeout.js';
import type { HttpRouter, RouteMatchContext } from './http-router.js';
import type { TrustedProxies } from './proxy.js';

const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export interface HttpServerOptions {
  router: HttpRouter;
  proxies: TrustedProxies;
  /** Read at each request: maxBodyBytes is the default body limit of routes, requestTimeoutMs the time a body may take. */
  limits: HttpLimits;
  log: Logger;
  /** HTTPS when given (cert/key/SNICallback as from TlsContexts.serverOptions()). */
  tls?: object;
}

/** Not yet listening. */
export function createHttpServer(opts: HttpServerOptions): HttpServer {
  const { router, limits, log } = opts;
  const serverOptions = {
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    // Off: one total for every request would cut long uploads. Bodies are timed per request below.
    requestTimeout: 0,
  };
  const server: HttpServer = opts.tls ? createSecureServer({ ...opts.tls, ...serverOptions }) : createPlainServer(serverOptions);
  // An idle keep-alive connection stays open this long (Node's default is 5 s). A client that
  // reuses a connection the server has just closed fails its request (EPIPE/ECONNRESET, and a
  // PUT is not retried): with uploads preceded by an XMPP slot request, 5 s is easily exceeded.
  // 65 s outlasts the usual client and load-balancer idle timeouts (60 s), so they close first.
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const where: Where = { stage: 'handler', pattern: undefined };
    const timer = hasBody(req) ? new BodyTimer(limits.requestTimeoutMs, () => bodyTimedOut(req, res, where, log)) : undefined;
    if (timer) {
      const clear = () => timer.clear();
      req.once('end', clear);
      res.once('close', clear);
    }
    void dispatch(req, res, where, timer).catch((err: unknown) => {
      if (err instanceof HttpError) {
        answerError(res, err);
        return;
      }
      if (where.timedOut) return; // the body failed because it took too long: answered already
      log.error({ err, method: req.method, path: req.url, route: where.pattern }, where.stage === 'auth' ? 'HTTP auth hook failed' : 'HTTP handler failed');
      answerError(res, new HttpError(500, 'internal server error'));
    });
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {}); // a reset peer must not become an uncaught error
    const ctx = requestContext(req, opts.proxies);
    const handler = ctx ? router.findUpgrade(ctx.path) : undefined;
    if (!ctx || !handler) {
      refuseUpgrade(socket, 404, 'Not Found');
      return;
    }
    try {
      handler(req, socket, head, ctx);
    } catch (err) {
      log.error({ err }, 'HTTP upgrade handler failed');
      refuseUpgrade(socket, 500, 'Internal Server Error');
    }
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    log.debug({ err: err.message, code: err.code }, 'bad HTTP request');
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });

  async function dispatch(req: IncomingMessage, res: ServerResponse, where: Where, timer: BodyTimer | undefined): Promise<void> {
    const ctx = requestContext(req, opts.proxies);
    if (!ctx) throw new HttpError(400, 'bad request target');
    const found = router.lookup(ctx.path, (req.method ?? 'GET').toUpperCase());
    switch (found.kind) {
      case 'not-found':
        throw new HttpError(404, 'not found');
      case 'bad-escape':
        throw new HttpError(400, 'malformed %-escape in the path');
      case 'method-not-allowed':
        throw new HttpError(405, 'method not allowed', { Allow: found.allow.join(', ') });
    }
    const { route } = found;
    where.pattern = route.pattern.source;
    if (route.idleTimeoutMs !== undefined) timer?.timeIdle(route.idleTimeoutMs);
    const matched: RouteMatchContext = { ...ctx, params: found.params, rest: found.rest, pattern: route.pattern.source };

    let principal: unknown;
    if (route.auth) {
      where.stage = 'auth';
      principal = await route.auth(req, matched);
      where.stage = 'handler';
      if (principal === undefined) throw new HttpError(401, 'authentication required', { 'WWW-Authenticate': route.challenge ?? '' });
    }

    const maxBodyBytes = route.maxBodyBytes ?? limits.maxBodyBytes;
    if (declaresMoreThan(req, maxBodyBytes)) throw bodyTooLarge();
    const body = route.stream ? boundedBody(req, maxBodyBytes, () => answerError(res, bodyTooLarge()), timer && (() => timer.touch())) : await readBody(req, maxBodyBytes);
    await route.handler(req, res, { ...matched, principal, body, maxBodyBytes });
  }

  return server;
}

interface Where {
  stage: 'auth' | 'handler';
  pattern: string | undefined;
  /** The body took too long and the request was answered 408 (or cut). */
  timedOut?: boolean;
}

/** The body did not arrive in time: 408 and close the connection, so whatever reads the body fails. */
function bodyTimedOut(req: IncomingMessage, res: ServerResponse, where: Where, log: Logger): void {
  if (req.complete) return;
  where.timedOut = true;
  log.debug({ method: req.method, path: req.url, route: where.pattern }, 'HTTP request body timed out');
  // A request whose answer is out is no longer node:http's to abort when its socket closes:
  // fail its body here, so whatever reads it (an upload being written) stops and cleans up.
  const failBody = () => {
    if (!req.complete) req.destroy(new Error('the request body timed out'));
  };
  if (res.headersSent || res.writableEnded) {
    req.socket.destroy();
    failBody();
    return;
  }
  res.once('close', failBody);
  // With Connection: close node:http ends the socket once the answer is out.
  sendText(res, 408, 'request timeout', undefined, { Connection: 'close' });
}

/** Answer with an error status, unless an answer is already out (then cut one half-sent). */
function answerError(res: ServerResponse, err: HttpError): void {
  if (res.writableEnded) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendText(res, err.status, err.message, undefined, err.headers);
}
