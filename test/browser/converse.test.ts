/**
 * Converse.js (the converse.js npm package) in Debian's headless Chromium logs in to Canto over
 * WebSocket, then over BOSH; each time it receives a chat message from an @xmpp/client user over
 * TCP, and the reply typed into its UI reaches that user.
 *
 * The page and Converse's files come from a small static server on another loopback port, so
 * the page's origin differs from Canto's, with the default `http.cors_origins` (every origin: BOSH
 * answers with CORS headers; issue 12 point 6), as a new operator's set-up would be. All
 * other network access is blocked and asserted absent. Without chromium the test fails in CI
 * (CI set) and skips elsewhere.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient } from '../helpers/xmpp-client.js';
import { chromiumPath, launchBrowser, serveStatic, type StaticSite, type TestBrowser } from '../helpers/browser.js';
import { conversePage } from './converse-page.js';

const CHROMIUM = chromiumPath();
const inCI = Boolean(process.env.CI);
if (!CHROMIUM && inCI) throw new Error('chromium is not installed (run scripts/install-test-deps.sh); the browser test cannot run');
const skip = CHROMIUM ? false : 'chromium not installed (scripts/install-test-deps.sh installs it); skipping the Converse.js browser test';

const CONV = { user: 'conv', password: 'conv-pass', jid: 'conv@localhost' };
const FRIEND = { user: 'friend', password: 'friend-pass' };
const ASSETS = '/dist/';
const SPONSOR_LOGOS = /^https:\/\/conversejs\.org\/media\/logos\/[\w.-]+$/;

let ts: TestServer | undefined;
let site: StaticSite | undefined;
let friend: LoggedInClient | undefined;
const browsers: TestBrowser[] = [];
/** Per-test pages served by the static server (mutable: the site is started once). */
const pages: Record<string, { type: string; body: string }> = {};

before(async () => {
  if (!CHROMIUM) return;
  const converseDist = dirname(createRequire(import.meta.url).resolve('converse.js/dist/converse.min.js'));
  // The page's origin is known only once the static server listens; its pages are filled in per test.
  site = await serveStatic(pages, [[ASSETS, converseDist]]);
  ts = await startTestServer((c) => {
    c.http.ports = [0];
    c.modules_enabled.push('websocket', 'bosh');
    c.c2s.require_encryption = false; // plain ws/http on loopback
    // http.cors_origins left at its default: the page's origin is not listed anywhere.
  });
  await createAccount(ts, CONV.user, CONV.password);
  await createAccount(ts, FRIEND.user, FRIEND.password);
  friend = await loginClient(ts, FRIEND.user, FRIEND.password, 'desk');
  // Available presence, as a real client would send.
  await friend.send(xml('presence'));
});

after(async () => {
  // Browsers first: they hold connections to both servers.
  for (const b of browsers.splice(0)) await b.close();
  await friend?.stop();
  await site?.close();
  await ts?.stop();
});

test('Converse.js logs in over WebSocket, receives a message and sends a reply', { skip, timeout: 45_000 }, async () => {
  const t = need();
  pages['/ws.html'] = {
    type: 'text/html; charset=utf-8',
    body: conversePage({ assetsPath: ASSETS, jid: CONV.jid, password: CONV.password, websocketUrl: `ws://127.0.0.1:${t.ts.server.port('http')}/xmpp-websocket` }),
  };
  await chatRoundTrip(t, '/ws.html', 'websocket');
});

test('Converse.js logs in over BOSH, receives a message and sends a reply', { skip, timeout: 45_000 }, async () => {
  const t = need();
  const boshUrl = `http://127.0.0.1:${t.ts.server.port('http')}/http-bind`;
  // Say clearly when BOSH itself is missing, rather than failing later in the browser.
  const probe = await fetch(boshUrl, { method: 'OPTIONS', headers: { origin: t.site.url, 'access-control-request-method': 'POST' } }).catch((e: unknown) => e as Error);
  if (probe instanceof Error || probe.status === 404) {
    assert.fail(`BOSH is not served at ${boshUrl} (${probe instanceof Error ? probe.message : 'HTTP 404'}): the bosh module is not working yet`);
  }
  pages['/bosh.html'] = {
    type: 'text/html; charset=utf-8',
    body: conversePage({ assetsPath: ASSETS, jid: CONV.jid, password: CONV.password, boshUrl }),
  };
  await chatRoundTrip(t, '/bosh.html', 'bosh');
});

interface Ready {
  ts: TestServer;
  site: StaticSite;
  friend: LoggedInClient;
  chromium: string;
}

function need(): Ready {
  assert.ok(ts && site && friend && CHROMIUM, 'set-up did not complete');
  return { ts, site, friend, chromium: CHROMIUM };
}

/**
 * Open the page, wait until Converse's session is bound and available over `transport`, have
 * the friend send it a message, wait for it in the UI, type a reply and check the friend gets it.
 */
async function chatRoundTrip(t: Ready, pagePath: string, transport: 'websocket' | 'bosh'): Promise<void> {
  const browser = await launchBrowser(t.chromium);
  browsers.push(browser);
  const { page } = browser;
  try {
    await page.goto(t.site.url + pagePath, { waitUntil: 'load', timeout: 15_000 });

    const session = await waitUntil(
      () => [...t.ts.server.sessions.all].find((s) => s.type === 'c2s' && s.username === CONV.user && s.conn.transport === transport && s.presence !== undefined),
      20_000,
      async () => `Converse did not log in over ${transport} and send presence; page error: ${String(await page.evaluate(() => (globalThis as { conversePageError?: unknown }).conversePageError).catch(() => '?'))}`,
    );
    assert.equal(session.type, 'c2s');
    const convFullJid = session.fullJid;
    assert.ok(convFullJid, 'bound session has a full JID');

    const text = `hello over ${transport} ${Math.random().toString(36).slice(2, 8)}`;
    await t.friend.send(xml('message', { to: CONV.jid, type: 'chat', id: `to-${transport}` }, xml('body', {}, text)));
    await openChatShowing(page, text);

    const reply = `reply over ${transport} ${Math.random().toString(36).slice(2, 8)}`;
    const textarea = page.locator('textarea.chat-textarea').filter({ visible: true }).first();
    await textarea.click({ timeout: 10_000 });
    await textarea.fill(reply);
    await textarea.press('Enter');

    const got = await t.friend.waitFor((s) => s.is('message') && s.getChildText('body') === reply, 10_000);
    assert.equal(got.attrs.from, convFullJid);
    assert.equal(got.attrs.type, 'chat');

    // Everything off loopback was aborted; the only attempts allowed are the sponsor logos that
    // Converse's fullscreen footer always renders (no setting turns them off).
    const unexpected = browser.blocked.filter((u) => !SPONSOR_LOGOS.test(u));
    assert.deepEqual(unexpected, [], 'the page must try to fetch nothing outside loopback');
  } catch (err) {
    const shot = await browser.screenshot(`converse-${transport}`);
    const tail = browser.consoleLines.slice(-40).join('\n');
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`${message}\nscreenshot: ${shot ?? '(could not take one)'}\nlast browser console lines:\n${tail}`, { cause: err });
  } finally {
    await browser.close();
  }
}

/**
 * Wait for the incoming message's text in the UI. In fullscreen mode a chat opened by an
 * incoming message may not be the one shown; then open it from the list of chats.
 */
async function openChatShowing(page: TestBrowser['page'], text: string): Promise<void> {
  const shown = page.locator('.chat-msg__text', { hasText: text }).filter({ visible: true });
  const deadline = Date.now() + 15_000;
  let clicked = false;
  while (Date.now() < deadline) {
    if ((await shown.count()) > 0) return;
    if (!clicked) {
      const entry = page.locator('a.open-chat', { hasText: 'friend' }).filter({ visible: true }).first();
      if ((await entry.count()) > 0) {
        await entry.click().catch(() => {});
        clicked = true;
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the message "${text}" did not appear in Converse's UI`);
}

async function waitUntil<T>(probe: () => T | undefined, ms: number, describe: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(await describe());
    await new Promise((r) => setTimeout(r, 100));
  }
}
