/**
 * The admin web console (global module, on by default with admin_api): a small static app at
 * /admin on the `http` service, for the accounts listed in the config's `admins`. It calls the
 * admin API (/admin/api/v1) with a session cookie instead of a bearer token, through the
 * `admin-api` service's authenticator seam. docs/admin-console.md is the operator's guide;
 * README.md in this folder maps the files.
 *
 * Served here: the app's files (static/), and four JSON endpoints of its own:
 *   POST /admin/login    {jid, password} → the session cookie and the CSRF token
 *   GET  /admin/session  who is logged in, the CSRF token, the hosts and chat room services
 *   POST /admin/logout   ends the session
 *   GET  /admin/stats    the dashboard's numbers (stats.ts)
 *
 * Who gets in: an address the admin API's `allow_ips` lets in (the same addresses as the API);
 * an account whose bare JID is in `admins`, active, with its password checked as SASL PLAIN
 * checks it (against the stored SCRAM credential; stand-in credentials for unknown accounts so
 * the work is the same). Lockout after `max_failures` wrong passwords per account and
 * `max_failures_per_address` per address within `failure_window`, for `lockout`.
 *
 * Every state-changing request (login, logout, and the API's POST/PUT/DELETE when made with the
 * cookie) is refused when the browser says it comes from another origin (Sec-Fetch-Site,
 * Origin); with the cookie it must also carry the session's CSRF token in X-CSRF-Token.
 *
 * Options ([modules.admin_console]): session_lifetime, idle_timeout, max_sessions,
 * max_failures, max_failures_per_address, failure_window, lockout.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { defineModule, type ModuleApi } from '../../core/modules.js';
import { duration } from '../../core/option-schemas.js';
import { tryParseJid } from '../../jid/index.js';
import type { RouteContext } from '../../net/http-router.js';
import { FakeCredentials } from '../../sasl/fake-credentials.js';
import { verifyPasswordAsync } from '../../sasl/scram-credentials.js';
import { accountStatus } from '../account_state/operations.js';
import type { Authenticator } from '../admin_api/index.js';
import { Problem, sendJson, sendProblem } from '../admin_api/problem.js';
import type { Principal } from '../admin_api/routes.js';
import { AREAS, type Scope } from '../admin_api/tokens.js';
import { cookieOf, CSRF_HEADER, crossSiteReason, csrfMatches, header, SECURITY_HEADERS, sessionCookie, UNSAFE_METHODS } from './guard.js';
import { Lockout } from './lockout.js';
import { ConsoleSessions, type ConsoleSession } from './sessions.js';
import { DashboardStats } from './stats.js';

export const CONSOLE_PATH = '/admin';

/** The app's files, served from memory: name → content type. Nothing else under static/ is served. */
const ASSETS: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'api.js': 'text/javascript; charset=utf-8',
  'chart.js': 'text/javascript; charset=utf-8',
  'dom.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/** A console session may do what a token with every `<area>:write` scope may. */
const ALL_SCOPES: readonly Scope[] = AREAS.map((a) => `${a}:write` as const);

const loginBody = z.strictObject({
  jid: z.string().min(1).max(3071),
  password: z.string().min(1).max(1023),
});

/** The package root (dist/src/modules/admin_console → four levels up), as admin_api finds docs/. */
export function staticDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'src', 'modules', 'admin_console', 'static');
}

export default defineModule({
  name: 'admin_console',
  description: 'Admin web console at /admin (login by an account listed in admins; uses the admin API)',
  scope: 'global',
  depends: ['http', 'admin_api'],
  restartOnOptionChange: 'its console logins live in memory, and loading it again would log every admin out',
  options: z.object({
    /** A session ends this long after login, however busy. */
    session_lifetime: duration('8h', { min: 60_000 }),
    /** …or after this long without a request (the dashboard polls, so an open tab stays in). */
    idle_timeout: duration('30m', { min: 10_000 }),
    max_sessions: z.number().int().min(1).max(10_000).default(100),
    /** Wrong passwords for one account within failure_window that lock the account's console login. */
    max_failures: z.number().int().min(1).default(5),
    /** Failed logins from one address within failure_window that lock that address out. */
    max_failures_per_address: z.number().int().min(1).default(20),
    failure_window: duration('15m', { min: 1000 }),
    /** How long a lock lasts (from the last failure). */
    lockout: duration('15m', { min: 1000 }),
  }),
  setup(mod) {
    const o = mod.options;
    const api = mod.require('admin-api');
    const server = mod.server;
    const now = () => mod.now();
    const sessions = new ConsoleSessions({ ttlMs: o.session_lifetime, idleMs: o.idle_timeout, max: o.max_sessions }, now);
    const lockOpts = { windowMs: o.failure_window, lockMs: o.lockout, maxKeys: 10_000 };
    const accountLocks = new Lockout({ ...lockOpts, limit: o.max_failures }, now);
    const addressLocks = new Lockout({ ...lockOpts, limit: o.max_failures_per_address }, now);
    const fake = new FakeCredentials(server.config.auth.scram_iterations);
    const stats = new DashboardStats(server);
    const assets = loadAssets();

    const logins = mod.measure.counter('admin_console_logins_total', 'Console logins, by result (success, failure, not_admin, locked)', ['result']);
    const refused = mod.measure.counter('admin_console_refused_total', 'Console requests refused, by reason (cross_site, csrf, session)', ['reason']);
    mod.measure.gauge('admin_console_sessions', 'Console sessions open now', [], (g) => g.set(sessions.size));
    const lockouts = mod.measure.counter('admin_console_lockouts_total', 'Console login lockouts begun, by key (account, address)', ['key']);

    mod.setInterval(() => {
      sessions.sweep();
      accountLocks.sweep();
      addressLocks.sweep();
    }, 60_000);
    mod.onUnload(() => {
      sessions.clear();
      stats.stop();
    });

    /** The session of a request's cookie, if it is live and its account is still an active admin. */
    const sessionOf = (req: IncomingMessage): ConsoleSession | undefined => {
      const id = cookieOf(req);
      if (id === undefined) return undefined;
      const s = sessions.get(id);
      if (!s) return undefined;
      const why = notAdminReason(mod, s.jid);
      if (why !== undefined) {
        sessions.deleteFor(s.jid);
        mod.log.info({ admin: s.jid, session: s.handle, why }, 'console session ended: the account may no longer use the console');
        return undefined;
      }
      return s;
    };

    const refuseCrossSite = (req: IncomingMessage, ctx: RouteContext<unknown, unknown> | Parameters<Authenticator>[1]): Problem | undefined => {
      const why = crossSiteReason(req, ctx);
      if (why === undefined) return undefined;
      refused.inc({ reason: 'cross_site' });
      mod.log.warn({ ip: ctx.ip, method: req.method, path: ctx.path, why }, 'console: cross-site request refused');
      return new Problem('forbidden', 'cross-site request refused: state changes must come from the console\'s own pages');
    };

    // The admin API asks this after the bearer token authenticator: requests with the console's cookie.
    mod.onUnload(
      api.addAuthenticator(async (req, ctx) => {
        const unsafe = UNSAFE_METHODS.has(req.method ?? 'GET');
        if (unsafe) {
          const problem = refuseCrossSite(req, ctx);
          if (problem) return problem;
        }
        if (cookieOf(req) === undefined) return undefined;
        const s = sessionOf(req);
        if (!s) {
          refused.inc({ reason: 'session' });
          return new Problem('unauthorized', 'the console session has ended: log in again');
        }
        if (unsafe && !csrfMatches(s.csrf, header(req, CSRF_HEADER))) {
          refused.inc({ reason: 'csrf' });
          mod.log.warn({ ip: ctx.ip, admin: s.jid, method: req.method, path: ctx.path }, 'console: missing or wrong CSRF token');
          return new Problem('forbidden', `missing or wrong CSRF token (the ${CSRF_HEADER} header)`);
        }
        const principal: Principal = { kind: 'session', id: s.handle, name: s.jid, scopes: ALL_SCOPES };
        return principal;
      }),
    );

    const login = async (req: IncomingMessage, res: ServerResponse, ctx: RouteContext<undefined, Buffer>): Promise<void> => {
      const cross = refuseCrossSite(req, ctx);
      if (cross) throw cross;
      const type = (header(req, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase();
      if (type !== 'application/json') throw new Problem('unsupported-media-type', 'the body must be application/json');
      let raw: unknown;
      try {
        raw = JSON.parse(ctx.body.toString('utf8'));
      } catch {
        throw new Problem('bad-request', 'the body is not valid JSON');
      }
      const parsed = loginBody.safeParse(raw);
      if (!parsed.success) throw new Problem('bad-request', 'the body must be {"jid": "...", "password": "..."}');
      const { password } = parsed.data;
      const ipKey = `ip:${ctx.ip}`;
      const addressWait = addressLocks.lockedFor(ipKey);
      if (addressWait > 0) {
        logins.inc({ result: 'locked' });
        mod.log.info({ ip: ctx.ip }, 'console login refused: this address is locked out');
        throw locked(addressWait, 'too many failed logins from this address');
      }
      const jid = tryParseJid(parsed.data.jid.trim());
      const bare = jid && jid.local !== '' && jid.resource === '' && server.hosts.has(jid.domain) ? jid.bare : undefined;
      // Only addresses of this server's hosts are counted per account (anything else counts per address only).
      const accountKey = bare === undefined ? undefined : `account:${bare}`;
      const accountWait = accountKey === undefined ? 0 : accountLocks.lockedFor(accountKey);
      if (accountWait > 0) {
        logins.inc({ result: 'locked' });
        mod.log.info({ ip: ctx.ip, jid: bare }, 'console login refused: this account is locked out');
        throw locked(accountWait, 'too many failed logins for this account');
      }
      const stored = jid && bare !== undefined ? await server.storage.accounts.get(jid.domain, jid.local) : undefined;
      const ok = (await verifyPasswordAsync(stored?.credentials ?? fake.account(jid?.local ?? ''), password)) && stored !== undefined;
      if (!ok) {
        logins.inc({ result: 'failure' });
        mod.log.info({ ip: ctx.ip, jid: bare }, 'console login failed: wrong address or password');
        if (accountKey !== undefined && accountLocks.fail(accountKey)) {
          lockouts.inc({ key: 'account' });
          mod.log.warn({ ip: ctx.ip, jid: bare, minutes: Math.round(o.lockout / 60_000) }, 'console login locked for an account after repeated failures');
        }
        if (addressLocks.fail(ipKey)) {
          lockouts.inc({ key: 'address' });
          mod.log.warn({ ip: ctx.ip, minutes: Math.round(o.lockout / 60_000) }, 'console login locked for an address after repeated failures');
        }
        throw new Problem('unauthorized', 'wrong address or password');
      }
      const adminJid = bare as string;
      const why = notAdminReason(mod, adminJid);
      if (why !== undefined) {
        logins.inc({ result: 'not_admin' });
        mod.log.warn({ ip: ctx.ip, jid: adminJid, why }, 'console login refused: not an administrator');
        throw new Problem('forbidden', 'this account may not use the admin console (it is not listed in admins, or it is disabled)');
      }
      if (accountKey !== undefined) accountLocks.clear(accountKey);
      addressLocks.clear(ipKey);
      const { id, session } = sessions.create(adminJid, ctx.ip);
      logins.inc({ result: 'success' });
      mod.log.info({ ip: ctx.ip, admin: adminJid, session: session.handle }, 'console login');
      res.setHeader('Set-Cookie', sessionCookie(id, o.session_lifetime / 1000));
      sendJson(res, 200, sessionInfo(mod, session));
    };

    const logout = (req: IncomingMessage, res: ServerResponse, ctx: RouteContext<undefined, Buffer>): void => {
      const cross = refuseCrossSite(req, ctx);
      if (cross) throw cross;
      const id = cookieOf(req);
      const s = sessionOf(req);
      if (id !== undefined && s) {
        if (!csrfMatches(s.csrf, header(req, CSRF_HEADER))) {
          refused.inc({ reason: 'csrf' });
          throw new Problem('forbidden', `missing or wrong CSRF token (the ${CSRF_HEADER} header)`);
        }
        sessions.delete(id);
        mod.log.info({ ip: ctx.ip, admin: s.jid, session: s.handle }, 'console logout');
      }
      res.setHeader('Set-Cookie', sessionCookie('', 0));
      sendJson(res, 204, undefined);
    };

    const needSession = (req: IncomingMessage): ConsoleSession => {
      const s = sessionOf(req);
      if (!s) throw new Problem('unauthorized', 'not logged in to the console');
      return s;
    };

    const handle = async (req: IncomingMessage, res: ServerResponse, ctx: RouteContext<undefined, Buffer>): Promise<void> => {
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
      try {
        if (!api.allowsAddress(ctx.ip)) {
          mod.log.warn({ ip: ctx.ip }, 'console refused: address not in [modules.admin_api] allow_ips');
          throw new Problem('forbidden', 'the admin console is not served to this address ([modules.admin_api] allow_ips)');
        }
        const name = ctx.rest;
        const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
        if (ctx.path === CONSOLE_PATH) {
          res.writeHead(308, { Location: `${CONSOLE_PATH}/`, 'Content-Length': '0' }).end();
          return;
        }
        const route = `${method} ${name}`;
        if (route === 'POST login') return await login(req, res, ctx);
        if (route === 'POST logout') return logout(req, res, ctx);
        if (route === 'GET session') return sendJson(res, 200, sessionInfo(mod, needSession(req)));
        if (route === 'GET stats') {
          needSession(req);
          return sendJson(res, 200, await stats.sample());
        }
        const asset = assets.get(name === '' ? 'index.html' : name);
        if (asset && method === 'GET') {
          res.writeHead(200, { 'Content-Type': asset.type, 'Content-Length': String(asset.body.length), 'Cache-Control': 'no-cache' });
          res.end(req.method === 'HEAD' ? undefined : asset.body);
          return;
        }
        if (asset || ['login', 'logout', 'session', 'stats'].includes(name)) throw new Problem('method-not-allowed', `${req.method ?? ''} is not allowed here`);
        throw new Problem('not-found', `nothing at ${ctx.path}`);
      } catch (err) {
        if (!(err instanceof Problem)) {
          mod.log.error({ err, method: req.method, path: ctx.path }, 'admin console handler failed');
          if (!res.headersSent) sendProblem(res, new Problem('internal', 'the server failed (see its log)'));
          return;
        }
        if (!res.headersSent) sendProblem(res, err);
      }
    };

    mod.onUnload(
      mod.require('http').route({
        path: `${CONSOLE_PATH}/*`,
        methods: ['GET', 'POST'],
        maxBodyBytes: 8 * 1024,
        handler: handle,
      }),
    );
  },
});

function locked(waitMs: number, why: string): Problem {
  const seconds = Math.ceil(waitMs / 1000);
  return new Problem('too-many-requests', `${why}: try again in ${Math.ceil(seconds / 60)} minute(s)`, { 'Retry-After': String(seconds) });
}

/** Why an account may not use the console (undefined: it may): not in `admins`, gone, or disabled. */
function notAdminReason(mod: ModuleApi, bare: string): string | undefined {
  const admins = new Set(mod.server.config.admins.map((a) => tryParseJid(a)?.bare ?? a));
  if (!admins.has(bare)) return 'not listed in admins';
  const jid = tryParseJid(bare);
  if (!jid) return 'not a JID';
  const host = mod.server.hosts.get(jid.domain);
  if (!host) return 'not a host of this server';
  const state = host.services.get('accounts-state');
  if (state && accountStatus(state, jid.local) !== 'active') return 'the account is disabled';
  return undefined;
}

/** What the app needs to know after login: who, the CSRF token, where it can look. */
function sessionInfo(mod: ModuleApi, s: ConsoleSession) {
  const mucServices: string[] = [];
  for (const domain of mod.server.components) {
    const c = mod.server.components.get(domain);
    if (c?.kind === 'internal' && c.context?.services.get('muc-admin')) mucServices.push(domain);
  }
  return {
    jid: s.jid,
    csrfToken: s.csrf,
    expires: new Date(s.expires).toISOString(),
    hosts: [...mod.server.hosts.keys()].sort(),
    mucServices: mucServices.sort(),
  };
}

function loadAssets(): Map<string, { type: string; body: Buffer }> {
  const dir = staticDir();
  const out = new Map<string, { type: string; body: Buffer }>();
  for (const [name, type] of Object.entries(ASSETS)) out.set(name, { type, body: readFileSync(join(dir, name)) });
  return out;
}
