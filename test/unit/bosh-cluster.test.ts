/**
 * The pieces of BOSH forwarding in a Redis cluster that need no Redis (src/modules/bosh/cluster.ts):
 * which node a sid names, the forwarding token check, the address a node advertises.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoshCluster, FORWARDED_HEADER, FORWARDED_SECURE_HEADER, urlOfAddress } from '../../src/modules/bosh/cluster.js';
import { silentLogger } from '../../src/core/logging.js';
import type { AddressInfo } from 'node:net';

function cluster(opts: { advertise?: string; addresses?: AddressInfo[] } = {}): BoshCluster {
  return new BoshCluster({
    redisUrl: 'redis://127.0.0.1:1', nodeId: 'n1', advertise: opts.advertise, addresses: () => opts.addresses ?? [],
    path: '/http-bind', token: 'a'.repeat(64), maxWaitMs: 1000, log: silentLogger(),
  });
}

test('a sid names its node; only another node\'s sid is foreign', () => {
  const c = cluster();
  assert.equal(c.sidSuffix, '~n1');
  assert.equal(c.foreignOwner('abc~n2'), 'n2');
  assert.equal(c.foreignOwner('abc~n1'), undefined);
  assert.equal(c.foreignOwner('abc'), undefined, 'a sid without a node (a single server\'s)');
  assert.equal(c.foreignOwner('abc~'), undefined);
});

test('the forwarded headers count only with the right token', () => {
  const c = cluster();
  assert.deepEqual(c.forwarded({ [FORWARDED_HEADER]: 'a'.repeat(64), [FORWARDED_SECURE_HEADER]: '1' }), { secure: true });
  assert.deepEqual(c.forwarded({ [FORWARDED_HEADER]: 'a'.repeat(64), [FORWARDED_SECURE_HEADER]: '0' }), { secure: false });
  assert.deepEqual(c.forwarded({ [FORWARDED_HEADER]: 'a'.repeat(64) }), { secure: false });
  assert.equal(c.forwarded({ [FORWARDED_HEADER]: 'b'.repeat(64), [FORWARDED_SECURE_HEADER]: '1' }), undefined);
  assert.equal(c.forwarded({ [FORWARDED_HEADER]: 'a', [FORWARDED_SECURE_HEADER]: '1' }), undefined);
  assert.equal(c.forwarded({ [FORWARDED_SECURE_HEADER]: '1' }), undefined);
});

test('the advertised URL: advertise_http, else the first non-wildcard listener address', () => {
  assert.equal(urlOfAddress({ address: '0.0.0.0', family: 'IPv4', port: 5280 }), undefined);
  assert.equal(urlOfAddress({ address: '::', family: 'IPv6', port: 5280 }), undefined);
  assert.equal(urlOfAddress({ address: '10.0.0.5', family: 'IPv4', port: 5280 }), 'http://10.0.0.5:5280');
  assert.equal(urlOfAddress({ address: 'fd00::5', family: 'IPv6', port: 5280 }), 'http://[fd00::5]:5280');
  assert.equal(cluster({ advertise: 'https://node1.internal:5281/' }).ownUrl(), 'https://node1.internal:5281');
  const wildcardThenReal = [{ address: '::', family: 'IPv6', port: 5280 }, { address: '10.0.0.5', family: 'IPv4', port: 5280 }];
  assert.equal(cluster({ addresses: wildcardThenReal }).ownUrl(), 'http://10.0.0.5:5280');
  assert.equal(cluster({ addresses: [{ address: '0.0.0.0', family: 'IPv4', port: 5280 }] }).ownUrl(), undefined);
});
