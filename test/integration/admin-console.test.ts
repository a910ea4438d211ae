/**
 * The admin web console's server side (src/modules/admin_console, docs/admin-console.md) over
 * real HTTP on the booted server, without a browser: the pages and their security headers (a
 * CSP without inline script, and no inline script in the HTML), login by an account listed in
 * `admins` (wrong password, unknown account and non-admin refused), the session cookie's
 * attributes, the admin API reached with the cookie, CSRF tokens and cross-site requests
 * refused on state changes, lockout per account and per address, logout, the dashboard's
 * numbers, the address allow-list shared with the admin API. The browser test is
 * test/browser/admin-console.test.ts.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient } from '../helpers/xmpp-client.js';
import { httpJson, type JsonReply } from '../helpers/http-json.js';
import type { InvitesService } from '../../src/modules/invites/api.js';

type Reply = JsonReply;

interface CallOpts {
  body?: unknown;
  cookie?: string;
  csrf?: string;
  headers?: Record<string, string>;
}

function call(port: number, method: string, path: string, opts: CallOpts = {}): Promise<Reply> {
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const headers: Record<string, string> = { Host: `localhost:${port}`, ...opts.headers };
  if (opts.cookie !== undefined) headers.Cookie = `canto_admin=${opts.cookie}`;
  if (opts.csrf !== undefined) headers['X-CSRF-Token'] = opts.csrf;
  return httpJson(port, method, path, headers, payload);
}

interface LoggedIn {
  cookie: string;
  csrf: string;
  setCookie: string;
}

async function login(port: number, jid: string, password: string): Promise<LoggedIn> {
  const r = await call(port, 'POST', '/admin/login', { body: { jid, password } });
  assert.equal(r.status, 200, r.text);
  const setCookie = String([r.headers['set-cookie']].flat()[0] ?? '');
  const cookie = /^canto_admin=([^;]*)/.exec(setCookie)?.[1];
  assert.ok(cookie, `a session cookie: ${setCookie}`);
  const csrf = (r.json as { csrfToken: string }).csrfToken;
  return { cookie, csrf, setCookie };
}

async function counter(ts: TestServer, name: string, labels: Record<string, string>): Promise<number> {
  const metric = ts.server.metrics.registry.getSingleMetric(name);
  if (!metric) return 0;
  const data = await metric.get();
  return data.values.filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want)).reduce((s, v) => s + v.value, 0);
}

const ADMIN = { user: 'boss', password: 'boss-pass', jid: 'boss@localhost' };
const PLEB = { user: 'pleb', password: 'pleb-pass', jid: 'pleb@localhost' };

let ts: TestServer;
let port: number;
const clients: LoggedInClient[] = [];

before(async () => {
  ts = await startTestServer((c) => {
    c.http.ports = [0];
    c.admins = [ADMIN.jid];
    c.modules.admin_console = { max_failures: 3, max_failures_per_address: 1000 };
  });
  port = ts.server.port('http');
  await createAccount(ts, ADMIN.user, ADMIN.password);
  await createAccount(ts, PLEB.user, PLEB.password);
  for (const u of ['victim', 'locked', 'spare']) await createAccount(ts, u, `${u}-pass`);
});

after(async () => {
  for (const c of clients) await c.stop();
  await ts?.stop();
});

function invites(): InvitesService {
  return ts.server.hosts.get('localhost')?.services.get('invites') as InvitesService;
}

test('the page: CSP without inline script, no inline script or style in the HTML, framing and sniffing refused', async () => {
  const r = await call(port, 'GET', '/admin/');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/html/);
  const csp = String(r.headers['content-security-policy']);
  assert.match(csp, /(^|; )default-src 'self'(;|$)/);
  assert.match(csp, /(^|; )script-src 'self'(;|$)/);
  assert.match(csp, /(^|; )style-src 'self'(;|$)/);
  assert.match(csp, /(^|; )frame-ancestors 'none'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(r.headers['x-frame-options'], 'DENY');
  assert.equal(r.headers['x-content-type-options'], 'nosniff');

  const scripts = [...r.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
  assert.ok(scripts.length >= 1, 'the app is loaded by a script element');
  for (const [, attrs, body] of scripts) {
    assert.match(attrs ?? '', /\bsrc="\/admin\/[a-z]+\.js"/, 'every script is a file of the console');
    assert.equal((body ?? '').trim(), '', 'no inline script');
  }
  assert.doesNotMatch(r.text, /\son[a-z]+\s*=/i, 'no inline event handlers');
  assert.doesNotMatch(r.text, /<style|\sstyle\s*=/i, 'no inline style');
  assert.doesNotMatch(r.text, /javascript:/i);

  // Every file the page loads is served with its type and the same headers.
  for (const [path, type] of [['/admin/app.js', 'text/javascript'], ['/admin/app.css', 'text/css'], ['/admin/api.js', 'text/javascript']] as const) {
    const f = await call(port, 'GET', path);
    assert.equal(f.status, 200, path);
    assert.ok(String(f.headers['content-type']).startsWith(type), path);
    assert.equal(f.headers['content-security-policy'], csp, path);
  }
  const redirect = await call(port, 'GET', '/admin');
  assert.equal(redirect.status, 308);
  assert.equal(redirect.headers.location, '/admin/');
  for (const path of ['/admin/nope.js', '/admin/..%2Fpackage.json', '/admin/%2e%2e/%2e%2e/package.json', '/admin/static/app.js', '/admin/README.md']) {
    assert.equal((await call(port, 'GET', path)).status, 404, path);
  }
  assert.equal((await call(port, 'GET', '/admin/stats')).status, 401, 'the dashboard numbers need a session');
  assert.equal((await call(port, 'GET', '/admin/session')).status, 401);
});

test('login: wrong password, unknown account, bad input and a non-admin are refused; no cookie is set', async () => {
  const failures = await counter(ts, 'canto_admin_console_logins_total', { result: 'failure' });
  for (const body of [{ jid: ADMIN.jid, password: 'wrong' }, { jid: 'nobody@localhost', password: 'x' }, { jid: 'boss@elsewhere.example', password: ADMIN.password }]) {
    const r = await call(port, 'POST', '/admin/login', { body });
    assert.equal(r.status, 401, JSON.stringify(body));
    assert.equal(r.headers['set-cookie'], undefined);
    assert.equal((r.json as { detail: string }).detail, 'wrong address or password', 'the same answer for an unknown account');
  }
  assert.equal(await counter(ts, 'canto_admin_console_logins_total', { result: 'failure' }), failures + 3);

  const notAdmin = await call(port, 'POST', '/admin/login', { body: { jid: PLEB.jid, password: PLEB.password } });
  assert.equal(notAdmin.status, 403);
  assert.equal(notAdmin.headers['set-cookie'], undefined);
  assert.ok((await counter(ts, 'canto_admin_console_logins_total', { result: 'not_admin' })) >= 1);

  assert.equal((await call(port, 'POST', '/admin/login', { body: { jid: ADMIN.jid } })).status, 400);
  assert.equal((await call(port, 'POST', '/admin/login', { body: { jid: ADMIN.jid, password: ADMIN.password, extra: 1 } })).status, 400);
  assert.equal((await call(port, 'POST', '/admin/login', { body: { jid: ADMIN.jid, password: ADMIN.password }, headers: { 'Content-Type': 'text/plain' } })).status, 415);
  // The wrong password above counted one failure for boss; a success clears it.
  await login(port, ADMIN.jid, ADMIN.password);
});

test('a session: cookie attributes, the API with the cookie, CSRF required on changes, logout', async () => {
  const s = await login(port, ADMIN.jid, ADMIN.password);
  const attrs = s.setCookie.split(';').map((a) => a.trim().toLowerCase());
  for (const want of ['httponly', 'secure', 'samesite=strict', 'path=/admin']) assert.ok(attrs.includes(want), `cookie has ${want}: ${s.setCookie}`);
  assert.match(s.cookie, /^[A-Za-z0-9_-]{43}$/, '256 random bits');
  assert.notEqual(s.csrf, s.cookie);
  const other = await login(port, ADMIN.jid, ADMIN.password);
  assert.notEqual(other.cookie, s.cookie, 'a new id per login');
  assert.notEqual(other.csrf, s.csrf, 'a CSRF token per session');

  const who = await call(port, 'GET', '/admin/api/v1/whoami', { cookie: s.cookie });
  assert.equal(who.status, 200, who.text);
  assert.deepEqual({ kind: (who.json as { kind: string }).kind, name: (who.json as { name: string }).name }, { kind: 'session', name: ADMIN.jid });
  const session = await call(port, 'GET', '/admin/session', { cookie: s.cookie });
  assert.equal((session.json as { csrfToken: string }).csrfToken, s.csrf);
  assert.deepEqual((session.json as { hosts: string[] }).hosts, ['localhost']);
  assert.equal((await call(port, 'GET', '/admin/api/v1/whoami', { cookie: 'A'.repeat(43) })).status, 401, 'an unknown session id');

  const before = (await invites().list()).length;
  const path = '/admin/api/v1/hosts/localhost/invites';
  const csrfRefusals = await counter(ts, 'canto_admin_console_refused_total', { reason: 'csrf' });
  const noToken = await call(port, 'POST', path, { cookie: s.cookie, body: { uses: 1 } });
  assert.equal(noToken.status, 403, noToken.text);
  assert.match((noToken.json as { detail: string }).detail, /CSRF/);
  assert.equal((await call(port, 'POST', path, { cookie: s.cookie, csrf: other.csrf, body: { uses: 1 } })).status, 403, 'another session\'s token');
  assert.equal((await call(port, 'POST', path, { cookie: s.cookie, csrf: `${s.csrf.slice(0, -1)}${s.csrf.endsWith('A') ? 'B' : 'A'}`, body: { uses: 1 } })).status, 403, 'a token one character off');
  assert.equal((await call(port, 'POST', path, { cookie: s.cookie, csrf: '', body: { uses: 1 } })).status, 403, 'an empty token');
  assert.equal(await counter(ts, 'canto_admin_console_refused_total', { reason: 'csrf' }), csrfRefusals + 4);
  assert.equal((await invites().list()).length, before, 'nothing was created');
  // A kick without the token changes nothing either.
  const victim = await loginClient(ts, 'victim', 'victim-pass', 'desk');
  clients.push(victim);
  assert.equal((await call(port, 'DELETE', '/admin/api/v1/hosts/localhost/users/victim/sessions', { cookie: s.cookie })).status, 403);
  assert.ok([...ts.server.sessions.all].some((x) => x.type === 'c2s' && x.username === 'victim'), 'the session is still there');

  const made = await call(port, 'POST', path, { cookie: s.cookie, csrf: s.csrf, body: { uses: 2 } });
  assert.equal(made.status, 201, made.text);
  assert.equal((await invites().list()).length, before + 1);

  await victim.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
  const stats = await call(port, 'GET', '/admin/stats', { cookie: s.cookie });
  assert.equal(stats.status, 200);
  const sample = stats.json as { sessions: { c2s: number }; stanzas: { received: number; sent: number }; memory: { rssBytes: number } };
  assert.ok(sample.sessions.c2s >= 1, 'the victim\'s session is counted');
  assert.ok(sample.stanzas.received > 0 && sample.stanzas.sent > 0);
  assert.ok(sample.memory.rssBytes > 0);
  // The event-loop monitor starts at the first reading; a later one has the delay since.
  const deadline = Date.now() + 5000;
  let lag: { meanMs: number | null; p99Ms: number | null } = { meanMs: null, p99Ms: null };
  while (lag.p99Ms === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50)); // polled: the monitor samples every 20 ms
    lag = ((await call(port, 'GET', '/admin/stats', { cookie: s.cookie })).json as { eventLoopLag: typeof lag }).eventLoopLag;
  }
  assert.ok(lag.p99Ms !== null && lag.p99Ms >= 0 && lag.meanMs !== null, `event-loop lag measured: ${JSON.stringify(lag)}`);

  assert.equal((await call(port, 'POST', '/admin/logout', { cookie: s.cookie })).status, 403, 'logout needs the CSRF token too');
  const out = await call(port, 'POST', '/admin/logout', { cookie: s.cookie, csrf: s.csrf });
  assert.equal(out.status, 204);
  assert.match(String([out.headers['set-cookie']].flat()[0]), /^canto_admin=; .*Max-Age=0/);
  assert.equal((await call(port, 'GET', '/admin/api/v1/whoami', { cookie: s.cookie })).status, 401, 'the session is gone');
  assert.equal((await call(port, 'GET', '/admin/api/v1/whoami', { cookie: other.cookie })).status, 200, 'another session is not');
});

test('cross-site state changes are refused even with the cookie and the CSRF token', async () => {
  const s = await login(port, ADMIN.jid, ADMIN.password);
  const path = '/admin/api/v1/hosts/localhost/users/spare/disable';
  const refusals = await counter(ts, 'canto_admin_console_refused_total', { reason: 'cross_site' });
  const crossSite: Array<Record<string, string>> = [
    { 'Sec-Fetch-Site': 'cross-site' },
    { 'Sec-Fetch-Site': 'same-site' },
    { Origin: 'http://evil.example' },
    { Origin: `http://localhost:${port + 1}` },
    { Origin: 'null' },
  ];
  for (const headers of crossSite) {
    const r = await call(port, 'POST', path, { cookie: s.cookie, csrf: s.csrf, headers, body: {} });
    assert.equal(r.status, 403, `${JSON.stringify(headers)}: ${r.text}`);
    assert.match((r.json as { detail: string }).detail, /cross-site/);
    const l = await call(port, 'POST', '/admin/login', { body: { jid: ADMIN.jid, password: ADMIN.password }, headers });
    assert.equal(l.status, 403, `login ${JSON.stringify(headers)}`);
  }
  assert.equal(await counter(ts, 'canto_admin_console_refused_total', { reason: 'cross_site' }), refusals + 2 * crossSite.length);
  const state = ts.server.hosts.get('localhost')?.services.get('accounts-state');
  assert.equal(state?.isDisabled('spare'), false, 'nothing changed');
  // The console's own requests (same origin) pass.
  const ok = await call(port, 'POST', path, { cookie: s.cookie, csrf: s.csrf, body: {}, headers: { 'Sec-Fetch-Site': 'same-origin', Origin: `http://localhost:${port}` } });
  assert.equal(ok.status, 204, ok.text);
  assert.equal(state?.isDisabled('spare'), true);
  assert.equal((await call(port, 'POST', '/admin/api/v1/hosts/localhost/users/spare/enable', { cookie: s.cookie, csrf: s.csrf })).status, 204);
  // Reads are not state changes: a GET from another site is answered (the cookie is what it needs).
  assert.equal((await call(port, 'GET', '/admin/api/v1/whoami', { cookie: s.cookie, headers: { 'Sec-Fetch-Site': 'cross-site' } })).status, 200);
});

test('lockout per account: after max_failures wrong passwords even the right one is refused, counted and with Retry-After', async () => {
  ts.config.admins.push('locked@localhost');
  const lockouts = await counter(ts, 'canto_admin_console_lockouts_total', { key: 'account' });
  for (let i = 0; i < 3; i++) assert.equal((await call(port, 'POST', '/admin/login', { body: { jid: 'locked@localhost', password: `wrong-${i}` } })).status, 401);
  const r = await call(port, 'POST', '/admin/login', { body: { jid: 'locked@localhost', password: 'locked-pass' } });
  assert.equal(r.status, 429, r.text);
  assert.ok(Number(r.headers['retry-after']) > 0);
  assert.equal(r.headers['set-cookie'], undefined);
  assert.equal(await counter(ts, 'canto_admin_console_lockouts_total', { key: 'account' }), lockouts + 1);
  assert.ok((await counter(ts, 'canto_admin_console_logins_total', { result: 'locked' })) >= 1);
  // Another admin from the same address is not locked out by it.
  await login(port, ADMIN.jid, ADMIN.password);
});

test('lockout per address, and the address allow-list of the admin API', async () => {
  const local = await startTestServer((c) => {
    c.http.ports = [0];
    c.admins = ['root@localhost'];
    c.modules.admin_console = { max_failures: 100, max_failures_per_address: 4 };
  });
  try {
    const p = local.server.port('http');
    await createAccount(local, 'root', 'root-pass');
    for (let i = 0; i < 4; i++) assert.equal((await call(p, 'POST', '/admin/login', { body: { jid: `guess${i}@localhost`, password: 'x' } })).status, 401);
    const r = await call(p, 'POST', '/admin/login', { body: { jid: 'root@localhost', password: 'root-pass' } });
    assert.equal(r.status, 429, 'this address is locked out, whatever the account');
    assert.match((r.json as { detail: string }).detail, /address/);
    assert.equal(await counter(local, 'canto_admin_console_lockouts_total', { key: 'address' }), 1);
  } finally {
    await local.stop();
  }

  const closed = await startTestServer((c) => {
    c.http.ports = [0];
    c.admins = ['root@localhost'];
    c.modules.admin_api = { allow_ips: ['10.0.0.0/8'] };
  });
  try {
    const p = closed.server.port('http');
    for (const [method, path] of [['GET', '/admin/'], ['GET', '/admin/app.js'], ['POST', '/admin/login']] as const) {
      const r = await call(p, method, path, method === 'POST' ? { body: { jid: 'root@localhost', password: 'x' } } : {});
      assert.equal(r.status, 403, `${method} ${path}`);
    }
  } finally {
    await closed.stop();
  }
});

test('a session ends when its account is no longer an admin or is disabled', async () => {
  ts.config.admins.push('victim@localhost');
  const s = await login(port, 'victim@localhost', 'victim-pass');
  assert.equal((await call(port, 'GET', '/admin/session', { cookie: s.cookie })).status, 200);
  const state = ts.server.hosts.get('localhost')?.services.get('accounts-state');
  await state?.disable('victim');
  assert.equal((await call(port, 'GET', '/admin/session', { cookie: s.cookie })).status, 401);
  assert.equal((await call(port, 'GET', '/admin/api/v1/whoami', { cookie: s.cookie })).status, 401);
  await state?.enable('victim');
  assert.equal((await call(port, 'GET', '/admin/session', { cookie: s.cookie })).status, 401, 'the session stays ended');
  const again = await login(port, 'victim@localhost', 'victim-pass');
  ts.config.admins.splice(ts.config.admins.indexOf('victim@localhost'), 1);
  assert.equal((await call(port, 'GET', '/admin/session', { cookie: again.cookie })).status, 401, 'no longer listed in admins');
});
