/**
 * The admin HTTP API (src/modules/admin_api, docs/admin-api.md) over real HTTP on the booted
 * server: every endpoint with a token of the right scope, of the wrong scope, none, and
 * malformed input; an injection and path-traversal table; tokens stored hashed (the SQLite file
 * is read); a session kicked through the API disconnects a real @xmpp/client client; rate
 * limits answer 429 with Retry-After; every call audited without secrets; the OpenAPI file
 * matches the mounted routes both ways; `canto token` as a child process.
 */
import { test, after, before } from 'node:test';
import { newReportId, reportsStore, saveReport } from '../../src/modules/spam_reporting/store.js';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startTestServer, testConfig, tempDir, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, type LoggedInClient } from '../helpers/xmpp-client.js';
import { runCanto } from '../helpers/cli.js';
import { bootServer } from '../../src/app/boot.js';
import { createLogger } from '../../src/core/logging.js';
import { ROUTES } from '../../src/modules/admin_api/routes.js';
import { buildOpenApi } from '../../src/modules/admin_api/openapi.js';
import { openApiPath } from '../../src/modules/admin_api/index.js';
import { httpJson, type JsonReply } from '../helpers/http-json.js';
import { AREAS, createToken, hashSecret, parseToken, revokeToken, TOKENS_HOST, TOKENS_STORE, type Scope, type StoredToken } from '../../src/modules/admin_api/tokens.js';

type Reply = JsonReply;

interface CallOpts {
  token?: string;
  body?: unknown;
  /** Sent as is (no JSON encoding). */
  raw?: string | Buffer;
  headers?: Record<string, string>;
}

function call(port: number, method: string, path: string, opts: CallOpts = {}): Promise<Reply> {
  const payload = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`;
  return httpJson(port, method, path, headers, payload);
}

const API = '/admin/api/v1';
const HOST = 'localhost';
const MUC = 'conference.localhost';

let ts: TestServer;
let port: number;
const tokens = new Map<string, string>();
let all: string;

async function makeToken(server: TestServer['server'], name: string, scopes: Scope[], expiresInMs?: number): Promise<string> {
  const store = server.storage.map<StoredToken>(TOKENS_HOST, TOKENS_STORE);
  return (await createToken(store, Date.now(), { name, scopes, expiresInMs })).token;
}

function assertProblem(r: Reply, status: number, what: string): void {
  assert.equal(r.status, status, `${what}: ${r.text}`);
  assert.match(String(r.headers['content-type']), /^application\/problem\+json/, what);
  const p = r.json as { type: string; title: string; status: number; detail: string };
  assert.equal(p.status, status, what);
  assert.equal(typeof p.title, 'string');
  assert.equal(typeof p.detail, 'string');
  assert.match(p.type, /^\/docs\/admin-api\.md#[a-z-]+$/);
}

before(async () => {
  ts = await startTestServer((c) => {
    c.http.ports = [0];
    c.component.push({ domain: MUC, module: 'muc' });
    c.modules.admin_api = { rate: 1000, burst: 1000, address_rate: 1000, address_burst: 1000 };
  });
  port = ts.server.port('http');
  for (const area of AREAS) {
    tokens.set(`${area}:read`, await makeToken(ts.server, `${area}-reader`, [`${area}:read`]));
    tokens.set(`${area}:write`, await makeToken(ts.server, `${area}-writer`, [`${area}:write`]));
  }
  all = await makeToken(ts.server, 'all', AREAS.map((a) => `${a}:write` as Scope));
  for (const u of ['alice', 'bob', 'carol', 'dave']) await createAccount(ts, u, 'secret');
});

after(async () => {
  await ts?.stop();
});

// ───────────────────────────── the endpoint matrix ─────────────────────────────

interface Case {
  /** The concrete path (after /admin/api/v1). */
  path: string;
  body?: unknown;
  /** Input that must be refused with 400. */
  malformed: { path?: string; body?: unknown };
  ok: number;
  /** Run before the successful call (the malformed one runs first). */
  setup?: () => Promise<void>;
  check?: (r: Reply) => void | Promise<void>;
}

const clients: LoggedInClient[] = [];
let inviteToken = '';

const CASES: Record<string, Case> = {
  'GET /whoami': { path: '/whoami', malformed: { path: '/whoami?x=1' }, ok: 200, check: (r) => assert.deepEqual((r.json as { scopes: string[] }).scopes.length > 0, true) },
  'GET /status': {
    path: '/status', malformed: { path: '/status?verbose=1' }, ok: 200,
    check: (r) => {
      const s = r.json as { version: string; hosts: Array<{ host: string; accounts: number }>; uptimeSeconds: number };
      assert.equal(s.hosts.find((h) => h.host === HOST)?.accounts !== undefined, true);
      assert.ok(s.uptimeSeconds >= 0);
      assert.match(s.version, /^\d+\.\d+\.\d+/);
    },
  },
  'GET /checks': { path: '/checks', malformed: { path: '/checks?x=' }, ok: 200, check: (r) => assert.ok((r.json as { checks: Array<{ name: string; status: string }> }).checks.some((c) => c.name === 'storage' && c.status === 'ok')) },
  'GET /hosts/{host}/users': {
    path: `/hosts/${HOST}/users?limit=500`, malformed: { path: `/hosts/${HOST}/users?limit=-1` }, ok: 200,
    check: (r) => assert.ok((r.json as { users: Array<{ username: string }> }).users.some((u) => u.username === 'alice')),
  },
  'POST /hosts/{host}/users': {
    path: `/hosts/${HOST}/users`, body: { username: 'newbie', password: 'pass-word-1' }, malformed: { body: { username: 'newbie', password: 'x', admin: true } }, ok: 201,
    check: async () => assert.equal(await ts.server.storage.accounts.exists(HOST, 'newbie'), true),
  },
  'GET /hosts/{host}/users/{username}': { path: `/hosts/${HOST}/users/alice`, malformed: { path: `/hosts/${HOST}/users/al%22ice` }, ok: 200, check: (r) => assert.equal((r.json as { status: string }).status, 'active') },
  'DELETE /hosts/{host}/users/{username}': {
    path: `/hosts/${HOST}/users/victim`, malformed: { path: `/hosts/${HOST}/users/victim?now=1` }, ok: 204,
    setup: () => createAccount(ts, 'victim', 'secret'),
    check: async () => assert.equal(await ts.server.storage.accounts.exists(HOST, 'victim'), false),
  },
  'PUT /hosts/{host}/users/{username}/password': {
    path: `/hosts/${HOST}/users/dave/password`, body: { password: 'another-secret' }, malformed: { body: { password: '' } }, ok: 204,
    check: async () => {
      const c = await loginClient(ts, 'dave', 'another-secret', 'pw');
      await c.stop();
    },
  },
  'POST /hosts/{host}/users/{username}/disable': {
    path: `/hosts/${HOST}/users/dave/disable`, body: { reason: 'testing' }, malformed: { body: { reason: 42 } }, ok: 204,
    check: () => assert.equal(ts.server.hosts.get(HOST)?.services.get('accounts-state')?.isDisabled('dave'), true),
  },
  'POST /hosts/{host}/users/{username}/enable': {
    path: `/hosts/${HOST}/users/dave/enable`, malformed: { path: `/hosts/${HOST}/users/dave/enable?force=yes` }, ok: 204,
    check: () => assert.equal(ts.server.hosts.get(HOST)?.services.get('accounts-state')?.isDisabled('dave'), false),
  },
  'GET /hosts/{host}/sessions': {
    path: `/hosts/${HOST}/sessions`, malformed: { path: `/hosts/${HOST}/sessions?all=1` }, ok: 200,
    setup: async () => void clients.push(await loginClient(ts, 'alice', 'secret', 'desk')),
    check: (r) => assert.ok((r.json as { sessions: Array<{ jid: string }> }).sessions.some((s) => s.jid === 'alice@localhost/desk')),
  },
  'DELETE /hosts/{host}/users/{username}/sessions': {
    path: `/hosts/${HOST}/users/alice/sessions?resource=desk`, malformed: { path: `/hosts/${HOST}/users/alice/sessions?resource=desk&resource=x` }, ok: 200,
    check: (r) => assert.equal((r.json as { ended: number }).ended, 1),
  },
  'GET /hosts/{host}/users/{username}/roster': { path: `/hosts/${HOST}/users/bob/roster`, malformed: { path: `/hosts/${HOST}/users/bob%00/roster` }, ok: 200, check: (r) => assert.ok(Array.isArray((r.json as { items: unknown[] }).items)) },
  'GET /hosts/{host}/users/{username}/push-trace': { path: `/hosts/${HOST}/users/bob/push-trace`, malformed: { path: `/hosts/${HOST}/users/bob/push-trace?n=5` }, ok: 200, check: (r) => assert.equal((r.json as { account: string }).account, 'bob@localhost') },
  'GET /hosts/{host}/invites': { path: `/hosts/${HOST}/invites`, malformed: { path: `/hosts/${HOST}/invites?all` }, ok: 200 },
  'POST /hosts/{host}/invites': {
    path: `/hosts/${HOST}/invites`, body: { expires: '2h', uses: 2, group: 'team' }, malformed: { body: { expires: 'soon' } }, ok: 201,
    check: (r) => {
      const i = r.json as { token: string; maxUses: number; via: string; uri: string };
      assert.equal(i.maxUses, 2);
      assert.equal(i.via, 'api');
      assert.match(i.uri, /^xmpp:localhost\?register;preauth=/);
      inviteToken = i.token;
    },
  },
  'DELETE /hosts/{host}/invites/{token}': {
    path: '', malformed: { path: `/hosts/${HOST}/invites/not'a'token` }, ok: 204,
    setup: async () => {
      if (inviteToken === '') inviteToken = (await ts.server.hosts.get(HOST)?.services.get('invites')?.create({ via: 'test' }))?.token ?? '';
      CASES['DELETE /hosts/{host}/invites/{token}']!.path = `/hosts/${HOST}/invites/${inviteToken}`;
    },
    check: async () => assert.equal((await ts.server.hosts.get(HOST)?.services.get('invites')?.check(inviteToken))?.ok, false),
  },
  'GET /hosts/{host}/reports': {
    path: `/hosts/${HOST}/reports?status=open`, malformed: { path: `/hosts/${HOST}/reports?status=maybe` }, ok: 200,
    setup: async () => void (await storedReport()),
    check: (r) => assert.ok((r.json as { reports: Array<{ jid: string }> }).reports.some((x) => x.jid === 'spammer@example.net')),
  },
  'GET /hosts/{host}/reports/{id}': {
    path: '', malformed: { path: `/hosts/${HOST}/reports/0?full=1` }, ok: 200,
    setup: async () => {
      CASES['GET /hosts/{host}/reports/{id}']!.path = `/hosts/${HOST}/reports/${await storedReport()}`;
    },
    check: (r) => assert.equal((r.json as { reason: string; evidence?: { stanza: string } }).evidence?.stanza, '<message><body>spam</body></message>'),
  },
  'POST /hosts/{host}/announcements': {
    path: `/hosts/${HOST}/announcements`, body: { body: 'maintenance at noon', subject: 'Notice' }, malformed: { body: { body: '   ' } }, ok: 200,
    setup: async () => void clients.push(await loginClient(ts, 'bob', 'secret', 'ann')),
    check: async (r) => {
      assert.ok((r.json as { sent: number }).sent >= 1);
      const bob = clients[clients.length - 1] as LoggedInClient;
      const m = await bob.waitFor((el) => el.name === 'message' && el.attrs.type === 'headline');
      assert.equal(m.getChildText('body'), 'maintenance at noon');
      assert.equal(m.attrs.from, HOST);
    },
  },
  'GET /rooms/{service}': { path: `/rooms/${MUC}`, malformed: { path: `/rooms/${MUC}?q=1` }, ok: 200 },
  'POST /rooms/{service}': {
    path: `/rooms/${MUC}`, body: { room: 'lobby', owner: 'alice@localhost', name: 'The lobby', persistent: true }, malformed: { body: { room: 'lobby', owner: 'alice@localhost', locked: false } }, ok: 201,
    check: (r) => {
      const room = r.json as { jid: string; persistent: boolean; locked: boolean };
      assert.equal(room.jid, `lobby@${MUC}`);
      assert.equal(room.persistent, true);
      assert.equal(room.locked, false);
    },
  },
  'GET /rooms/{service}/{room}': { path: `/rooms/${MUC}/lobby`, malformed: { path: `/rooms/${MUC}/%2e%2e` }, ok: 200, setup: ensureRoom },
  'GET /rooms/{service}/{room}/affiliations': {
    path: `/rooms/${MUC}/lobby/affiliations`, malformed: { path: `/rooms/${MUC}/lobby/affiliations?x=1` }, ok: 200, setup: ensureRoom,
    check: (r) => assert.ok((r.json as { affiliations: Array<{ jid: string; affiliation: string }> }).affiliations.some((a) => a.jid === 'alice@localhost' && a.affiliation === 'owner')),
  },
  'PUT /rooms/{service}/{room}/affiliations': {
    path: `/rooms/${MUC}/lobby/affiliations`, body: { jid: 'bob@localhost', affiliation: 'member' }, malformed: { body: { jid: 'bob@localhost', affiliation: 'king' } }, ok: 204, setup: ensureRoom,
    check: () => assert.equal(mucAdmin().affiliations('lobby')?.find((a) => a.jid === 'bob@localhost')?.affiliation, 'member'),
  },
  'DELETE /rooms/{service}/{room}': {
    path: `/rooms/${MUC}/lobby?reason=closing`, malformed: { path: `/rooms/${MUC}/lobby?reason=a&why=b` }, ok: 204, setup: ensureRoom,
    check: () => assert.equal(mucAdmin().get('lobby'), undefined),
  },
};

/** A report in the host's store (as the spam_reporting module files one); its id. */
let reportId = '';
async function storedReport(): Promise<string> {
  if (reportId !== '') return reportId;
  const now = Date.now();
  reportId = newReportId(now);
  await saveReport(reportsStore(ts.server.storage, HOST), {
    id: reportId, created: now, host: HOST, reporter: `bob@${HOST}`, jid: 'spammer@example.net', reason: 'spam', refs: [], via: 'block', status: 'open',
    evidence: { source: 'archive', stanza: '<message><body>spam</body></message>', when: now },
  });
  return reportId;
}

function mucAdmin() {
  const admin = ts.server.components.get(MUC);
  assert.ok(admin?.kind === 'internal');
  const service = admin.context?.services.get('muc-admin');
  assert.ok(service);
  return service;
}

async function ensureRoom(): Promise<void> {
  if (!mucAdmin().get('lobby')) await mucAdmin().create('lobby', 'alice@localhost', { persistent: true });
}

test('every route has a case in this file, and every case is a route', () => {
  assert.deepEqual(Object.keys(CASES).sort(), ROUTES.map((r) => `${r.method} ${r.path}`).sort());
});

for (const route of ROUTES) {
  const key = `${route.method} ${route.path}`;
  test(`${key}: no token 401, wrong scope 403, malformed 400, right scope ${String(CASES[key]?.ok)}`, async () => {
    const c = CASES[key];
    assert.ok(c, key);
    await c.setup?.();
    const path = `${API}${c.path}`;
    const none = await call(port, route.method, path, { body: c.body });
    assertProblem(none, 401, 'no token');
    assert.match(String(none.headers['www-authenticate']), /^Bearer /);
    const bad = await call(port, route.method, path, { body: c.body, token: `canto_${'A'.repeat(16)}_${'B'.repeat(43)}` });
    assertProblem(bad, 401, 'unknown token');
    assert.match(String(bad.headers['www-authenticate']), /error="invalid_token"/);

    if (route.scope) {
      const { area, access } = route.scope;
      // write needs :write (a reader of the same area is refused); read needs the area (another area's writer is refused)
      const wrong = access === 'write' ? (tokens.get(`${area}:read`) as string) : (tokens.get(`${area === 'users' ? 'rooms' : 'users'}:write`) as string);
      assertProblem(await call(port, route.method, path, { body: c.body, token: wrong }), 403, 'wrong scope');
    }
    const malformed = await call(port, route.method, `${API}${c.malformed.path ?? c.path}`, { body: c.malformed.body ?? c.body, token: all });
    assertProblem(malformed, 400, 'malformed');

    const right = route.scope ? (tokens.get(`${route.scope.area}:${route.scope.access}`) as string) : all;
    const r = await call(port, route.method, `${API}${c.path}`, { body: c.body, token: right });
    assert.equal(r.status, c.ok, `${key}: ${r.text}`);
    if (c.ok !== 204) assert.match(String(r.headers['content-type']), /^application\/json/);
    // The documented responses include what was answered.
    const spec = JSON.parse(readFileSync(openApiPath(), 'utf8')) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    const op = spec.paths[route.path]?.[route.method.toLowerCase()];
    for (const status of [c.ok, 400, 401]) assert.ok(op?.responses[String(status)], `${key} documents ${status}`);
    await c.check?.(r);
  });
}

after(async () => {
  for (const c of clients) await c.stop();
});

// ───────────────────────────── OpenAPI ─────────────────────────────

test('the OpenAPI file in the repo is what the routes generate, is served, and lists exactly the mounted routes', async () => {
  const file = JSON.parse(readFileSync(openApiPath(), 'utf8')) as { openapi: string; info: { version: string }; paths: Record<string, Record<string, unknown>> };
  const generated = buildOpenApi(file.info.version);
  assert.deepEqual(file, JSON.parse(JSON.stringify(generated)), 'docs/admin-api.openapi.json is stale: run `npm run build && node scripts/admin-api-openapi.mjs`');
  assert.equal(file.openapi, '3.1.0');
  const documented = Object.entries(file.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)).sort();
  const mounted = [...ROUTES.map((r) => `${r.method} ${r.path}`), 'GET /openapi.json'].sort();
  assert.deepEqual(documented, mounted);
  const served = await call(port, 'GET', `${API}/openapi.json`);
  assert.equal(served.status, 200);
  assert.deepEqual(served.json, file);
});

// ───────────────────────────── injections and traversal ─────────────────────────────

test('injection and path-traversal table: each refused cleanly, storage intact, no prototype polluted', async () => {
  const before = (await ts.server.storage.accounts.list(HOST)).length;
  const paths: Array<[string, number[]]> = [
    [`/hosts/${HOST}/users/..%2F..%2Fetc%2Fpasswd`, [400]],
    [`/hosts/${HOST}/users/%2e%2e`, [400]],
    // Literal dot segments are resolved by URL parsing (RFC 3986 §5.2.4) before routing: this is /hosts/status.
    [`/hosts/${HOST}/users/../../status`, [404]],
    [`/hosts/${HOST}/users/%2E%2E%2F`, [400]],
    [`/hosts/${HOST}/users/alice%00`, [400]],
    [`/hosts/${HOST}/users/x'%20OR%20'1'%3D'1`, [400]],
    [`/hosts/${HOST}/users/alice%22%3B--`, [400]],
    [`/hosts/${HOST}/users/alice%40localhost`, [400]],
    [`/hosts/${HOST}/users/Alice`, [400]],
    [`/hosts/${HOST}/users/alice%3BDROP%20TABLE%20accounts`, [400]],
    [`/hosts/${HOST}/users/alice%3Bdrop--`, [404]],
    [`/hosts/${HOST}/users/%E0%A4%A`, [400]],
    [`/hosts/${HOST}%00/users`, [404]],
    [`/hosts/..%2f..%2f/users`, [404]],
    [`/hosts/${HOST}//users`, [400]],
    [`/rooms/${MUC}/..`, [400]],
    [`/rooms/..%2F${MUC}/lobby`, [404]],
    [`/hosts/${HOST}/users?__proto__=1`, [400]],
    [`/hosts/${HOST}/users?constructor=1`, [400]],
    [`/hosts/${HOST}/users?limit=1e999`, [400]],
  ];
  for (const [p, statuses] of paths) {
    const r = await call(port, 'GET', `${API}${p}`, { token: all });
    assert.ok(statuses.includes(r.status), `${p}: ${r.status} ${r.text}`);
    assertProblem(r, r.status, p);
  }
  const create = `${API}/hosts/${HOST}/users`;
  const bodies: Array<[string, string | Buffer, number, Record<string, string>?]> = [
    ['__proto__ at the top', '{"__proto__":{"admin":true},"username":"p1","password":"pass-word-1"}', 400],
    ['constructor.prototype', '{"constructor":{"prototype":{"admin":true}},"username":"p2","password":"pass-word-1"}', 400],
    ['__proto__ nested', '{"username":"p3","password":"pass-word-1","x":{"__proto__":1}}', 400],
    ['an array', '[1,2]', 400],
    ['a string', '"hello"', 400],
    ['null', 'null', 400],
    ['not JSON', '{username:', 400],
    ['NUL in a username', JSON.stringify({ username: 'a\u0000b', password: 'pass-word-1' }), 400],
    ['quotes in a username', JSON.stringify({ username: 'a"b', password: 'pass-word-1' }), 400],
    ['a path in a username', JSON.stringify({ username: '../../etc', password: 'pass-word-1' }), 400],
    ['dots only', JSON.stringify({ username: '..', password: 'pass-word-1' }), 400],
    ['SQL in a username', JSON.stringify({ username: "x' OR '1'='1", password: 'pass-word-1' }), 400],
    ['a number for a string', '{"username":1,"password":"pass-word-1"}', 400],
    ['deep nesting', `${'['.repeat(30_000)}${']'.repeat(30_000)}`, 400],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 400],
    ['text/plain', '{"username":"p4","password":"pass-word-1"}', 415, { 'Content-Type': 'text/plain' }],
  ];
  for (const [what, raw, status, headers] of bodies) {
    const r = await call(port, 'POST', create, { token: all, raw, headers });
    assertProblem(r, status, what);
  }
  const huge = await call(port, 'POST', create, { token: all, raw: JSON.stringify({ username: 'big', password: 'x'.repeat(200_000) }) });
  assertProblem(huge, 413, 'a body above max_body_size');
  const noBody = await call(port, 'GET', `${API}/status`, { token: all, raw: '{"x":1}' });
  assertProblem(noBody, 400, 'a body where none is taken');
  assert.equal(({} as Record<string, unknown>).admin, undefined, 'Object.prototype untouched');
  assert.equal((await ts.server.storage.accounts.list(HOST)).length, before, 'no account created or lost');

  const headers: Array<[string, string]> = [
    ['Bearer', 'no token after the scheme'],
    ['Basic YWRtaW46YWRtaW4=', 'another scheme'],
    [`Bearer ${all}x`, 'a token one character too long'],
    // The last character replaced by a different one (a fixed 'A' was the same 1 time in 64).
    [`Bearer ${all.slice(0, -1)}${all.endsWith('A') ? 'B' : 'A'}`, 'a wrong secret'],
    [`Bearer ${all} ${all}`, 'two tokens'],
  ];
  for (const [h, what] of headers) {
    const r = await call(port, 'GET', `${API}/status`, { headers: { Authorization: h } });
    assertProblem(r, 401, what);
  }
  const unknown = await call(port, 'GET', `${API}/nothing/here`, { token: all });
  assertProblem(unknown, 404, 'an unknown endpoint');
  const method = await call(port, 'PUT', `${API}/status`, { token: all, body: {} });
  assertProblem(method, 405, 'a method the endpoint lacks');
  assert.equal(method.headers.allow, 'GET');
  const anonymousUnknown = await call(port, 'GET', `${API}/nothing/here`);
  assertProblem(anonymousUnknown, 401, 'no probing of paths without a token');
});

// ───────────────────────────── tokens ─────────────────────────────

test('tokens are stored hashed: the secret is nowhere in the database; revoked and expired tokens are refused', async () => {
  const token = await makeToken(ts.server, 'hash-check', ['server:read']);
  const parsed = parseToken(token);
  assert.ok(parsed);
  const store = ts.server.storage.map<StoredToken>(TOKENS_HOST, TOKENS_STORE);
  const record = await store.get('', parsed.id);
  assert.equal(record?.hash, createHash('sha256').update(parsed.secret).digest('hex'));
  assert.equal(record?.hash, hashSecret(parsed.secret));
  assert.equal(JSON.stringify(record).includes(parsed.secret), false);
  // The database files (WAL included) as bytes, read by another process: closing a descriptor
  // of the database in this one would drop the server connection's POSIX locks (SQLite's
  // documented hazard), after which another process may checkpoint the WAL away under it.
  const scan = `const fs=require('fs'),p=require('path');const [dir,secret,id]=process.argv.slice(1);const out={secretIn:[],idFound:false};for(const f of fs.readdirSync(dir)){if(!/\\.(db|sqlite|sqlite3)(-wal|-shm)?$/.test(f))continue;const b=fs.readFileSync(p.join(dir,f));if(b.includes(secret))out.secretIn.push(f);if(b.includes(id))out.idFound=true;}console.log(JSON.stringify(out));`;
  const scanned = JSON.parse(execFileSync(process.execPath, ['-e', scan, ts.dataDir, parsed.secret, parsed.id], { encoding: 'utf8' })) as { secretIn: string[]; idFound: boolean };
  assert.deepEqual(scanned.secretIn, [], 'no database file holds the secret');
  assert.ok(scanned.idFound, 'the token record is in the SQLite files (the check above read the right files)');

  assert.equal((await call(port, 'GET', `${API}/status`, { token })).status, 200);
  const used = await store.get('', parsed.id);
  assert.ok(used?.lastUsed !== undefined, 'last use recorded');
  assert.equal(await revokeToken(store, 'hash-check'), 1);
  const revoked = await call(port, 'GET', `${API}/status`, { token });
  assertProblem(revoked, 401, 'revoked');
  assert.match((revoked.json as { detail: string }).detail, /revoked/);
  const expired = await makeToken(ts.server, 'short', ['server:read'], 1);
  await new Promise((r) => setTimeout(r, 5)); // 1 ms of validity: it has expired once any time passed
  assertProblem(await call(port, 'GET', `${API}/status`, { token: expired }), 401, 'expired');
});

// ───────────────────────────── kicking a real client ─────────────────────────────

test('a session ended through the API disconnects a real @xmpp/client client with policy-violation', async () => {
  const carol = await loginClient(ts, 'carol', 'secret', 'laptop');
  let condition: string | undefined;
  carol.xmpp.on('error', (err: Error) => (condition ??= (err as Error & { condition?: string }).condition));
  // 'disconnect' is not in the helper's typed subset of xmpp.js's events.
  const on = carol.xmpp.on.bind(carol.xmpp) as unknown as (event: string, listener: () => void) => void;
  const closed = new Promise<void>((resolve) => on('disconnect', () => resolve()));
  try {
    assert.equal(ts.server.sessions.getUserSessions(HOST, 'carol').length, 1);
    const r = await call(port, 'DELETE', `${API}/hosts/${HOST}/users/carol/sessions`, { token: tokens.get('sessions:write') });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { ended: 1 });
    // The server's stream error reaches the client, and the client sees its connection end.
    await Promise.race([closed, new Promise((_r, reject) => setTimeout(() => reject(new Error(`still connected; error so far: ${String(condition)}`)), 5000))]);
    assert.equal(condition, 'policy-violation');
    assert.equal(ts.server.sessions.getUserSessions(HOST, 'carol').length, 0);
    const again = await call(port, 'DELETE', `${API}/hosts/${HOST}/users/carol/sessions`, { token: tokens.get('sessions:write') });
    assertProblem(again, 404, 'no session left');
  } finally {
    await carol.stop();
  }
});

test('the requests counter counts by status class and area', async () => {
  const r = await call(port, 'GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.text, /canto_admin_api_requests_total\{class="2xx",area="users"\} [1-9]/);
  assert.match(r.text, /canto_admin_api_requests_total\{class="4xx",area="none"\} [1-9]/);
  assert.match(r.text, /canto_admin_api_requests_total\{class="4xx",area="rooms"\} [1-9]/);
});

// ───────────────────────────── rate limits and the audit log ─────────────────────────────

test('rate limits: 429 with Retry-After per token and per address; every call audited without the token', async () => {
  const dataDir = tempDir();
  const config = testConfig(dataDir);
  config.http.ports = [0];
  config.modules.admin_api = { rate: 0.5, burst: 3, address_rate: 0.5, address_burst: 8 };
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  const server = await bootServer({ config, log: createLogger({ level: 'info', format: 'json', destination: sink }) });
  try {
    const p = server.port('http');
    const token = await makeToken({ storage: server.storage } as TestServer['server'], 'limited', ['server:read']);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await call(p, 'GET', `${API}/status`, { token })).status);
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    const limited = await call(p, 'GET', `${API}/status`, { token });
    assertProblem(limited, 429, 'per token');
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    // The address's bucket (8) is spent by now with bad tokens: 429 before any token is looked at.
    let last: Reply | undefined;
    for (let i = 0; i < 8 && last?.status !== 429; i++) last = await call(p, 'GET', `${API}/status`, { token: 'nope' });
    assert.ok(last);
    assertProblem(last, 429, 'per address');
    assert.ok(Number(last.headers['retry-after']) >= 1);

    const audit = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === 'admin_api');
    assert.ok(audit.length >= 6, `audited: ${audit.length}`);
    const first = audit[0] as Record<string, unknown>;
    assert.equal(first.token, 'limited');
    assert.equal(first.method, 'GET');
    assert.equal(first.path, `${API}/status`);
    assert.equal(first.status, 200);
    assert.ok(audit.some((a) => a.status === 429));
    const secret = parseToken(token)?.secret ?? 'unreachable';
    assert.equal(lines.some((l) => l.includes(secret)), false, 'the secret is never logged');
  } finally {
    await server.stop('test finished', 500);
  }
});

// ───────────────────────────── the CLI ─────────────────────────────

test('canto token create|list|revoke against a running server\'s storage', async () => {
  const cfg = join(tempDir(), 'canto.toml');
  writeFileSync(cfg, `data_dir = ${JSON.stringify(ts.dataDir)}\nlog_level = "warn"\n\n[http]\nports = []\ntls_ports = []\n\n[[virtualhost]]\ndomain = "localhost"\n`);
  const created = await runCanto(['token', 'create', '--scope', 'users:read', '--scope', 'sessions:write', '--expires', '30d', '--name', 'ops script', '--config', cfg]);
  assert.equal(created.code, 0, created.stderr);
  const token = created.stdout.trim();
  assert.ok(parseToken(token), created.stdout);
  assert.match(created.stderr, /shown only now/);
  const who = await call(port, 'GET', `${API}/whoami`, { token });
  assert.equal(who.status, 200, who.text);
  assert.deepEqual((who.json as { scopes: string[] }).scopes, ['sessions:write', 'users:read']);
  assert.equal((await call(port, 'GET', `${API}/hosts/${HOST}/users`, { token })).status, 200);
  assertProblem(await call(port, 'GET', `${API}/status`, { token }), 403, 'server:read not granted');

  const listed = await runCanto(['token', 'list', '--json', '--config', cfg]);
  assert.equal(listed.code, 0, listed.stderr);
  const mine = (JSON.parse(listed.stdout) as Array<{ name: string; hash?: string; expires?: number }>).find((t) => t.name === 'ops script');
  assert.ok(mine);
  assert.equal(mine.hash, undefined, 'the list never shows hashes');
  assert.ok(Math.abs((mine.expires ?? 0) - Date.now() - 30 * 86_400_000) < 120_000);
  assert.equal(listed.stdout.includes(parseToken(token)?.secret ?? '-'), false);

  const revoked = await runCanto(['token', 'revoke', 'ops script', '--config', cfg]);
  assert.equal(revoked.code, 0, revoked.stderr);
  const afterRevoke = await runCanto(['token', 'list', '--config', cfg]);
  assert.match(afterRevoke.stdout, /revoked\s+"ops script"/);
  // The running server reads the store on every call: the CLI's revocation holds at once.
  assertProblem(await call(port, 'GET', `${API}/whoami`, { token }), 401, 'revoked');
  assert.equal((await runCanto(['token', 'revoke', 'ops script', '--config', cfg])).code, 1);
  assert.equal((await runCanto(['token', 'create', '--scope', 'users:admin', '--config', cfg])).code, 2);
  assert.equal((await runCanto(['token', 'create', '--config', cfg])).code, 2);
  assert.equal((await runCanto(['token', 'create', '--scope', '*:read', '--name', 'bad/name', '--config', cfg])).code, 2);
});
