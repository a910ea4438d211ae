/**
 * The admin web console (src/modules/admin_console) in Debian's headless Chromium
 * (playwright-core with executablePath, a fresh profile, loopback only): an admin logs in with
 * the console's form, sees on the dashboard and on the sessions page a session an @xmpp/client
 * client holds, kicks it (the client sees its stream closed), creates an invite (it appears in
 * the list and in storage) and logs out. A page on another origin (a second HTTP server on
 * 127.0.0.1) then auto-submits forms to the console's state-changing URLs while the admin is
 * logged in: they are refused and change nothing. The page never breaks its own CSP.
 *
 * The console is opened at http://localhost:<port>: Chromium treats localhost as a secure
 * context, so the `Secure` cookie is kept over plain HTTP there. Without chromium the test
 * fails in CI (CI set) and skips elsewhere.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, type LoggedInClient } from '../helpers/xmpp-client.js';
import { chromiumPath, launchBrowser, serveStatic, type StaticSite, type TestBrowser } from '../helpers/browser.js';
import type { InvitesService } from '../../src/modules/invites/api.js';

/** The page's document, as far as the functions evaluated in the page use it (no DOM types here). */
declare const document: { getElementById(id: string): { textContent: string | null } | null; cookie: string };

const CHROMIUM = chromiumPath();
if (!CHROMIUM && process.env.CI) throw new Error('chromium is not installed (run scripts/install-test-deps.sh); the browser test cannot run');
const skip = CHROMIUM ? false : 'chromium not installed (scripts/install-test-deps.sh installs it); skipping the admin console browser test';

const ADMIN = { user: 'boss', password: 'boss-pass-1', jid: 'boss@localhost' };
const USER = { user: 'alice', password: 'alice-pass-1' };

let ts: TestServer | undefined;
let browser: TestBrowser | undefined;
let evil: StaticSite | undefined;
const clients: LoggedInClient[] = [];
const evilPages: Record<string, { type: string; body: string }> = {};

before(async () => {
  if (!CHROMIUM) return;
  ts = await startTestServer((c) => {
    c.http.ports = [0];
    c.admins = [ADMIN.jid];
    c.component.push({ domain: 'conference.localhost', module: 'muc' });
  });
  await createAccount(ts, ADMIN.user, ADMIN.password);
  await createAccount(ts, USER.user, USER.password);
  evil = await serveStatic(evilPages);
});

after(async () => {
  await browser?.close();
  for (const c of clients) await c.stop();
  await evil?.close();
  await ts?.stop();
});

/** A page that posts a form to `action` as soon as it loads (what a cross-site attack looks like). */
function autoSubmitPage(action: string, fields: Record<string, string>, enctype = 'application/x-www-form-urlencoded'): string {
  const inputs = Object.entries(fields).map(([k, v]) => `<input type="hidden" name='${k}' value='${v}'>`).join('');
  return `<!DOCTYPE html><html><body><form id="f" method="POST" action="${action}" enctype="${enctype}">${inputs}</form>`
    + '<script>document.getElementById("f").submit()</script></body></html>';
}

test('an admin logs in, sees a live session, kicks it, creates an invite; cross-site posts are refused', { skip, timeout: 90_000 }, async () => {
  assert.ok(ts && evil && CHROMIUM);
  const server = ts;
  const port = server.server.port('http');
  const origin = `http://localhost:${port}`;
  const invites = server.server.hosts.get('localhost')?.services.get('invites') as InvitesService;

  const alice = await loginClient(server, USER.user, USER.password, 'phone');
  clients.push(alice);
  const on = alice.xmpp.on.bind(alice.xmpp) as unknown as (event: string, listener: () => void) => void;
  const closed = new Promise<void>((resolve) => on('disconnect', () => resolve()));

  browser = await launchBrowser(CHROMIUM);
  const page = browser.page;
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
  const failure = async (what: string) => `${what}; status line: ${await page.textContent('#status').catch(() => '?')}; console: ${browser?.consoleLines.slice(-10).join(' | ')}`;

  // ── log in
  const res = await page.goto(`${origin}/admin/`);
  assert.equal(res?.status(), 200);
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 10_000 });
  await page.fill('#login-jid', ADMIN.jid);
  await page.fill('#login-password', 'not-the-password');
  await page.click('#login-submit');
  await page.waitForFunction(() => (document.getElementById('login-error')?.textContent ?? '') !== '', undefined, { timeout: 10_000 });
  assert.match(await page.textContent('#login-error') ?? '', /wrong address or password/);
  await page.fill('#login-password', ADMIN.password);
  await page.click('#login-submit');
  await page.waitForSelector('#nav', { state: 'visible', timeout: 10_000 }).catch(async () => assert.fail(await failure('the console did not open after login')));
  await page.waitForFunction((jid) => document.getElementById('admin-jid')?.textContent === jid, ADMIN.jid, { timeout: 10_000 })
    .catch(async () => assert.fail(await failure(`the console does not name ${ADMIN.jid}: "${await page.textContent('#admin-jid')}"`)));
  const cookies = await browser.context.cookies(`${origin}/admin/`);
  const cookie = cookies.find((c) => c.name === 'canto_admin');
  assert.ok(cookie, 'the session cookie is kept');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.secure, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.path, '/admin');
  assert.equal(await page.evaluate(() => document.cookie), '', 'the page\'s script cannot read it');

  // ── the dashboard shows the live session (and keeps polling)
  await page.waitForFunction(() => document.getElementById('value-sessions')?.textContent === '1', undefined, { timeout: 15_000 })
    .catch(async () => assert.fail(await failure('the dashboard does not show one client session')));
  await page.waitForFunction(() => /MiB$/.test(document.getElementById('value-memory')?.textContent ?? ''), undefined, { timeout: 10_000 });

  // ── sessions: the client's session is listed; kick it
  await page.click('nav a[href="#sessions"]');
  const kick = `button.kick[data-jid="${alice.jid}"]`;
  await page.waitForSelector(kick, { timeout: 10_000 }).catch(async () => assert.fail(await failure(`no kick button for ${alice.jid}`)));
  await page.click(kick);
  await Promise.race([closed, new Promise((_r, reject) => setTimeout(() => reject(new Error('the client is still connected after the kick')), 10_000))]);
  assert.equal(server.server.sessions.getUserSessions('localhost', USER.user).length, 0);
  await page.waitForSelector(kick, { state: 'detached', timeout: 10_000 });
  assert.match(await page.textContent('#status') ?? '', /Ended the session/);

  // ── invites: create one; it appears in the list and in storage
  await page.click('nav a[href="#invites"]');
  await page.waitForSelector('#create-invite', { timeout: 10_000 });
  const before = new Set((await invites.list()).map((i) => i.token));
  await page.fill('#invite-uses', '3');
  await page.click('#create-invite button[type="submit"]');
  await page.waitForSelector('a.invite-url', { timeout: 10_000 }).catch(async () => assert.fail(await failure('no invite listed after creating one')));
  const created = (await invites.list()).filter((i) => !before.has(i.token));
  assert.equal(created.length, 1, 'one invite stored');
  const invite = created[0];
  assert.ok(invite);
  assert.equal(invite.maxUses, 3);
  assert.equal(await page.getAttribute(`a.invite-url[data-token="${invite.token}"]`, 'data-token'), invite.token, 'the stored invite is the one listed');

  // ── users: disable and enable an account from its row
  const state = server.server.hosts.get('localhost')?.services.get('accounts-state');
  await page.click('nav a[href="#users"]');
  await page.click(`button[data-user="${USER.user}"]:has-text("Disable")`, { timeout: 10_000 });
  await page.waitForSelector(`button[data-user="${USER.user}"]:has-text("Enable")`, { timeout: 10_000 });
  assert.equal(state?.isDisabled(USER.user), true, 'disabled from the console');
  await page.click(`button[data-user="${USER.user}"]:has-text("Enable")`);
  await page.waitForSelector(`button[data-user="${USER.user}"]:has-text("Disable")`, { timeout: 10_000 });
  assert.equal(state?.isDisabled(USER.user), false);

  // ── the other pages load without errors
  await page.click('nav a[href="#rooms"]');
  await page.waitForSelector('[data-view="rooms"] h3:has-text("conference.localhost")', { timeout: 10_000 }).catch(async () => assert.fail(await failure('the rooms page did not load')));
  await page.click('nav a[href="#push"]');
  await page.fill('[data-view="push"] input', USER.user);
  await page.click('[data-view="push"] button[type="submit"]');
  await page.waitForSelector('[data-view="push"] h3:has-text("Registrations of alice@localhost")', { timeout: 10_000 }).catch(async () => assert.fail(await failure('the push trace did not load')));

  // ── a cross-site page posts forms to the console while the admin is logged in
  const inviteCount = (await invites.list()).length;
  const targets: Array<{ path: string; fields: Record<string, string>; enctype: string }> = [
    { path: '/admin/api/v1/hosts/localhost/invites', fields: { '{"uses":5,"x":"': '"}' }, enctype: 'text/plain' },
    { path: `/admin/api/v1/hosts/localhost/users/${USER.user}/disable`, fields: {}, enctype: 'text/plain' },
    { path: '/admin/logout', fields: {}, enctype: 'application/x-www-form-urlencoded' },
    { path: '/admin/login', fields: { jid: ADMIN.jid, password: ADMIN.password }, enctype: 'application/x-www-form-urlencoded' },
  ];
  const attacker = await browser.context.newPage();
  try {
    for (const [i, t] of targets.entries()) {
      evilPages[`/attack${i}.html`] = { type: 'text/html; charset=utf-8', body: autoSubmitPage(`${origin}${t.path}`, t.fields, t.enctype) };
      const answered = attacker.waitForResponse((r) => r.url() === `${origin}${t.path}` && r.request().method() === 'POST', { timeout: 15_000 });
      await attacker.goto(`${evil.url}/attack${i}.html`);
      const answer = await answered;
      assert.equal(answer.status(), 403, `${t.path}: ${await answer.text()}`);
      assert.match(await answer.text(), /cross-site request refused/, t.path);
    }
  } finally {
    await attacker.close();
  }
  assert.equal((await invites.list()).length, inviteCount, 'no invite was created');
  assert.equal(state?.isDisabled(USER.user), false, 'the account was not disabled');
  // Still logged in: the cross-site logout did nothing.
  await page.click('nav a[href="#checks"]');
  await page.waitForSelector('[data-view="checks"] table', { timeout: 10_000 }).catch(async () => assert.fail(await failure('the checks page did not load')));
  assert.ok(await page.isVisible('#nav'));

  // ── log out
  await page.click('#logout');
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 10_000 });
  assert.equal((await browser.context.cookies(`${origin}/admin/`)).find((c) => c.name === 'canto_admin'), undefined, 'the cookie is gone');
  await page.reload();
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 10_000 });

  assert.deepEqual(violations, [], 'the console needs nothing its CSP forbids');
  assert.deepEqual(browser.consoleLines.filter((l) => l.startsWith('[pageerror]')), [], 'no script errors');
  assert.deepEqual(browser.blocked, [], 'nothing fetched from outside');
});
