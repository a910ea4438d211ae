/**
 * A disabled account (account_state) that proves its credentials gets the RFC 6120 §6.5.1
 * `account-disabled` SASL failure with a text, over SASL and SASL2, and a wrong password still
 * gets `not-authorized`. None of the owner's refused logins feeds the brute-force throttle
 * (max_failures is 2 here, and more than that are made from one address): once enabled, the
 * account logs in at once. A device's FAST token was revoked with the disable: it fails
 * (not-authorized, saying nothing of the account's state) without being counted either.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { ScramClient, scramLogin } from '../helpers/scram-client.js';
import { fastLogin, sasl2Scram, tlsClient } from '../helpers/sasl2-raw.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer((c) => {
    c.c2s.max_unauthed_per_ip = 100;
    // A low limit and a long first delay: one counted failure too many would show as a delay.
    c.modules.saslauth = { max_failures: 2, account_max_failures: 2, failure_delay: 2, max_failure_delay: 4, failure_window: '10 minutes', max_stream_failures: 5 };
  });
  await ts.server.storage.accounts.create('localhost', 'dora', makeCredentials('dora-pass', { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }));
});
after(async () => {
  await ts.stop();
});

const state = () => {
  const s = ts.server.hosts.get('localhost')?.services.get('accounts-state');
  assert.ok(s, 'the account_state module provides accounts-state');
  return s;
};
const throttled = async () => /canto_saslauth_throttled_total\{[^}]*\} [1-9]/.test(await ts.server.metrics.render());
const scram = (password: string) => new ScramClient({ hash: 'SHA-256', username: 'dora', password });

async function saslOnce(password: string) {
  const { c } = await tlsClient(ts.c2sPort, '127.0.0.1');
  const t0 = Date.now();
  const r = await scramLogin(c, 'SCRAM-SHA-256', scram(password));
  c.close();
  return { r, ms: Date.now() - t0 };
}

test('disabled: account-disabled over SASL and SASL2 after the right password, not throttled; FAST tokens fail uncounted', async () => {
  // A device with a FAST token, before the account is disabled.
  const { c: first } = await tlsClient(ts.c2sPort);
  const issued = await sasl2Scram(first, 'SCRAM-SHA-256', scram('dora-pass'), 'dora-phone', `<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>`);
  first.close();
  assert.equal(issued.final.kind, 'success', issued.final.xml);
  const token = issued.final.token;
  assert.ok(token);

  assert.equal(await state().disable('dora', 'admin@localhost', 'test'), true);

  // Five refusals from one address, over both protocols: more than max_failures (2).
  for (let i = 0; i < 3; i++) {
    const { r, ms } = await saslOnce('dora-pass');
    assert.equal(r.ok, false);
    assert.equal(r.ok ? '' : r.condition, 'account-disabled');
    assert.match(r.ok ? '' : (r.text ?? ''), /disabled/);
    assert.ok(ms < 1500, `refusal ${i} was not delayed (${ms} ms)`);
  }
  for (let i = 0; i < 2; i++) {
    const { c } = await tlsClient(ts.c2sPort);
    const r = await sasl2Scram(c, 'SCRAM-SHA-256', scram('dora-pass'), 'dora-laptop');
    c.close();
    assert.equal(r.final.kind, 'failure');
    assert.equal(r.final.condition, 'account-disabled', r.final.xml);
    assert.match(r.final.xml, /<text[^>]*>[^<]*disabled/);
  }
  for (let i = 0; i < 3; i++) {
    const { c } = await tlsClient(ts.c2sPort);
    const r = await fastLogin(c, { username: 'dora', token, uaId: 'dora-phone' });
    c.close();
    assert.equal(r.condition, 'not-authorized', `the revoked token: ${r.xml}`);
  }
  assert.equal(await throttled(), false, 'no answer was held back');
  const metrics = await ts.server.metrics.render();
  assert.match(metrics, /canto_account_state_changes_total\{[^}]*kind="login_refused"[^}]*\} 5/);

  // A wrong password is still just not-authorized: the state is told only to the owner.
  const wrong = await saslOnce('guess');
  assert.equal(wrong.r.ok ? '' : wrong.r.condition, 'not-authorized');

  // Enabled again: the right password gets in without a delay (only the one guess counted).
  assert.equal(await state().enable('dora'), true);
  const back = await saslOnce('dora-pass');
  assert.ok(back.r.ok && back.r.verified, JSON.stringify(back.r));
  assert.ok(back.ms < 1500, `login after enable took ${back.ms} ms`);
  assert.equal(await throttled(), false);
});
