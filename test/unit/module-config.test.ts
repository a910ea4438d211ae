import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigError, parseConfig } from '../../src/app/config.js';
import { checkModuleConfig, moduleConfigIssues, moduleOptions } from '../../src/core/module-config.js';
import { defineModule, type ModuleDefinition } from '../../src/core/modules.js';
import { duration, jidList, oneOf, size } from '../../src/core/option-schemas.js';
import { builtinModules } from '../../src/modules/index.js';

const builtin = (name: string): ModuleDefinition => {
  const def = builtinModules.get(name);
  assert.ok(def, `no built-in module ${name}`);
  return def;
};

function moduleError(text: string): ConfigError {
  const config = parseConfig(text, 'canto.toml');
  try {
    checkModuleConfig(config, builtinModules);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the module options to be rejected');
}

test('a bad option in [modules.blocking] names its key and line', () => {
  const err = moduleError('log_level = "warn"\n\n[modules.blocking]\nmax_items = 0\n');
  assert.equal(err.issues.length, 1);
  assert.deepEqual({ ...err.issues[0] }, { key: 'modules.blocking.max_items', line: 4, message: 'expected a number >= 1, got 0' });
  assert.equal(err.message, 'canto.toml, line 4: modules.blocking.max_items: expected a number >= 1, got 0');
  assert.equal(err.file, 'canto.toml');
});

test('types, integers, units and choices are checked with what was expected', () => {
  const err = moduleError(`
[modules.roster]
versioning = "yes"
max_items = 2.5
[modules.ping]
ping_interval = "5 parsecs"
[modules.bind]
resource_conflict = "kick-old"
[modules.private]
max_size = "1 MiB"
`);
  const byKey = new Map(err.issues.map((i) => [i.key, i]));
  assert.deepEqual(err.issues.map((i) => i.line), [3, 4, 6, 8], err.message);
  assert.match(byKey.get('modules.roster.versioning')?.message ?? '', /^expected a boolean \(true or false\), got "yes"$/);
  assert.match(byKey.get('modules.roster.max_items')?.message ?? '', /^expected an integer, got 2\.5$/);
  assert.match(byKey.get('modules.ping.ping_interval')?.message ?? '', /^expected a duration .*unknown unit "parsecs"/);
  assert.match(byKey.get('modules.bind.resource_conflict')?.message ?? '', /expected one of "kick_old", "refuse_new" \(did you mean "kick_old"\?\), got "kick-old"/);
  assert.equal(byKey.has('modules.private.max_size'), false, 'a valid size is accepted');
});

test('an unknown key gets a did-you-mean, or the list of known keys', () => {
  const err = moduleError('[modules.blocking]\nmax_item = 5\n[modules.offline]\nzzz = 1\n[modules.time]\nformat = "iso"\n');
  assert.equal(err.issues[0]?.key, 'modules.blocking.max_item');
  assert.equal(err.issues[0]?.line, 2);
  assert.equal(err.issues[0]?.message, 'unknown key; did you mean `max_items`?');
  assert.equal(err.issues[1]?.key, 'modules.offline.zzz');
  assert.equal(err.issues[1]?.message, 'unknown key; known keys here: max_messages');
  // A module that declares no options takes none.
  assert.equal(err.issues[2]?.key, 'modules.time.format');
  assert.equal(err.issues[2]?.message, 'unknown key; module "time" takes no options');
});

test('a [modules.X] table that names no module is a warning, with a suggestion when close', () => {
  const config = parseConfig('data_dir = "data"\n[modules.blockng]\nmax_items = 5\n[modules.nosuch]\n', 'canto.toml');
  const { errors, warnings } = moduleConfigIssues(config, builtinModules);
  assert.deepEqual(errors, []);
  assert.deepEqual(warnings.map((i) => [i.key, i.line, i.message]), [
    ['modules.blockng', 2, 'no module "blockng" in this version: the table is ignored (did you mean [modules.blocking]?)'],
    ['modules.nosuch', 4, 'no module "nosuch" in this version: the table is ignored'],
  ]);
  // Skipped like unknown names in modules_enabled, so the server still starts; the warnings are for logs and `canto check`.
  assert.deepEqual(checkModuleConfig(config, builtinModules), [
    'canto.toml, line 2: modules.blockng: no module "blockng" in this version: the table is ignored (did you mean [modules.blocking]?)',
    'canto.toml, line 4: modules.nosuch: no module "nosuch" in this version: the table is ignored',
  ]);
});

test('defaults from the schema are what the module gets; units are converted', () => {
  const empty = parseConfig('');
  assert.deepEqual(moduleOptions(builtin('blocking'), empty), { max_items: 1000, offline_cache_size: 1000 });
  const config = parseConfig('[modules.ping]\nping_interval = "30s"\n[modules.vcard]\nmax_size = "8 KiB"\n');
  assert.deepEqual(moduleOptions(builtin('ping'), config), { ping_interval: 30_000, ping_timeout: 60_000 });
  assert.deepEqual(moduleOptions(builtin('vcard'), config), { max_size: 8192 });
  assert.deepEqual(moduleOptions(builtin('bind'), empty), { resource_conflict: 'kick_old' });
  // Parsing twice gives the same values: the config itself is not rewritten.
  assert.deepEqual(moduleOptions(builtin('ping'), config), { ping_interval: 30_000, ping_timeout: 60_000 });
});

test('every built-in module accepts an empty table (its defaults are valid)', () => {
  const tables = [...builtinModules.keys()].map((name) => `[modules.${name}]`).join('\n');
  assert.deepEqual(moduleConfigIssues(parseConfig(tables), builtinModules), { errors: [], warnings: [] });
});

test('a module loaded with an invalid table throws a ConfigError (configs built in code, no lines)', () => {
  const config = parseConfig('');
  config.modules.blocking = { max_items: 'many' };
  assert.throws(() => moduleOptions(builtin('blocking'), config), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.message, 'modules.blocking.max_items: expected a number, got "many"');
    return true;
  });
});

test('schema helpers: durations, sizes, choices and JID lists', () => {
  const probe = defineModule({
    name: 'probe',
    options: z.object({
      every: duration('5 minutes'),
      timeout: duration(),
      limit: size('1 MiB', { min: 1 }),
      mode: oneOf(['a', 'b'], 'a'),
      admins: jidList(),
    }),
    setup: () => {},
  });
  const registry = new Map([['probe', probe]]);
  const ok = parseConfig('[modules.probe]\nevery = 90\nlimit = "2k"\nadmins = ["Admin@example.com", "example.org"]\n');
  assert.deepEqual(moduleOptions(probe, ok), { every: 90_000, limit: 2048, mode: 'a', admins: ['Admin@example.com', 'example.org'] });
  const bad = parseConfig('[modules.probe]\nevery = "soon"\nlimit = 0\nmode = "c"\nadmins = ["a@b/c"]\ntimeout = true\n', 'canto.toml');
  const issues = moduleConfigIssues(bad, registry).errors;
  assert.deepEqual(issues.map((i) => i.key), ['modules.probe.every', 'modules.probe.limit', 'modules.probe.mode', 'modules.probe.admins[0]', 'modules.probe.timeout']);
  assert.match(issues[1]?.message ?? '', /must be at least 1/);
  assert.match(issues[3]?.message ?? '', /^expected a bare JID/);
  assert.match(issues[4]?.message ?? '', /^expected a duration/);
});

test('the module tables in docs/configuration.md and the example file pass their schemas', () => {
  // Compiled to dist/test/unit/, so the repo root is three levels up.
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  const doc = readFileSync(join(root, 'docs/configuration.md'), 'utf8');
  const blocks = [...doc.matchAll(/```toml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').filter((b) => b.includes('[modules.'));
  assert.ok(blocks.length >= 5, 'the docs show module tables');
  for (const block of blocks) {
    const { errors } = moduleConfigIssues(parseConfig(block), builtinModules);
    assert.deepEqual(errors, [], `docs block:\n${block}`);
  }
  const example = parseConfig(readFileSync(join(root, 'canto.example.toml'), 'utf8'), 'canto.example.toml');
  const { errors, warnings } = moduleConfigIssues(example, builtinModules);
  assert.deepEqual(errors, []);
  assert.deepEqual(warnings.map((w) => w.key), []); // every module the example configures exists (muc since issue 15)
});
