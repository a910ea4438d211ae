/**
 * Live reload (issue 19, item 5): the booted server started from a configuration file, 100 logged-in
 * clients (the lean load client: STARTTLS, SCRAM, bind) that stay connected and still exchange
 * messages while `canto reload` (the real command, a child process, over the admin socket) enables a
 * module (its disco feature appears), changes a module's options, replaces the certificate (a new
 * TLS connection sees the new fingerprint) and changes the log level; a certificate renewed on disk
 * (as certbot does) is installed by the file watcher; an invalid file (TOML syntax, a bad value) is
 * refused with its line and key and the old configuration stays in force; a host added (a client
 * logs in to it) and removed (its client is closed with host-gone); a change that needs a restart is
 * reported and not applied. Then `canto start` as a child process reloads on SIGHUP.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootServer } from '../../src/app/boot.js';
import { loadConfig } from '../../src/app/config.js';
import { Reloader } from '../../src/app/reload.js';
import type { Server } from '../../src/core/server.js';
import { testLogger, tempDir, waitFor } from '../../src/testing/index.js';
import { makeSelfSigned } from '../../src/net/certificates.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { loadLogin, pool, type LoadClient } from '../helpers/load-client.js';
import { CANTO_BIN, runCanto } from '../helpers/cli.js';

const CLIENTS = 100;
const PASSWORD = 'reload-test-password';
const EXTRA = 'extra.localhost';

interface ConfigShape {
  logLevel?: string;
  modules?: string[];
  extra?: string;
  /** Certificate files for localhost (default: the self-signed one made in data_dir). */
  cert?: { certificate: string; key: string };
  /** A second virtual host with its own certificate. */
  extraHost?: { certificate: string; key: string };
}

const BASE_MODULES = ['adminsocket', 'disco', 'ping', 'roster', 'presence', 'message'];

function configText(s: ConfigShape): string {
  const modules = (s.modules ?? BASE_MODULES).map((m) => `"${m}"`).join(', ');
  const localhost = s.cert ? `certificate = "${s.cert.certificate}"\nkey = "${s.cert.key}"\n` : '';
  const extraHost = s.extraHost ? `\n[[virtualhost]]\ndomain = "${EXTRA}"\ncertificate = "${s.extraHost.certificate}"\nkey = "${s.extraHost.key}"\n` : '';
  return (
    `data_dir = "data"\nlog_level = "${s.logLevel ?? 'silent'}"\nmodules_enabled = [${modules}]\n\n[auth]\nscram_iterations = 4096\n\n` +
    `[c2s]\ninterfaces = ["127.0.0.1"]\nports = [0]\ndirect_tls_ports = [0]\n\n[s2s]\nports = []\n\n[component_listener]\nports = []\n\n[http]\nports = []\ntls_ports = []\n` +
    `${s.extra ?? ''}\n[[virtualhost]]\ndomain = "localhost"\n${localhost}${extraHost}`
  );
}

let dir: string;
let file: string;
let server: Server;
let reloader: Reloader;
let port: number;
let clients: LoadClient[] = [];

before(async () => {
  dir = tempDir('canto-reload-');
  file = join(dir, 'canto.toml');
  writeFileSync(file, configText({}));
  const { config } = loadConfig(file);
  server = await bootServer({ config, log: testLogger(config) });
  reloader = new Reloader(server, file, server.log, { certificatePollMs: 50, certificateSettleMs: 100 }).start();
  port = server.port('c2s');
  for (let i = 0; i < CLIENTS; i++) await server.storage.accounts.create('localhost', `u${i}`, makeCredentials(PASSWORD, { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }));
  clients = await pool(CLIENTS, 20, (i) => loadLogin({ port, username: `u${i}`, password: PASSWORD, resource: 'r' }));
});

after(async () => {
  for (const c of clients) c.close();
  reloader.close();
  await server.stop('test finished', 500);
  rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
/** Every client is still connected and can send a message that the next one receives. */
async function allExchange(): Promise<void> {
  const round = ++seq;
  assert.equal(clients.filter((c) => c.closed).length, 0, 'a client was disconnected');
  clients.forEach((c, i) => c.send(`<message to='u${(i + 1) % CLIENTS}@localhost/r' type='chat' id='m${round}-${i}'><body>round ${round}</body></message>`));
  await Promise.all(clients.map((c, i) => c.next(new RegExp(`<message[^>]*id=["']m${round}-${(i + CLIENTS - 1) % CLIENTS}["']`))));
}

async function discoFeatures(c: LoadClient, to = 'localhost'): Promise<string[]> {
  const id = `disco${++seq}`;
  c.send(`<iq type='get' to='${to}' id='${id}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
  const m = await c.next(new RegExp(`<iq[^>]*id=["']${id}["'][\\s\\S]*?</iq>`));
  return [...m[0].matchAll(/<feature var=["']([^"']+)["']/g)].map((f) => f[1] ?? '');
}

async function versionReply(c: LoadClient): Promise<string> {
  const id = `v${++seq}`;
  c.send(`<iq type='get' to='localhost' id='${id}'><query xmlns='jabber:iq:version'/></iq>`);
  return (await c.next(new RegExp(`<iq[^>]*id=["']${id}["'](?:[^>]*/>|[\\s\\S]*?</iq>)`)))[0];
}

/** The SHA-256 fingerprint of the certificate a new STARTTLS connection is given. */
async function servedFingerprint(): Promise<string> {
  const c = await loadLogin({ port, username: 'u0', password: PASSWORD, resource: `probe${++seq}` });
  try {
    return (c.socket as TLSSocket).getPeerCertificate().fingerprint256;
  } finally {
    c.close();
  }
}

/** The fingerprint a direct TLS client that sends no SNI is given (the listener's default certificate). */
function noSniFingerprint(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ port: server.port('c2s_direct_tls'), host: '127.0.0.1', rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fingerprint);
    });
    socket.once('error', reject);
  });
}

function fingerprintOf(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}

async function newCert(name: string, domain = 'localhost'): Promise<{ certificate: string; key: string }> {
  const paths = { certificate: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  await makeSelfSigned(domain, paths);
  return paths;
}

async function cliReload(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCanto(['reload', '--config', file]);
}

test('100 clients stay connected while canto reload adds a module, changes its options, replaces the certificate and the log level', { timeout: 120_000 }, async () => {
  await allExchange();
  const first = clients[0] as LoadClient;
  assert.ok(!(await discoFeatures(first)).includes('jabber:iq:version'));
  const cert = await newCert('second');
  assert.notEqual(await servedFingerprint(), fingerprintOf(cert.certificate));

  writeFileSync(file, configText({ modules: [...BASE_MODULES, 'version'], logLevel: 'error', cert }));
  const r = await cliReload();
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^Configuration reloaded: \d+ changes applied/);
  assert.match(r.stdout, /applied: log_level: silent → error/);
  assert.match(r.stdout, /applied: module version on localhost: loaded/);
  assert.match(r.stdout, /applied: host localhost: certificate installed from .*second\.crt/);
  assert.equal(server.log.level, 'error');
  assert.ok((await discoFeatures(first)).includes('jabber:iq:version'), 'the enabled module advertises its feature');
  assert.match(await versionReply(first), /<version>/);
  assert.equal(await servedFingerprint(), fingerprintOf(cert.certificate), 'a new TLS connection sees the new certificate');
  assert.equal(await noSniFingerprint(), fingerprintOf(cert.certificate), 'a direct TLS client without SNI too');
  await allExchange();

  // Options of a loaded module: it is loaded again with them.
  writeFileSync(file, configText({ modules: [...BASE_MODULES, 'version'], logLevel: 'error', cert, extra: '\n[modules.version]\nhide_version = true\n' }));
  const o = await cliReload();
  assert.equal(o.code, 0, o.stdout + o.stderr);
  assert.match(o.stdout, /applied: module version on localhost: loaded again with its new options/);
  assert.doesNotMatch(await versionReply(first), /<version>/);
  await allExchange();

  const metrics = await server.metrics.render();
  assert.match(metrics, /canto_config_reloads_total\{result="ok"\} 2/);
});

test('a certificate renewed on disk (certbot) is installed without a reload; a half-written pair is not', { timeout: 60_000 }, async () => {
  const cert = { certificate: join(dir, 'second.crt'), key: join(dir, 'second.key') };
  const before = await servedFingerprint();
  // A key that does not match the certificate (renewal caught between its two writes): kept.
  const other = await newCert('third');
  writeFileSync(cert.key, readFileSync(other.key));
  await waitFor(async () => /canto_certificate_reloads_total\{result="failed"\} [1-9]/.test(await server.metrics.render()), { timeoutMs: 10_000, message: 'the mismatched pair was not looked at' });
  assert.equal(await servedFingerprint(), before);
  writeFileSync(cert.certificate, readFileSync(other.certificate));
  const renewed = fingerprintOf(other.certificate);
  await waitFor(async () => (await servedFingerprint()) === renewed, { timeoutMs: 10_000, intervalMs: 200, message: 'the renewed certificate was not installed' });
  assert.equal(await noSniFingerprint(), renewed);
  await allExchange();
});

test('an invalid configuration is refused with its line and key, and the old one stays in force', { timeout: 60_000 }, async () => {
  const valid = readFileSync(file, 'utf8');
  const first = clients[0] as LoadClient;
  // TOML syntax error: the CLI itself refuses it and does not ask the server.
  writeFileSync(file, valid.replace('[modules.version]', '[modules.version'));
  const syntax = await cliReload();
  assert.equal(syntax.code, 78, syntax.stdout + syntax.stderr);
  assert.match(syntax.stderr, /canto\.toml, line \d+, column \d+: TOML syntax error/);
  assert.match(syntax.stderr, /not asked to reload: its configuration stays in force/);
  // The server, asked directly (as SIGHUP does), refuses it too.
  const direct = await reloader.reload('test');
  assert.equal(direct.ok, false);
  assert.match(direct.errors.join('\n'), /line \d+, column \d+: TOML syntax error/);
  // A value of the wrong kind, with a module dropped in the same file: nothing of it applies.
  writeFileSync(file, valid.replace('log_level = "error"', 'log_level = "loud"').replace(', "version"', ''));
  const bad = await reloader.reload('test');
  assert.equal(bad.ok, false);
  assert.match(bad.errors.join('\n'), /line 2: log_level: expected one of .*got "loud"/);
  assert.deepEqual(bad.applied, []);
  assert.equal(server.log.level, 'error');
  assert.ok(server.hosts.get('localhost')?.modules.has('version'), 'the module is still loaded');
  assert.match(await versionReply(first), /service-unavailable/, 'with the options in force (hide_version)');
  assert.match(await server.metrics.render(), /canto_config_reloads_total\{result="failed"\} 2/);
  // A certificate that does not exist: refused as a whole as well.
  writeFileSync(file, valid.replace(/second\.crt/, 'missing.crt').replace(', "version"', ''));
  const missing = await cliReload();
  assert.equal(missing.code, 1, missing.stdout + missing.stderr);
  assert.match(missing.stdout, /Configuration refused: the running configuration stays in force\.\n {2}localhost: cannot read certificate .*missing\.crt/);
  assert.ok(server.hosts.get('localhost')?.modules.has('version'));
  writeFileSync(file, valid);
  await allExchange();
});

test('a host added can be logged in to; removed, its client is closed with host-gone; restart-only keys are reported and kept', { timeout: 60_000 }, async () => {
  const valid = readFileSync(file, 'utf8');
  const extraCert = await newCert('extra', EXTRA);
  const cert = { certificate: join(dir, 'second.crt'), key: join(dir, 'second.key') };
  const shape: ConfigShape = { modules: [...BASE_MODULES, 'version'], logLevel: 'error', cert, extra: '\n[modules.version]\nhide_version = true\n' };
  assert.equal(configText(shape), valid, 'the test rebuilds the file in force');
  writeFileSync(file, configText({ ...shape, extraHost: extraCert }));
  const added = await cliReload();
  assert.equal(added.code, 0, added.stdout + added.stderr);
  assert.match(added.stdout, /applied: host extra\.localhost: added/);
  await server.storage.accounts.create(EXTRA, 'visitor', makeCredentials(PASSWORD, { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }));
  const visitor = await loadLogin({ port, username: 'visitor', password: PASSWORD, domain: EXTRA });
  assert.equal((visitor.socket as TLSSocket).getPeerCertificate().fingerprint256, fingerprintOf(extraCert.certificate));
  assert.match(visitor.jid, /^visitor@extra\.localhost\//);
  assert.ok((await discoFeatures(visitor, EXTRA)).includes('urn:xmpp:ping'), 'the added host has its modules');

  // Removed, with a change that needs a restart in the same file.
  writeFileSync(file, configText({ ...shape, extra: `${shape.extra ?? ''}\n[limits]\nmax_stanza_size = "512 KiB"\n` }));
  const removed = await cliReload();
  assert.equal(removed.code, 0, removed.stdout + removed.stderr);
  assert.match(removed.stdout, /applied: host extra\.localhost: removed \(1 stream closed with host-gone\)/);
  assert.match(removed.stdout, /needs restart \(not applied\): limits: changed; needs a restart/);
  await visitor.next(/<stream:error><host-gone xmlns=["']urn:ietf:params:xml:ns:xmpp-streams["']\/>/);
  await visitor.waitClosed();
  assert.equal(server.config.limits.max_stanza_size, 256 * 1024, 'the running value is kept');
  assert.ok(!server.hosts.has(EXTRA));
  await assert.rejects(loadLogin({ port, username: 'visitor', password: PASSWORD, domain: EXTRA }), /host-unknown|closed/);
  writeFileSync(file, valid);
  const back = await cliReload();
  assert.equal(back.code, 0, back.stdout + back.stderr);
  await allExchange();
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

test('canto start reloads on SIGHUP and on canto reload, logging each change', { timeout: 60_000 }, async () => {
  const home = tempDir('canto-reload-start-');
  const cfg = join(home, 'canto.toml');
  mkdirSync(join(home, 'data'));
  const c2s = await freePort();
  const text = (s: ConfigShape) => configText(s).replace('ports = [0]', `ports = [${c2s}]`);
  writeFileSync(cfg, text({ logLevel: 'info' }));
  const add = await runCanto(['adduser', 'watcher@localhost', '--password', PASSWORD, '--config', cfg]);
  assert.equal(add.code, 0, add.stderr);
  const child = spawn(process.execPath, [CANTO_BIN, 'start', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  try {
    await waitFor(() => /server started/.test(out), { timeoutMs: 15_000, message: () => `not started: ${out}` });
    const watcher = await loadLogin({ port: c2s, username: 'watcher', password: PASSWORD });

    writeFileSync(cfg, text({ logLevel: 'info', modules: [...BASE_MODULES, 'version'] }));
    child.kill('SIGHUP');
    await waitFor(() => /reload: module version on localhost: loaded/.test(out), { timeoutMs: 15_000, message: () => `no reload logged: ${out}` });
    assert.match(out, /reloading the configuration/);

    writeFileSync(cfg, text({ logLevel: 'info', modules: [...BASE_MODULES, 'version'] }).replace('[s2s]\nports = []', '[s2s]\nports = [0]'));
    child.kill('SIGHUP');
    await waitFor(() => /reload: s2s: changed; needs a restart/.test(out), { timeoutMs: 15_000, message: () => `no restart warning logged: ${out}` });

    writeFileSync(cfg, text({ logLevel: 'info', modules: [...BASE_MODULES, 'version'] }).replace('log_level = "info"', 'log_level = "nope"'));
    child.kill('SIGHUP');
    await waitFor(() => /configuration refused, the running one stays in force/.test(out), { timeoutMs: 15_000, message: () => `no refusal logged: ${out}` });
    assert.match(out, /line 2: log_level: expected one of/);

    writeFileSync(cfg, text({ logLevel: 'info' }));
    const r = await runCanto(['reload', '--config', cfg]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /applied: module version on localhost: unloaded/);
    await waitFor(() => /reload: module version on localhost: unloaded/.test(out), { timeoutMs: 15_000, message: () => `not logged: ${out}` });

    // The stream opened before the reloads is still there.
    watcher.send("<iq type='get' to='localhost' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>");
    await watcher.next(/<iq[^>]*id=["']p1["']/);
    assert.equal(watcher.closed, false);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
  } finally {
    child.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  }
});
