/**
 * What every HTTP request handler shares: its RequestContext (the client's address and security
 * as a trusted proxy reports them, proxy.ts), limits, HttpError, CORS, and small responders.
 * The router is http-router.ts (patterns: http-pattern.ts), the server http-server.ts, request
 * bodies http-body.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { TrustedProxies } from './proxy.js';

export interface HttpLimits {
  /** Bytes of request line and headers (node:http answers 431 above it). */
  maxHeaderBytes: number;
  /** Bytes of a request body, unless the route says otherwise (413 above it). */
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

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Sent with the error response (Allow, WWW-Authenticate, Connection). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
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
 * the browser then refuses the response). An empty list (the default) allows every origin, as
 * `"*"` does: BOSH carries no ambient credentials (no cookies, the client authenticates in-band
 * with SASL), so a page on another origin gains nothing it could not do from anywhere else; a
 * list of origins is the stricter choice.
 */
export function corsHeaders(origin: string | undefined, allowed: readonly string[], methods = 'GET, POST, OPTIONS'): Record<string, string> | undefined {
  if (origin === undefined) return undefined;
  const any = allowed.length === 0 || allowed.includes('*');
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
