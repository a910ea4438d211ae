/**
 * The console's login sessions, kept in memory only (a restart logs every admin out). The
 * cookie carries a random 256-bit id; the map is keyed by its SHA-256, so a lookup's timing
 * says nothing about stored ids and a heap dump holds no usable cookie. Each session has its
 * own CSRF token (another 256 random bits), a `handle` that names it in logs (never the id),
 * an absolute lifetime and an idle timeout.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface ConsoleSession {
  /** Names the session in logs and the admin API's audit lines; not a secret. */
  readonly handle: string;
  /** The admin's bare JID. */
  readonly jid: string;
  readonly csrf: string;
  readonly ip: string;
  readonly created: number;
  /** Absolute end, ms since the epoch. */
  readonly expires: number;
  lastSeen: number;
}

export interface SessionLimits {
  /** Absolute lifetime, ms. */
  ttlMs: number;
  /** Ended after this long without a request, ms. */
  idleMs: number;
  /** At most this many sessions at once; the oldest goes first. */
  max: number;
}

export const SESSION_ID_SHAPE = /^[A-Za-z0-9_-]{43}$/;

function keyOf(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

export class ConsoleSessions {
  private readonly byKey = new Map<string, ConsoleSession>();

  constructor(
    private readonly limits: SessionLimits,
    private readonly now: () => number,
  ) {}

  /** A new session; returns it and the id for the cookie (the only place the id exists). */
  create(jid: string, ip: string): { id: string; session: ConsoleSession } {
    while (this.byKey.size >= this.limits.max) {
      const oldest = this.byKey.keys().next().value;
      if (oldest === undefined) break;
      this.byKey.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const now = this.now();
    const session: ConsoleSession = {
      handle: randomBytes(6).toString('base64url'),
      jid,
      csrf: randomBytes(32).toString('base64url'),
      ip,
      created: now,
      expires: now + this.limits.ttlMs,
      lastSeen: now,
    };
    this.byKey.set(keyOf(id), session);
    return { id, session };
  }

  /** The live session of a cookie id (its idle clock restarted), or undefined. */
  get(id: string): ConsoleSession | undefined {
    if (!SESSION_ID_SHAPE.test(id)) return undefined;
    const key = keyOf(id);
    const s = this.byKey.get(key);
    if (!s) return undefined;
    const now = this.now();
    if (!this.alive(s, now)) {
      this.byKey.delete(key);
      return undefined;
    }
    s.lastSeen = now;
    return s;
  }

  /** End the session of a cookie id; whether there was one. */
  delete(id: string): boolean {
    return SESSION_ID_SHAPE.test(id) && this.byKey.delete(keyOf(id));
  }

  /** End every session of an admin (e.g. no longer listed in `admins`); how many. */
  deleteFor(jid: string): number {
    let n = 0;
    for (const [key, s] of this.byKey) {
      if (s.jid !== jid) continue;
      this.byKey.delete(key);
      n++;
    }
    return n;
  }

  /** Drop expired and idle sessions. */
  sweep(): void {
    const now = this.now();
    for (const [key, s] of this.byKey) if (!this.alive(s, now)) this.byKey.delete(key);
  }

  get size(): number {
    return this.byKey.size;
  }

  clear(): void {
    this.byKey.clear();
  }

  private alive(s: ConsoleSession, now: number): boolean {
    return now < s.expires && now - s.lastSeen < this.limits.idleMs;
  }
}
