/**
 * The admin console's building blocks with a clock the test moves: lockout per key with expiry,
 * sessions with an absolute lifetime and an idle timeout, the cookie parser, the cross-site
 * check and the CSRF comparison (src/modules/admin_console). The served module is tested in
 * test/integration/admin-console.test.ts and in the browser by test/browser/admin-console.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { Lockout } from '../../src/modules/admin_console/lockout.js';
import { ConsoleSessions } from '../../src/modules/admin_console/sessions.js';
import { cookieOf, crossSiteReason, csrfMatches, sessionCookie } from '../../src/modules/admin_console/guard.js';
import type { RequestContext } from '../../src/net/http.js';

const MIN = 60_000;

test('lockout: locks at the limit within the window, for lockMs from the last failure, then expires', () => {
  let now = 1_000_000;
  const l = new Lockout({ limit: 3, windowMs: 10 * MIN, lockMs: 15 * MIN, maxKeys: 100 }, () => now);
  assert.equal(l.fail('a'), false);
  assert.equal(l.fail('a'), false);
  assert.equal(l.lockedFor('a'), 0);
  assert.equal(l.fail('a'), true, 'the third failure locks');
  assert.equal(l.lockedFor('a'), 15 * MIN);
  assert.equal(l.lockedFor('b'), 0, 'other keys are not locked');
  now += 5 * MIN;
  assert.equal(l.fail('a'), false, 'already locked: not a new lockout');
  assert.equal(l.lockedFor('a'), 15 * MIN, 'a failure while locked extends the lock');
  now += 15 * MIN;
  assert.equal(l.lockedFor('a'), 0, 'the lock expires');
  l.sweep();
  assert.equal(l.fail('a'), false, 'counting starts again after expiry');

  // Failures spread wider than the window never lock.
  const spread = new Lockout({ limit: 2, windowMs: MIN, lockMs: MIN, maxKeys: 100 }, () => now);
  spread.fail('x');
  now += 2 * MIN;
  assert.equal(spread.fail('x'), false);
  assert.equal(spread.lockedFor('x'), 0);

  // A success clears.
  const cleared = new Lockout({ limit: 2, windowMs: MIN, lockMs: MIN, maxKeys: 100 }, () => now);
  cleared.fail('y');
  cleared.clear('y');
  assert.equal(cleared.fail('y'), false);
});

test('lockout: the table is bounded', () => {
  const l = new Lockout({ limit: 1, windowMs: MIN, lockMs: MIN, maxKeys: 3 }, () => 0);
  for (const k of ['a', 'b', 'c', 'd']) l.fail(k);
  assert.equal(l.lockedFor('a'), 0, 'the oldest key was dropped');
  assert.ok(l.lockedFor('d') > 0);
});

test('sessions: random ids, per-session CSRF token, lifetime and idle timeout, logout, per-admin end, bounded', () => {
  let now = 0;
  const s = new ConsoleSessions({ ttlMs: 60 * MIN, idleMs: 10 * MIN, max: 3 }, () => now);
  const a = s.create('a@x', '127.0.0.1');
  const b = s.create('a@x', '127.0.0.1');
  assert.match(a.id, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a.id, b.id);
  assert.notEqual(a.session.csrf, b.session.csrf);
  assert.notEqual(a.session.handle, a.id);
  assert.equal(s.get(a.id)?.jid, 'a@x');
  assert.equal(s.get('nonsense'), undefined);
  assert.equal(s.get(a.id.slice(0, -1) + (a.id.endsWith('A') ? 'B' : 'A')), undefined);

  now += 9 * MIN;
  assert.ok(s.get(a.id), 'used within the idle timeout');
  now += 9 * MIN;
  assert.ok(s.get(a.id), 'each use restarts the idle clock');
  assert.equal(s.get(b.id), undefined, 'b was idle for 18 minutes');
  for (let i = 0; i < 5; i++) {
    now += 9 * MIN;
    s.get(a.id);
  }
  assert.equal(s.get(a.id), undefined, 'busy, but past its lifetime');

  const c = s.create('c@x', 'ip');
  assert.equal(s.delete(c.id), true);
  assert.equal(s.get(c.id), undefined);
  const d1 = s.create('d@x', 'ip');
  const d2 = s.create('d@x', 'ip');
  const e = s.create('e@x', 'ip');
  assert.equal(s.deleteFor('d@x'), 2);
  assert.equal(s.get(d1.id) ?? s.get(d2.id), undefined);
  assert.ok(s.get(e.id));
  const more = [s.create('f@x', 'ip'), s.create('g@x', 'ip'), s.create('h@x', 'ip')];
  assert.equal(s.size, 3);
  assert.equal(s.get(e.id), undefined, 'the oldest went when the table was full');
  assert.ok(more.every((m) => s.get(m.id)));
});

function req(headers: Record<string, string>): IncomingMessage {
  return { headers } as unknown as IncomingMessage;
}

function ctx(origin?: string, host = 'xmpp.example:5281', scheme: 'http' | 'https' = 'https'): RequestContext {
  return { ip: '127.0.0.1', secure: scheme === 'https', viaProxy: false, scheme, hostHeader: host, hostname: host.split(':')[0], path: '/admin/login', url: new URL(`${scheme}://${host}/admin/login`), origin };
}

test('cross-site check: only same-origin (or no browser headers at all) may change state', () => {
  assert.equal(crossSiteReason(req({}), ctx()), undefined, 'curl: no Origin, no Sec-Fetch-Site');
  assert.equal(crossSiteReason(req({ 'sec-fetch-site': 'same-origin' }), ctx('https://xmpp.example:5281')), undefined);
  assert.equal(crossSiteReason(req({}), ctx('HTTPS://XMPP.example:5281')), undefined, 'case does not matter');
  for (const site of ['cross-site', 'same-site', 'none']) assert.match(crossSiteReason(req({ 'sec-fetch-site': site }), ctx()) ?? '', /Sec-Fetch-Site/, site);
  for (const origin of ['https://evil.example', 'http://xmpp.example:5281', 'https://xmpp.example:5282', 'https://xmpp.example', 'null']) {
    assert.match(crossSiteReason(req({}), ctx(origin)) ?? '', /Origin/, origin);
  }
  assert.ok(crossSiteReason(req({}), { ...ctx('https://xmpp.example:5281'), hostHeader: undefined }));
});

test('CSRF token comparison and the cookie', () => {
  assert.equal(csrfMatches('abc', 'abc'), true);
  for (const wrong of [undefined, '', 'abd', 'abcd', 'ab']) assert.equal(csrfMatches('abc', wrong), false, String(wrong));

  const id = 'A'.repeat(43);
  const set = sessionCookie(id, 3600);
  for (const part of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/admin', 'Max-Age=3600']) assert.ok(set.split('; ').includes(part), part);
  assert.equal(cookieOf(req({ cookie: `other=1; canto_admin=${id}; x=y` })), id);
  assert.equal(cookieOf(req({})), undefined);
  assert.equal(cookieOf(req({ cookie: `canto_admin=${id}; canto_admin=${'B'.repeat(43)}` })), undefined, 'two cookies of the name: neither is trusted');
});
