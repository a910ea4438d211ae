/**
 * Resumption ids of one host. An id is 144 random bits (unguessable) and is bound to the
 * account that enabled it: looking one up needs the account too, and an id of another account
 * answers exactly as an unknown one, so a `<resume/>` learns nothing about other users.
 *
 * When a resumable session ends, its id is kept for a while as a tombstone with its inbound
 * count, so a late `<resume/>` gets `<failed h=…/>` (XEP-0198 §5: the client then knows which of
 * its stanzas arrived). Tombstones are bounded in number and age.
 */
import { randomBytes } from 'node:crypto';

export interface Live<S> {
  kind: 'live';
  session: S;
}
export interface Gone {
  kind: 'gone';
  /** The ended session's inbound count. */
  h: number;
}

interface Entry<S> {
  owner: string;
  session: S;
}
interface Tombstone {
  owner: string;
  h: number;
  until: number;
}

export class ResumeRegistry<S> {
  private readonly live = new Map<string, Entry<S>>();
  private readonly gone = new Map<string, Tombstone>();

  constructor(private readonly maxTombstones = 10_000) {}

  get size(): number {
    return this.live.size;
  }

  /**
   * A fresh id for `owner` (the account's bare JID). In a cluster `prefix` is this node's member
   * name: the id is then `{prefix}.{token}`, so any node can tell which one holds the session.
   */
  add(owner: string, session: S, prefix?: string): string {
    const token = randomBytes(18).toString('base64url');
    const id = prefix === undefined ? token : `${prefix}.${token}`;
    this.live.set(id, { owner, session });
    return id;
  }

  /** Keep an id made elsewhere (a session resumed here from another cluster node). */
  adopt(id: string, owner: string, session: S): void {
    this.gone.delete(id);
    this.live.set(id, { owner, session });
  }

  /** Forget a live id without a tombstone (its session moved to another node). */
  forget(id: string): void {
    this.live.delete(id);
  }

  lookup(id: string, owner: string, now: number): Live<S> | Gone | undefined {
    const entry = this.live.get(id);
    if (entry !== undefined) return entry.owner === owner ? { kind: 'live', session: entry.session } : undefined;
    const t = this.gone.get(id);
    if (t === undefined) return undefined;
    if (t.until <= now) {
      this.gone.delete(id);
      return undefined;
    }
    return t.owner === owner ? { kind: 'gone', h: t.h } : undefined;
  }

  /** The session of `id` ended: remember its count until `until` (server clock). */
  retire(id: string, h: number, until: number): void {
    const entry = this.live.get(id);
    if (entry === undefined) return;
    this.live.delete(id);
    this.gone.set(id, { owner: entry.owner, h, until });
    // Oldest first (insertion order): drop past the bound.
    for (const key of this.gone.keys()) {
      if (this.gone.size <= this.maxTombstones) break;
      this.gone.delete(key);
    }
  }

  /** Forget expired tombstones (called from the module's sweep). */
  sweep(now: number): void {
    for (const [id, t] of this.gone) if (t.until <= now) this.gone.delete(id);
  }
}
