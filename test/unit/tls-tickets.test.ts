/**
 * TLS session tickets shared through the data directory (src/net/tls-tickets.ts): a session
 * from one process's STARTTLS resumes on another process with the same data directory (a
 * cluster worker, or the server after a restart), not on one with another directory; the secret
 * file is 0600 and made once; the key rotates with the period and tickets of the last period
 * then get a full handshake.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, connect as netConnect, type Server } from 'node:net';
import { TLSSocket, connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { defaultConfig } from '../../src/app/config.js';
import { TlsContexts } from '../../src/net/tls.js';
import { makeSelfSigned } from '../../src/net/certificates.js';
import { loadTicketSecret, TICKET_PERIOD_MS, TICKET_SECRET_FILE, ticketKey } from '../../src/net/tls-tickets.js';
import { tempDir } from '../helpers/server.js';

async function contextsIn(dataDir: string, certDir: string, now: () => number): Promise<TlsContexts> {
  const config = defaultConfig();
  config.data_dir = dataDir;
  const paths = { certificate: join(certDir, 'localhost.crt'), key: join(certDir, 'localhost.key') };
  await makeSelfSigned('localhost', paths);
  config.virtualhost = [{ domain: 'localhost', ...paths, allow_registration: false, modules_enabled: [], modules_disabled: [] }];
  return new TlsContexts(config, now);
}

/** A plain listener that upgrades in place as Canto's STARTTLS does (TLSSocket over the socket). */
async function starttlsServer(contexts: TlsContexts): Promise<{ server: Server; port: number }> {
  const server = createServer((raw) => {
    const t = new TLSSocket(raw, { isServer: true, secureContext: contexts.forDomain('localhost')?.context });
    t.on('secure', () => t.write('ok'));
    t.on('error', () => {});
    t.on('data', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port };
}

/** One connection; whether the session was resumed and the session to offer next time. */
async function handshake(port: number, session?: Buffer): Promise<{ reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    const raw = netConnect(port, '127.0.0.1', () => {
      let next: Buffer | undefined;
      let data = false;
      const opts: ConnectionOptions = { socket: raw, servername: 'localhost', rejectUnauthorized: false, session };
      const t = tlsConnect(opts);
      // Done when the server's data and, after a full handshake, a ticket have arrived (in
      // either order); a resumed session gets no new ticket: the one offered stays good.
      const done = () => {
        if (!data) return;
        const reused = t.isSessionReused();
        if (!reused && next === undefined) return;
        t.destroy();
        resolve({ reused, session: next ?? session });
      };
      t.on('session', (s: Buffer) => {
        next = s;
        done();
      });
      t.on('error', reject);
      t.once('data', () => {
        data = true;
        done();
      });
    });
    raw.on('error', reject);
  });
}

test('a TLS session resumes on another process with the same data directory, not with another', async () => {
  const dataDir = tempDir();
  let now = 5 * TICKET_PERIOD_MS + 1000;
  const clock = () => now;
  const a = await contextsIn(dataDir, tempDir(), clock);
  const b = await contextsIn(dataDir, tempDir(), clock);
  const other = await contextsIn(tempDir(), tempDir(), clock);
  const servers = await Promise.all([a, b, other].map(starttlsServer));
  const [sa, sb, so] = servers;
  assert.ok(sa && sb && so);
  try {
    const mode = statSync(join(dataDir, TICKET_SECRET_FILE)).mode & 0o777;
    assert.equal(mode, 0o600, 'the secret is private');
    assert.equal(readFileSync(join(dataDir, TICKET_SECRET_FILE), 'utf8').trim().length, 64);
    assert.deepEqual(a.currentTicketKeys, b.currentTicketKeys, 'one secret, one key');
    assert.notDeepEqual(a.currentTicketKeys, other.currentTicketKeys);

    const first = await handshake(sa.port);
    assert.equal(first.reused, false);
    const onB = await handshake(sb.port, first.session);
    assert.equal(onB.reused, true, 'resumed on the other process');
    const elsewhere = await handshake(so.port, onB.session);
    assert.equal(elsewhere.reused, false, 'another data directory does not accept it');

    // The next period: both rotate to the next key; the old ticket is refused (full handshake).
    now += TICKET_PERIOD_MS;
    a.rotate();
    b.rotate();
    assert.deepEqual(a.currentTicketKeys, ticketKey(loadTicketSecret(dataDir), 6));
    const afterRotation = await handshake(sa.port, onB.session);
    assert.equal(afterRotation.reused, false, 'a ticket of the last period gets a full handshake');
    const again = await handshake(sb.port, afterRotation.session);
    assert.equal(again.reused, true, 'the new ticket resumes on the other process');
  } finally {
    for (const s of servers) s.server.close();
    for (const c of [a, b, other]) c.close();
  }
});
