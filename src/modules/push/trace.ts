/**
 * The push trace: for each account, its last push decisions, so an operator can answer "why
 * was my phone not woken?" (`canto push-trace user@host`, docs/push.md). In memory only, bounded
 * twice: `perAccount` entries per account (the oldest dropped) and `maxAccounts` accounts (the
 * account whose trace was written to longest ago dropped). A restart forgets it.
 *
 * Entries are objects the module keeps updating after adding them: a sent notification's entry
 * gets the app server's answer, latency and attempts when they come.
 */

export type Decision = 'sent' | 'failed' | 'suppressed' | 'enabled' | 'disabled';

/** Why no notification went out (also the `reason` label of canto_push_suppressed_total). */
export type SuppressReason =
  | 'not-important'
  | 'session-connected'
  | 'no-registration'
  | 'rate-limited'
  | 'in-flight';

export interface TraceEntry {
  /** ms since the epoch (server clock). */
  at: number;
  /** The registration it concerns, `appserver node` (node shortened); absent when none did. */
  registration?: string;
  /** What caused the decision: hibernated, offline, unacked (at hibernation), coalesced, connected, client, failures. */
  trigger: string;
  /** What arrived, e.g. "message from juliet@example.com", "chat state"; or what happened. */
  what: string;
  decision: Decision;
  /** For 'suppressed' (and 'disabled'): why. */
  reason?: SuppressReason | string;
  /** Human detail: "coalesced into the push due at …", "3 pending". */
  detail?: string;
  /** The app server's answer: "result", "error cancel/item-not-found", "timeout" (the last attempt's). */
  answer?: string;
  /** Milliseconds from sending to the answer (of the last attempt). */
  latencyMs?: number;
  /** Attempts made so far (retries included). */
  attempts?: number;
}

export class PushTrace {
  /** Map order is recency of writes: the first key is the account written to longest ago. */
  private readonly accounts = new Map<string, TraceEntry[]>();

  constructor(
    readonly perAccount: number,
    readonly maxAccounts: number,
  ) {}

  /** Record an entry for `account` (bare JID) and return it (to update it later). */
  add(account: string, entry: TraceEntry): TraceEntry {
    let ring = this.accounts.get(account);
    if (ring === undefined) {
      ring = [];
      while (this.accounts.size >= this.maxAccounts) {
        const oldest = this.accounts.keys().next().value;
        if (oldest === undefined) break;
        this.accounts.delete(oldest);
      }
    } else {
      this.accounts.delete(account); // re-inserted below: most recent
    }
    this.accounts.set(account, ring);
    ring.push(entry);
    if (ring.length > this.perAccount) ring.splice(0, ring.length - this.perAccount);
    return entry;
  }

  /** The account's entries, oldest first (copies: callers may serialise them freely). */
  get(account: string): TraceEntry[] {
    return (this.accounts.get(account) ?? []).map((e) => ({ ...e }));
  }

  has(account: string): boolean {
    return this.accounts.has(account);
  }

  forget(account: string): void {
    this.accounts.delete(account);
  }

  /** Accounts with a trace (for tests and the bound). */
  get size(): number {
    return this.accounts.size;
  }
}
