/**
 * The console's browser-facing defences: the session cookie, the cross-site check on
 * state-changing requests (Sec-Fetch-Site and Origin), the CSRF token comparison and the
 * security headers of every response under /admin.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { RequestContext } from '../../net/http.js';

export const COOKIE_NAME = 'canto_admin';
export const CSRF_HEADER = 'x-csrf-token';

/** No inline script or style anywhere; everything from this origin; never framed. */
export const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CSP,
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** The Set-Cookie value of a session (`maxAgeS` 0: the cookie is removed). */
export function sessionCookie(id: string, maxAgeS: number): string {
  return `${COOKIE_NAME}=${id}; Path=/admin; HttpOnly; Secure; SameSite=Strict; Max-Age=${Math.max(0, Math.floor(maxAgeS))}`;
}

/** The session cookie's value, if the request has exactly one. */
export function cookieOf(req: IncomingMessage): string | undefined {
  let found: string | undefined;
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== COOKIE_NAME) continue;
    if (found !== undefined) return undefined; // two cookies of that name: trust neither
    found = part.slice(eq + 1).trim();
  }
  return found;
}

export const UNSAFE_METHODS = new Set(['POST', 'PUT', 'DELETE', 'PATCH']);

/**
 * Why a request is not from the console's own pages (undefined: it may be). A browser tells
 * where a request comes from with Sec-Fetch-Site and Origin: anything but same-origin is
 * refused (a same-site page on another port is another origin, so it is refused too). A
 * request with neither header is not from a modern browser (curl, a script): the CSRF token,
 * which only the console's pages can read, is still required of it.
 */
export function crossSiteReason(req: IncomingMessage, ctx: RequestContext): string | undefined {
  const site = header(req, 'sec-fetch-site');
  if (site !== undefined && site !== 'same-origin') return `Sec-Fetch-Site is ${site}`;
  const origin = ctx.origin;
  if (origin !== undefined) {
    if (ctx.hostHeader === undefined) return 'an Origin header but no Host header';
    const own = `${ctx.scheme}://${ctx.hostHeader}`.toLowerCase();
    if (origin.toLowerCase() !== own) return `Origin ${origin.slice(0, 100)} is not ${own}`;
  }
  return undefined;
}

/** Whether the presented CSRF token is the session's, compared in constant time. */
export function csrfMatches(expected: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(presented).digest();
  return timingSafeEqual(a, b);
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
