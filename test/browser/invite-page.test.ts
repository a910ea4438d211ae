/**
 * The invite landing page in Debian's headless Chromium (playwright-core with executablePath,
 * a fresh profile, loopback only): a user's invite is opened, the visitor registers with the
 * page's form (no script on the page, strict CSP), and the new account logs in with
 * @xmpp/client and finds the inviter in its roster with a mutual subscription. Without
 * chromium the test fails in CI (CI set) and skips elsewhere.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient } from '../helpers/xmpp-client.js';
import { chromiumPath, launchBrowser, type TestBrowser } from '../helpers/browser.js';
import type { InvitesService } from '../../src/modules/invites/api.js';

const CHROMIUM = chromiumPath();
if (!CHROMIUM && process.env.CI) throw new Error('chromium is not installed (run scripts/install-test-deps.sh); the browser test cannot run');
const skip = CHROMIUM ? false : 'chromium not installed; skipping the invite page browser test';

let ts: TestServer | undefined;
let browser: TestBrowser | undefined;
const clients: LoggedInClient[] = [];

before(async () => {
  if (!CHROMIUM) return;
  ts = await startTestServer((c) => {
    c.http.ports = [0];
    c.admins = ['inviter@localhost'];
  });
  await createAccount(ts, 'inviter', 'inviter-pass');
});

after(async () => {
  await browser?.close();
  for (const c of clients) await c.stop();
  await ts?.stop();
});

test('open the invite link, register in the browser, log in, subscribed to the inviter', { skip }, async () => {
  const server = ts as TestServer;
  const invites = server.server.hosts.get('localhost')?.services.get('invites') as InvitesService;
  const invite = await invites.create({ inviter: 'inviter', via: 'test' });
  browser = await launchBrowser(CHROMIUM as string);
  const page = browser.page;
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  const url = `http://127.0.0.1:${server.server.port('http')}/invite/${invite.token}`;
  const res = await page.goto(url);
  assert.equal(res?.status(), 200);
  assert.match(await page.textContent('h1') ?? '', /inviter@localhost invites you to chat on localhost/);
  assert.match(await page.getAttribute('#open-app', 'href') ?? '', new RegExp(`^xmpp:inviter@localhost\\?roster;preauth=${invite.token};ibr=y$`));

  await page.fill('#username', 'webby');
  await page.fill('#password', 'webby-pass-1');
  await page.fill('#password2', 'webby-pass-1');
  await Promise.all([page.waitForSelector('#created'), page.click('#register')]);
  assert.equal(await page.textContent('#jid'), 'webby@localhost');
  assert.deepEqual(violations, [], 'the page needs nothing its CSP forbids (the style is allowed by hash)');
  assert.deepEqual(browser.blocked, [], 'nothing fetched from outside');

  // The invite was single-use: opening it again says so.
  const again = await page.goto(url);
  assert.equal(again?.status(), 410);

  const webby = await loginClient(server, 'webby', 'webby-pass-1', 'phone');
  clients.push(webby);
  const roster = await webby.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  const item = roster.getChild('query')?.getChildren('item').find((i) => i.attrs.jid === 'inviter@localhost');
  assert.equal(item?.attrs.subscription, 'both');

  // The inviter sees the newcomer's presence: the subscription is mutual.
  const inviter = await loginClient(server, 'inviter', 'inviter-pass', 'desk');
  clients.push(inviter);
  await inviter.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  await inviter.send(xml('presence'));
  await webby.send(xml('presence'));
  await inviter.waitFor((s) => s.is('presence') && (s.attrs.from ?? '').startsWith('webby@localhost/') && s.attrs.type === undefined);
});
