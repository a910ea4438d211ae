/**
 * Issue 3, robustness: slowloris. A thousand connections that trickle an unfinished stream
 * header, one byte every second, neither stop a normal client from logging in promptly nor
 * stay forever: `c2s.auth_timeout` closes them with connection-timeout.
 *
 * `c2s.max_unauthed_per_ip` (100 by default) would refuse most of them from one address; that
 * defence is asserted on its own below. To test the timeout and the server's behaviour under
 * a thousand slow connections, they come from 20 loopback addresses (127.0.0.0/8 is all
 * loopback on Linux), 50 each, under the cap.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { connectPlain, loadLogin, pool } from '../helpers/load-client.js';
import { waitFor } from '../../src/testing/index.js';

const PASSWORD = 'slowloris-test-password';
const TRICKLERS = 1000;
const ADDRESSES = 20;
const AUTH_TIMEOUT_MS = 5000;
const MAX_UNAUTHED_PER_IP = 100;
/** The server waits this long for the peer's closing tag before cutting (xmpp-stream.ts). */
const CLOSE_GRACE_MS = 2000;
const HEADER = "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

let srv: ServerProcess;
before(async () => {
  srv = await startServerProcess({
    config: { c2s: { auth_timeout: AUTH_TIMEOUT_MS, max_unauthed_per_ip: MAX_UNAUTHED_PER_IP } },
    accounts: { prefix: 'user', count: 2, password: PASSWORD },
  });
});
after(async () => {
  await srv.stop();
});


interface Trickler {
  socket: Socket;
  received: string;
  closedAt: number | undefined;
}

function track(socket: Socket): Trickler {
  const t: Trickler = { socket, received: '', closedAt: undefined };
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (t.received += d));
  socket.on('close', () => (t.closedAt = Date.now()));
  socket.on('error', () => {});
  return t;
}

async function countSessions(type: string, ip?: string): Promise<number> {
  return (await srv.sessions()).filter((s) => s.type === type && (ip === undefined || s.ip === ip)).length;
}

test(`${MAX_UNAUTHED_PER_IP} unauthenticated connections per address are allowed; the next is refused with policy-violation`, async () => {
  const from = '127.0.0.250';
  const held = await pool(MAX_UNAUTHED_PER_IP, 50, async () => track(await connectPlain(srv.c2sPort, from)));
  try {
    await waitFor(async () => (await countSessions('c2s_unauthed', from)) === MAX_UNAUTHED_PER_IP, { timeoutMs: 5000, intervalMs: 50 }).catch(() => {});
    assert.equal(await countSessions('c2s_unauthed', from), MAX_UNAUTHED_PER_IP);
    assert.ok(held.every((t) => t.closedAt === undefined && t.received === ''), 'the first connections are left alone');
    const extra = track(await connectPlain(srv.c2sPort, from));
    await waitFor(() => extra.closedAt !== undefined, { timeoutMs: 5000, intervalMs: 50 }).catch(() => {});
    assert.match(extra.received, /<stream:error><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/><text[^>]*>too many unauthenticated connections/);
    assert.ok(extra.closedAt !== undefined, 'the connection over the cap is closed');
    // Other addresses are not affected by this one being at its cap.
    const other = await loadLogin({ port: srv.c2sPort, username: 'user1', password: PASSWORD, localAddress: '127.0.0.251' });
    other.close();
  } finally {
    for (const t of held) t.socket.destroy();
  }
  await waitFor(async () => (await countSessions('c2s_unauthed', from)) === 0, { timeoutMs: 5000, intervalMs: 50 }).catch(() => {});
  assert.equal(await countSessions('c2s_unauthed', from), 0, 'closing releases the per-address count');
});

test(`${TRICKLERS} slowloris connections do not delay a normal login and are closed by auth_timeout`, { timeout: 60_000 }, async () => {
  const started = Date.now();
  const tricklers = await pool(TRICKLERS, 100, async (i) => track(await connectPlain(srv.c2sPort, `127.0.0.${2 + (i % ADDRESSES)}`)));
  const connectedMs = Date.now() - started;
  // One byte of the header per connection per second: never a complete header in time.
  let sent = 0;
  const dribble = setInterval(() => {
    if (sent >= HEADER.length - 1) return;
    const byte = HEADER[sent++] ?? '';
    for (const t of tricklers) if (t.closedAt === undefined) t.socket.write(byte);
  }, 1000);
  try {
    await waitFor(async () => (await countSessions('c2s_unauthed')) >= TRICKLERS, { timeoutMs: 2500, intervalMs: 50 }).catch(() => {});
    assert.equal(await countSessions('c2s_unauthed'), TRICKLERS, 'every trickling connection is open on the server');

    const t0 = Date.now();
    const normal = await loadLogin({ port: srv.c2sPort, username: 'user0', password: PASSWORD, resource: 'normal' });
    const loginMs = Date.now() - t0;
    console.log(`${TRICKLERS} trickling connections opened in ${connectedMs} ms; a normal login alongside took ${loginMs} ms`);
    assert.ok(loginMs < 2000, `the normal login took ${loginMs} ms`);
    assert.equal(await countSessions('c2s_unauthed'), TRICKLERS, 'the login happened while all of them were still open');
    assert.ok(tricklers.every((t) => t.closedAt === undefined), 'nothing was closed before auth_timeout');

    // The timeout (plus the close grace and some slack) later, every trickler is gone.
    const deadline = started + AUTH_TIMEOUT_MS + CLOSE_GRACE_MS + 8000;
    await waitFor(() => tricklers.every((t) => t.closedAt !== undefined), { timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: 100 }).catch(() => {});
    const open = tricklers.filter((t) => t.closedAt === undefined).length;
    assert.equal(open, 0, `${open} trickling connections are still open`);
    const earliest = Math.min(...tricklers.map((t) => t.closedAt ?? 0)) - started;
    assert.ok(earliest >= AUTH_TIMEOUT_MS - 100, `a connection was closed after ${earliest} ms, before auth_timeout`);
    const timedOut = tricklers.filter((t) => /<stream:error><connection-timeout xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/.test(t.received)).length;
    assert.equal(timedOut, TRICKLERS, 'each was told connection-timeout');
    await waitFor(async () => (await countSessions('c2s_unauthed')) === 0, { timeoutMs: 5000, intervalMs: 100 }).catch(() => {});
    assert.equal(await countSessions('c2s_unauthed'), 0, 'the server forgot them all');

    // The authenticated client is not subject to the timeout.
    assert.equal(normal.closed, false);
    normal.send(`<message to='${normal.jid}' id='still' type='chat'><body>still here</body></message>`);
    await normal.next(/<message[^>]*id=["']still["']/, 2000);
    normal.close();
  } finally {
    clearInterval(dribble);
    for (const t of tricklers) t.socket.destroy();
  }
});
