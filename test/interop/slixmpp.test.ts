/**
 * Issue 3, interop: slixmpp (Debian python3-slixmpp, run with /usr/bin/python3) as a second
 * client stack logs in over STARTTLS with SCRAM, binds, and gets its own message back.
 * In CI a missing slixmpp fails the test (scripts/install-test-deps.sh installs it);
 * elsewhere the test is skipped with a message saying how to get it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount } from '../helpers/xmpp-client.js';
import { runSlixmppScript, slixmppSkip, writeServerCa } from '../helpers/slixmpp.js';

/** Non-ASCII on purpose: SASLprep and UTF-8 on both sides. */
const PASSWORD = 'slix-password-ü';

const skip = slixmppSkip();

const runSelfTest = (args: string[]) => runSlixmppScript('slixmpp_selftest.py', args, 30_000);

let ts: TestServer;
let caFile: string;
before(async () => {
  if (skip) return;
  ts = await startTestServer();
  await createAccount(ts, 'slix', PASSWORD);
  caFile = writeServerCa(ts);
});
after(async () => {
  if (skip) return;
  await ts.stop();
});

function selfTestArgs(resource: string, extra: string[]): string[] {
  return ['--jid', `slix@localhost/${resource}`, '--password', PASSWORD, '--port', String(ts.c2sPort), '--ca', caFile, ...extra];
}

for (const mechanism of [undefined, 'SCRAM-SHA-1'] as const) {
  const label = mechanism ?? "slixmpp's preferred SCRAM";
  test(`slixmpp logs in over STARTTLS with ${label}, binds, and messages itself`, { skip, timeout: 40_000 }, async () => {
    const resource = `slix-${mechanism ?? 'default'}`;
    // Channel binding off: see the script's docstring and the stock-slixmpp test below.
    const { status, events, stderr } = await runSelfTest(selfTestArgs(resource, mechanism ? ['--mechanism', mechanism] : []));
    const diagnostics = `events: ${JSON.stringify(events)}\nstderr: ${stderr}`;
    assert.equal(status, 0, diagnostics);
    const start = events.find((e) => e.event === 'session_start');
    assert.ok(start, diagnostics);
    assert.equal(start.jid, `slix@localhost/${resource}`);
    assert.equal(start.mechanism, mechanism ?? 'SCRAM-SHA-256', diagnostics);
    assert.match(String(start.tls), /^TLSv1\.[23]$/);
    assert.equal(events.filter((e) => e.event === 'auth_failure').length, 0, diagnostics);
    const received = events.find((e) => e.event === 'received');
    assert.ok(received, diagnostics);
    assert.equal(received.from, `slix@localhost/${resource}`);
    assert.equal(received.body, 'hello from slixmpp');
    assert.equal(received.type, 'chat');
    console.log(`slixmpp: ${String(start.mechanism)} over ${String(start.tls)} as ${String(start.jid)}`);
  });
}

/**
 * Stock slixmpp 1.8 (Debian bookworm) binds only with tls-unique, which TLS 1.3 lacks (RFC 9266),
 * and does not read XEP-0440, so it asks for SCRAM-*-PLUS with tls-unique (refused: not offered)
 * and then falls back to plain SCRAM with the "y" flag, which RFC 5802 §6 requires a server that
 * offered -PLUS to refuse (downgrade protection). This pins that behaviour: the refusals are clean
 * SASL failures, never a crash or a hang. Such clients log in with channel binding switched off.
 */
test('stock slixmpp 1.8 (tls-unique only) is refused cleanly by the downgrade protection', { skip, timeout: 40_000 }, async () => {
  const { status, events, stderr } = await runSelfTest(selfTestArgs('slix-stock', ['--channel-binding', 'stock']));
  const diagnostics = `events: ${JSON.stringify(events)}\nstderr: ${stderr}`;
  assert.notEqual(status, 0, diagnostics);
  const failures = events.filter((e) => e.event === 'auth_failure');
  assert.ok(failures.some((e) => String(e.mechanism).endsWith('-PLUS') && e.condition === 'malformed-request'), diagnostics);
  assert.ok(failures.some((e) => !String(e.mechanism).endsWith('-PLUS') && e.condition === 'not-authorized'), diagnostics);
  assert.equal(events.filter((e) => e.event === 'session_start').length, 0, diagnostics);
});

/**
 * The operator's switch for such clients (issue 12 point 5): with `[auth] channel_binding = false`
 * no -PLUS mechanism and no binding type is offered, so stock slixmpp's plain SCRAM with the "y"
 * flag is accepted (RFC 5802 §6: the server does not support channel binding) and it logs in.
 */
test('with [auth] channel_binding = false, stock slixmpp 1.8 logs in', { skip, timeout: 40_000 }, async () => {
  const off = await startTestServer((c) => {
    c.auth.channel_binding = false;
  });
  try {
    await createAccount(off, 'slix', PASSWORD);
    const ca = writeServerCa(off);
    const args = ['--jid', 'slix@localhost/stock-off', '--password', PASSWORD, '--port', String(off.c2sPort), '--ca', ca, '--channel-binding', 'stock'];
    const { status, events, stderr } = await runSelfTest(args);
    const diagnostics = `events: ${JSON.stringify(events)}\nstderr: ${stderr}`;
    assert.equal(status, 0, diagnostics);
    const start = events.find((e) => e.event === 'session_start');
    assert.ok(start, diagnostics);
    assert.equal(String(start.mechanism).endsWith('-PLUS'), false, diagnostics);
    assert.equal(events.filter((e) => e.event === 'auth_failure').length, 0, diagnostics);
    assert.ok(events.some((e) => e.event === 'received'), diagnostics);
  } finally {
    await off.stop();
  }
});
