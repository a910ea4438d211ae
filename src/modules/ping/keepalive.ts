/**
 * Finding dead client connections with XEP-0199 pings: every bound session that has sent
 * nothing for `interval` gets a ping from the server; a session that then sends nothing at all
 * (not even the pong) within `timeout` is closed with `connection-timeout`. Anything the client
 * sends counts as life, so a busy client is never pinged. One sweep timer per host walks the
 * host's bound sessions; no per-session timers.
 */
import { randomBytes } from 'node:crypto';
import type { C2SSession } from '../../core/session.js';
import type { Logger } from '../../core/logging.js';
import { iq } from '../../xml/stanza.js';

export const NS_PING = 'urn:xmpp:ping';

export interface KeepaliveOptions {
  host: string;
  /** ms of silence before a ping */
  interval: number;
  /** ms to wait for any data after a ping */
  timeout: number;
  log: Logger;
  now?: () => number;
}

interface PendingPing {
  id: string;
  sentAt: number;
}

export class Keepalive {
  private readonly sessions = new Set<C2SSession>();
  private readonly pending = new Map<C2SSession, PendingPing>();
  private readonly now: () => number;

  constructor(private readonly opts: KeepaliveOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** How often to sweep: fine enough that pings and timeouts are at most a quarter late. */
  get sweepEvery(): number {
    return Math.min(30_000, Math.max(10, Math.floor(Math.min(this.opts.interval, this.opts.timeout) / 4)));
  }

  track(session: C2SSession): void {
    // A session that just bound has just been active (the bind itself).
    session.lastActivity ??= this.now();
    this.sessions.add(session);
  }

  untrack(session: C2SSession): void {
    this.sessions.delete(session);
    this.pending.delete(session);
  }

  /** Whether a session is waiting for the answer to a ping (for tests and metrics). */
  isPinged(session: C2SSession): boolean {
    return this.pending.has(session);
  }

  /**
   * A result or error from a client: true if it answers our ping (it is then consumed).
   * An error reply (a client without XEP-0199) proves the connection alive just as well.
   */
  answer(session: C2SSession, id: string | undefined): boolean {
    const p = this.pending.get(session);
    if (!p || p.id !== id) return false;
    this.pending.delete(session);
    session.lastActivity = Math.max(session.lastActivity ?? 0, this.now());
    return true;
  }

  sweep(): void {
    const now = this.now();
    for (const session of this.sessions) {
      if (session.destroyed) {
        this.untrack(session);
        continue;
      }
      const last = session.lastActivity ?? 0;
      const p = this.pending.get(session);
      if (p) {
        if (last > p.sentAt) this.pending.delete(session);
        else if (now - p.sentAt >= this.opts.timeout) this.timeOut(session);
        continue;
      }
      if (now - last >= this.opts.interval) this.ping(session, now);
    }
  }

  private ping(session: C2SSession, now: number): void {
    if (session.fullJid === undefined) return;
    const id = 'ping-' + randomBytes(6).toString('base64url');
    this.pending.set(session, { id, sentAt: now });
    session.log.debug('idle: sending a ping');
    session.send(iq({ type: 'get', id, from: this.opts.host, to: session.fullJid }).c('ping', { xmlns: NS_PING }).up());
  }

  private timeOut(session: C2SSession): void {
    this.untrack(session);
    session.log.info({ timeout: this.opts.timeout }, 'closing a connection that did not answer a ping');
    session.close({ condition: 'connection-timeout', text: 'no answer to a ping' });
  }
}
