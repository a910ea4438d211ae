/**
 * Live reload planning (src/core/reconfigure.ts): which keys a reload applies and which keep their
 * running value (reported as needing a restart), global modules whose options changed and what keeps
 * one from being loaded again, host modules whose
 * options changed, and the loaded modules that must be loaded again with them (their dependents).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/app/config.js';
import { builtinModules } from '../../src/modules/index.js';
import { changedGlobalOptions, changedHostSettings, changedModuleOptions, effectiveConfig, globalReloadBlocker, withDependents } from '../../src/core/reconfigure.js';
import type { ModuleDefinition } from '../../src/core/modules.js';
import { runReload } from '../../src/cli/reload.js';

const base = 'data_dir = "/srv/canto"\nlog_level = "info"\n[c2s]\nports = [5222]\n[[virtualhost]]\ndomain = "example.org"\n';

test('live keys come from the new file; the others keep their running values and are reported', () => {
  const current = parseConfig(base);
  const next = parseConfig(base.replace('log_level = "info"', 'log_level = "debug"\nadmins = ["a@example.org"]').replace('ports = [5222]', 'ports = [5222]\nauth_timeout = "20s"').replace('/srv/canto', '/srv/other') + '[limits]\nmax_depth = 10\n[s2s]\nports = [5270]\n');
  const { config, needsRestart, rebind } = effectiveConfig(current, next);
  assert.equal(config.log_level, 'debug');
  assert.deepEqual(config.admins, ['a@example.org']);
  assert.equal(config.c2s.auth_timeout, 60_000);
  assert.equal(config.data_dir, '/srv/canto');
  assert.equal(config.limits.max_depth, 64);
  assert.deepEqual(rebind, []);
  assert.deepEqual(needsRestart.map((r) => r.split(':')[0]).sort(), ['c2s', 'data_dir', 'limits', 's2s']);
  assert.match(needsRestart.find((r) => r.startsWith('c2s:')) ?? '', /needs a restart \(only interfaces, ports, direct_tls_ports are applied live; the running value is kept\)/);
  assert.match(needsRestart.find((r) => r.startsWith('s2s:')) ?? '', /needs a restart \(a reload does not rebind these listeners; the running value is kept\)/);
  assert.match(needsRestart.find((r) => r.startsWith('limits:')) ?? '', /needs a restart \(the running value is kept\)/);
  assert.deepEqual(effectiveConfig(current, parseConfig(base)).needsRestart, [], 'the same file changes nothing');
});

test('new [c2s] addresses alone are rebound', () => {
  const current = parseConfig(base);
  const { config, needsRestart, rebind } = effectiveConfig(current, parseConfig(base.replace('ports = [5222]', 'ports = [5224]\ninterfaces = ["127.0.0.1"]')));
  assert.deepEqual(rebind, ['c2s']);
  assert.deepEqual(needsRestart, []);
  assert.deepEqual(config.c2s.ports, [5224]);
  assert.deepEqual(config.c2s.interfaces, ['127.0.0.1']);
});

test('module options come from the new file: host modules whose options changed are loaded again, global ones are told apart', () => {
  const current = parseConfig(`${base}[modules.metrics]\npath = "/metrics"\n`);
  const next = parseConfig(`${base}[modules.metrics]\npath = "/m"\n[modules.version]\nhide_os = false\n`);
  const { config, needsRestart } = effectiveConfig(current, next);
  assert.deepEqual(config.modules.metrics, { path: '/m' });
  assert.deepEqual(config.modules.version, { hide_os: false });
  assert.deepEqual(needsRestart, []);
  assert.deepEqual([...changedModuleOptions(current, config, builtinModules)], ['version']);
  assert.deepEqual([...changedGlobalOptions(current, config, builtinModules)], ['metrics']);
});

test('a global module without a hook is loaded again unless it says not to or loaded modules hold it', () => {
  const def = (name: string, more: Partial<ModuleDefinition> = {}): ModuleDefinition => ({ name, scope: 'global', setup() {}, ...more });
  const leaf = def('leaf');
  const held = def('held');
  const streams = def('streams', { restartOnOptionChange: 'it holds client streams' });
  const global = [leaf, held, streams, def('user', { depends: ['held'] })];
  assert.equal(globalReloadBlocker(leaf, global, []), undefined);
  assert.match(globalReloadBlocker(held, global, []) ?? '', /loaded modules depend on it \(user\)/);
  assert.match(globalReloadBlocker(leaf, global, [{ name: 'hosted', uses: ['leaf'], setup() {} }]) ?? '', /\(hosted\)/);
  assert.equal(globalReloadBlocker(streams, global, []), 'it holds client streams');
});

test('a module loaded again takes the loaded modules that depend on it along', () => {
  const def = (name: string, depends: string[] = []): ModuleDefinition => ({ name, depends, setup() {} });
  const loaded = [def('a'), def('b', ['a']), def('c', ['b']), def('d')];
  assert.deepEqual([...withDependents(loaded, new Set(['a']))].sort(), ['a', 'b', 'c']);
  assert.deepEqual([...withDependents(loaded, new Set(['d', 'unloaded']))], ['d']);
});

test('host settings that change live are named', () => {
  const vh = { domain: 'x', allow_registration: false, modules_enabled: [], modules_disabled: [] };
  assert.deepEqual(changedHostSettings(vh, { ...vh, allow_registration: true }), ['allow_registration = true']);
  assert.deepEqual(changedHostSettings(vh, vh), []);
});

test('canto reload with [cluster] workers > 1 says why it cannot reload', async () => {
  const config = parseConfig(`${base}[cluster]\nworkers = 2\nredis = "redis://127.0.0.1:6379"\n`);
  await assert.rejects(runReload(config, { json: false }, () => undefined), /live reload is not available with \[cluster\] workers = 2: each local node holds its own hosts, modules and sessions/);
});
