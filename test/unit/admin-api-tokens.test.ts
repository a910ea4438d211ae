/** The admin API's token format, scopes and checks (src/modules/admin_api/tokens.ts), and its path and JSON guards. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openMemoryStorage } from '../../src/storage/memory.js';
import { allows, AREAS, bearerOf, createToken, hashSecret, listTokens, parseScope, parseToken, revokeToken, touchToken, verifyToken, type StoredToken } from '../../src/modules/admin_api/tokens.js';
import { match, parseJson, splitPath } from '../../src/modules/admin_api/index.js';
import { Problem } from '../../src/modules/admin_api/problem.js';
import { scopesOf } from '../../src/cli/tokens.js';

test('scopes: <area>:read|write, * for every area; anything else refused', () => {
  assert.deepEqual(parseScope('users:write'), ['users:write']);
  assert.deepEqual(parseScope('*:read'), AREAS.map((a) => `${a}:read`));
  for (const bad of ['users', 'users:admin', 'Users:read', 'nope:read', 'users:read ', ':read', 'users:write:x', '__proto__:read']) assert.equal(parseScope(bad), undefined, bad);
  assert.deepEqual(scopesOf(['users:read,rooms:write', 'users:read']), ['users:read', 'rooms:write']);
  assert.throws(() => scopesOf([]), /at least one --scope/);
  assert.throws(() => scopesOf(['users:root']), /expected <area>:read/);
});

test('write implies read; read never implies write; areas are separate', () => {
  assert.equal(allows(['users:write'], 'users', 'read'), true);
  assert.equal(allows(['users:write'], 'users', 'write'), true);
  assert.equal(allows(['users:read'], 'users', 'write'), false);
  assert.equal(allows(['users:write'], 'rooms', 'read'), false);
  assert.equal(allows([], 'server', 'read'), false);
});

test('token and header parsing', () => {
  const token = `canto_${'a'.repeat(16)}_${'b'.repeat(43)}`;
  assert.deepEqual(parseToken(token), { id: 'a'.repeat(16), secret: 'b'.repeat(43) });
  for (const bad of ['', 'canto_', `${token}x`, `canto_${'a'.repeat(15)}_${'b'.repeat(43)}`, `xanto_${'a'.repeat(16)}_${'b'.repeat(43)}`, `canto_${'a'.repeat(16)}_${'b'.repeat(42)}!`]) assert.equal(parseToken(bad), undefined, bad);
  assert.equal(bearerOf(`Bearer ${token}`), token);
  assert.equal(bearerOf(`bearer ${token}`), token);
  assert.equal(bearerOf('Bearer'), undefined);
  assert.equal(bearerOf('Basic abc'), undefined);
  assert.equal(bearerOf(`Bearer ${token} ${token}`), undefined);
  assert.equal(bearerOf(undefined), undefined);
});

test('create, verify, revoke, expire: only the hash is stored; a wrong secret of a known id is refused', async () => {
  const store = openMemoryStorage().map<StoredToken>('*', 'admin_api_tokens');
  const now = 1_000_000;
  const { token, record } = await createToken(store, now, { name: 'ci', scopes: ['users:read', 'users:read', 'rooms:write'], expiresInMs: 1000 });
  const parsed = parseToken(token);
  assert.ok(parsed);
  assert.equal(record.hash, hashSecret(parsed.secret));
  assert.deepEqual(record.scopes, ['rooms:write', 'users:read']);
  assert.equal(JSON.stringify(await store.getAll('')).includes(parsed.secret), false);
  assert.equal((await verifyToken(store, token, now + 1)).ok, true);
  assert.deepEqual(await verifyToken(store, `canto_${parsed.id}_${'x'.repeat(43)}`, now), { ok: false, why: 'unknown' });
  assert.deepEqual(await verifyToken(store, 'garbage', now), { ok: false, why: 'malformed' });
  assert.deepEqual(await verifyToken(store, token, now + 1000), { ok: false, why: 'expired' });
  await touchToken(store, parsed.id, now + 5);
  const listed = await listTokens(store);
  assert.equal(listed[0]?.lastUsed, now + 5);
  assert.equal('hash' in (listed[0] ?? {}), false);
  assert.equal(await revokeToken(store, 'ci'), 1);
  assert.equal(await revokeToken(store, 'ci'), 0, 'already revoked');
  assert.deepEqual(await verifyToken(store, token, now + 1), { ok: false, why: 'revoked' });
});

test('paths: segments %-decoded; empty, "." and ".." refused; routes matched with their parameters, 405 with the methods', () => {
  assert.deepEqual(splitPath('hosts/a%40b/users'), ['hosts', 'a@b', 'users']);
  for (const bad of ['hosts//users', 'hosts/%2e%2e/users', 'hosts/./x', 'hosts/%E0%A4%A', 'hosts/x/']) assert.throws(() => splitPath(bad), Problem, bad);
  const m = match(['hosts', 'localhost', 'users', 'bob'], 'GET');
  assert.equal(m.kind, 'ok');
  assert.deepEqual(m.kind === 'ok' ? m.params : undefined, { host: 'localhost', username: 'bob' });
  assert.deepEqual(match(['status'], 'POST'), { kind: 'method', allow: ['GET'] });
  assert.deepEqual(match(['nothing'], 'GET'), { kind: 'none' });
  assert.equal(match(['status'], 'HEAD').kind, 'ok');
});

test('JSON: prototype keys refused at any depth, bad JSON refused, and nothing polluted', () => {
  assert.deepEqual(parseJson('{"a":{"b":[1]}}'), { a: { b: [1] } });
  for (const bad of ['{"__proto__":{"x":1}}', '{"a":{"constructor":{"prototype":{"x":1}}}}', '[{"prototype":1}]', '{', '']) assert.throws(() => parseJson(bad), Problem, bad);
  assert.equal(({} as Record<string, unknown>).x, undefined);
});
