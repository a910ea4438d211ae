/**
 * The `canto` command as an operator uses it: accounts, config errors, check, and a real
 * `canto start` that serves and shuts down cleanly on SIGTERM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { runCanto, CANTO_BIN } from '../helpers/cli.js';
import { tempDir } from '../helpers/server.js';
import { RawClient, clientHeader } from '../helpers/raw-client.js';
import { openSqliteStorage } from '../../src/storage/sqlite.js';
import { waitFor } from '../../src/testing/index.js';

function writeConfig(dir: string, extra = ''): string {
  const file = join(dir, 'canto.toml');
  writeFileSync(file, `data_dir = "data"\nlog_level = "warn"\n\n[c2s]\ninterfaces = ["127.0.0.1"]\nports = [0]\ndirect_tls_ports = []\n\n[s2s]\nports = []\n\n[component_listener]\nports = []\n\n[http]\nports = []\ntls_ports = []\n${extra}\n[[virtualhost]]\ndomain = "localhost"\n`);
  return file;
}

const PASSWORD = 'correct-horse-battery-7431';

test('adduser stores SCRAM credentials only; deluser removes the account and its data', async () => {
  const dir = tempDir();
  const cfg = writeConfig(dir);
  const add = await runCanto(['adduser', 'Alice@localhost', '--password', PASSWORD, '--config', cfg]);
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /created alice@localhost/);

  const again = await runCanto(['adduser', 'alice@localhost', '--password', 'x', '--config', cfg]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists/);

  // No trace of the password in any database file.
  const dataDir = join(dir, 'data');
  for (const f of readdirSync(dataDir)) {
    const bytes = readFileSync(join(dataDir, f));
    for (const form of [PASSWORD, Buffer.from(PASSWORD).toString('base64'), Buffer.from(PASSWORD).toString('hex')]) {
      assert.equal(bytes.includes(form), false, `${f} contains the password as ${form}`);
    }
  }
  const storage = openSqliteStorage({ dataDir });
  const account = await storage.accounts.get('localhost', 'alice');
  assert.ok(account?.credentials['SCRAM-SHA-1']);
  assert.ok(account?.credentials['SCRAM-SHA-256']);
  assert.ok((account?.credentials['SCRAM-SHA-256']?.iterations ?? 0) >= 4096);
  await storage.keyval<string>('localhost', 'vcard').set('alice', '<vCard/>');
  await storage.close();

  const pw = await runCanto(['passwd', 'alice@localhost', '--config', cfg], { input: 'another-secret\n' });
  assert.equal(pw.code, 0, pw.stderr);

  const del = await runCanto(['deluser', 'alice@localhost', '--config', cfg]);
  assert.equal(del.code, 0, del.stderr);
  const after = openSqliteStorage({ dataDir });
  assert.equal(await after.accounts.get('localhost', 'alice'), undefined);
  assert.equal(await after.keyval<string>('localhost', 'vcard').get('alice'), undefined);
  await after.close();

  const delAgain = await runCanto(['deluser', 'alice@localhost', '--config', cfg]);
  assert.equal(delAgain.code, 1);
  assert.match(delAgain.stderr, /no account/);
});

test('usage and host errors have distinct exit codes', async () => {
  const dir = tempDir();
  const cfg = writeConfig(dir);
  assert.equal((await runCanto(['frobnicate', '--config', cfg])).code, 2);
  assert.equal((await runCanto(['adduser', '--config', cfg])).code, 2);
  assert.equal((await runCanto(['adduser', 'not a jid@@', '--password', 'x', '--config', cfg])).code, 2);
  const other = await runCanto(['adduser', 'bob@elsewhere.example', '--password', 'x', '--config', cfg]);
  assert.equal(other.code, 1);
  assert.match(other.stderr, /not a virtual host/);
  const version = await runCanto(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^canto \d+\.\d+\.\d+/);
  const help = await runCanto(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /adduser/);
});

test('a config error names the key and the line, with exit code 78', async () => {
  const dir = tempDir();
  const cfg = join(dir, 'bad.toml');
  writeFileSync(cfg, 'data_dir = "data"\n\n[c2s]\nports = [5222]\nrequire_encryption = "yes"\n');
  const r = await runCanto(['check', '--config', cfg]);
  assert.equal(r.code, 78);
  assert.match(r.stderr, /c2s\.require_encryption/);
  assert.match(r.stderr, /line 5/);
  const missing = await runCanto(['start', '--config', join(dir, 'nope.toml')]);
  assert.equal(missing.code, 78);
  assert.match(missing.stderr, /not found/);
});

test('storage: an unknown driver is a config error (78); the account commands refuse the memory driver', async () => {
  const dir = tempDir();
  const unknown = await runCanto(['adduser', 'a@localhost', '--password', PASSWORD, '--config', writeConfig(dir, '[storage]\ndriver = "mongo"\n')]);
  assert.equal(unknown.code, 78);
  assert.match(unknown.stderr, /line 19: storage\.driver: expected one of "sqlite", "postgres", "memory", got "mongo"/);
  const memory = await runCanto(['adduser', 'a@localhost', '--password', PASSWORD, '--config', writeConfig(dir, '[storage]\ndriver = "memory"\n')]);
  assert.equal(memory.code, 1, memory.stderr);
  assert.match(memory.stderr, /storage driver "memory" keeps nothing/);
});

test('a bad module option is a config error found by check (and start), with its line and exit code 78; an unknown table a warning', async () => {
  const dir = tempDir();
  const cfg = writeConfig(dir, '\n[modules.blocking]\nmax_items = 0\nmax_itemz = 5\n');
  const lines = readFileSync(cfg, 'utf8').split('\n');
  const line = lines.indexOf('max_items = 0') + 1;
  const r = await runCanto(['check', '--no-dns', '--config', cfg]);
  assert.equal(r.code, 78, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`canto\\.toml, line ${line}: modules\\.blocking\\.max_items: expected a number >= 1, got 0`));
  assert.match(r.stderr, new RegExp(`canto\\.toml, line ${line + 1}: modules\\.blocking\\.max_itemz: unknown key; did you mean \`max_items\`\\?`));
  const start = await runCanto(['start', '--config', cfg]);
  assert.equal(start.code, 78, start.stdout + start.stderr);
  assert.match(start.stderr, /modules\.blocking\.max_items/);
  // A table no module reads is skipped (as unknown names in modules_enabled are): check warns.
  const unknown = writeConfig(tempDir(), '\n[modules.rostr]\nmax_items = 5\n');
  const u = await runCanto(['check', '--no-dns', '--config', unknown]);
  assert.equal(u.code, 0, u.stdout + u.stderr);
  assert.match(u.stdout, /warn +.*canto\.toml, line \d+: modules\.rostr: no module "rostr" in this version: the table is ignored \(did you mean \[modules\.roster\]\?\)/);
});

test('check reports the configuration and certificates', async () => {
  const dir = tempDir();
  const cfg = writeConfig(dir);
  const r = await runCanto(['check', '--no-dns', '--config', cfg]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /configuration .* is valid/);
  assert.match(r.stdout, /localhost: a self-signed certificate will be made/);
  assert.doesNotMatch(r.stdout, /not part of this version/, 'the default module list is all built in');
  const typo = join(dir, 'typo.toml');
  writeFileSync(typo, readFileSync(cfg, 'utf8').replace('log_level = "warn"', 'log_level = "warn"\nmodules_enabled = ["rostr", "presence"]'));
  const r3 = await runCanto(['check', '--no-dns', '--config', typo]);
  assert.equal(r3.code, 0, r3.stdout + r3.stderr);
  assert.match(r3.stdout, /warn +module "rostr" is not part of this version and will be skipped \(did you mean "roster"\?\)/);
  const bad = writeConfig(tempDir(), '').replace(/canto\.toml$/, 'other.toml');
  writeFileSync(bad, readFileSync(cfg, 'utf8') + '\n[[virtualhost]]\ndomain = "chat.example.org"\n');
  const r2 = await runCanto(['check', '--no-dns', '--config', bad]);
  assert.equal(r2.code, 1);
  assert.match(r2.stdout, /chat\.example\.org: no certificate configured/);
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

test('canto start serves a stream, makes the localhost certificate, and exits 0 on SIGTERM', async () => {
  const dir = tempDir();
  const port = await freePort();
  const cfg = writeConfig(dir).replace(/canto\.toml$/, 'start.toml');
  writeFileSync(cfg, readFileSync(join(dir, 'canto.toml'), 'utf8').replace('ports = [0]', `ports = [${port}]`));
  const child = spawn(process.execPath, [CANTO_BIN, 'start', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  try {
    const client = await waitFor(() => RawClient.connect(port).catch(() => undefined), { timeoutMs: 10_000, intervalMs: 100, message: () => `server did not listen; output: ${out}` });
    client.send(clientHeader());
    await client.waitFor(/<stream:features/);
    assert.ok(existsSync(join(dir, 'data', 'localhost.crt')));
    child.kill('SIGTERM');
    await client.waitFor(/system-shutdown/);
    await client.waitClosed();
    assert.equal(await exited, 0, out);
  } finally {
    child.kill('SIGKILL');
  }
});
