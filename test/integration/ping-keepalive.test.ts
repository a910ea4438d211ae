/** Server-initiated pings (XEP-0199) with real clients: a live client stays, a dead one is closed. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient } from '../helpers/xmpp-client.js';
import { waitFor } from '../../src/testing/index.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer((c) => {
    c.modules.ping = { ping_interval: '200ms', ping_timeout: '300ms' };
  });
  await createAccount(ts, 'alice', 'wonderland');
  await createAccount(ts, 'bob', 'builder');
});
after(async () => {
  await ts.stop();
});

const online = (user: string) => ts.server.sessions.getUserSessions('localhost', user).length > 0;

test('an idle client that answers pings keeps its session; one that stops reading is closed with connection-timeout', async () => {
  const alice = await loginClient(ts, 'alice', 'wonderland', 'idle');
  const bob = await loginClient(ts, 'bob', 'builder', 'dead');
  const bobErrors: string[] = [];
  bob.xmpp.on('error', (err) => bobErrors.push((err as Error & { condition?: string }).condition ?? err.message));
  try {
    // bob's client stops reading: it can neither see the ping nor answer it.
    const tls = (bob.xmpp as unknown as { socket: { socket: { pause(): void; resume(): void } } }).socket.socket;
    tls.pause();
    await waitFor(() => !online('bob'), { timeoutMs: 6000, intervalMs: 20, message: 'the silent session was closed' });
    // What the server sent before closing: the connection-timeout stream error.
    tls.resume();
    await waitFor(() => bobErrors.length > 0, { timeoutMs: 2000, intervalMs: 20, message: 'bob saw the stream error' });
    assert.equal(bobErrors[0], 'connection-timeout', bobErrors.join());
    // alice was pinged meanwhile (xmpp.js answers pings by itself) and is still there.
    const ping = await alice.waitFor((s) => s.is('iq') && s.getChild('ping', 'urn:xmpp:ping') !== undefined, 100);
    assert.equal(ping.attrs.from, 'localhost');
    assert.equal(online('alice'), true);
  } finally {
    await alice.stop();
    await bob.stop();
  }
});
