/**
 * The storage driver registry: `[storage] driver` picks the driver, its mistakes are config
 * errors with key and line, and a server boots on the driver it names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { z } from 'zod';
import { ConfigError, parseConfig } from '../../src/app/config.js';
import { createLogger } from '../../src/core/logging.js';
import { bootServer } from '../../src/app/boot.js';
import { openMemoryStorage } from '../../src/storage/memory.js';
import { defineStorageDriver, storageTableSchema, type StorageOpenContext } from '../../src/storage/registry.js';
import { tempDir, testConfig } from '../helpers/server.js';

function configError(text: string): ConfigError {
  try {
    parseConfig(text, 'canto.toml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the config to be rejected');
}

/** A JSON logger whose records are kept in an array. */
function capturingLogger() {
  const records: { level: number; msg: string }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) records.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  return { records, log: createLogger({ level: 'info', format: 'json', destination }) };
}

test('[storage] driver: sqlite by default, "memory" accepted', () => {
  assert.equal(parseConfig('').storage.driver, 'sqlite');
  assert.deepEqual(parseConfig('[storage]\ndriver = "memory"\n').storage, { driver: 'memory' });
});

test('an unknown driver is a config error naming the key, its line and the known drivers', () => {
  const err = configError('log_level = "info"\n\n[storage]\ndriver = "postgress"\n');
  assert.equal(err.issues.length, 1);
  assert.equal(err.key, 'storage.driver');
  assert.equal(err.line, 4);
  assert.match(err.message, /^canto\.toml, line 4: storage\.driver: expected one of "sqlite", "postgres", "memory" \(did you mean "postgres"\?\), got "postgress"/);
});

test('driver = "postgres": url required and checked, pool_size and connect_timeout defaulted and bounded', () => {
  const ok = parseConfig('[storage]\ndriver = "postgres"\nurl = "postgres://canto@db.example/canto"\n').storage;
  assert.deepEqual(ok, { driver: 'postgres', url: 'postgres://canto@db.example/canto' });
  const missing = configError('[storage]\ndriver = "postgres"\n');
  assert.equal(missing.key, 'storage.url');
  const notUrl = configError('[storage]\ndriver = "postgres"\nurl = "db.example"\n');
  assert.equal(notUrl.key, 'storage.url');
  assert.equal(notUrl.line, 3);
  assert.match(notUrl.message, /expected a URL such as "postgres:\/\//);
  const pool = configError('[storage]\ndriver = "postgres"\nurl = "postgresql://h/d"\npool_size = 0\n');
  assert.equal(pool.key, 'storage.pool_size');
  assert.equal(pool.line, 4);
  const timeout = configError('[storage]\ndriver = "postgres"\nurl = "postgresql://h/d"\nconnect_timeout = "soon"\n');
  assert.equal(timeout.key, 'storage.connect_timeout');
  const typo = configError('[storage]\ndriver = "postgres"\nurl = "postgresql://h/d"\npoolsize = 5\n');
  assert.match(typo.message, /storage\.poolsize: unknown key for storage driver "postgres"; its keys are url, pool_size, connect_timeout/);
});

test('a key the driver does not take is a config error with its line', () => {
  const err = configError('[storage]\ndriver = "sqlite"\nurl = "postgres://x"\n');
  assert.equal(err.key, 'storage.url');
  assert.equal(err.line, 3);
  assert.match(err.message, /unknown key for storage driver "sqlite"; it takes no options/);
});

test('driver options: checked per driver at the options\' own keys, parsed with defaults for open', async () => {
  let opened: unknown;
  const withOptions = defineStorageDriver({
    description: 'test',
    persistent: true,
    options: { url: z.string(), pool: z.number().int().default(2) },
    open(ctx: StorageOpenContext<{ url: string; pool: number }>) {
      opened = ctx.options;
      return openMemoryStorage();
    },
  });
  const schema = storageTableSchema({ net: withOptions, plain: defineStorageDriver({ description: 'x', persistent: true, open: openMemoryStorage }) }, 'plain');
  assert.deepEqual(schema.parse(undefined), { driver: 'plain' });
  assert.deepEqual(schema.parse({ driver: 'net', url: 'u' }), { driver: 'net', url: 'u' });
  const bad = schema.safeParse({ driver: 'net', pool: 'many', colour: 1 });
  assert.equal(bad.success, false);
  assert.deepEqual(
    bad.error?.issues.map((i) => [i.path.join('.'), i.code]).sort(),
    [['colour', 'custom'], ['pool', 'invalid_type'], ['url', 'invalid_type']],
  );
  assert.match(bad.error?.issues.find((i) => i.path[0] === 'colour')?.message ?? '', /its keys are url, pool/);
  assert.equal(schema.safeParse({ driver: 'plain', url: 'u' }).success, false);

  const config = testConfig('/nonexistent');
  config.storage = { driver: 'sqlite', url: 'u' }; // the name is not what open looks at
  const storage = await withOptions.open(config, createLogger({ level: 'silent', format: 'json' }));
  await storage.close();
  assert.deepEqual(opened, { url: 'u', pool: 2 });
  config.storage = { driver: 'sqlite', pool: 3 };
  await assert.rejects(withOptions.open(config, createLogger({ level: 'silent', format: 'json' })), /\[storage\] options for driver "sqlite".*url/s);
});

test('a server boots on driver = "memory": nothing on disk, and a warning that nothing is kept', async () => {
  const dataDir = tempDir();
  const config = testConfig(dataDir);
  config.storage = parseConfig('[storage]\ndriver = "memory"\n').storage;
  const { records, log } = capturingLogger();
  const server = await bootServer({ config, log });
  try {
    assert.equal(await server.storage.accounts.create('localhost', 'romeo', {}), true);
    assert.equal(await server.storage.accounts.count('localhost'), 1);
    assert.equal(existsSync(join(dataDir, 'canto.sqlite')), false);
    const warning = records.find((r) => r.level === 40 && /storage driver "memory": nothing is kept/.test(r.msg));
    assert.ok(warning, `no warning among ${JSON.stringify(records.map((r) => r.msg))}`);
  } finally {
    await server.stop('test finished', 500);
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a server boots on the default driver, SQLite in data_dir, without that warning', async () => {
  const dataDir = tempDir();
  const { records, log } = capturingLogger();
  const server = await bootServer({ config: testConfig(dataDir), log });
  try {
    assert.equal(existsSync(join(dataDir, 'canto.sqlite')), true);
    assert.equal(records.some((r) => /nothing is kept/.test(r.msg)), false);
  } finally {
    await server.stop('test finished', 500);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
