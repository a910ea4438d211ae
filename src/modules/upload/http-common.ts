/**
 * Headers every upload response shares: CORS for web clients (under `[http] cors_origins`; the
 * PUT sends Authorization, so preflights must allow it) and the headers that keep an uploaded
 * file from acting as a page of this origin.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { corsHeaders } from '../../net/http.js';
import type { UploadState } from './state.js';

export const METHODS = 'GET, HEAD, PUT, OPTIONS';

/** CORS headers for the request's Origin, or none (no Origin, or one not allowed). */
export function corsFor(state: UploadState, req: IncomingMessage): Record<string, string> {
  const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined;
  const base = corsHeaders(origin, state.corsOrigins, METHODS);
  if (!base) return {};
  return {
    ...base,
    'Access-Control-Allow-Headers': 'Authorization, Content-Type',
    'Access-Control-Expose-Headers': 'Content-Length, Content-Range, Content-Disposition, ETag, Last-Modified',
  };
}

/**
 * Served files are other people's content on this origin: never sniffed into another type
 * (nosniff), never run as script or styled as a page even when they are HTML or SVG (a CSP that
 * allows nothing and sandboxes the document), never framed, and links out of them leak nothing.
 */
export const SAFE_CONTENT_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'none'; sandbox",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  // Web clients on other origins show pictures with <img>: their pages may embed these.
  'Cross-Origin-Resource-Policy': 'cross-origin',
};

/** OPTIONS (a CORS preflight: no credentials, so a route of its own without auth). */
export function preflight(state: UploadState) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(204, { ...corsFor(state, req), Allow: METHODS, 'Content-Length': '0' });
    res.end();
  };
}
