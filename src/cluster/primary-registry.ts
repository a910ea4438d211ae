/**
 * The primary's authoritative view of every bound resource in the cluster. The primary sees all
 * registry changes in one order, so it is where two workers binding the same resource at the
 * same moment (neither saw the other's) is noticed: the later binding wins, as with kick_old,
 * and the earlier one's worker is told to close its session.
 */
import { entryKey, type RegistryEntry } from './protocol.js';

export interface BindOutcome {
  /** A binding of the same resource on another worker that the new one replaced. */
  replaced?: RegistryEntry;
}

export class PrimaryRegistry {
  private readonly entries = new Map<string, RegistryEntry>();

  bound(e: RegistryEntry): BindOutcome {
    const key = entryKey(e);
    const old = this.entries.get(key);
    this.entries.set(key, e);
    return old && (old.worker !== e.worker || old.sid !== e.sid) ? { replaced: old } : {};
  }

  /** A state change; false when the entry is not (or no longer) the current binding. */
  updated(e: RegistryEntry): boolean {
    const key = entryKey(e);
    const cur = this.entries.get(key);
    if (!cur || cur.worker !== e.worker || cur.sid !== e.sid) return false;
    this.entries.set(key, e);
    return true;
  }

  /** An unbind; false when the entry is not the current binding (it was already replaced). */
  unbound(e: RegistryEntry): boolean {
    const key = entryKey(e);
    const cur = this.entries.get(key);
    if (!cur || cur.worker !== e.worker || cur.sid !== e.sid) return false;
    this.entries.delete(key);
    return true;
  }

  /** Forget every binding of a worker (it exited); returns how many there were. */
  dropWorker(worker: number): number {
    let n = 0;
    for (const [key, e] of this.entries) {
      if (e.worker !== worker) continue;
      this.entries.delete(key);
      n++;
    }
    return n;
  }

  snapshot(): RegistryEntry[] {
    return [...this.entries.values()];
  }

  get size(): number {
    return this.entries.size;
  }
}
