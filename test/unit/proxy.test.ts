/** Trusted proxies: X-Forwarded-For / X-Forwarded-Proto parsing and who may set them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrustedProxies, forwardedProto, normalizeAddress, parseForwardedAddress, splitForwardedFor } from '../../src/net/proxy.js';

test('forwarded addresses: bare, with ports, bracketed IPv6, quoted; garbage is rejected', () => {
  assert.equal(parseForwardedAddress(' 203.0.113.7 '), '203.0.113.7');
  assert.equal(parseForwardedAddress('203.0.113.7:5123'), '203.0.113.7');
  assert.equal(parseForwardedAddress('2001:db8::1'), '2001:db8::1');
  assert.equal(parseForwardedAddress('[2001:db8::1]:443'), '2001:db8::1');
  assert.equal(parseForwardedAddress('[2001:db8::1]'), '2001:db8::1');
  assert.equal(parseForwardedAddress('"198.51.100.2"'), '198.51.100.2');
  assert.equal(parseForwardedAddress('::ffff:192.0.2.1'), '192.0.2.1');
  for (const bad of ['', 'unknown', 'example.com', '1.2.3', '300.1.1.1', '[nope]:80', '1.2.3.4:abc']) {
    assert.equal(parseForwardedAddress(bad), undefined, bad);
  }
});

test('X-Forwarded-For lists split in order, repeated headers joined', () => {
  assert.deepEqual(splitForwardedFor('a, b ,c'), ['a', 'b', 'c']);
  assert.deepEqual(splitForwardedFor(['a, b', 'c']), ['a', 'b', 'c']);
  assert.deepEqual(splitForwardedFor(undefined), []);
  assert.deepEqual(splitForwardedFor(' , '), []);
  assert.equal(forwardedProto('http, HTTPS'), 'https');
  assert.equal(forwardedProto(undefined), undefined);
});

test('addresses and CIDRs, IPv4 and IPv6, and IPv4-mapped peers', () => {
  const p = new TrustedProxies(['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8']);
  assert.equal(p.isTrusted('127.0.0.1'), true);
  assert.equal(p.isTrusted('::ffff:127.0.0.1'), true);
  assert.equal(p.isTrusted('127.0.0.2'), false);
  assert.equal(p.isTrusted('10.200.3.4'), true);
  assert.equal(p.isTrusted('11.0.0.1'), false);
  assert.equal(p.isTrusted('::1'), true);
  assert.equal(p.isTrusted('fd12:3456::9'), true);
  assert.equal(p.isTrusted('fe80::1'), false);
  assert.equal(p.isTrusted('not an address'), false);
  assert.equal(new TrustedProxies([]).isTrusted('127.0.0.1'), false);
  assert.equal(normalizeAddress('::FFFF:10.1.2.3'), '10.1.2.3');
  assert.equal(normalizeAddress('::ffff'), '::ffff');
});

const proxies = new TrustedProxies(['127.0.0.1', '10.0.0.0/8']);
const plainPeer = (address: string) => ({ address, encrypted: false });

test('an untrusted peer cannot set the client address or the scheme', () => {
  const r = proxies.resolve(plainPeer('198.51.100.9'), { 'x-forwarded-for': '203.0.113.1', 'x-forwarded-proto': 'https' });
  assert.deepEqual(r, { ip: '198.51.100.9', secure: false, viaProxy: false });
  // Its own TLS still counts.
  assert.equal(proxies.resolve({ address: '198.51.100.9', encrypted: true }, {}).secure, true);
});

test('a trusted peer: the right-most address that is not a trusted proxy is the client', () => {
  const h = (xff: string) => ({ 'x-forwarded-for': xff });
  assert.equal(proxies.resolve(plainPeer('127.0.0.1'), h('203.0.113.1')).ip, '203.0.113.1');
  // A client-supplied value to the left of the real client is ignored.
  assert.equal(proxies.resolve(plainPeer('127.0.0.1'), h('6.6.6.6, 203.0.113.1')).ip, '203.0.113.1');
  // Trusted hops are skipped.
  assert.equal(proxies.resolve(plainPeer('127.0.0.1'), h('203.0.113.1, 10.1.1.1, 10.2.2.2')).ip, '203.0.113.1');
  // All trusted: the left-most.
  assert.equal(proxies.resolve(plainPeer('127.0.0.1'), h('10.9.9.9, 10.1.1.1')).ip, '10.9.9.9');
  // Garbage ends the walk at the last good hop.
  assert.equal(proxies.resolve(plainPeer('127.0.0.1'), h('203.0.113.1, garbage')).ip, '127.0.0.1');
  assert.equal(proxies.resolve(plainPeer('127.0.0.1'), h('garbage, 10.1.1.1')).ip, '10.1.1.1');
  // No header: the proxy itself.
  assert.equal(proxies.resolve(plainPeer('127.0.0.1'), {}).ip, '127.0.0.1');
  // IPv6 with port, repeated header.
  assert.equal(proxies.resolve(plainPeer('::ffff:127.0.0.1'), { 'x-forwarded-for': ['[2001:db8::5]:1234'] }).ip, '2001:db8::5');
});

test('a trusted peer sets secure with X-Forwarded-Proto: https (the nearest proxy\'s value)', () => {
  assert.equal(proxies.resolve(plainPeer('127.0.0.1'), { 'x-forwarded-proto': 'https' }).secure, true);
  assert.equal(proxies.resolve(plainPeer('127.0.0.1'), { 'x-forwarded-proto': 'HTTPS' }).secure, true);
  assert.equal(proxies.resolve(plainPeer('127.0.0.1'), { 'x-forwarded-proto': 'http' }).secure, false);
  assert.equal(proxies.resolve(plainPeer('127.0.0.1'), { 'x-forwarded-proto': 'https, http' }).secure, false);
  assert.equal(proxies.resolve(plainPeer('127.0.0.1'), {}).secure, false);
  assert.equal(proxies.resolve(plainPeer('127.0.0.1'), {}).viaProxy, true);
});
