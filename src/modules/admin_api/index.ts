/**
 * The admin HTTP API (global module, on by default): JSON under /admin/api/v1 on the `http`
 * service, for operators' scripts and the web console (admin_console). docs/admin-api.md explains it;
 * docs/admin-api.openapi.json describes every endpoint and is served at
 * /admin/api/v1/openapi.json. README.md in this folder.
 *
 * On by default is safe because nothing is reachable without a token, and tokens exist only
 * when an operator makes one with `canto token create` (stored hashed, tokens.ts). Every request
 * goes through, in order: the address allow-list (403), the per-address rate limit (429), the
 * authenticators (401), the per-token rate limit (429), the route (404/405), the scope (403),
 * the query and body checks (415/413/400), the handler. Every call is audited to the log
 * (token name and id, method, path, status; never the token nor a body).
 *
 * Options ([modules.admin_api]): allow_ips, max_body_size, rate, burst, address_rate,
 * address_burst.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { defineModule, type ModuleApi } from '../../core/modules.js';
import { check, list, size } from '../../core/option-schemas.js';
import { HttpError } from '../../net/http.js';
import type { RouteMatchContext, RouteContext } from '../../net/http-router.js';
import { AddressList } from '../../net/proxy.js';
import { RateLimiter } from '../../util/rate-limiter.js';
import { isIpOrCidr } from '../http/config.js';
import { Problem, sendJson, sendProblem } from './problem.js';
import { ROUTES, type ApiDeps, type ApiRoute, type Principal } from './routes.js';
import { allows, bearerOf, TOKENS_HOST, TOKENS_STORE, touchToken, verifyToken, type StoredToken } from './tokens.js';

export const API_PREFIX = '/admin/api/v1';

/**
 * A way to authenticate a request: a Principal, a Problem (credentials of its kind that are
 * wrong), or undefined (no credentials of its kind: the next authenticator is asked). Bearer
 * tokens are the built-in one; the web console (admin_console) adds its session cookie through
 * the `admin-api` service.
 */
export type Authenticator = (req: IncomingMessage, ctx: RouteMatchContext) => Promise<Principal | Problem | undefined>;

export interface AdminApiService {
  /** Add an authenticator (asked after the bearer token one); returns the function that removes it. */
  addAuthenticator(auth: Authenticator): () => void;
  /** Whether `allow_ips` lets this address in (the web console serves its pages to the same addresses). */
  allowsAddress(ip: string): boolean;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    'admin-api': AdminApiService;
  }
}

const ipOrCidr = check(isIpOrCidr, 'an IP address or CIDR range such as "10.0.0.0/8"');
const CHALLENGE = 'Bearer realm="canto-admin"';
/** lastUsed is written at most this often per token. */
const TOUCH_EVERY_MS = 60_000;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** The package root (dist/src/modules/admin_api → four levels up; src/… under ts-node is the same depth). */
function packageRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
}

export function openApiPath(): string {
  return join(packageRoot(), 'docs', 'admin-api.openapi.json');
}

export default defineModule({
  name: 'admin_api',
  description: 'Admin HTTP API under /admin/api/v1 (scoped bearer tokens from canto token create)',
  scope: 'global',
  depends: ['http'],
  options: z.object({
    /** Who may call it at all: addresses and CIDR ranges. */
    allow_ips: list(ipOrCidr).default(() => ['127.0.0.0/8', '::1']),
    max_body_size: size('64 KiB'),
    /** Requests per second per token, and the burst after a quiet spell. */
    rate: z.number().positive().default(10),
    burst: z.number().int().min(1).default(50),
    /** Requests per second per client address (failed logins included). */
    address_rate: z.number().positive().default(20),
    address_burst: z.number().int().min(1).default(100),
  }),
  setup(mod) {
    const o = mod.options;
    const allowed = new AddressList(o.allow_ips);
    const tokens = mod.server.storage.map<StoredToken>(TOKENS_HOST, TOKENS_STORE);
    const perToken = new RateLimiter({ rate: o.rate, burst: o.burst }, () => mod.now(), 10_000);
    const perAddress = new RateLimiter({ rate: o.address_rate, burst: o.address_burst }, () => mod.now());
    const touched = new Map<string, number>();
    const requests = mod.measure.counter('admin_api_requests_total', 'Admin API requests, by status class (2xx…5xx) and area (users, sessions, …; none before a route matched)', ['class', 'area']);
    const version = readVersion();
    const deps: ApiDeps = { server: mod.server, log: mod.log, now: () => mod.now(), version };

    const bearer: Authenticator = async (req) => {
      const header = req.headers.authorization;
      if (header === undefined) return undefined;
      const presented = bearerOf(header);
      if (presented === undefined) return new Problem('unauthorized', 'the Authorization header is not "Bearer <token>"', { 'WWW-Authenticate': `${CHALLENGE}, error="invalid_request"` });
      const checked = await verifyToken(tokens, presented, mod.now());
      if (!checked.ok) {
        const detail = checked.why === 'expired' ? 'the token has expired' : checked.why === 'revoked' ? 'the token was revoked' : 'the token is not valid';
        return new Problem('unauthorized', detail, { 'WWW-Authenticate': `${CHALLENGE}, error="invalid_token"` });
      }
      const t = checked.token;
      const now = mod.now();
      if (now - (touched.get(t.id) ?? 0) >= TOUCH_EVERY_MS) {
        touched.set(t.id, now);
        void touchToken(tokens, t.id, now).catch((err: unknown) => mod.log.warn({ err }, 'could not record a token\'s last use'));
      }
      return { kind: 'token', id: t.id, name: t.name, scopes: t.scopes };
    };
    const authenticators: Authenticator[] = [bearer];
    mod.provides('admin-api', {
      addAuthenticator(auth) {
        authenticators.push(auth);
        return () => {
          const i = authenticators.indexOf(auth);
          if (i > 0) authenticators.splice(i, 1);
        };
      },
      allowsAddress: (ip) => allowed.has(ip),
    });

    const handle = async (req: IncomingMessage, res: ServerResponse, ctx: RouteContext<undefined, NodeJS.ReadableStream>): Promise<void> => {
      const started = Date.now();
      let principal: Principal | undefined;
      let area = 'none';
      try {
        await dispatch(req, res, ctx, (p) => (principal = p), (a) => (area = a));
      } catch (err) {
        const problem = toProblem(mod, err, req);
        if (problem === undefined) throw err; // an HttpError (408 from the body timer): the HTTP layer answers it
        if (!res.headersSent) sendProblem(res, problem);
        else res.destroy();
      } finally {
        const status = res.headersSent ? res.statusCode : 500;
        requests.inc({ class: `${Math.floor(status / 100)}xx`, area });
        mod.log.info({ audit: 'admin_api', token: principal?.name, tokenId: principal?.id, kind: principal?.kind, method: req.method, path: ctx.path, status, ip: ctx.ip, ms: Date.now() - started }, 'admin API call');
      }
    };

    const dispatch = async (
      req: IncomingMessage,
      res: ServerResponse,
      ctx: RouteContext<undefined, NodeJS.ReadableStream>,
      setPrincipal: (p: Principal) => void,
      setArea: (a: string) => void,
    ): Promise<void> => {
      if (!allowed.has(ctx.ip)) throw new Problem('forbidden', 'the admin API is not served to this address ([modules.admin_api] allow_ips)');
      if (!perAddress.take(ctx.ip)) throw new Problem('too-many-requests', 'too many requests from this address', { 'Retry-After': String(Math.ceil(1 / o.address_rate)) });
      const segments = splitPath(ctx.rest);
      if (req.method === 'GET' && segments.length === 1 && segments[0] === 'openapi.json') {
        serveOpenApi(res);
        return;
      }
      let principal: Principal | undefined;
      for (const auth of authenticators) {
        const r = await auth(req, ctx);
        if (r instanceof Problem) throw r;
        if (r !== undefined) {
          principal = r;
          break;
        }
      }
      if (principal === undefined) throw new Problem('unauthorized', 'this API needs a bearer token (canto token create)', { 'WWW-Authenticate': CHALLENGE });
      setPrincipal(principal);
      if (!perToken.take(`${principal.kind}:${principal.id}`)) throw new Problem('too-many-requests', 'too many requests with this token', { 'Retry-After': String(Math.ceil(1 / o.rate)) });

      const found = match(segments, req.method ?? 'GET');
      if (found.kind === 'none') throw new Problem('not-found', `no endpoint ${API_PREFIX}/${ctx.rest}`);
      if (found.kind === 'method') throw new Problem('method-not-allowed', `${req.method ?? ''} is not allowed here`, { Allow: found.allow.join(', ') });
      const { route, params } = found;
      if (route.scope) {
        setArea(route.scope.area);
        if (!allows(principal.scopes, route.scope.area, route.scope.access)) {
          throw new Problem('forbidden', `this endpoint needs the scope ${route.scope.area}:${route.scope.access}${route.scope.access === 'read' ? ` (or ${route.scope.area}:write)` : ''}`);
        }
      }
      const query = parseWith(route.query, queryObject(ctx.url), 'query');
      let body: unknown;
      if (route.body) {
        const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
        if (type !== 'application/json') throw new Problem('unsupported-media-type', 'the body must be application/json');
        body = parseWith(route.body, parseJson(await readBody(ctx.body, o.max_body_size)), 'body');
      } else if (await hasBody(ctx.body)) {
        throw new Problem('bad-request', 'this endpoint takes no body');
      }
      const result = await route.handle({ params, query, body, principal, ip: ctx.ip }, deps);
      sendJson(res, result.status, result.body);
    };

    mod.onUnload(
      mod.require('http').route({
        path: `${API_PREFIX}/*`,
        methods: ['GET', 'POST', 'PUT', 'DELETE'],
        stream: true,
        // The API reads the body itself and answers a body above max_body_size with a
        // problem+json 413 (readBody); the HTTP layer's own limit would answer in plain text.
        maxBodyBytes: Number.MAX_SAFE_INTEGER,
        handler: handle,
      }),
    );
  },
});

function readVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

let openApiCache: Buffer | undefined;
function serveOpenApi(res: ServerResponse): void {
  openApiCache ??= readFileSync(openApiPath());
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(openApiCache.length), 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache' });
  res.end(res.req.method === 'HEAD' ? undefined : openApiCache);
}

function toProblem(mod: ModuleApi, err: unknown, req: IncomingMessage): Problem | undefined {
  if (err instanceof Problem) return err;
  if (err instanceof HttpError) return undefined;
  mod.log.error({ err, method: req.method }, 'admin API handler failed');
  return new Problem('internal', 'the server failed (see its log)');
}

/** The %-decoded segments after the prefix; '.', '..' and empty segments are refused outright. */
export function splitPath(rest: string): string[] {
  if (rest === '') return [];
  return rest.split('/').map((raw) => {
    let s: string;
    try {
      s = decodeURIComponent(raw);
    } catch {
      throw new Problem('bad-request', 'malformed %-escape in the path');
    }
    if (s === '' || s === '.' || s === '..') throw new Problem('bad-request', 'empty, "." and ".." path segments are not allowed');
    return s;
  });
}

type Match = { kind: 'ok'; route: ApiRoute; params: Record<string, string> } | { kind: 'method'; allow: string[] } | { kind: 'none' };

export function match(segments: readonly string[], method: string): Match {
  const allow: string[] = [];
  for (const route of ROUTES) {
    const pattern = route.path.split('/').slice(1);
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      const p = pattern[i] as string;
      const s = segments[i] as string;
      if (p.startsWith('{')) params[p.slice(1, -1)] = s;
      else ok = p === s;
    }
    if (!ok) continue;
    if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { kind: 'ok', route, params };
    allow.push(route.method);
  }
  return allow.length > 0 ? { kind: 'method', allow } : { kind: 'none' };
}

function queryObject(url: URL): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of url.searchParams) {
    if (FORBIDDEN_KEYS.has(k)) throw new Problem('bad-request', `the query parameter "${k}" is not allowed`);
    if (k in out) throw new Problem('bad-request', `the query parameter "${k}" is repeated`);
    out[k] = v;
  }
  return { ...out };
}

function parseWith<T>(schema: z.ZodType<T> | undefined, value: unknown, where: 'query' | 'body'): T {
  if (schema === undefined) return value as T;
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const errors = r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
  throw new Problem('bad-request', `the ${where} is not valid: ${errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ')}`, {}, { errors });
}

/** JSON.parse refusing the keys that pollute prototypes when copied around (__proto__, constructor, prototype). */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text, (key, value: unknown) => {
      if (FORBIDDEN_KEYS.has(key)) throw new Problem('bad-request', `the key "${key}" is not allowed`);
      return value;
    });
  } catch (err) {
    if (err instanceof Problem) throw err;
    throw new Problem('bad-request', 'the body is not valid JSON');
  }
}

async function readBody(stream: NodeJS.ReadableStream, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    n += b.length;
    if (n > max) throw new Problem('too-large', `the body is larger than ${max} bytes`, { Connection: 'close' });
    chunks.push(b);
  }
  const buf = Buffer.concat(chunks);
  const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  try {
    return text.decode(buf);
  } catch {
    throw new Problem('bad-request', 'the body is not UTF-8');
  }
}

async function hasBody(stream: NodeJS.ReadableStream): Promise<boolean> {
  for await (const chunk of stream) if ((chunk as Buffer).length > 0) return true;
  return false;
}
