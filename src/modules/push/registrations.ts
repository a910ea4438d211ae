/**
 * Push registrations (XEP-0357 §5): what `<enable/>` stores, one list per account (a keyval
 * store `push`, a few devices per account). Each names the app server, the node there, the
 * publish-options to send, and the resource of the session that enabled it: a hibernated
 * session is pushed for through the registrations its resource made.
 *
 * The lists of accounts with bound sessions are kept in memory (`pin`), since every stanza to
 * such a session asks whether it has one; offline messages read the store.
 */
import type { KeyValStore } from '../../storage/types.js';
import type { FormFields } from './form.js';

export interface Registration {
  /** The app server's JID (prepared). */
  jid: string;
  node: string;
  /** The publish-options fields (FORM_TYPE left out); absent when the client gave none. */
  options?: FormFields;
  /** The resource of the session that enabled it. */
  resource: string;
  /** When it was enabled (ms since the epoch). */
  enabledAt: number;
  /**
   * Consecutive failed attempts at its app server, when there are any: stored, so a restart
   * does not forgive a registration on its way to being disabled (`max_failures`).
   */
  failures?: number;
}

/** A registration's identity within an account. */
export function registrationKey(r: { jid: string; node: string }): string {
  return `${r.jid} ${r.node}`;
}

/** How a registration is shown in logs and the trace: the app server and the start of the node (it identifies a device). */
export function describeRegistration(r: { jid: string; node: string }): string {
  const node = r.node.length > 12 ? `${r.node.slice(0, 12)}…` : r.node;
  return `${r.jid} ${node}`;
}

export type EnableResult = 'added' | 'replaced' | 'too-many';

export class RegistrationBook {
  private readonly pinned = new Map<string, Registration[]>();
  private readonly loading = new Map<string, Promise<Registration[]>>();
  /** Accounts written while their list was being loaded: the load may have read the old list. */
  private readonly stale = new Set<string>();
  /** Accounts unpinned while their list was being loaded: not kept when the load ends. */
  private readonly dropped = new Set<string>();

  constructor(
    private readonly store: KeyValStore<Registration[]>,
    private readonly maxPerAccount: number,
  ) {}

  /** The account's registrations from memory, when its list is pinned. */
  peek(username: string): readonly Registration[] | undefined {
    return this.pinned.get(username);
  }

  /** The account's registrations: from memory when pinned, else the store. */
  async get(username: string): Promise<readonly Registration[]> {
    return this.pinned.get(username) ?? this.loading.get(username) ?? ((await this.store.get(username)) ?? []);
  }

  /** Keep the account's list in memory (a session bound). */
  async pin(username: string): Promise<void> {
    this.dropped.delete(username);
    if (this.pinned.has(username)) return;
    await this.reload(username);
  }

  /** Forget the in-memory list (the account's last session ended). */
  unpin(username: string): void {
    this.pinned.delete(username);
    if (this.loading.has(username)) this.dropped.add(username);
  }

  /** Read the list again (another cluster process wrote it); only pinned or loading accounts. */
  async reload(username: string): Promise<void> {
    const running = this.loading.get(username);
    if (running) {
      await running;
      return;
    }
    try {
      do {
        this.stale.delete(username);
        const load = this.store.get(username).then((list) => list ?? []);
        this.loading.set(username, load);
        this.pinned.set(username, await load);
      } while (this.stale.has(username));
    } finally {
      this.loading.delete(username);
      this.stale.delete(username);
      if (this.dropped.delete(username)) this.pinned.delete(username);
    }
  }

  async enable(username: string, reg: Registration): Promise<EnableResult> {
    let result: EnableResult = 'added';
    const key = registrationKey(reg);
    const list = await this.store.update(username, (current) => {
      const next = (current ?? []).filter((r) => registrationKey(r) !== key);
      result = next.length < (current ?? []).length ? 'replaced' : 'added';
      if (next.length >= this.maxPerAccount) {
        result = 'too-many';
        return current;
      }
      next.push(reg);
      return next;
    });
    this.written(username, list);
    return result;
  }

  /** Remove the registrations at `jid` (only `node` there, when given); returns those removed. */
  async disable(username: string, jid: string, node?: string): Promise<Registration[]> {
    let removed: Registration[] = [];
    const list = await this.store.update(username, (current) => {
      const all = current ?? [];
      const gone = (r: Registration) => r.jid === jid && (node === undefined || r.node === node);
      removed = all.filter(gone);
      const next = all.filter((r) => !gone(r));
      return next.length === 0 ? undefined : next;
    });
    this.written(username, list);
    return removed;
  }

  /** Store the consecutive failures of a registration (0 clears them); nothing when it is gone. */
  async setFailures(username: string, reg: { jid: string; node: string }, failures: number): Promise<void> {
    const key = registrationKey(reg);
    const list = await this.store.update(username, (current) => {
      if (!current?.some((r) => registrationKey(r) === key && (r.failures ?? 0) !== failures)) return current;
      return current.map((r) => {
        if (registrationKey(r) !== key) return r;
        const next: Registration = { ...r, failures };
        if (failures === 0) delete next.failures;
        return next;
      });
    });
    this.written(username, list);
  }

  private written(username: string, list: Registration[] | undefined): void {
    if (this.loading.has(username)) this.stale.add(username);
    else if (this.pinned.has(username)) this.pinned.set(username, list ?? []);
  }
}
