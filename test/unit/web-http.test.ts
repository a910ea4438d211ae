/** Pure parts of the HTTP layer: origins and CORS, Host parsing, the router, host-meta documents. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { corsHeaders, hostnameOf, originAllowed } from '../../src/net/http.js';
import { HttpRouter } from '../../src/net/http-router.js';
import { endpointUrl, hostMetaJson, hostMetaXrd } from '../../src/modules/hostmeta/index.js';
import { ConfigError, parseConfig } from '../../src/app/config.js';

test('originAllowed: empty list or no Origin allows; otherwise the list (or "*") decides', () => {
  assert.equal(originAllowed('https://a.example', []), true);
  assert.equal(originAllowed(undefined, ['https://a.example']), true);
  assert.equal(originAllowed('https://a.example', ['https://a.example']), true);
  assert.equal(originAllowed('https://A.example', ['https://a.example']), true);
  assert.equal(originAllowed('https://b.example', ['https://a.example']), false);
  assert.equal(originAllowed('http://a.example', ['https://a.example']), false);
  assert.equal(originAllowed('https://b.example', ['*']), true);
});

test('corsHeaders echo an allowed origin, say "*" for a wildcard or empty (default) list, and nothing otherwise', () => {
  assert.equal(corsHeaders('https://a.example', [])?.['Access-Control-Allow-Origin'], '*', 'the default allows every origin');
  assert.equal(corsHeaders(undefined, ['*']), undefined);
  assert.equal(corsHeaders('https://b.example', ['https://a.example']), undefined);
  const h = corsHeaders('https://a.example', ['https://a.example']);
  assert.equal(h?.['Access-Control-Allow-Origin'], 'https://a.example');
  assert.equal(h?.Vary, 'Origin');
  assert.equal(corsHeaders('https://z.example', ['*'])?.['Access-Control-Allow-Origin'], '*');
});

test('hostnameOf strips ports and brackets', () => {
  assert.equal(hostnameOf('Example.COM:5280'), 'example.com');
  assert.equal(hostnameOf('example.com'), 'example.com');
  assert.equal(hostnameOf('[::1]:5280'), '::1');
});

test('the router: no duplicates, removal, index of titled entries, advertised endpoints', () => {
  const r = new HttpRouter();
  const off = r.route({ path: '/a', title: 'A', handler: () => {} });
  assert.throws(() => r.route({ path: '/a', handler: () => {} }), /already served/);
  r.upgrade('/ws', () => {}, { title: 'WS' });
  r.route({ path: '/hidden', handler: () => {} });
  r.route({ path: '/files/:id', title: 'Files', handler: () => {} });
  assert.deepEqual(r.index(), [
    { path: '/a', title: 'A', upgrade: false, linkable: true },
    { path: '/files/:id', title: 'Files', upgrade: false, linkable: false },
    { path: '/ws', title: 'WS', upgrade: true, linkable: true },
  ]);
  assert.equal(r.lookup('/a', 'GET').kind, 'found');
  assert.equal(r.lookup('/a/', 'GET').kind, 'not-found');
  off();
  assert.equal(r.lookup('/a', 'GET').kind, 'not-found');
  const unadvertise = r.advertise({ rel: 'urn:xmpp:alt-connections:websocket', path: '/ws', kind: 'ws' });
  assert.equal(r.advertised.length, 1);
  unadvertise();
  assert.equal(r.advertised.length, 0);
});

test('endpoint URLs: from the request, or from http.public_url (with a path prefix)', () => {
  const ws = { rel: 'urn:xmpp:alt-connections:websocket', path: '/xmpp-websocket', kind: 'ws' as const };
  const bosh = { rel: 'urn:xmpp:alt-connections:xbosh', path: '/http-bind', kind: 'http' as const };
  assert.equal(endpointUrl(ws, { scheme: 'http', authority: 'example.com:5280' }), 'ws://example.com:5280/xmpp-websocket');
  assert.equal(endpointUrl(ws, { scheme: 'https', authority: 'example.com' }), 'wss://example.com/xmpp-websocket');
  assert.equal(endpointUrl(bosh, { scheme: 'https', authority: 'example.com' }), 'https://example.com/http-bind');
  assert.equal(endpointUrl(ws, { publicUrl: 'https://chat.example.com/xmpp/', scheme: 'http', authority: 'internal:5280' }), 'wss://chat.example.com/xmpp/xmpp-websocket');
  assert.equal(endpointUrl(bosh, { publicUrl: 'http://chat.example.com', scheme: 'https', authority: 'x' }), 'http://chat.example.com/http-bind');
});

test('host-meta documents in XRD and JSON', () => {
  const links = [{ rel: 'urn:xmpp:alt-connections:websocket', href: "wss://example.com/xmpp-websocket?a=1&b='2'" }];
  const xrd = hostMetaXrd(links);
  assert.match(xrd, /^<\?xml version='1.0' encoding='utf-8'\?>\n<XRD xmlns='http:\/\/docs.oasis-open.org\/ns\/xri\/xrd-1.0'>/);
  assert.match(xrd, /<Link rel='urn:xmpp:alt-connections:websocket' href='wss:\/\/example.com\/xmpp-websocket\?a=1&amp;b=&apos;2&apos;'\/>/);
  assert.deepEqual(JSON.parse(hostMetaJson(links)), { links });
  assert.deepEqual(JSON.parse(hostMetaJson([])), { links: [] });
});

test('http.public_url: an http(s) URL, optionally with a path; unset by default', () => {
  assert.equal(parseConfig('').http.public_url, undefined);
  assert.equal(parseConfig('[http]\npublic_url = "https://chat.example.com"\n').http.public_url, 'https://chat.example.com');
  assert.equal(parseConfig('[http]\npublic_url = "http://example.com/xmpp"\n').http.public_url, 'http://example.com/xmpp');
  for (const bad of ['chat.example.com', 'ftp://example.com', 'https://example.com/?q=1', 'https://']) {
    assert.throws(() => parseConfig(`[http]\npublic_url = "${bad}"\n`), (err: unknown) => err instanceof ConfigError && /http\.public_url/.test(err.message), bad);
  }
});
