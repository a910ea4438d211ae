/** Registration abuse limits: subnets, spacing, blocked usernames (src/modules/register/guard.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegistrationGuard } from '../../src/modules/register/guard.js';
import { readRegisterOptions, registerOptions } from '../../src/modules/register/options.js';
import { subnetOf } from '../../src/modules/register/subnet.js';

test('subnets of IPv4 and IPv6 addresses', () => {
  assert.equal(subnetOf('198.51.100.77', 24, 56), '198.51.100.0/24');
  assert.equal(subnetOf('198.51.100.77', 16, 56), '198.51.0.0/16');
  assert.equal(subnetOf('2001:db8:1:2ff:5::1', 24, 56), '2001:db8:1:200:0:0:0:0/56');
  assert.equal(subnetOf('2001:db8:1:2ff:5::1', 24, 48), '2001:db8:1:0:0:0:0:0/48');
  assert.equal(subnetOf('::1', 24, 128), '0:0:0:0:0:0:0:1/128');
  assert.equal(subnetOf('::ffff:10.1.2.3', 24, 120), '0:0:0:0:0:ffff:a01:200/120');
  assert.equal(subnetOf('not an address', 24, 56), undefined);
});

function guard(raw: Record<string, unknown>, now: () => number) {
  return new RegistrationGuard(readRegisterOptions(registerOptions.parse(raw)), now);
}

test('a subnet is limited together; other subnets are not', () => {
  const g = guard({ registration_subnet_max: 2 }, () => 0);
  assert.equal(g.check('10.0.0.1', 'a').ok, true);
  assert.equal(g.check('10.0.0.2', 'b').ok, true);
  const third = g.check('10.0.0.3', 'c');
  assert.equal(third.ok, false);
  assert.equal(!third.ok && third.why, 'subnet');
  assert.equal(g.check('10.0.1.1', 'd').ok, true, 'another /24');
});

test('a minimum interval between registrations from one address; giving back frees it', () => {
  let now = 0;
  const g = guard({ registration_min_interval: '30s' }, () => now);
  const first = g.check('10.0.0.1', 'a');
  assert.equal(first.ok, true);
  const soon = g.check('10.0.0.1', 'b');
  assert.equal(!soon.ok && soon.why, 'too-soon');
  assert.equal(g.check('10.0.0.2', 'c').ok, true, 'another address');
  now += 30_000;
  const later = g.check('10.0.0.1', 'd');
  assert.equal(later.ok, true);
  if (later.ok) later.giveBack(); // the account was not created after all
  assert.equal(g.check('10.0.0.1', 'e').ok, true);
});

test('blocked usernames: the reserved defaults and configured patterns, case-insensitively', () => {
  const dflt = guard({}, () => 0);
  const admin = dflt.check('10.0.0.1', 'Admin');
  assert.equal(!admin.ok && admin.why, 'blocked-username');
  assert.equal(dflt.check('10.0.0.2', 'administrator2').ok, true, 'anchored patterns');
  const custom = guard({ blocked_usernames: ['^spam', 'casino'] }, () => 0);
  assert.equal(custom.check('10.0.0.3', 'spammer1').ok, false);
  assert.equal(custom.check('10.0.0.4', 'bestCASINOever').ok, false);
  assert.equal(custom.check('10.0.0.5', 'admin').ok, true, 'a configured list replaces the defaults');
});

test('registration_throttle_max = 0 turns the address limits off, not the blocked names', () => {
  const g = guard({ registration_throttle_max: 0, registration_subnet_max: 1, registration_min_interval: '1 hour' }, () => 0);
  assert.equal(g.check('10.0.0.1', 'a').ok, true);
  assert.equal(g.check('10.0.0.1', 'b').ok, true);
  assert.equal(g.check('10.0.0.1', 'root').ok, false);
});

test('a pattern that is not a regular expression is a config error naming the problem', () => {
  const r = registerOptions.safeParse({ blocked_usernames: ['ok', '(unclosed'] });
  assert.equal(r.success, false);
  assert.match(JSON.stringify(r.error?.issues), /blocked_usernames.*1|expected a regular expression/);
  assert.match(r.error?.issues[0]?.message ?? '', /expected a regular expression: Invalid regular expression/);
});
