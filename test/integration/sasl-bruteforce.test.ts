/**
 * Issue 17 item 9: guessing at one account must not lock its owner out. 300 wrong passwords
 * from one address are slowed down; meanwhile the right password from another address
 * (127.0.0.2: the listener is on 127.0.0.1, and Linux routes all of 127/8 to loopback) gets
 * in within a second, over SASL and over SASL2.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { RawTlsClient, ScramClient, scramLogin } from '../helpers/scram-client.js';
import { sasl2Scram, tlsClient } from '../helpers/sasl2-raw.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer((c) => {
    c.c2s.require_encryption = false;
    c.c2s.max_unauthed_per_ip = 100;
    // Short delays so the test is quick, the shape as in production: limits, doubling, a cap.
    c.modules.saslauth = { max_failures: 5, account_max_failures: 50, failure_delay: 0.05, max_failure_delay: 0.4, failure_window: '10 minutes', max_stream_failures: 5 };
  });
  await ts.server.storage.accounts.create('localhost', 'owner', makeCredentials('correct horse', { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }));
});
after(async () => {
  await ts.stop();
});

/** One stream from 127.0.0.1 making `n` wrong guesses; the time each answer took. */
async function guess(n: number): Promise<number[]> {
  const c = await RawTlsClient.connect(ts.c2sPort, '127.0.0.1');
  await c.open();
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = Date.now();
    const r = await scramLogin(c, 'SCRAM-SHA-256', new ScramClient({ hash: 'SHA-256', username: 'owner', password: `guess-${i}` }));
    assert.equal(r.ok ? 'ok' : r.condition, 'not-authorized');
    times.push(Date.now() - t0);
  }
  c.close();
  return times;
}

test('300 wrong passwords from one address are slowed; the owner from another address logs in within a second', async () => {
  const attacker = (async () => {
    const times: number[] = [];
    // 10 streams at a time, 5 guesses each (the stream's retry limit), 60 streams = 300 guesses.
    for (let round = 0; round < 6; round++) {
      const batch = await Promise.all(Array.from({ length: 10 }, () => guess(5)));
      times.push(...batch.flat());
    }
    return times;
  })();

  // Wait until the account is past its own (high) limit, then log in as the owner, twice.
  const failures = () => ts.server.metrics.render().then((m) => Number(/canto_saslauth_authentications_total\{[^}]*mechanism="SCRAM-SHA-256"[^}]*result="failure"[^}]*\} (\d+)/.exec(m)?.[1] ?? 0));
  while ((await failures()) < 100) await new Promise((r) => setTimeout(r, 20));

  const t0 = Date.now();
  const c = await RawTlsClient.connect(ts.c2sPort, '127.0.0.2');
  await c.open();
  const r = await scramLogin(c, 'SCRAM-SHA-256', new ScramClient({ hash: 'SHA-256', username: 'owner', password: 'correct horse' }));
  c.close();
  const sasl = Date.now() - t0;
  assert.ok(r.ok && r.verified, JSON.stringify(r));
  assert.ok(sasl < 1000, `owner over SASL took ${sasl} ms`);

  const times = await attacker;
  assert.equal(times.length, 300);
  const late = times.slice(-100).sort((a, b) => a - b);
  const median = late[50] ?? 0;
  assert.ok(median >= 300, `the attacker's later guesses are slowed (median ${median} ms)`);
  const metrics = await ts.server.metrics.render();
  assert.match(metrics, /canto_saslauth_throttled_total\{[^}]*key="(pair|ip)"[^}]*\} [1-9]/);
});

test('over SASL2 (TLS, from a third address) the owner is not delayed either, while the account is still under attack', async () => {
  const t0 = Date.now();
  const { c } = await tlsClient(ts.c2sPort, '127.0.0.3');
  const r = await sasl2Scram(c, 'SCRAM-SHA-256', new ScramClient({ hash: 'SHA-256', username: 'owner', password: 'correct horse' }), 'owner-phone');
  c.close();
  assert.equal(r.final.kind, 'success', r.final.xml);
  assert.ok(Date.now() - t0 < 1000, `owner over SASL2 took ${Date.now() - t0} ms`);
  // A wrong password from a fresh address waits for the account's delay (distributed guessing).
  const t1 = Date.now();
  const { c: d } = await tlsClient(ts.c2sPort, '127.0.0.4');
  const w = await sasl2Scram(d, 'SCRAM-SHA-256', new ScramClient({ hash: 'SHA-256', username: 'owner', password: 'nope' }), 'x');
  d.close();
  assert.equal(w.final.condition, 'not-authorized');
  assert.ok(Date.now() - t1 >= 300, `a wrong guess from a fresh address waited ${Date.now() - t1} ms`);
});
