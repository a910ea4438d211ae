/**
 * The HTTP(S) server that web transports (WebSocket, BOSH) and HTTP services (host-meta) are
 * mounted on. A small router maps exact paths to request handlers and upgrade handlers; every
 * request is given a RequestContext with the client's address and security as a trusted proxy
 * reports them (proxy.ts). Limits: header size and timeouts are enforced by node:http, body
 * size by readBody(); unknown paths get 404, a known path with the wrong method 405.
 */
import { createServer as createPlainServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createSecureServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { Logger } from '../core/logging.js';
import type { TrustedProxies } from './proxy.js';

export interface HttpLimits {
  /** Bytes of request line and headers (node:http answers 431 above it). */
  maxHeaderBytes: number;
  /** Bytes of a request body (readBody answers 413 above it). */
  maxBodyBytes: number;
  /** Time to receive the headers, and the whole request, before the connection is dropped. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxHeaderBytes: 8192,
  maxBodyBytes: 1024 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
};

/** Facts about a request that handlers need, with trusted-proxy headers already applied. */
export interface RequestContext {
  /** The client's address (behind a trusted proxy, the real client's). */
  ip: string;
  /** HTTPS to us, or HTTPS to a trusted proxy in front of us. */
  secure: boolean;
  /** Whether the TCP peer is a trusted proxy. */
  viaProxy: boolean;
  /** 'https' when secure, else 'http' (as the client sees it). */
  scheme: 'http' | 'https';
  /** The Host header as sent (may include a port); undefined if absent. */
  hostHeader: string | undefined;
  /** The Host header's name part, lower-cased, without port. */
  hostname: string | undefined;
  /** The path, without query string. */
  path: string;
  url: URL;
  /** The Origin header (browsers send it), if any. */
  origin: string | undefined;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => void | Promise<void>;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext) => void;

export interface RouteOptions {
  /** Allowed methods (default GET and HEAD). OPTIONS is passed to the handler when listed. */
  methods?: string[];
  /** Listed on the index page with this title when given. */
  title?: string;
}

/** An endpoint advertised to clients (XEP-0156 host-meta), e.g. the WebSocket or BOSH URL. */
export interface AdvertisedEndpoint {
  /** The link relation: 'urn:xmpp:alt-connections:websocket' or 'urn:xmpp:alt-connections:xbosh'. */
  rel: string;
  path: string;
  /** 'ws' endpoints are advertised as ws:/wss: URLs, 'http' ones as http:/https: URLs. */
  kind: 'ws' | 'http';
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Route {
  handler: RequestHandler;
  methods: Set<string>;
  title: string | undefined;
}

export interface IndexEntry {
  path: string;
  title: string;
}

/**
 * Paths → handlers. Register with route()/upgrade()/advertise(); each returns a function that
 * removes what it added (for module unload).
 */
export class HttpRouter {
  private readonly routes = new Map<string, Route>();
  private readonly upgrades = new Map<string, { handler: UpgradeHandler; title: string | undefined }>();
  private readonly endpoints: AdvertisedEndpoint[] = [];

  route(path: string, handler: RequestHandler, opts: RouteOptions = {}): () => void {
    if (this.routes.has(path)) throw new Error(`HTTP path ${path} is already served`);
    const methods = new Set((opts.methods ?? ['GET', 'HEAD']).map((m) => m.toUpperCase()));
    const route: Route = { handler, methods, title: opts.title };
    this.routes.set(path, route);
    return () => {
      if (this.routes.get(path) === route) this.routes.delete(path);
    };
  }

  upgrade(path: string, handler: UpgradeHandler, opts: { title?: string } = {}): () => void {
    if (this.upgrades.has(path)) throw new Error(`HTTP upgrade path ${path} is already served`);
    const entry = { handler, title: opts.title };
    this.upgrades.set(path, entry);
    return () => {
      if (this.upgrades.get(path) === entry) this.upgrades.delete(path);
    };
  }

  advertise(endpoint: AdvertisedEndpoint): () => void {
    this.endpoints.push(endpoint);
    return () => {
      const i = this.endpoints.indexOf(endpoint);
      if (i >= 0) this.endpoints.splice(i, 1);
    };
  }

  get advertised(): readonly AdvertisedEndpoint[] {
    return this.endpoints;
  }

  /** Titled routes and upgrade paths, for the index page. */
  index(): IndexEntry[] {
    const out: IndexEntry[] = [];
    for (const [path, r] of this.routes) if (r.title !== undefined) out.push({ path, title: r.title });
    for (const [path, u] of this.upgrades) if (u.title !== undefined) out.push({ path, title: u.title });
    return out.sort((a, b) => a.path.localeCompare(b.path));
  }

  findRoute(path: string): Route | undefined {
    return this.routes.get(path);
  }

  findUpgrade(path: string): UpgradeHandler | undefined {
    return this.upgrades.get(path)?.handler;
  }
}

export interface HttpServerOptions {
  router: HttpRouter;
  proxies: TrustedProxies;
  limits: HttpLimits;
  log: Logger;
  /** HTTPS when given (cert/key/SNICallback as from TlsContexts.serverOptions()). */
  tls?: object;
}

/** An HTTP or HTTPS server dispatching to the router. Not yet listening. */
export function createHttpServer(opts: HttpServerOptions): HttpServer {
  const { router, limits, log } = opts;
  const serverOptions = {
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
  };
  const server: HttpServer = opts.tls ? createSecureServer({ ...opts.tls, ...serverOptions }) : createPlainServer(serverOptions);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void dispatch(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) {
        if (!res.headersSent) sendText(res, err.status, err.message);
        else res.destroy();
        return;
      }
      log.error({ err }, 'HTTP handler failed');
      if (!res.headersSent) sendText(res, 500, 'internal server error');
      else res.destroy();
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

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ctx = requestContext(req, opts.proxies);
    if (!ctx) throw new HttpError(400, 'bad request target');
    const route = router.findRoute(ctx.path);
    if (!route) throw new HttpError(404, 'not found');
    const method = (req.method ?? 'GET').toUpperCase();
    if (!route.methods.has(method)) {
      res.setHeader('Allow', [...route.methods].join(', '));
      throw new HttpError(405, 'method not allowed');
    }
    await route.handler(req, res, ctx);
  }

  return server;
}

/** The RequestContext of a request, or undefined when its target is not a path. */
export function requestContext(req: IncomingMessage, proxies: TrustedProxies): RequestContext | undefined {
  const target = req.url ?? '/';
  if (!target.startsWith('/')) return undefined;
  const socket = req.socket;
  const encrypted = socket instanceof TLSSocket && socket.encrypted === true;
  const client = proxies.resolve({ address: socket.remoteAddress ?? '', encrypted }, req.headers);
  const hostHeader = req.headers.host;
  const scheme = client.secure ? 'https' : 'http';
  let url: URL;
  try {
    url = new URL(target, `${scheme}://${hostHeader !== undefined && hostHeader !== '' ? hostHeader : 'localhost'}`);
  } catch {
    try {
      url = new URL(target, `${scheme}://localhost`);
    } catch {
      return undefined;
    }
  }
  return {
    ip: client.ip,
    secure: client.secure,
    viaProxy: client.viaProxy,
    scheme,
    hostHeader,
    hostname: hostHeader === undefined || hostHeader === '' ? undefined : hostnameOf(hostHeader),
    path: url.pathname,
    url,
    origin: typeof req.headers.origin === 'string' ? req.headers.origin : undefined,
  };
}

/** "example.com:5280" → "example.com"; "[::1]:80" → "::1". Lower-cased. */
export function hostnameOf(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(1, end) : h;
  }
  const colon = h.indexOf(':');
  return colon >= 0 ? h.slice(0, colon) : h;
}

/** Read a request body of at most `maxBytes`; throws HttpError 413 above it. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      reject(new HttpError(413, 'request body too large'));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new HttpError(413, 'request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Whether a browser page from `origin` may use our endpoints. An empty list allows every origin. */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  if (allowed.length === 0 || origin === undefined) return true;
  if (allowed.includes('*')) return true;
  const o = origin.toLowerCase();
  return allowed.some((a) => a.toLowerCase() === o);
}

/**
 * CORS response headers for a request from `origin` under `http.cors_origins` (for BOSH and
 * other XHR endpoints). Returns undefined when the origin is not allowed (send no CORS headers:
 * the browser then refuses the response). With an empty list nothing is allowed cross-origin.
 */
export function corsHeaders(origin: string | undefined, allowed: readonly string[], methods = 'GET, POST, OPTIONS'): Record<string, string> | undefined {
  if (origin === undefined || allowed.length === 0) return undefined;
  const any = allowed.includes('*');
  if (!any && !allowed.some((a) => a.toLowerCase() === origin.toLowerCase())) return undefined;
  return {
    'Access-Control-Allow-Origin': any ? '*' : origin,
    'Access-Control-Allow-Methods': methods,
    'Access-Control-Allow-Headers': 'Content-Type',
    'Access-Control-Max-Age': '86400',
    ...(any ? {} : { Vary: 'Origin' }),
  };
}

export function sendText(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8', headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': String(bytes.length), 'X-Content-Type-Options': 'nosniff', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : bytes);
}

/** Answer an upgrade request with a plain HTTP status and close the socket. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length}\r\n${extra}\r\n${reason}`);
}
