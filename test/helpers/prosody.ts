/**
 * A real Prosody (Debian package, 0.12) for interop tests: a temp dir with config, data, log and
 * pid; c2s and s2s on free 127.0.0.1 ports; `prosody -F` as a child; stopped by its PID.
 *
 * Name resolution: Prosody 0.12 resolves through libunbound, which ignores /etc/hosts; the config
 * gives it a hosts file of its own (`unbound = { hoststxt = …; resolvconf = false }`) that maps
 * the peer domains to loopback addresses. Prosody has no per-domain port override, so it always
 * dials 5269 there: the peer must listen on <its address>:5269 (a loopback address only the test
 * uses, e.g. 127.0.0.77, keeps that from colliding with anything else).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopChild, whenPeerReady } from './peer.js';

export const PROSODY_BIN = '/usr/bin/prosody';
export const PROSODYCTL_BIN = '/usr/bin/prosodyctl';

/** Why Prosody cannot be used here, or undefined when it can. */
export function prosodyMissing(): string | undefined {
  if (!existsSync(PROSODY_BIN)) return `${PROSODY_BIN} not found`;
  if (!existsSync(PROSODYCTL_BIN)) return `${PROSODYCTL_BIN} not found`;
  return undefined;
}

export interface ProsodyOptions {
  /** The VirtualHost Prosody serves. */
  domain: string;
  /** Certificate and key (PEM files) for `domain`. */
  certificate: string;
  key: string;
  /** Trusted CAs for s2s certificate checks (Prosody `ssl.cafile`); with it, SASL EXTERNAL is possible. */
  caFile?: string;
  /** Domain → IPv4 address for Prosody's resolver (its own hosts file). */
  hosts: Record<string, string>;
  /** `s2s_secure_auth`: require valid certificates (no dialback). Default false. */
  secureAuth?: boolean;
  /** Accounts to create: user → password. */
  accounts?: Record<string, string>;
  /** Enable Prosody's mod_s2s_bidi (XEP-0288; in 0.12 it ships but is not loaded unless enabled); default false. */
  bidi?: boolean;
  /** Prosody log level written to prosody.log (default "debug": it is the first thing to read on failure). */
  logLevel?: 'debug' | 'info' | 'warn';
  /** More modules for `modules_enabled` (e.g. "vcard_legacy", "mam"). */
  extraModules?: string[];
  /** Lua lines for the global section, after the defaults (a later `storage = …` wins). */
  globalConfig?: string;
  /** Lua lines after the VirtualHost (e.g. `Component "conference.x" "muc"`). */
  trailingConfig?: string;
  /** Where Prosody keeps its data; default a `data` dir inside the temp dir. Outside it, it outlives `stop()`. */
  dataPath?: string;
}

export interface RunningProsody {
  dir: string;
  domain: string;
  c2sPort: number;
  s2sPort: number;
  pid: number;
  /** The tail of Prosody's log, for failure messages. */
  logTail(chars?: number): string;
  stop(): Promise<void>;
}

/** A Lua string literal. */
function lua(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** A currently free TCP port on 127.0.0.1 (bound and released; the tiny race is acceptable in tests). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** True when nothing is listening on host:port and we may bind it. */
export async function portBindable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

async function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function configLua(dir: string, opts: ProsodyOptions, c2sPort: number, s2sPort: number): string {
  const ssl = [`certificate = ${lua(opts.certificate)}`, `key = ${lua(opts.key)}`];
  if (opts.caFile !== undefined) ssl.push(`cafile = ${lua(opts.caFile)}`);
  return `-- Written by test/helpers/prosody.ts
daemonize = false
run_as_root = true
pidfile = ${lua(join(dir, 'prosody.pid'))}
data_path = ${lua(opts.dataPath ?? join(dir, 'data'))}
interfaces = { "127.0.0.1" }
c2s_ports = { ${c2sPort} }
c2s_direct_tls_ports = {}
s2s_ports = { ${s2sPort} }
s2s_direct_tls_ports = {}
http_ports = {}
https_ports = {}
modules_enabled = { "roster", "saslauth", "tls", "dialback", "disco", "ping", "presence", "message"${opts.bidi === true ? ', "s2s_bidi"' : ''}${(opts.extraModules ?? []).map((m) => `, ${lua(m)}`).join('')} }
modules_disabled = { ${opts.bidi === true ? '' : '"s2s_bidi"'} }
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = ${opts.secureAuth === true ? 'true' : 'false'}
authentication = "internal_hashed"
storage = "internal"
-- libunbound ignores /etc/hosts: give it our own, and no upstream resolvers at all.
unbound = { hoststxt = ${lua(join(dir, 'hosts'))}; resolvconf = false }
log = { { levels = { min = ${lua(opts.logLevel ?? 'debug')} }, to = "file", filename = ${lua(join(dir, 'prosody.log'))} } }
ssl = { ${ssl.join('; ')} }
${opts.globalConfig ?? ''}

VirtualHost ${lua(opts.domain)}
  ssl = { ${ssl.join('; ')} }
${opts.trailingConfig ?? ''}
`;
}

function register(configFile: string, domain: string, user: string, password: string): void {
  const r = spawnSync(PROSODYCTL_BIN, ['--config', configFile, 'register', user, domain, password], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`prosodyctl register ${user}@${domain} failed (${r.status ?? r.signal}): ${r.stdout}${r.stderr}`);
}


/** Start Prosody and wait until its c2s and s2s ports accept connections. */
export async function startProsody(opts: ProsodyOptions): Promise<RunningProsody> {
  const dir = mkdtempSync(join(tmpdir(), 'canto-prosody-'));
  mkdirSync(opts.dataPath ?? join(dir, 'data'), { recursive: true });
  const c2sPort = await freePort();
  const s2sPort = await freePort();
  const hostsLines = Object.entries(opts.hosts).map(([name, ip]) => `${ip} ${name}`);
  writeFileSync(join(dir, 'hosts'), `${hostsLines.join('\n')}\n`);
  const configFile = join(dir, 'prosody.cfg.lua');
  writeFileSync(configFile, configLua(dir, opts, c2sPort, s2sPort));
  for (const [user, password] of Object.entries(opts.accounts ?? {})) register(configFile, opts.domain, user, password);

  const out = createWriteStream(join(dir, 'stdout.log'));
  const child = spawn(PROSODY_BIN, ['-F', '--config', configFile], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const logTail = (chars = 4000): string =>
    ['stdout.log', 'prosody.log']
      .map((f) => join(dir, f))
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f, 'utf8').slice(-chars))
      .join('\n');
  const stop = async (): Promise<void> => {
    await stopChild(child, 5000);
    if (!process.env.CANTO_KEEP_PROSODY) rmSync(dir, { recursive: true, force: true });
  };
  const pid = await whenPeerReady('Prosody', child, async () => (await accepting(c2sPort)) && (await accepting(s2sPort)), 20, { logTail: () => logTail(2000), stop });
  return { dir, domain: opts.domain, c2sPort, s2sPort, pid, logTail, stop };
}
