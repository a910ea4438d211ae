/**
 * The admin API's endpoints: one table, so the dispatcher (index.ts), the OpenAPI file
 * (docs/admin-api.openapi.json, checked against this table by a test) and the docs agree.
 * Each route names the area and access its scope must grant, the zod schemas of its query and
 * body (strict: unknown fields are refused), and a handler that returns the response or throws
 * a Problem. Paths are relative to /admin/api/v1 and written as in OpenAPI (`{param}`).
 */
import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import type { HostContext } from '../../core/host.js';
import type { Logger } from '../../core/logging.js';
import type { ModuleServer } from '../../core/server.js';
import type { ServiceMap, ServiceName } from '../../core/services.js';
import { parseDuration } from '../../core/units.js';
import { tryParseJid } from '../../jid/index.js';
import type { Element } from '../../xml/element.js';
import { accountStatistics, accountStatus, addAccount, announce, changePassword } from '../account_state/operations.js';
import { checkNewAccount } from '../register/fields.js';
import { loadRoster } from '../roster/store.js';
import { AFFILIATIONS } from '../muc/roles.js';
import { getReport, listReports, reportsStore } from '../spam_reporting/store.js';
import { Problem } from './problem.js';
import * as responses from './responses.js';
import type { Access, Area, Scope } from './tokens.js';

/** Who is calling: a bearer token, or a web console session (admin_console; index.ts, `authenticators`). */
export interface Principal {
  kind: 'token' | 'session';
  id: string;
  name: string;
  scopes: readonly Scope[];
}

export interface ApiDeps {
  server: ModuleServer;
  log: Logger;
  now(): number;
  version: string;
}

export interface ApiCall<Q, B> {
  params: Record<string, string>;
  query: Q;
  body: B;
  principal: Principal;
  ip: string;
}

export interface ApiResult {
  status: number;
  body?: unknown;
}

export interface ApiRoute<Q = unknown, B = unknown> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  /** undefined: any authenticated caller (whoami). */
  scope?: { area: Area; access: Access };
  summary: string;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** The success body's schema (responses.ts); none for a route that answers 204. */
  response?: z.ZodType;
  /** When it answers 409 Conflict (for the OpenAPI description). */
  conflict?: string;
  handle(call: ApiCall<Q, B>, deps: ApiDeps): ApiResult | Promise<ApiResult>;
}

/** Keeps each route's handler typed after its own schemas while the table holds them all. */
function route<Q = Record<string, never>, B = undefined>(r: ApiRoute<Q, B>): ApiRoute {
  return r as unknown as ApiRoute;
}

// ───────────────────────────── inputs ─────────────────────────────

const text = (max: number) => z.string().max(max).refine((s) => !s.includes('\u0000'), 'must not contain NUL');
const noQuery = z.strictObject({});
const password = z.string().min(1).max(1024);

function hostOf(deps: ApiDeps, host: string | undefined): HostContext {
  const ctx = host === undefined ? undefined : deps.server.hosts.get(host);
  if (!ctx) throw new Problem('not-found', `${host ?? ''} is not a virtual host of this server`);
  return ctx;
}

function service<K extends ServiceName>(ctx: HostContext, name: K, module: string): ServiceMap[K] {
  const s = ctx.services.get(name);
  if (s === undefined) throw new Problem('unavailable', `the ${module} module is not enabled on ${ctx.host}`);
  return s;
}

/**
 * A username from the path, exactly as stored (already in PRECIS form): anything that is not a
 * valid local part as given (quotes, '/', '@', NUL, dot-only names) is 400, never looked up.
 */
function usernameOf(host: string, raw: string | undefined): string {
  const j = raw === undefined || /^\.+$/.test(raw) ? undefined : tryParseJid(`${raw}@${host}`);
  if (!j || j.local !== raw || j.resource !== '' || j.domain !== host) throw new Problem('bad-request', `"${String(raw)}" is not a valid username (in its normalised form)`);
  return raw;
}

async function existingUser(deps: ApiDeps, ctx: HostContext, raw: string | undefined): Promise<string> {
  const username = usernameOf(ctx.host, raw);
  if (!(await deps.server.storage.accounts.exists(ctx.host, username))) throw new Problem('not-found', `there is no account ${username}@${ctx.host}`);
  return username;
}

function mucOf(deps: ApiDeps, domain: string | undefined) {
  const entry = domain === undefined ? undefined : deps.server.components.get(domain);
  if (!entry || entry.kind !== 'internal') throw new Problem('not-found', `${domain ?? ''} is not a chat room service of this server`);
  const admin = entry.context?.services.get('muc-admin');
  if (!admin) throw new Problem('not-found', `${domain ?? ''} is not a chat room service of this server`);
  return admin;
}

function roomOf(raw: string | undefined): string {
  if (raw === undefined || /^\.+$/.test(raw)) throw new Problem('bad-request', `"${String(raw)}" is not a valid room name`);
  return raw;
}

function sendFrom(deps: ApiDeps, ctx: HostContext): (stanza: Element) => void {
  return (stanza) => deps.server.router.route(ctx.session, stanza);
}

// ───────────────────────────── status and checks ─────────────────────────────

async function status(deps: ApiDeps) {
  const byType: Record<string, number> = {};
  const perHost = new Map<string, number>();
  for (const s of deps.server.sessions.all) {
    byType[s.type] = (byType[s.type] ?? 0) + 1;
    if (s.type === 'c2s') perHost.set(s.host, (perHost.get(s.host) ?? 0) + 1);
  }
  const hosts = [];
  for (const host of deps.server.hosts.keys()) hosts.push({ host, accounts: await deps.server.storage.accounts.count(host), sessions: perHost.get(host) ?? 0 });
  const components = [...deps.server.components].map((domain) => {
    const c = deps.server.components.get(domain);
    return { domain, kind: c?.kind ?? 'external', connected: c?.kind === 'internal' ? c.context !== undefined : c?.session !== undefined };
  });
  return {
    version: deps.version,
    node: process.version,
    startedAt: new Date(deps.server.startedAt).toISOString(),
    uptimeSeconds: Math.floor((Date.now() - deps.server.startedAt) / 1000),
    hosts,
    components,
    sessions: byType,
  };
}

interface Check {
  name: string;
  status: 'ok' | 'warning' | 'error';
  detail: string;
}

const CERT_WARN_DAYS = 14;

async function checks(deps: ApiDeps): Promise<{ ok: boolean; checks: Check[] }> {
  const out: Check[] = [];
  for (const host of deps.server.hosts.keys()) {
    const tls = deps.server.tls.forDomain(host);
    if (!tls) {
      out.push({ name: `certificate:${host}`, status: 'error', detail: 'no certificate covers this host' });
      continue;
    }
    try {
      const cert = new X509Certificate(tls.certificatePem);
      const days = Math.floor((Date.parse(cert.validTo) - Date.now()) / 86_400_000);
      out.push({
        name: `certificate:${host}`,
        status: days < 0 ? 'error' : days < CERT_WARN_DAYS ? 'warning' : 'ok',
        detail: days < 0 ? `expired on ${cert.validTo}` : `valid until ${cert.validTo} (${days} days)`,
      });
    } catch {
      out.push({ name: `certificate:${host}`, status: 'error', detail: 'the certificate cannot be read' });
    }
  }
  const started = Date.now();
  try {
    const first = deps.server.hosts.keys().next().value;
    if (first !== undefined) await deps.server.storage.accounts.count(first);
    out.push({ name: 'storage', status: 'ok', detail: `${deps.server.config.storage.driver} answered in ${Date.now() - started} ms` });
  } catch (err) {
    deps.log.warn({ err }, 'admin API storage check failed');
    out.push({ name: 'storage', status: 'error', detail: `${deps.server.config.storage.driver} failed (see the server log)` });
  }
  for (const c of deps.server.components) {
    const e = deps.server.components.get(c);
    if (e?.kind === 'external' && e.session === undefined) out.push({ name: `component:${c}`, status: 'warning', detail: 'external component not connected' });
  }
  return { ok: out.every((c) => c.status !== 'error'), checks: out };
}

// ───────────────────────────── the table ─────────────────────────────

const usersQuery = z.strictObject({
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
});

const durationText = text(32).refine((s) => {
  try {
    return parseDuration(s) > 0;
  } catch {
    return false;
  }
}, 'a duration such as "7d", "12h", "30m"');

export const ROUTES: readonly ApiRoute[] = [
  route({
    method: 'GET', path: '/whoami', summary: 'The calling token: name, id and scopes',
    response: responses.whoamiResponse,
    query: noQuery,
    handle: ({ principal }) => ({ status: 200, body: { kind: principal.kind, id: principal.id, name: principal.name, scopes: principal.scopes } }),
  }),
  route({
    method: 'GET', path: '/status', scope: { area: 'server', access: 'read' }, summary: 'Version, uptime, hosts, components and session counts',
    response: responses.statusResponse,
    query: noQuery,
    handle: async (_call, deps) => ({ status: 200, body: await status(deps) }),
  }),
  route({
    method: 'GET', path: '/checks', scope: { area: 'server', access: 'read' }, summary: 'Health checks: certificates, storage, external components',
    response: responses.checksResponse,
    query: noQuery,
    handle: async (_call, deps) => ({ status: 200, body: await checks(deps) }),
  }),

  // ── users
  route<z.infer<typeof usersQuery>>({
    method: 'GET', path: '/hosts/{host}/users', scope: { area: 'users', access: 'read' }, summary: 'Accounts of a host, sorted, with their status',
    response: responses.usersResponse,
    query: usersQuery,
    async handle({ params, query }, deps) {
      const ctx = hostOf(deps, params.host);
      const state = ctx.services.get('accounts-state');
      const all = await deps.server.storage.accounts.list(ctx.host);
      const page = all.slice(query.offset, query.offset + query.limit);
      return { status: 200, body: { total: all.length, offset: query.offset, users: page.map((username) => ({ username, status: state ? accountStatus(state, username) : 'active' })) } };
    },
  }),
  route<Record<string, never>, { username: string; password: string }>({
    method: 'POST', path: '/hosts/{host}/users', scope: { area: 'users', access: 'write' }, summary: 'Create an account',
    conflict: 'The account exists',
    response: responses.userCreatedResponse,
    query: noQuery,
    body: z.strictObject({ username: text(1023), password }),
    async handle({ params, body, principal }, deps) {
      const ctx = hostOf(deps, params.host);
      if (/^\.+$/.test(body.username)) throw new Problem('bad-request', 'a username cannot be only dots');
      const checked = checkNewAccount(body.username, body.password);
      if (!checked.ok) throw new Problem('bad-request', checked.refusal.text);
      const { username } = checked.value;
      if (!(await addAccount(deps.server, ctx.host, username, checked.value.password))) throw new Problem('conflict', `the account ${username}@${ctx.host} exists`);
      deps.log.info({ by: principal.name, username, host: ctx.host }, 'account created (admin API)');
      return { status: 201, body: { jid: `${username}@${ctx.host}`, username } };
    },
  }),
  route({
    method: 'GET', path: '/hosts/{host}/users/{username}', scope: { area: 'users', access: 'read' }, summary: 'An account: status, roster size, online resources and addresses',
    response: responses.userResponse,
    query: noQuery,
    async handle({ params }, deps) {
      const ctx = hostOf(deps, params.host);
      const username = await existingUser(deps, ctx, params.username);
      return { status: 200, body: await accountStatistics(deps.server, ctx.host, service(ctx, 'accounts-state', 'account_state'), username) };
    },
  }),
  route({
    method: 'DELETE', path: '/hosts/{host}/users/{username}', scope: { area: 'users', access: 'write' }, summary: 'Delete an account now, with all its data (its sessions end)',
    query: noQuery,
    async handle({ params, principal }, deps) {
      const ctx = hostOf(deps, params.host);
      const username = await existingUser(deps, ctx, params.username);
      await service(ctx, 'accounts-state', 'account_state').deleteNow(username);
      deps.log.info({ by: principal.name, username, host: ctx.host }, 'account deleted (admin API)');
      return { status: 204 };
    },
  }),
  route<Record<string, never>, { password: string }>({
    method: 'PUT', path: '/hosts/{host}/users/{username}/password', scope: { area: 'users', access: 'write' }, summary: 'Set an account\'s password (its FAST tokens are revoked)',
    query: noQuery,
    body: z.strictObject({ password }),
    async handle({ params, body, principal }, deps) {
      const ctx = hostOf(deps, params.host);
      const username = await existingUser(deps, ctx, params.username);
      const checked = checkNewAccount(username, body.password);
      if (!checked.ok) throw new Problem('bad-request', checked.refusal.text);
      if (!(await changePassword(deps.server, ctx.host, username, checked.value.password))) throw new Problem('not-found', 'the account no longer exists');
      await ctx.services.get('fast')?.revokeAll(username);
      deps.log.info({ by: principal.name, username, host: ctx.host }, 'password changed (admin API)');
      return { status: 204 };
    },
  }),
  route<Record<string, never>, { reason?: string }>({
    method: 'POST', path: '/hosts/{host}/users/{username}/disable', scope: { area: 'users', access: 'write' }, summary: 'Disable an account: no logins, its sessions end',
    query: noQuery,
    body: z.strictObject({ reason: text(1000).optional() }),
    async handle({ params, body, principal }, deps) {
      const ctx = hostOf(deps, params.host);
      const username = await existingUser(deps, ctx, params.username);
      await service(ctx, 'accounts-state', 'account_state').disable(username, `admin API token ${principal.name}`, body.reason);
      return { status: 204 };
    },
  }),
  route({
    method: 'POST', path: '/hosts/{host}/users/{username}/enable', scope: { area: 'users', access: 'write' }, summary: 'Enable a disabled account',
    query: noQuery,
    async handle({ params }, deps) {
      const ctx = hostOf(deps, params.host);
      const username = await existingUser(deps, ctx, params.username);
      await service(ctx, 'accounts-state', 'account_state').enable(username);
      return { status: 204 };
    },
  }),

  // ── sessions
  route({
    method: 'GET', path: '/hosts/{host}/sessions', scope: { area: 'sessions', access: 'read' }, summary: 'Bound client sessions of a host',
    response: responses.sessionsResponse,
    query: noQuery,
    handle({ params }, deps) {
      const ctx = hostOf(deps, params.host);
      const sessions = [];
      for (const s of deps.server.sessions.all) {
        if (s.type !== 'c2s' || s.host !== ctx.host || s.fullJid === undefined) continue;
        sessions.push({ jid: s.fullJid, username: s.username, resource: s.resource, ip: s.ip, secure: s.secure, hibernating: s.hibernating, priority: s.priority ?? null });
      }
      sessions.sort((a, b) => a.jid.localeCompare(b.jid));
      return { status: 200, body: { sessions } };
    },
  }),
  route<{ resource?: string }>({
    method: 'DELETE', path: '/hosts/{host}/users/{username}/sessions', scope: { area: 'sessions', access: 'write' }, summary: 'End an account\'s sessions (all, or one resource)',
    response: responses.endedResponse,
    query: z.strictObject({ resource: text(1023).optional() }),
    handle({ params, query, principal }, deps) {
      const ctx = hostOf(deps, params.host);
      const username = usernameOf(ctx.host, params.username);
      const reason = { condition: 'policy-violation' as const, text: 'session ended by an administrator' };
      let ended = 0;
      for (const s of [...deps.server.sessions.all]) {
        if (s.type !== 'c2s' || s.host !== ctx.host || s.username !== username) continue;
        if (query.resource !== undefined && s.resource !== query.resource) continue;
        s.close(reason);
        deps.server.sessions.destroySession(s, reason, { final: true });
        ended++;
      }
      if (ended === 0) throw new Problem('not-found', `${username}@${ctx.host}${query.resource === undefined ? '' : `/${query.resource}`} has no session`);
      deps.log.info({ by: principal.name, username, host: ctx.host, resource: query.resource, ended }, 'sessions ended (admin API)');
      return { status: 200, body: { ended } };
    },
  }),

  // ── rosters
  route({
    method: 'GET', path: '/hosts/{host}/users/{username}/roster', scope: { area: 'rosters', access: 'read' }, summary: 'An account\'s roster',
    response: responses.rosterResponse,
    query: noQuery,
    async handle({ params }, deps) {
      const ctx = hostOf(deps, params.host);
      const username = await existingUser(deps, ctx, params.username);
      const roster = await loadRoster(deps.server, ctx.host, username);
      const items = roster.items().map((i) => ({ jid: i.jid, name: i.name ?? null, groups: i.groups, subscription: i.subscription, ask: i.ask }));
      return { status: 200, body: { items } };
    },
  }),

  // ── push
  route({
    method: 'GET', path: '/hosts/{host}/users/{username}/push-trace', scope: { area: 'push', access: 'read' }, summary: 'The last push decisions and the registrations of an account',
    response: responses.pushTraceResponse,
    query: noQuery,
    async handle({ params }, deps) {
      const ctx = hostOf(deps, params.host);
      const username = await existingUser(deps, ctx, params.username);
      const push = service(ctx, 'push', 'push');
      return { status: 200, body: { account: `${username}@${ctx.host}`, registrations: await push.registrations(username), entries: push.trace(username) } };
    },
  }),

  // ── invites
  route({
    method: 'GET', path: '/hosts/{host}/invites', scope: { area: 'invites', access: 'read' }, summary: 'Invites not yet expired, newest first',
    response: responses.invitesResponse,
    query: noQuery,
    async handle({ params }, deps) {
      const ctx = hostOf(deps, params.host);
      const invites = service(ctx, 'invites', 'invites');
      return { status: 200, body: { invites: (await invites.list()).map((i) => ({ ...i, uri: invites.uri(i), url: invites.landingUrl(i) })) } };
    },
  }),
  route<Record<string, never>, { expires?: string; uses?: number; group?: string }>({
    method: 'POST', path: '/hosts/{host}/invites', scope: { area: 'invites', access: 'write' }, summary: 'Create an invite link',
    response: responses.inviteResponse,
    query: noQuery,
    body: z.strictObject({ expires: durationText.optional(), uses: z.number().int().min(1).max(10_000).optional(), group: text(256).optional() }),
    async handle({ params, body, principal }, deps) {
      const ctx = hostOf(deps, params.host);
      const invites = service(ctx, 'invites', 'invites');
      const invite = await invites.create({ expiresInMs: body.expires === undefined ? undefined : parseDuration(body.expires), maxUses: body.uses ?? 1, group: body.group, via: 'api' });
      deps.log.info({ by: principal.name, host: ctx.host }, 'invite created (admin API)');
      return { status: 201, body: { ...invite, uri: invites.uri(invite), url: invites.landingUrl(invite) } };
    },
  }),
  route({
    method: 'DELETE', path: '/hosts/{host}/invites/{token}', scope: { area: 'invites', access: 'write' }, summary: 'Revoke an invite',
    query: noQuery,
    async handle({ params }, deps) {
      const ctx = hostOf(deps, params.host);
      const token = params.token ?? '';
      if (!/^[A-Za-z0-9_-]{16,64}$/.test(token)) throw new Problem('bad-request', 'that is not an invite token');
      if (!(await service(ctx, 'invites', 'invites').revoke(token))) throw new Problem('not-found', `there is no invite ${token} on ${ctx.host}`);
      return { status: 204 };
    },
  }),

  // ── spam and abuse reports (XEP-0377, src/modules/spam_reporting)
  route<{ status?: 'open' | 'resolved'; limit?: number }>({
    method: 'GET', path: '/hosts/{host}/reports', scope: { area: 'users', access: 'read' }, summary: 'Spam and abuse reports users filed, newest first, with the reported message',
    response: responses.reportsResponse,
    query: z.strictObject({ status: z.enum(['open', 'resolved']).optional(), limit: z.coerce.number().int().min(1).max(1000).optional() }),
    async handle({ params, query }, deps) {
      const ctx = hostOf(deps, params.host);
      const reports = await listReports(reportsStore(deps.server.storage, ctx.host), { status: query.status, limit: query.limit ?? 100 });
      return { status: 200, body: { reports } };
    },
  }),
  route({
    method: 'GET', path: '/hosts/{host}/reports/{id}', scope: { area: 'users', access: 'read' }, summary: 'One spam or abuse report',
    response: responses.reportResponse,
    query: noQuery,
    async handle({ params }, deps) {
      const ctx = hostOf(deps, params.host);
      const report = await getReport(reportsStore(deps.server.storage, ctx.host), params.id ?? '');
      if (!report) throw new Problem('not-found', `there is no report ${params.id ?? ''} on ${ctx.host}`);
      return { status: 200, body: report };
    },
  }),

  // ── announcements
  route<Record<string, never>, { body: string; subject?: string }>({
    method: 'POST', path: '/hosts/{host}/announcements', scope: { area: 'announcements', access: 'write' }, summary: 'A headline message to every online user of a host',
    response: responses.announcementResponse,
    query: noQuery,
    body: z.strictObject({ body: text(10_000).refine((s) => s.trim() !== '', 'the announcement is empty'), subject: text(256).optional() }),
    handle({ params, body, principal }, deps) {
      const ctx = hostOf(deps, params.host);
      const sent = announce(deps.server, ctx.host, sendFrom(deps, ctx), body.body, body.subject);
      deps.log.info({ by: principal.name, host: ctx.host, sent }, 'announcement sent (admin API)');
      return { status: 200, body: { sent } };
    },
  }),

  // ── rooms
  route({
    method: 'GET', path: '/rooms/{service}', scope: { area: 'rooms', access: 'read' }, summary: 'Rooms of a chat room service',
    response: responses.roomsResponse,
    query: noQuery,
    handle: ({ params }, deps) => ({ status: 200, body: { rooms: mucOf(deps, params.service).list() } }),
  }),
  route<Record<string, never>, { room: string; owner: string; name?: string; description?: string; persistent?: boolean; public?: boolean; membersOnly?: boolean }>({
    method: 'POST', path: '/rooms/{service}', scope: { area: 'rooms', access: 'write' }, summary: 'Create a room, configured and unlocked',
    conflict: 'The room exists',
    response: responses.roomResponse,
    query: noQuery,
    body: z.strictObject({
      room: text(1023), owner: text(3071), name: text(256).optional(), description: text(1024).optional(),
      persistent: z.boolean().optional(), public: z.boolean().optional(), membersOnly: z.boolean().optional(),
    }),
    async handle({ params, body, principal }, deps) {
      const muc = mucOf(deps, params.service);
      const result = await muc.create(roomOf(body.room), body.owner, body);
      if (result === 'exists') throw new Problem('conflict', `the room ${body.room}@${muc.domain} exists`);
      if (result === 'bad-name') throw new Problem('bad-request', `"${body.room}" is not a valid room name (in its normalised form)`);
      if (typeof result === 'string') throw new Problem('bad-request', `"${body.owner}" is not a bare JID`);
      deps.log.info({ by: principal.name, room: result.jid }, 'room created (admin API)');
      return { status: 201, body: result };
    },
  }),
  route({
    method: 'GET', path: '/rooms/{service}/{room}', scope: { area: 'rooms', access: 'read' }, summary: 'A room',
    response: responses.roomResponse,
    query: noQuery,
    handle({ params }, deps) {
      const muc = mucOf(deps, params.service);
      const room = muc.get(roomOf(params.room));
      if (!room) throw new Problem('not-found', `there is no room ${params.room ?? ''}@${muc.domain}`);
      return { status: 200, body: room };
    },
  }),
  route<{ reason?: string }>({
    method: 'DELETE', path: '/rooms/{service}/{room}', scope: { area: 'rooms', access: 'write' }, summary: 'Destroy a room (its occupants are told, XEP-0045 §10.9)',
    query: z.strictObject({ reason: text(1000).optional() }),
    async handle({ params, query, principal }, deps) {
      const muc = mucOf(deps, params.service);
      const room = roomOf(params.room);
      if (!(await muc.destroy(room, query.reason))) throw new Problem('not-found', `there is no room ${room}@${muc.domain}`);
      deps.log.info({ by: principal.name, room: `${room}@${muc.domain}` }, 'room destroyed (admin API)');
      return { status: 204 };
    },
  }),
  route({
    method: 'GET', path: '/rooms/{service}/{room}/affiliations', scope: { area: 'rooms', access: 'read' }, summary: 'A room\'s affiliations',
    response: responses.affiliationsResponse,
    query: noQuery,
    handle({ params }, deps) {
      const muc = mucOf(deps, params.service);
      const list = muc.affiliations(roomOf(params.room));
      if (!list) throw new Problem('not-found', `there is no room ${params.room ?? ''}@${muc.domain}`);
      return { status: 200, body: { affiliations: list } };
    },
  }),
  route<Record<string, never>, { jid: string; affiliation: (typeof AFFILIATIONS)[number]; reason?: string }>({
    method: 'PUT', path: '/rooms/{service}/{room}/affiliations', scope: { area: 'rooms', access: 'write' }, summary: 'Set one affiliation (none removes it)',
    conflict: 'It would remove the room\'s last owner',
    query: noQuery,
    body: z.strictObject({ jid: text(3071), affiliation: z.enum(AFFILIATIONS as unknown as [string, ...string[]]) as unknown as z.ZodType<(typeof AFFILIATIONS)[number]>, reason: text(1000).optional() }),
    async handle({ params, body, principal }, deps) {
      const muc = mucOf(deps, params.service);
      const room = roomOf(params.room);
      const result = await muc.setAffiliation(room, body.jid, body.affiliation, body.reason);
      if (result === 'no-room') throw new Problem('not-found', `there is no room ${room}@${muc.domain}`);
      if (result === 'bad-jid') throw new Problem('bad-request', `"${body.jid}" is not a bare JID`);
      if (result === 'last-owner') throw new Problem('conflict', 'a room keeps at least one owner');
      deps.log.info({ by: principal.name, room: `${room}@${muc.domain}`, jid: body.jid, affiliation: body.affiliation }, 'affiliation set (admin API)');
      return { status: 204 };
    },
  }),
];
