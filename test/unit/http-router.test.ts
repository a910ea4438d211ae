/** The HTTP router without sockets: patterns, precedence, methods, mounting and disposal. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpRouter, type RouteLookup } from '../../src/net/http-router.js';
import { compilePattern } from '../../src/net/http-pattern.js';

const noop = () => {};

/** Which route answered (by its title), with what; or the lookup's kind. */
function who(r: HttpRouter, path: string, method = 'GET'): string {
  const l: RouteLookup = r.lookup(path, method);
  if (l.kind === 'found') return `${l.route.title ?? '?'} ${JSON.stringify(l.params)} ${JSON.stringify(l.rest)}`;
  if (l.kind === 'method-not-allowed') return `405 ${l.allow.join(',')}`;
  return l.kind;
}

test('patterns: exact, parameters (decoded) and prefixes; bad patterns are refused at mount', () => {
  const r = new HttpRouter();
  r.route({ path: '/up/:slot/:filename', title: 'up', handler: noop });
  r.route({ path: '/admin/*', title: 'admin', handler: noop });
  assert.equal(who(r, '/up/s1/caf%C3%A9%20au%20lait.txt'), 'up {"slot":"s1","filename":"café au lait.txt"} ""');
  assert.equal(who(r, '/up/s1/a%2Fb'), 'up {"slot":"s1","filename":"a/b"} ""', 'an encoded "/" stays inside its parameter');
  assert.equal(who(r, '/up/s1/%E0%A4%A'), 'bad-escape');
  assert.equal(who(r, '/up/s1'), 'not-found');
  assert.equal(who(r, '/up//x'), 'not-found', 'a parameter is never empty');
  assert.equal(who(r, '/up/a/b/'), 'not-found');
  assert.equal(who(r, '/admin/users/al%20ice'), 'admin {} "users/al%20ice"', 'the rest stays %-encoded');
  assert.equal(who(r, '/admin'), 'admin {} ""');
  assert.equal(who(r, '/administrator'), 'not-found');
  for (const bad of ['no-slash', '/a/*/b', '/a*', '/:x/*', '/:x/:x', '/a/:bad-name', '/a/:']) {
    assert.throws(() => compilePattern(bad), /HTTP route/, bad);
  }
});

test('precedence: exact over parameter over prefix, a literal segment over a parameter, the longest prefix first', () => {
  const r = new HttpRouter();
  // Mounted in the least helpful order: the result must not depend on it.
  r.route({ path: '/*', title: 'all', handler: noop });
  r.route({ path: '/f/*', title: 'f*', handler: noop });
  r.route({ path: '/f/deep/*', title: 'deep*', handler: noop });
  r.route({ path: '/:a/b', title: ':a/b', handler: noop });
  r.route({ path: '/f/:id', title: 'f/:id', handler: noop });
  r.route({ path: '/f/special', title: 'special', handler: noop });
  assert.equal(who(r, '/f/special'), 'special {} ""');
  assert.equal(who(r, '/f/other'), 'f/:id {"id":"other"} ""');
  assert.equal(who(r, '/f/b'), 'f/:id {"id":"b"} ""', '/f/:id wins over /:a/b: its first segment is literal');
  assert.equal(who(r, '/g/b'), ':a/b {"a":"g"} ""');
  assert.equal(who(r, '/f/deep'), 'f/:id {"id":"deep"} ""', 'a parameter pattern beats a longer prefix');
  assert.equal(who(r, '/f/deep/x/y'), 'deep* {} "x/y"');
  assert.equal(who(r, '/f/x/y'), 'f* {} "x/y"');
  assert.equal(who(r, '/elsewhere'), 'all {} "elsewhere"');
});

test('methods: GET brings HEAD, routes on one pattern split the methods, Allow lists them, duplicates are refused', () => {
  const r = new HttpRouter();
  r.route({ path: '/file/:id', title: 'get', handler: noop });
  r.route({ path: '/file/:name', methods: ['PUT', 'DELETE'], title: 'put', handler: noop });
  assert.equal(who(r, '/file/x'), 'get {"id":"x"} ""');
  assert.equal(who(r, '/file/x', 'HEAD'), 'get {"id":"x"} ""');
  assert.equal(who(r, '/file/x', 'PUT'), 'put {"name":"x"} ""', 'each route names its own parameters');
  assert.equal(who(r, '/file/x', 'POST'), '405 GET,HEAD,PUT,DELETE');
  assert.equal(who(r, '/file/x', 'PATCH'), '405 GET,HEAD,PUT,DELETE');
  assert.throws(() => r.route({ path: '/file/:other', methods: ['DELETE', 'POST'], handler: noop }), /DELETE \/file\/:other is already served/);
  r.route({ path: '/file/:id', methods: ['HEAD'], title: 'head', handler: noop });
  assert.equal(who(r, '/file/x', 'HEAD'), 'head {"id":"x"} ""', 'an explicit HEAD route answers HEAD');
  r.route({ path: '/post', methods: ['POST'], title: 'post', handler: noop });
  assert.equal(who(r, '/post', 'HEAD'), '405 POST', 'no GET, no HEAD');
});

test('mounting: each mount is undone by its dispose function, once; auth needs a challenge', () => {
  const r = new HttpRouter();
  const offGet = r.route({ path: '/x/:id', title: 'get', handler: noop });
  const offPut = r.route({ path: '/x/:id', methods: ['PUT'], title: 'put', handler: noop });
  offGet();
  assert.equal(who(r, '/x/1'), '405 PUT');
  offGet();
  assert.equal(who(r, '/x/1', 'PUT'), 'put {"id":"1"} ""', 'a second dispose call removes nothing else');
  offPut();
  assert.equal(who(r, '/x/1', 'PUT'), 'not-found');
  r.route({ path: '/x/:id', title: 'again', handler: noop });
  assert.equal(who(r, '/x/1'), 'again {"id":"1"} ""');
  assert.throws(() => r.route({ path: '/secret', auth: async () => ({ name: 'a' }), handler: noop }), /challenge/);
  // @ts-expect-error -- an unknown method is a type error, and refused at run time too
  assert.throws(() => r.route({ path: '/m', methods: ['PATCH'], handler: noop }), /unknown method/);
});
