/**
 * TLS session tickets that every Canto process serving the same data directory accepts (RFC
 * 8446 §4.6.1 / RFC 5077): a client that reconnects — a phone, dozens of times a day — resumes
 * its TLS session instead of a full handshake, whichever cluster worker (or, after a restart,
 * whichever process) takes the connection.
 *
 * Node's secure contexts otherwise make random ticket keys each, so a ticket from one worker is
 * useless on another and after a restart. Here the keys come from one secret in
 * `data_dir/tls-ticket-secret` (32 random bytes, made once with mode 0600, never sent): the key
 * for rotation period n is HMAC-SHA-384(secret, "canto tls ticket key " n) — exactly the 48
 * bytes Node wants — so processes agree without talking, and keys rotate every
 * `TICKET_PERIOD_MS` (tickets of the previous period then get a full handshake: Node holds one
 * key at a time). Deleting the file (and restarting) invalidates every ticket.
 *
 * Trade-off: whoever reads the secret can decrypt tickets, past and future. With TLS 1.3 (Node's
 * default, psk_dhe_ke) a resumed session still runs a fresh ECDHE, so recorded traffic stays
 * safe; a TLS 1.2 ticket holds the session's master secret. Keep the data directory private.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const TICKET_SECRET_FILE = 'tls-ticket-secret';
/** How long one ticket key is used (and at most how long a ticket stays resumable). */
export const TICKET_PERIOD_MS = 12 * 3600_000;
const SECRET_BYTES = 32;

/** The secret in `data_dir`, made (atomically, 0600) by the first process that needs it. */
export function loadTicketSecret(dataDir: string): Buffer {
  const path = join(dataDir, TICKET_SECRET_FILE);
  const read = (): Buffer | undefined => {
    try {
      const hex = readFileSync(path, 'utf8').trim();
      const secret = Buffer.from(hex, 'hex');
      if (secret.length !== SECRET_BYTES) throw new Error(`${path}: expected ${SECRET_BYTES * 2} hex digits; delete it to make a new one`);
      return secret;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  };
  const existing = read();
  if (existing) return existing;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // Written whole under another name, then linked into place: a second process starting at
  // the same moment either wins the link or reads the complete file the first one linked.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, randomBytes(SECRET_BYTES).toString('hex') + '\n', { mode: 0o600 });
  try {
    linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
  }
  const made = read();
  if (!made) throw new Error(`${path}: could not be created`);
  return made;
}

/** The rotation period a moment falls in. */
export function ticketPeriod(nowMs: number): number {
  return Math.floor(nowMs / TICKET_PERIOD_MS);
}

/** The 48-byte ticket key of a period (Node's `ticketKeys`: name, HMAC key, AES key). */
export function ticketKey(secret: Buffer, period: number): Buffer {
  return createHmac('sha384', secret).update(`canto tls ticket key ${period}`).digest();
}
