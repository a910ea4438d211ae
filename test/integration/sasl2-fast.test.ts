/**
 * FAST (XEP-0484) and SASL2 edge cases with a raw client: tokens bound to a channel, the
 * overlap window of rotation, and bad input (replayed counts, another user's token, wrong
 * channel binding, oversized payloads) refused with the right failure and no count advanced.
 * XEP-0474: the SCRAM challenge in SASL2 carries h=, which detects a stripped mechanism list.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { ScramClient } from '../helpers/scram-client.js';
import { fastLogin, nextSasl2, sasl2Scram, tlsClient } from '../helpers/sasl2-raw.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { ssdpInput } from '../../src/sasl/scram.js';
import { tlsServerEndPoint } from '../../src/sasl/channel-binding.js';
import { recordId, type TokenRecord } from '../../src/modules/fast/tokens.js';

let ts: TestServer;
const record = (user: string, ua: string) => ts.server.storage.map<TokenRecord>('localhost', 'fast_tokens').get(user, recordId(ua));

before(async () => {
  ts = await startTestServer((c) => {
    // Many deliberate failures from 127.0.0.1 here: keep the throttle out of the way.
    c.modules.saslauth = { max_failures: 1000, account_max_failures: 1000 };
    c.auth.scram_hashes = ['SHA-1', 'SHA-256', 'SHA-512'];
  });
  for (const u of ['juliet', 'romeo']) {
    await ts.server.storage.accounts.create('localhost', u, makeCredentials('pw-' + u, { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }));
  }
});
after(async () => {
  await ts.stop();
});

async function tokenFor(user: string, uaId: string, mechanism = 'HT-SHA-256-NONE'): Promise<string> {
  const { c } = await tlsClient(ts.c2sPort);
  const r = await sasl2Scram(c, 'SCRAM-SHA-256', new ScramClient({ hash: 'SHA-256', username: user, password: 'pw-' + user }), uaId, `<request-token xmlns='urn:xmpp:fast:0' mechanism='${mechanism}'/>`);
  c.close();
  assert.equal(r.final.kind, 'success', r.final.xml);
  assert.ok(r.final.token, r.final.xml);
  return r.final.token;
}

async function fast(opts: Parameters<typeof fastLogin>[1]) {
  const { c } = await tlsClient(ts.c2sPort);
  const r = await fastLogin(c, opts);
  c.close();
  return r;
}

test('XEP-0474: h= in the SASL2 SCRAM challenge matches what was advertised; a stripped list is detected', async () => {
  const { c, features } = await tlsClient(ts.c2sPort);
  const block = /<authentication xmlns=['"]urn:xmpp:sasl:2['"]>[\s\S]*?<\/authentication>/.exec(features)?.[0] ?? '';
  const mechanisms = [...block.replace(/<inline>[\s\S]*<\/inline>/, '').matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((m) => m[1] as string);
  const types = [...features.matchAll(/<channel-binding type=['"]([^'"]+)['"]/g)].map((m) => m[1] as string);
  assert.ok(mechanisms.includes('SCRAM-SHA-256-PLUS') && types.length === 2, features);
  const client = new ScramClient({ hash: 'SHA-256', username: 'juliet', password: 'pw-juliet' });
  const r = await sasl2Scram(c, 'SCRAM-SHA-256', client, 'ssdp-device');
  c.close();
  assert.equal(r.final.kind, 'success');
  assert.ok(r.serverFirst);
  assert.equal(client.downgradeCheck(r.serverFirst, ssdpInput(mechanisms, types)), true);
  const stripped = mechanisms.filter((m) => !m.endsWith('-PLUS'));
  assert.equal(client.downgradeCheck(r.serverFirst, ssdpInput(stripped, [])), false, 'a man in the middle removing -PLUS is noticed');
});

test('a FAST token rotates on use; the previous one works until the new one is used once', async () => {
  const t1 = await tokenFor('juliet', 'dev-rotate');
  const a = await fast({ username: 'juliet', token: t1, uaId: 'dev-rotate', count: 1 });
  assert.equal(a.kind, 'success', a.xml);
  assert.ok(a.token && a.token !== t1);
  const t2 = a.token;
  // The answer with t2 got lost: t1 still works (with a higher count), and issues t3.
  const b = await fast({ username: 'juliet', token: t1, uaId: 'dev-rotate', count: 2 });
  assert.equal(b.kind, 'success', b.xml);
  const t3 = b.token;
  assert.ok(t3);
  assert.equal((await fast({ username: 'juliet', token: t2, uaId: 'dev-rotate', count: 3 })).condition, 'not-authorized', 't2 was replaced');
  assert.equal((await fast({ username: 'juliet', token: t3, uaId: 'dev-rotate', count: 4 })).kind, 'success');
  assert.equal((await fast({ username: 'juliet', token: t1, uaId: 'dev-rotate', count: 5 })).condition, 'not-authorized', 't1 ended once t3 was used');
  assert.equal((await record('juliet', 'dev-rotate'))?.count, 4);
});

test('bad input is refused with the right failure and moves no counter', async () => {
  const token = await tokenFor('juliet', 'dev-bad');
  assert.equal((await fast({ username: 'juliet', token, uaId: 'dev-bad', count: 7 })).kind, 'success');
  const before = await record('juliet', 'dev-bad');
  assert.equal(before?.count, 7);
  const romeos = await tokenFor('romeo', 'dev-romeo');

  // Replayed count (the same as the last success).
  const current = await fast({ username: 'juliet', token, uaId: 'dev-bad', count: 7 });
  assert.equal(current.condition, 'not-authorized', current.xml);
  assert.match(current.xml, /replayed/);
  // Another user's token, with juliet's name (and with romeo's device id).
  assert.equal((await fast({ username: 'juliet', token: romeos, uaId: 'dev-bad', count: 8 })).condition, 'not-authorized');
  assert.equal((await fast({ username: 'juliet', token: romeos, uaId: 'dev-romeo', count: 8 })).condition, 'not-authorized');
  // Oversized payload.
  const { c } = await tlsClient(ts.c2sPort);
  c.send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>${'A'.repeat(20_000)}</initial-response><user-agent id='dev-bad'/><fast xmlns='urn:xmpp:fast:0' count='9'/></authenticate>`);
  const big = await nextSasl2(c);
  c.close();
  assert.equal(big.condition, 'malformed-request', big.xml);
  // A token for -NONE used with another mechanism.
  assert.equal((await fast({ mechanism: 'HT-SHA-256-ENDP', username: 'juliet', token, uaId: 'dev-bad', count: 10 })).condition, 'not-authorized');
  const after = await record('juliet', 'dev-bad');
  assert.equal(after?.count, 7, 'no failure advanced the count');
  assert.equal(after?.current.key, before?.current.key, 'no failure rotated the token');
});

test('channel-bound tokens: -ENDP and -EXPR work with the right binding and fail with a wrong one', async () => {
  for (const mechanism of ['HT-SHA-256-ENDP', 'HT-SHA-256-EXPR'] as const) {
    const uaId = `dev-${mechanism}`;
    const token = await tokenFor('juliet', uaId, mechanism);
    const { c } = await tlsClient(ts.c2sPort);
    const cert = c.tls.getPeerCertificate(false).raw;
    const right = mechanism === 'HT-SHA-256-ENDP' ? tlsServerEndPoint(cert) : c.tls.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0));
    assert.ok(right);
    const wrong = await fastLogin(c, { mechanism, username: 'juliet', token, uaId, count: 1, cbData: Buffer.alloc(32, 1) });
    assert.equal(wrong.condition, 'not-authorized', wrong.xml);
    const ok = await fastLogin(c, { mechanism, username: 'juliet', token, uaId, count: 1, cbData: right });
    c.close();
    assert.equal(ok.kind, 'success', ok.xml);
  }
});

test('a password change revokes the account\'s tokens', async () => {
  const token = await tokenFor('romeo', 'dev-pw');
  assert.equal((await fast({ username: 'romeo', token, uaId: 'dev-pw', count: 1 })).kind, 'success');
  const t2 = (await fast({ username: 'romeo', token, uaId: 'dev-pw', count: 2 })).token;
  assert.ok(t2);
  await ts.server.storage.accounts.setCredentials('localhost', 'romeo', makeCredentials('new-pw', { iterations: 4096, hashes: ['SHA-256'] }));
  assert.equal((await fast({ username: 'romeo', token: t2, uaId: 'dev-pw', count: 3 })).condition, 'not-authorized');
});

test('an account imported with only SHA-1 gains SHA-256 and SHA-512 at a PLAIN login over TLS, then logs in with SCRAM-SHA-512-PLUS', async () => {
  await ts.server.storage.accounts.create('localhost', 'imported', makeCredentials('old-pw', { iterations: 4096, hashes: ['SHA-1'] }));
  const { c } = await tlsClient(ts.c2sPort);
  const plain = Buffer.from('\0imported\0old-pw').toString('base64');
  c.send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>${plain}</initial-response></authenticate>`);
  assert.equal((await nextSasl2(c)).kind, 'success');
  c.close();
  const deadline = Date.now() + 5000;
  let creds = (await ts.server.storage.accounts.get('localhost', 'imported'))?.credentials;
  while (!creds?.['SCRAM-SHA-512'] && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    creds = (await ts.server.storage.accounts.get('localhost', 'imported'))?.credentials;
  }
  assert.deepEqual(Object.keys(creds ?? {}).sort(), ['SCRAM-SHA-1', 'SCRAM-SHA-256', 'SCRAM-SHA-512']);
  const { c: d } = await tlsClient(ts.c2sPort);
  const data = d.tls.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0));
  const r = await sasl2Scram(d, 'SCRAM-SHA-512-PLUS', new ScramClient({ hash: 'SHA-512', username: 'imported', password: 'old-pw', binding: { type: 'tls-exporter', data } }), 'imported-dev');
  d.close();
  assert.equal(r.final.kind, 'success', r.final.xml);
});
