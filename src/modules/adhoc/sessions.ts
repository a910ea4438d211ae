/**
 * Command sessions (XEP-0050 §3.4): a multi-stage command keeps its state between requests
 * under a sessionid the server chose. A session belongs to the full JID that started it (a
 * sessionid from anyone else is bad-sessionid), lives for `timeoutMs` after its last request
 * (then session-expired), and a user has at most `maxPerUser` at once (the oldest is dropped).
 */
import { randomBytes } from 'node:crypto';
import type { FormValues } from './form.js';

export interface CommandSession {
  id: string;
  node: string;
  /** The full JID that started it. */
  owner: string;
  /** The stage now shown (index into the command's stages). */
  stage: number;
  /** The values of each submitted stage, by stage index. */
  submitted: FormValues[];
  lastUsed: number;
}

export type Lookup = { ok: true; session: CommandSession } | { ok: false; why: 'bad-sessionid' | 'session-expired' };

export class CommandSessions {
  private readonly byId = new Map<string, CommandSession>();
  /** Ids that expired recently, so a late request is told session-expired, not bad-sessionid. */
  private readonly expired = new Map<string, number>();

  constructor(
    private readonly now: () => number,
    private readonly timeoutMs: number,
    private readonly maxPerUser: number,
  ) {}

  get size(): number {
    return this.byId.size;
  }

  open(node: string, owner: string): CommandSession {
    const mine = [...this.byId.values()].filter((s) => s.owner === owner);
    if (mine.length >= this.maxPerUser) {
      const oldest = mine.reduce((a, b) => (a.lastUsed <= b.lastUsed ? a : b));
      this.byId.delete(oldest.id);
    }
    const session: CommandSession = { id: randomBytes(12).toString('base64url'), node, owner, stage: 0, submitted: [], lastUsed: this.now() };
    this.byId.set(session.id, session);
    return session;
  }

  find(id: string, node: string, owner: string): Lookup {
    this.sweep();
    const s = this.byId.get(id);
    if (!s) return { ok: false, why: this.expired.has(id) ? 'session-expired' : 'bad-sessionid' };
    if (s.owner !== owner || s.node !== node) return { ok: false, why: 'bad-sessionid' };
    s.lastUsed = this.now();
    return { ok: true, session: s };
  }

  close(id: string): void {
    this.byId.delete(id);
  }

  /** Drop idle sessions (remembering their ids for one more timeout). */
  sweep(): void {
    const now = this.now();
    for (const [id, s] of this.byId) {
      if (now - s.lastUsed >= this.timeoutMs) {
        this.byId.delete(id);
        this.expired.set(id, now);
      }
    }
    for (const [id, when] of this.expired) if (now - when >= this.timeoutMs) this.expired.delete(id);
  }
}
