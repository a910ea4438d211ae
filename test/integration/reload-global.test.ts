/**
 * Live reload of global modules' options (issue 19): with 20 logged-in clients connected, SIGHUP
 * applies a new metrics allow-list and path, new HTTP limits and new rate-limit numbers (the
 * connections already open are limited by them), and the clients stay connected and exchange
 * messages; an invalid value is refused with its key and the old options stay in force; options of
 * a global module that holds streams (s2s) are reported as needing a restart and kept; a module
 * without a hook (admin_api) is loaded again with its new options; a metrics port that cannot be
 * bound fails that module's change, which keeps running with its old options; new [c2s] ports
 * are rebound while the clients stay connected (the old port closed, a taken port refused).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect, createServer, type Server as NetServer } from 'node:net';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootServer } from '../../src/app/boot.js';
import { loadConfig } from '../../src/app/config.js';
import { Reloader } from '../../src/app/reload.js';
import type { Server } from '../../src/core/server.js';
import { testLogger, tempDir, waitFor } from '../../src/testing/index.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { loadLogin, pool, type LoadClient } from '../helpers/load-client.js';

const CLIENTS = 20;
const PASSWORD = 'reload-global-password';
const MODULES = ['disco', 'ping', 'roster', 'presence', 'message', 'metrics', 'limits', 'bosh', 'admin_api'];

function configText(modulesTables: string): string {
  const modules = MODULES.map((m) => `"${m}"`).join(', ');
  return (
    `data_dir = "data"\nlog_level = "silent"\nmodules_enabled = [${modules}]\n\n[auth]\nscram_iterations = 4096\n\n` +
    `[c2s]\ninterfaces = ["127.0.0.1"]\nports = [0]\ndirect_tls_ports = []\n\n[s2s]\nports = []\n\n[component_listener]\nports = []\n\n` +
    `[http]\ninterfaces = ["127.0.0.1"]\nports = [0]\ntls_ports = []\n\n${modulesTables}\n[[virtualhost]]\ndomain = "localhost"\n`
  );
}

const FIRST = '[modules.metrics]\nallow_ips = ["10.1.0.0/16"]\n\n[modules.http]\nmax_body_size = "1 MiB"\n';
const SECOND =
  '[modules.metrics]\nallow_ips = ["127.0.0.1"]\npath = "/m2"\n\n[modules.http]\nmax_body_size = "2 KiB"\n\n' +
  '[modules.limits.c2s]\nstanzas_per_second = 20\nstanza_burst = 1\n\n[modules.s2s]\nqueue_size = 10\n';

let dir: string;
let file: string;
let server: Server;
let reloader: Reloader;
let clients: LoadClient[] = [];

before(async () => {
  dir = tempDir('canto-reload-global-');
  file = join(dir, 'canto.toml');
  writeFileSync(file, configText(FIRST));
  const { config } = loadConfig(file);
  server = await bootServer({ config, log: testLogger(config) });
  reloader = new Reloader(server, file, server.log).start();
  for (let i = 0; i < CLIENTS; i++) await server.storage.accounts.create('localhost', `u${i}`, makeCredentials(PASSWORD, { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }));
  const port = server.port('c2s');
  clients = await pool(CLIENTS, 10, (i) => loadLogin({ port, username: `u${i}`, password: PASSWORD, resource: 'r' }));
});

after(async () => {
  for (const c of clients) c.close();
  reloader.close();
  await server.stop('test finished', 500);
  rmSync(dir, { recursive: true, force: true });
});

function http(method: string, path: string, body?: string, port = server.port('http')): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let seq = 0;
async function allExchange(): Promise<void> {
  const round = ++seq;
  assert.equal(clients.filter((c) => c.closed).length, 0, 'a client was disconnected');
  clients.forEach((c, i) => c.send(`<message to='u${(i + 1) % CLIENTS}@localhost/r' type='chat' id='g${round}-${i}'><body>round ${round}</body></message>`));
  await Promise.all(clients.map((c, i) => c.next(new RegExp(`<message[^>]*id=["']g${round}-${(i + CLIENTS - 1) % CLIENTS}["']`))));
}

test('SIGHUP applies new options of global modules while 20 clients stay connected', { timeout: 60_000 }, async () => {
  await allExchange();
  assert.equal(await http('GET', '/metrics'), 403, 'loopback is not in the first allow-list');
  // A body over 2 KiB is within the first limit (1 MiB): not refused for its size.
  assert.notEqual(await http('POST', '/http-bind', 'x'.repeat(4096)), 413);

  writeFileSync(file, configText(SECOND));
  process.kill(process.pid, 'SIGHUP');
  await waitFor(async () => (await http('GET', '/m2')) === 200, { timeoutMs: 15_000, intervalMs: 100, message: 'the new metrics path and allow-list did not apply' });
  assert.equal(await http('GET', '/metrics'), 404, 'the old path is gone');
  assert.equal(await http('POST', '/http-bind', 'x'.repeat(4096)), 413, 'the new body limit applies');
  assert.equal(server.config.modules.s2s, undefined, 'the s2s options (restart-only) are not taken');
  const metrics = await server.metrics.render();
  assert.match(metrics, /canto_config_reloads_total\{result="ok"\} 1/);

  // The new rate (burst 1) applies to a connection opened before the reload: a burst of pings is paused, not dropped.
  const c = clients[0] as LoadClient;
  for (let i = 0; i < 10; i++) c.send(`<iq type='get' to='localhost' id='burst${i}'><ping xmlns='urn:xmpp:ping'/></iq>`);
  await c.next(/<iq[^>]*id=["']burst9["']/);
  // Reading pauses at the next read after the burst ran the bucket into debt.
  c.send(`<iq type='get' to='localhost' id='after'><ping xmlns='urn:xmpp:ping'/></iq>`);
  await c.next(/<iq[^>]*id=["']after["']/);
  assert.match(await server.metrics.render(), /canto_limits_throttled_sessions_total\{kind="c2s"\} [1-9]/);
  await allExchange();
});

test('a reload reports what it applied live and what needs a restart', { timeout: 30_000 }, async () => {
  // The same file again: nothing changes.
  const same = await reloader.reload('test');
  assert.equal(same.ok, true, same.errors.join('\n'));
  assert.deepEqual(same.applied, []);
  // Back to the first options, with s2s's still changed (restart-only: reported, kept).
  writeFileSync(file, configText(`${FIRST}\n[modules.s2s]\nqueue_size = 10\n`));
  const back = await reloader.reload('test');
  assert.equal(back.ok, true, back.errors.join('\n'));
  assert.ok(back.applied.includes('module metrics: new options in force'), back.applied.join('\n'));
  assert.ok(back.applied.includes('module http: new options in force'), back.applied.join('\n'));
  assert.ok(back.applied.includes('module limits: new options in force'), back.applied.join('\n'));
  assert.match(back.needsRestart.join('\n'), /modules\.s2s: options changed, but its options shape the server-to-server streams .*; needs a restart/);
  assert.equal(await http('GET', '/metrics'), 403);
  await allExchange();
});

test('an invalid option value is refused with its key, and the old options stay in force', { timeout: 30_000 }, async () => {
  writeFileSync(file, configText(SECOND));
  assert.equal((await reloader.reload('test')).ok, true);
  assert.equal(await http('GET', '/m2'), 200);
  writeFileSync(file, configText(SECOND.replace('allow_ips = ["127.0.0.1"]', 'allow_ips = ["not-an-ip"]').replace('"2 KiB"', '"8 KiB"')));
  const bad = await reloader.reload('test');
  assert.equal(bad.ok, false);
  assert.match(bad.errors.join('\n'), /modules\.metrics\.allow_ips.*IP address or CIDR range/);
  assert.deepEqual(bad.applied, []);
  assert.equal(await http('GET', '/m2'), 200, 'the allow-list in force is kept');
  assert.equal(await http('POST', '/http-bind', 'x'.repeat(4096)), 413, 'and the body limit in force (nothing of the file applies)');
  assert.deepEqual(server.config.modules.metrics, { allow_ips: ['127.0.0.1'], path: '/m2' });
  await allExchange();
});

function listening(): Promise<NetServer> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

function portOf(s: NetServer): number {
  const a = s.address();
  return typeof a === 'object' && a ? a.port : 0;
}

test('a module without a hook is loaded again; one that fails to load with its new options keeps the old ones', { timeout: 30_000 }, async () => {
  writeFileSync(file, configText(`${SECOND}\n[modules.admin_api]\nrate = 5\n`));
  const again = await reloader.reload('test');
  assert.equal(again.ok, true, again.errors.join('\n'));
  assert.ok(again.applied.includes('module admin_api: loaded again with its new options'), again.applied.join('\n'));
  assert.equal(await http('GET', '/admin/api/v1/openapi.json'), 200, 'the reloaded module serves its routes');

  // A metrics listener of its own on a port that is taken: the change fails, the old options stay.
  const taken = await listening();
  try {
    const onTaken = SECOND.replace('path = "/m2"', `path = "/m2"\nport = ${portOf(taken)}\ninterface = "127.0.0.1"`);
    writeFileSync(file, configText(`${onTaken}\n[modules.admin_api]\nrate = 5\n`));
    const failed = await reloader.reload('test');
    assert.equal(failed.ok, false);
    assert.match(failed.errors.join('\n'), /module metrics: failed to load with its new options \(.*\); the running ones stay in force/);
    assert.deepEqual(server.config.modules.metrics, { allow_ips: ['127.0.0.1'], path: '/m2' });
    assert.equal(await http('GET', '/m2'), 200, 'metrics still served where they were');
  } finally {
    await new Promise<void>((r) => taken.close(() => r()));
  }
  // A free port: the endpoint moves to its own listener.
  const free = await listening();
  const freePort = portOf(free);
  await new Promise<void>((r) => free.close(() => r()));
  writeFileSync(file, configText(`${SECOND.replace('path = "/m2"', `path = "/m2"\nport = ${freePort}\ninterface = "127.0.0.1"`)}\n[modules.admin_api]\nrate = 5\n`));
  const moved = await reloader.reload('test');
  assert.equal(moved.ok, true, moved.errors.join('\n'));
  assert.ok(moved.applied.includes('module metrics: loaded again with its new options'), moved.applied.join('\n'));
  assert.equal(await http('GET', '/m2', undefined, freePort), 200);
  assert.equal(await http('GET', '/m2'), 404, 'no longer on the HTTP listeners');
  await allExchange();
});

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

test('new [c2s] ports are rebound live: established clients stay, new ones use the new port, the old one is closed', { timeout: 60_000 }, async () => {
  const inForce = readFileSync(file, 'utf8');
  const c2sLine = '[c2s]\ninterfaces = ["127.0.0.1"]\nports = [0]\n';
  assert.ok(inForce.includes(c2sLine));
  const oldPort = server.port('c2s');
  const probe = await listening();
  const newPort = portOf(probe);
  await new Promise<void>((r) => probe.close(() => r()));

  writeFileSync(file, inForce.replace(c2sLine, `[c2s]\ninterfaces = ["127.0.0.1"]\nports = [${newPort}]\n`));
  const moved = await reloader.reload('test');
  assert.equal(moved.ok, true, moved.errors.join('\n'));
  assert.ok(moved.applied.includes(`c2s: listeners rebound (c2s 127.0.0.1:${newPort}); established streams stay`), moved.applied.join('\n'));
  assert.equal(server.port('c2s'), newPort);
  await allExchange();
  const fresh = await loadLogin({ port: newPort, username: 'u0', password: PASSWORD, resource: 'after-rebind' });
  fresh.close();
  assert.equal(await refused(oldPort), true, 'the old port no longer accepts');

  // Another [c2s] key in the same change: the whole table waits for a restart.
  writeFileSync(file, inForce.replace(c2sLine, `[c2s]\ninterfaces = ["127.0.0.1"]\nports = [${oldPort}]\nauth_timeout = "20s"\n`));
  const mixed = await reloader.reload('test');
  assert.match(mixed.needsRestart.join('\n'), /c2s: changed; needs a restart \(only interfaces, ports, direct_tls_ports are applied live; the running value is kept\)/);
  assert.equal(server.port('c2s'), newPort);

  // A port that is taken: refused, the listener in force stays.
  const taken = await listening();
  try {
    writeFileSync(file, inForce.replace(c2sLine, `[c2s]\ninterfaces = ["127.0.0.1"]\nports = [${portOf(taken)}]\n`));
    const clash = await reloader.reload('test');
    assert.equal(clash.ok, false);
    assert.match(clash.errors.join('\n'), /c2s: the new listeners could not be opened \(.*\); the running ones stay/);
    assert.equal(server.port('c2s'), newPort);
    assert.deepEqual(server.config.c2s.ports, [newPort]);
  } finally {
    await new Promise<void>((r) => taken.close(() => r()));
  }
  const again = await loadLogin({ port: newPort, username: 'u1', password: PASSWORD, resource: 'still' });
  again.close();
  await allExchange();
});
