/**
 * The admin API answers what its OpenAPI document says (src/modules/admin_api/responses.ts,
 * openapi.ts): every route is called on a real server for its success answer (with data in
 * place: an online client with a roster item, a room with an affiliation, an invite, a spam
 * report), and each body is checked against the schema the served /openapi.json gives for that
 * path, method and status; error answers (400, 401, 403, 404, 405, 409) against the RFC 9457
 * Problem schema under application/problem+json. The checker below is a small subset of JSON
 * Schema (type, properties, required, additionalProperties, items, enum, const, anyOf/oneOf,
 * minimum/maximum, $ref into components) — enough for what zod emits here, and it fails on any
 * keyword it does not know, so a schema it cannot judge is not passed silently.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient } from '../helpers/xmpp-client.js';
import { httpJson, type JsonReply } from '../helpers/http-json.js';
import { ROUTES } from '../../src/modules/admin_api/routes.js';
import { AREAS, createToken, TOKENS_HOST, TOKENS_STORE, type Scope, type StoredToken } from '../../src/modules/admin_api/tokens.js';
import { newReportId, reportsStore, saveReport } from '../../src/modules/spam_reporting/store.js';

type Schema = Record<string, unknown>;
const API = '/admin/api/v1';
const HOST = 'localhost';
const MUC = 'conference.localhost';

// ───────────── a JSON Schema subset checker ─────────────

const KNOWN = new Set(['type', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'const', 'anyOf', 'oneOf', '$ref', 'minimum', 'maximum', 'description', 'propertyNames', 'default', 'format', 'title']);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(wanted: string, actual: string): boolean {
  return wanted === actual || (wanted === 'number' && actual === 'integer');
}

/** Problems of `value` against `schema` (empty: valid), each with its JSON path. */
function validate(value: unknown, schema: Schema, root: Schema, path = '$'): string[] {
  for (const key of Object.keys(schema)) if (!KNOWN.has(key)) return [`${path}: the checker does not know the keyword ${key}`];
  if (typeof schema.$ref === 'string') {
    const target = schema.$ref.replace(/^#\//, '').split('/').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], root);
    if (target === undefined) return [`${path}: unresolved $ref ${schema.$ref}`];
    return validate(value, target as Schema, root, path);
  }
  const problems: string[] = [];
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.some((t) => typeMatches(t, typeOf(value)))) return [`${path}: expected ${types.join(' or ')}, got ${typeOf(value)}`];
  }
  if (schema.enum !== undefined && !(schema.enum as unknown[]).some((e) => e === value)) problems.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if ('const' in schema && schema.const !== value) problems.push(`${path}: expected ${JSON.stringify(schema.const)}`);
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) problems.push(`${path}: below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) problems.push(`${path}: above ${schema.maximum}`);
  }
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = schema[key] as Schema[] | undefined;
    if (options === undefined) continue;
    const passing = options.filter((o) => validate(value, o, root, path).length === 0).length;
    if (key === 'anyOf' ? passing === 0 : passing !== 1) problems.push(`${path}: ${passing} of the ${key} schemas match`);
  }
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const name of (schema.required ?? []) as string[]) if (!(name in obj)) problems.push(`${path}: missing required ${name}`);
    for (const [name, v] of Object.entries(obj)) {
      const p = props[name];
      if (p !== undefined) problems.push(...validate(v, p, root, `${path}.${name}`));
      else if (schema.additionalProperties === false) problems.push(`${path}: ${name} is not in the schema`);
      else if (typeof schema.additionalProperties === 'object') problems.push(...validate(v, schema.additionalProperties as Schema, root, `${path}.${name}`));
    }
    if (typeof schema.propertyNames === 'object') for (const name of Object.keys(obj)) problems.push(...validate(name, schema.propertyNames as Schema, root, `${path} key ${name}`));
  }
  if (Array.isArray(value) && typeof schema.items === 'object') value.forEach((v, i) => problems.push(...validate(v, schema.items as Schema, root, `${path}[${i}]`)));
  return problems;
}

test('the subset checker refuses what it should', () => {
  const root = { components: { schemas: { N: { type: 'integer', minimum: 0 } } } };
  const s: Schema = { type: 'object', required: ['a'], additionalProperties: false, properties: { a: { $ref: '#/components/schemas/N' }, b: { type: ['string', 'null'] }, c: { type: 'array', items: { enum: ['x'] } } } };
  assert.deepEqual(validate({ a: 1, b: null, c: ['x'] }, s, root), []);
  assert.deepEqual(validate({ a: -1 }, s, root), ['$.a: below 0']);
  assert.deepEqual(validate({ b: 'x' }, s, root), ['$: missing required a']);
  assert.deepEqual(validate({ a: 1, d: 1 }, s, root), ['$: d is not in the schema']);
  assert.deepEqual(validate({ a: 1.5 }, s, root), ['$.a: expected integer, got number']);
  assert.deepEqual(validate({ a: 1, c: ['y'] }, s, root), ['$.c[0]: "y" is not one of ["x"]']);
  assert.match(validate(1, { pattern: 'x' }, root)[0] ?? '', /does not know the keyword pattern/);
});

// ───────────── the server ─────────────

let ts: TestServer;
let port: number;
let token: string;
let doc: Schema;
const clients: LoggedInClient[] = [];
/** Route keys ("GET /path") whose success answer was checked. */
const covered = new Set<string>();

async function makeToken(name: string, scopes: Scope[]): Promise<string> {
  const store = ts.server.storage.map<StoredToken>(TOKENS_HOST, TOKENS_STORE);
  return (await createToken(store, Date.now(), { name, scopes })).token;
}

before(async () => {
  ts = await startTestServer((c) => {
    c.http.ports = [0];
    c.component.push({ domain: MUC, module: 'muc' });
    c.modules.admin_api = { rate: 1000, burst: 1000, address_rate: 1000, address_burst: 1000 };
  });
  port = ts.server.port('http');
  token = await makeToken('all', AREAS.map((a) => `${a}:write` as Scope));
  for (const u of ['alice', 'bob']) await createAccount(ts, u, 'secret');
  const alice = await loginClient(ts, 'alice', 'secret', 'desk');
  clients.push(alice);
  await alice.send(xml('iq', { type: 'set', id: 'r1' }, xml('query', { xmlns: 'jabber:iq:roster' }, xml('item', { jid: `bob@${HOST}`, name: 'Bob' }, xml('group', {}, 'Friends')))));
  await alice.waitFor((el) => el.is('iq') && el.attrs.id === 'r1');
  const now = Date.now();
  await saveReport(reportsStore(ts.server.storage, HOST), {
    id: newReportId(now), created: now, host: HOST, reporter: `bob@${HOST}`, jid: 'spammer@example.net', reason: 'spam', text: 'buy now',
    refs: [{ kind: 'stanza-id', id: 'abc', by: `bob@${HOST}` }], via: 'block', status: 'open',
    evidence: { source: 'archive', stanza: '<message><body>spam</body></message>', when: now },
  });
  const served = await httpJson(port, 'GET', `${API}/openapi.json`, {});
  assert.equal(served.status, 200);
  doc = served.json as Schema;
});

after(async () => {
  for (const c of clients) await c.stop();
  await ts?.stop();
});

/** The schema the served document gives for this answer, by the route's OpenAPI path. */
function responseSchema(path: string, method: string, status: number, contentType: string): Schema {
  const op = (doc.paths as Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: Schema }> }> }>>)[path]?.[method.toLowerCase()];
  assert.ok(op, `the document has ${method} ${path}`);
  const response = op.responses[String(status)];
  assert.ok(response, `the document lists status ${status} for ${method} ${path}`);
  const media = response.content?.[contentType];
  assert.ok(media, `the document gives ${contentType} for ${status} of ${method} ${path} (has: ${Object.keys(response.content ?? {}).join(', ') || 'no body'})`);
  return media.schema;
}

/** Call a route (its OpenAPI path with the values filled in) and check the answer against the document. */
async function checked(method: string, path: string, values: Record<string, string>, opts: { body?: unknown; query?: string; token?: string | null; expect: number }): Promise<JsonReply> {
  const concrete = path.replace(/\{([a-z]+)\}/g, (_m, name: string) => encodeURIComponent(values[name] ?? name));
  const headers: Record<string, string> = {};
  const bearer = opts.token === undefined ? token : opts.token;
  if (bearer !== null) headers.Authorization = `Bearer ${bearer}`;
  const r = await httpJson(port, method, `${API}${concrete}${opts.query ?? ''}`, headers, opts.body === undefined ? undefined : JSON.stringify(opts.body));
  assert.equal(r.status, opts.expect, `${method} ${concrete}: ${r.text}`);
  if (r.status === 204) {
    assert.equal(r.text, '');
    const op = (doc.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>)[path]?.[method.toLowerCase()];
    assert.ok(op?.responses['204'], `the document lists 204 for ${method} ${path}`);
  } else {
    const contentType = String(r.headers['content-type']).split(';')[0] ?? '';
    const problems = validate(r.json, responseSchema(path, method, r.status, contentType), doc);
    assert.deepEqual(problems, [], `${method} ${concrete} → ${r.status}: ${r.text.slice(0, 500)}`);
  }
  if (r.status < 300) covered.add(`${method} ${path}`);
  return r;
}

test('every route answers what the served OpenAPI document says', { timeout: 60_000 }, async () => {
  const v = { host: HOST, username: 'alice', service: MUC, room: 'lobby' };
  await checked('GET', '/whoami', v, { expect: 200 });
  await checked('GET', '/status', v, { expect: 200 });
  await checked('GET', '/checks', v, { expect: 200 });
  await checked('GET', '/hosts/{host}/users', v, { query: '?limit=10', expect: 200 });
  await checked('POST', '/hosts/{host}/users', v, { body: { username: 'carol', password: 'carol-secret' }, expect: 201 });
  await checked('GET', '/hosts/{host}/users/{username}', v, { expect: 200 });
  await checked('PUT', '/hosts/{host}/users/{username}/password', { ...v, username: 'carol' }, { body: { password: 'new-secret' }, expect: 204 });
  await checked('POST', '/hosts/{host}/users/{username}/disable', { ...v, username: 'carol' }, { body: { reason: 'test' }, expect: 204 });
  await checked('POST', '/hosts/{host}/users/{username}/enable', { ...v, username: 'carol' }, { expect: 204 });
  await checked('GET', '/hosts/{host}/sessions', v, { expect: 200 });
  await checked('GET', '/hosts/{host}/users/{username}/roster', v, { expect: 200 });
  await checked('GET', '/hosts/{host}/users/{username}/push-trace', v, { expect: 200 });
  const invite = await checked('POST', '/hosts/{host}/invites', v, { body: { expires: '1d', uses: 2, group: 'team' }, expect: 201 });
  await checked('GET', '/hosts/{host}/invites', v, { expect: 200 });
  await checked('DELETE', '/hosts/{host}/invites/{token}', { ...v, token: (invite.json as { token: string }).token }, { expect: 204 });
  const reports = await checked('GET', '/hosts/{host}/reports', v, { expect: 200 });
  const reportId = (reports.json as { reports: Array<{ id: string }> }).reports[0]?.id ?? '';
  await checked('GET', '/hosts/{host}/reports/{id}', { ...v, id: reportId }, { expect: 200 });
  await checked('POST', '/hosts/{host}/announcements', v, { body: { body: 'maintenance at noon', subject: 'Notice' }, expect: 200 });
  await checked('POST', '/rooms/{service}', v, { body: { room: 'lobby', owner: `alice@${HOST}`, name: 'Lobby', persistent: true }, expect: 201 });
  await checked('GET', '/rooms/{service}', v, { expect: 200 });
  await checked('GET', '/rooms/{service}/{room}', v, { expect: 200 });
  await checked('PUT', '/rooms/{service}/{room}/affiliations', v, { body: { jid: `bob@${HOST}`, affiliation: 'member', reason: 'friend' }, expect: 204 });
  await checked('GET', '/rooms/{service}/{room}/affiliations', v, { expect: 200 });
  await checked('DELETE', '/rooms/{service}/{room}', v, { query: '?reason=done', expect: 204 });
  const second = await loginClient(ts, 'carol', 'new-secret', 'phone');
  clients.push(second);
  await checked('DELETE', '/hosts/{host}/users/{username}/sessions', { ...v, username: 'carol' }, { expect: 200 });
  await checked('DELETE', '/hosts/{host}/users/{username}', { ...v, username: 'carol' }, { expect: 204 });

  const missing = ROUTES.map((r) => `${r.method} ${r.path}`).filter((k) => !covered.has(k));
  assert.deepEqual(missing, [], 'every route of the table was called');
});

test('errors are RFC 9457 problems, as the document says', { timeout: 30_000 }, async () => {
  const v = { host: HOST, username: 'alice', service: MUC, room: 'nowhere' };
  await checked('GET', '/status', v, { token: null, expect: 401 });
  await checked('GET', '/status', v, { token: await makeToken('reader', ['users:read']), expect: 403 });
  await checked('GET', '/hosts/{host}/users/{username}', { ...v, username: 'nobody' }, { expect: 404 });
  await checked('GET', '/rooms/{service}/{room}', v, { expect: 404 });
  const bad = await checked('POST', '/hosts/{host}/users', v, { body: { username: 'x', password: 'y', extra: true }, expect: 400 });
  assert.ok(Array.isArray((bad.json as { errors?: unknown[] }).errors), 'a 400 lists the invalid fields');
  await checked('POST', '/hosts/{host}/users', v, { body: { username: 'alice', password: 'whatever-secret' }, expect: 409 });
  await checked('POST', '/hosts/{host}/invites', v, { body: { expires: 'soon' }, expect: 400 });
  // 405 is not per operation in the document: the Problem schema applies.
  const r = await httpJson(port, 'DELETE', `${API}/status`, { Authorization: `Bearer ${token}` });
  assert.equal(r.status, 405);
  assert.deepEqual(validate(r.json, { $ref: '#/components/schemas/Problem' }, doc), []);
});
