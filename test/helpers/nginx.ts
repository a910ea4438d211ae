/**
 * A real nginx (the Debian package) in front of a test server, running the documented site
 * config `docs/nginx-canto.conf` with only its listen port, upstream port and certificate paths
 * rewritten. nginx runs in the foreground (`daemon off`) as our child, with its pid, logs and
 * temp files in a private temp dir, and is stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './server.js';

/** The site config the web-client guide shows (and includes verbatim). */
export const NGINX_DOC_CONF = fileURLToPath(new URL('../../../docs/nginx-canto.conf', import.meta.url));
export const WEB_CLIENTS_DOC = fileURLToPath(new URL('../../../docs/web-clients.md', import.meta.url));

/** The nginx binary: $NGINX, else `nginx` on PATH, else Debian's /usr/sbin/nginx (not on a user's PATH). */
export function findNginx(): string | undefined {
  const candidates = [process.env.NGINX, ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'nginx')), '/usr/sbin/nginx'];
  for (const c of candidates) {
    if (c === undefined || c === '' || c === 'nginx') continue;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here; try the next one
    }
  }
  return undefined;
}

export interface SiteOptions {
  /** Where nginx listens (on 127.0.0.1, TLS). */
  listenPort: number;
  /** Canto's plain HTTP port on 127.0.0.1. */
  upstreamPort: number;
  certificate: string;
  key: string;
}

/**
 * The documented server block adapted to the test. Each rewrite must match exactly, so an edit
 * to the docs that removes a line the test depends on fails loudly instead of testing something
 * else.
 */
export function siteConfigFromDocs(template: string, opts: SiteOptions): string {
  const rewrites: Array<[from: string, to: string]> = [
    ['    listen 443 ssl;\n', `    listen 127.0.0.1:${opts.listenPort} ssl;\n`],
    // The IPv6 listener is dropped: CI containers do not always have ::1.
    ['    listen [::]:443 ssl;\n', ''],
    ['/etc/letsencrypt/live/chat.example.com/fullchain.pem;', `${opts.certificate};`],
    ['/etc/letsencrypt/live/chat.example.com/privkey.pem;', `${opts.key};`],
  ];
  let conf = template;
  for (const [from, to] of rewrites) {
    if (!conf.includes(from)) throw new Error(`docs/nginx-canto.conf no longer contains ${JSON.stringify(from)}`);
    conf = conf.split(from).join(to);
  }
  const upstream = 'proxy_pass http://127.0.0.1:5280;';
  if (!conf.includes(upstream)) throw new Error(`docs/nginx-canto.conf no longer contains ${JSON.stringify(upstream)}`);
  return conf.split(upstream).join(`proxy_pass http://127.0.0.1:${opts.upstreamPort};`);
}

/** The main config around a site: everything nginx writes goes under `dir`. */
export function mainConfig(dir: string, site: string): string {
  const p = (name: string): string => join(dir, name);
  return [
    `pid ${p('nginx.pid')};`,
    `error_log ${p('error.log')} info;`,
    // As root the workers would switch to www-data, which cannot write our 0700 temp dir.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    'worker_processes 1;',
    'events { worker_connections 128; }',
    'http {',
    `    access_log ${p('access.log')};`,
    `    client_body_temp_path ${p('client_body')};`,
    `    proxy_temp_path ${p('proxy')};`,
    `    fastcgi_temp_path ${p('fastcgi')};`,
    `    uwsgi_temp_path ${p('uwsgi')};`,
    `    scgi_temp_path ${p('scgi')};`,
    site,
    '}',
    '',
  ].join('\n');
}

export interface RunningNginx {
  /** The TLS port nginx listens on at 127.0.0.1. */
  port: number;
  pid: number;
  dir: string;
  /** nginx's error log so far (for assertion messages). */
  errorLog(): string;
  stop(): Promise<void>;
}

export interface StartNginxOptions {
  binary: string;
  upstreamPort: number;
  certificate: string;
  key: string;
  /** The site config template; defaults to docs/nginx-canto.conf. */
  template?: string;
}

/** Start nginx on a free loopback port; retried on the rare port race. */
export async function startNginx(opts: StartNginxOptions): Promise<RunningNginx> {
  const template = opts.template ?? readFileSync(NGINX_DOC_CONF, 'utf8');
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = tempDir('canto-nginx-');
    try {
      return await startOnce(opts, template, dir, await freePort());
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      lastError = err;
      if (!/Address already in use/.test(String(err))) break;
    }
  }
  throw lastError;
}

async function startOnce(opts: StartNginxOptions, template: string, dir: string, port: number): Promise<RunningNginx> {
  const site = siteConfigFromDocs(template, { listenPort: port, upstreamPort: opts.upstreamPort, certificate: opts.certificate, key: opts.key });
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub));
  const confPath = join(dir, 'nginx.conf');
  writeFileSync(confPath, mainConfig(dir, site));
  const errorLogPath = join(dir, 'error.log');
  const errorLog = (): string => {
    try {
      return readFileSync(errorLogPath, 'utf8');
    } catch {
      return '';
    }
  };

  // -p/-e keep nginx away from /var/log/nginx and /usr/share/nginx even before it reads the config.
  const child = spawn(opts.binary, ['-p', dir, '-e', errorLogPath, '-c', confPath, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));

  const stop = (): Promise<void> => stopChild(child, exited).finally(() => rmSync(dir, { recursive: true, force: true }));
  try {
    await Promise.race([
      waitListening(port, 10_000),
      spawnError,
      exited.then((code) => {
        throw new Error(`nginx exited (${String(code)}) during start-up: ${output}\n${errorLog()}`);
      }),
    ]);
  } catch (err) {
    await stopChild(child, exited);
    throw err;
  }
  if (child.pid === undefined) throw new Error('nginx has no pid');
  return { port, pid: child.pid, dir, errorLog, stop };
}

/** SIGTERM (fast shutdown: the master stops its workers), SIGKILL if it lingers. Only our child. */
async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  }, 5000);
  await exited;
  clearTimeout(timer);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitListening(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nginx is not listening on 127.0.0.1:${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
