/**
 * Browser tests: Debian's headless Chromium driven by playwright-core (which never downloads a
 * browser of its own here: we always pass `executablePath`), plus a tiny static file server for
 * the page under test.
 *
 *   const chromium = chromiumPath();            // undefined when not installed
 *   const site = await serveStatic({ '/': { type: 'text/html', body: html } }, [['/dist/', dir]]);
 *   const b = await launchBrowser(chromium!);   // fresh profile, loopback-only network
 *   await b.page.goto(site.url + '/');
 *   ...
 *   await b.close();                            // also removes the profile
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Flags headless Chromium needs in containers and CI (no sandbox, no GPU, no phoning home). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Debian's chromium (or $CHROMIUM_PATH), if installed. */
export function chromiumPath(): string | undefined {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p): p is string => p !== undefined && p !== '' && existsSync(p));
}

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** URLs the page tried to reach that were not on loopback (they were aborted). */
  blocked: string[];
  /** The page's console output, newest last (bounded). */
  consoleLines: string[];
  /** Save a full-page screenshot into a temporary file and return its path (undefined if that failed). */
  screenshot(label: string): Promise<string | undefined>;
  /** Close the browser and remove its profile. Safe to call twice. */
  close(): Promise<void>;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const MAX_CONSOLE_LINES = 400;

/**
 * Launch headless Chromium with a fresh profile. Every request that is not to a loopback
 * address (or a data:/blob: URL) is aborted and recorded in `blocked`, so a test can assert the
 * page fetched nothing from the internet.
 */
export async function launchBrowser(executablePath: string, opts: { extraArgs?: string[] } = {}): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'canto-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: [...CHROMIUM_ARGS, ...(opts.extraArgs ?? [])],
      viewport: { width: 1280, height: 900 },
      timeout: 30_000,
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  const blocked: string[] = [];
  const consoleLines: string[] = [];
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (isLocal(url)) await route.continue();
    else {
      blocked.push(url);
      await route.abort('blockedbyclient');
    }
  });
  // WebSocket connections bypass context.route(); check them separately.
  await context.routeWebSocket(/.*/, (ws) => {
    if (isLocal(ws.url())) ws.connectToServer();
    else {
      blocked.push(ws.url());
      void ws.close({ code: 1008, reason: 'blocked by test' });
    }
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (msg) => {
    consoleLines.push(`[${msg.type()}] ${msg.text()}`);
    if (consoleLines.length > MAX_CONSOLE_LINES) consoleLines.shift();
  });
  page.on('pageerror', (err) => consoleLines.push(`[pageerror] ${err.message}`));
  let closed = false;
  return {
    context,
    page,
    blocked,
    consoleLines,
    async screenshot(label) {
      const file = join(mkdtempSync(join(tmpdir(), 'canto-shot-')), `${label.replace(/[^\w.-]+/g, '_')}.png`);
      try {
        await page.screenshot({ path: file, fullPage: true, timeout: 5000 });
        return file;
      } catch {
        return undefined;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

function isLocal(url: string): boolean {
  if (url.startsWith('data:') || url.startsWith('blob:') || url === 'about:blank') return true;
  try {
    return LOOPBACK_HOSTS.has(new URL(url).hostname);
  } catch {
    return false;
  }
}

export interface StaticPage {
  type: string;
  body: string;
}

export interface StaticSite {
  /** e.g. "http://127.0.0.1:40123" (also the page's Origin). */
  url: string;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.map': 'application/json',
};

/**
 * Serve fixed pages (exact paths) and directories (URL prefix → directory on disk) on
 * 127.0.0.1, on a free port. GET/HEAD only; paths cannot leave their directory.
 */
export async function serveStatic(pages: Record<string, StaticPage>, dirs: Array<[prefix: string, dir: string]> = []): Promise<StaticSite> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405).end();
        return;
      }
      const page = pages[path];
      if (page) {
        res.writeHead(200, { 'content-type': page.type, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : page.body);
        return;
      }
      for (const [prefix, dir] of dirs) {
        if (!path.startsWith(prefix)) continue;
        const root = normalize(dir + sep);
        const file = normalize(join(root, path.slice(prefix.length)));
        if (!file.startsWith(root)) break;
        try {
          const data = await readFile(file);
          res.writeHead(200, { 'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' }).end(req.method === 'HEAD' ? undefined : data);
        } catch {
          res.writeHead(404).end();
        }
        return;
      }
      res.writeHead(404).end();
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
