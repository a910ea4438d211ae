/**
 * Invites end to end: XEP-0401 ad-hoc invites, XEP-0445 registration with a token on a server
 * whose open registration is off (a raw STARTTLS stream, as xmpp.js cannot register), tokens
 * refused when expired, revoked or used up, XEP-0379 pre-authenticated subscriptions, the
 * landing page's HTTP answers, and `canto invite create/list/revoke` as a child process.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { RawTlsClient } from '../helpers/scram-client.js';
import { createAccount, loginClient, xml, type LoggedInClient } from '../helpers/xmpp-client.js';
import { fieldValues, runCommand } from '../helpers/adhoc.js';
import { runCanto } from '../helpers/cli.js';
import type { InvitesService } from '../../src/modules/invites/api.js';
import { HOST_KEY, INVITES_STORE, type Invite } from '../../src/modules/invites/store.js';

let ts: TestServer;
let invites: InvitesService;
let admin: LoggedInClient;
const clients: LoggedInClient[] = [];

before(async () => {
  ts = await startTestServer((c) => {
    c.admins = ['admin@localhost'];
    c.http.ports = [0];
    c.modules.invites = { allow_user_invites: false };
  });
  const service = ts.server.hosts.get('localhost')?.services.get('invites');
  assert.ok(service, 'the invites module is on by default');
  invites = service;
  await createAccount(ts, 'admin', 'admin-pass');
  await createAccount(ts, 'friend', 'friend-pass');
  admin = await loginClient(ts, 'admin', 'admin-pass', 'desk');
  clients.push(admin);
});

after(async () => {
  for (const c of clients) await c.stop();
  await ts.stop();
});

/** A STARTTLS stream ready to register; `features` are those offered after TLS. */
async function stream(): Promise<{ raw: RawTlsClient; features: string; iq(payload: string): Promise<string> }> {
  const raw = await RawTlsClient.connect(ts.c2sPort);
  await raw.open();
  const features = await raw.startTls();
  let n = 0;
  return {
    raw,
    features,
    async iq(payload) {
      const id = `r${++n}`;
      raw.send(`<iq type='set' id='${id}'>${payload}</iq>`);
      return (await raw.next(new RegExp(`<iq\\b[^>]*\\bid=["']${id}["'][^>]*?(?:/>|>[\\s\\S]*?</iq>)`)))[0];
    },
  };
}
const preauth = (token: string) => `<preauth xmlns='urn:xmpp:pars:0' token='${token}'/>`;
const register = (u: string, p: string, extra = '') => `<query xmlns='jabber:iq:register'><username>${u}</username><password>${p}</password>${extra}</query>`;
const isError = (reply: string, condition: string) => reply.includes("type='error'") || reply.includes('type="error"') ? reply.includes(`<${condition} `) : false;

test('XEP-0401 invite by ad-hoc, XEP-0445 registration with the token on a closed server; the account is subscribed to the inviter', async () => {
  const r = await runCommand(admin, 'urn:xmpp:invite#invite');
  const uri = fieldValues(r).get('uri')?.[0] ?? '';
  const landing = fieldValues(r).get('landing-url')?.[0] ?? '';
  const token = /preauth=([\w-]+)/.exec(uri)?.[1] ?? '';
  assert.match(uri, /^xmpp:admin@localhost\?roster;preauth=[\w-]+;ibr=y$/);
  assert.ok(landing.endsWith(`/invite/${token}`));

  const s = await stream();
  assert.match(s.features, /<register xmlns=["']urn:xmpp:invite["']/);
  assert.doesNotMatch(s.features, /iq-register/, 'open registration is off');
  assert.ok(isError(await s.iq(register('sneaky', 'pw-123456')), 'service-unavailable'), 'no token: closed');
  assert.ok(isError(await s.iq(preauth('AAAAAAAAAAAAAAAAAAAAAAAA')), 'item-not-found'), 'unknown token');
  assert.match(await s.iq(preauth(token)), /type=["']result["']/);
  assert.match(await s.iq(register('newcomer', 'newcomer-pass')), /type=["']result["']/);
  s.raw.close();

  const newcomer = await loginClient(ts, 'newcomer', 'newcomer-pass', 'phone');
  clients.push(newcomer);
  const roster = await newcomer.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  const item = roster.getChild('query')?.getChildren('item').find((i) => i.attrs.jid === 'admin@localhost');
  assert.equal(item?.attrs.subscription, 'both');

  // Single use: the token is spent.
  const again = await stream();
  assert.ok(isError(await again.iq(preauth(token)), 'item-not-found'));
  again.raw.close();
});

test('expired, revoked and used-up tokens are refused; a multi-use token in the query works until its uses are spent', async () => {
  const multi = await invites.create({ maxUses: 2, via: 'test' });
  for (const name of ['multi1', 'multi2']) {
    const s = await stream();
    assert.match(await s.iq(register(name, 'multi-pass', preauth(multi.token))), /type=["']result["']/, name);
    s.raw.close();
  }
  const revoked = await invites.create({ via: 'test' });
  assert.equal(await invites.revoke(revoked.token), true);
  const expired = await invites.create({ via: 'test' });
  await ts.server.storage.map<Invite>('localhost', INVITES_STORE).set(HOST_KEY, expired.token, { ...expired, expires: Date.now() - 1000 });
  for (const [what, token] of [['used', multi.token], ['revoked', revoked.token], ['expired', expired.token]] as const) {
    const s = await stream();
    const reply = await s.iq(register(`late-${what}`, 'late-pass', preauth(token)));
    assert.ok(isError(reply, 'forbidden'), `${what}: ${reply}`);
    assert.match(reply, new RegExp(what));
    assert.ok(isError(await s.iq(preauth(token)), 'item-not-found'), what);
    s.raw.close();
    assert.equal(await ts.server.storage.accounts.exists('localhost', `late-${what}`), false);
  }
});

test('XEP-0379: a subscription request carrying the inviter\'s token is approved at once; another token changes nothing', async () => {
  const friend = await loginClient(ts, 'friend', 'friend-pass', 'f');
  clients.push(friend);
  // The approval is pushed to resources that asked for the roster (RFC 6121 §3.1.6).
  await friend.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  await admin.send(xml('presence'));
  const invite = await invites.create({ inviter: 'admin', via: 'test' });
  await friend.send(xml('presence', { type: 'subscribe', to: 'admin@localhost' }, xml('preauth', { xmlns: 'urn:xmpp:pars:0', token: invite.token })));
  const approved = await friend.waitFor((s) => s.is('presence') && s.attrs.type === 'subscribed' && s.attrs.from === 'admin@localhost');
  assert.ok(approved);
  assert.ok(await admin.nothing((s) => s.is('presence') && s.attrs.type === 'subscribe'), 'the inviter is not asked');

  // A token of someone else: the request reaches the user as usual.
  await createAccount(ts, 'other', 'other-pass');
  const other = await loginClient(ts, 'other', 'other-pass', 'o');
  clients.push(other);
  await other.send(xml('presence'));
  await friend.send(xml('presence', { type: 'subscribe', to: 'other@localhost' }, xml('preauth', { xmlns: 'urn:xmpp:pars:0', token: invite.token })));
  await other.waitFor((s) => s.is('presence') && s.attrs.type === 'subscribe' && s.attrs.from === 'friend@localhost');
});

test('landing page: strict CSP and no script; unknown 404, revoked 410; a POST without the CSRF cookie is refused', async () => {
  const base = `http://127.0.0.1:${ts.server.port('http')}`;
  const invite = await invites.create({ inviter: 'admin', via: 'test' });
  const res = await fetch(`${base}/invite/${invite.token}`, { headers: { 'User-Agent': 'Mozilla/5.0 (Linux; Android 14; Pixel 8)' } });
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  const body = await res.text();
  assert.doesNotMatch(body, /<script/i);
  assert.match(body, /Recommended for your device<\/h2><ul><li><a href="https:\/\/conversations\.im\/">Conversations/);
  assert.match(body, /admin@localhost invites you/);

  const forged = await fetch(`${base}/invite/${invite.token}`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'csrf=x&username=forged&password=p&password2=p' });
  assert.equal(forged.status, 403);
  assert.equal(await ts.server.storage.accounts.exists('localhost', 'forged'), false);

  assert.equal((await fetch(`${base}/invite/AAAAAAAAAAAAAAAAAAAAAAAA`)).status, 404);
  await invites.revoke(invite.token);
  assert.equal((await fetch(`${base}/invite/${invite.token}`)).status, 410);
});

test('canto invite create, list and revoke (child process)', async () => {
  const dir = tempDir();
  const cfg = join(dir, 'canto.toml');
  writeFileSync(cfg, 'data_dir = "data"\nlog_level = "warn"\n\n[http]\nports = []\ntls_ports = []\npublic_url = "https://chat.example.net"\n\n[[virtualhost]]\ndomain = "localhost"\n');
  const created = await runCanto(['invite', 'create', '--uses', '3', '--expires', '2h', '--group', 'team', '--config', cfg]);
  assert.equal(created.code, 0, created.stderr);
  const token = /https:\/\/chat\.example\.net\/invite\/([\w-]+)/.exec(created.stdout)?.[1];
  assert.ok(token, created.stdout);
  assert.match(created.stdout, new RegExp(`xmpp:localhost\\?register;preauth=${token}`));

  const listed = await runCanto(['invite', 'list', '--json', '--config', cfg]);
  assert.equal(listed.code, 0, listed.stderr);
  const list = JSON.parse(listed.stdout) as Invite[];
  assert.equal(list.length, 1);
  assert.equal(list[0]?.maxUses, 3);
  assert.equal(list[0]?.group, 'team');
  assert.ok(Math.abs((list[0]?.expires ?? 0) - Date.now() - 2 * 3600_000) < 60_000);

  const revoked = await runCanto(['invite', 'revoke', token, '--config', cfg]);
  assert.equal(revoked.code, 0, revoked.stderr);
  const after = await runCanto(['invite', 'list', '--config', cfg]);
  assert.match(after.stdout, new RegExp(`${token}\\s+revoked`));
  assert.equal((await runCanto(['invite', 'revoke', 'AAAAAAAAAAAAAAAAAAAA', '--config', cfg])).code, 1);
  assert.equal((await runCanto(['invite', 'create', '--uses', '0', '--config', cfg])).code, 2);
  assert.equal((await runCanto(['invite', 'frobnicate', '--config', cfg])).code, 2);

  // --inviter: XEP-0401's roster URI (offering registration); the inviter must exist.
  assert.equal((await runCanto(['adduser', 'host@localhost', '--password', 'host-pass-7431', '--config', cfg])).code, 0);
  const byHost = await runCanto(['invite', 'create', '--inviter', 'host@localhost', '--config', cfg]);
  assert.equal(byHost.code, 0, byHost.stderr);
  assert.match(byHost.stdout, /xmpp:host@localhost\?roster;preauth=[\w-]+;ibr=y/);
  const nobody = await runCanto(['invite', 'create', '--inviter', 'nobody@localhost', '--config', cfg]);
  assert.equal(nobody.code, 1);
  assert.match(nobody.stderr, /nobody@localhost: no such account/);
});

test('canto invite create on a running server: made by the server, counted in its metrics, with the inviter', async () => {
  const cfg = join(tempDir(), 'canto.toml');
  writeFileSync(cfg, `data_dir = ${JSON.stringify(ts.dataDir)}\nlog_level = "warn"\n\n[[virtualhost]]\ndomain = "localhost"\n`);
  const counted = async () => Number(/canto_invites_created_total\{[^}]*via="cli"[^}]*\} (\d+)/.exec(await ts.server.metrics.render())?.[1] ?? 0);
  const before = await counted();
  const made = await runCanto(['invite', 'create', '--inviter', 'friend@localhost', '--json', '--config', cfg]);
  assert.equal(made.code, 0, made.stderr);
  const out = JSON.parse(made.stdout) as Invite & { uri: string; url: string };
  assert.equal(out.inviter, 'friend');
  assert.equal(out.uri, `xmpp:friend@localhost?roster;preauth=${out.token};ibr=y`);
  assert.equal(await counted(), before + 1, 'counted by the running server');
  const check = await invites.check(out.token);
  assert.ok(check.ok && check.invite.via === 'cli');
  const ghost = await runCanto(['invite', 'create', '--inviter', 'ghost@localhost', '--config', cfg]);
  assert.equal(ghost.code, 1);
  assert.match(ghost.stderr, /ghost@localhost: no such account/);
});
