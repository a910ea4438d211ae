/**
 * Who waits after failed logins, and who does not (issue 17 item 9).
 *
 * The old rule held back *every* answer for an account past its failure limit, so anyone could
 * lock any user out by guessing wrong from anywhere. Now failures are counted under three keys:
 *
 * - the address (`ip`): one address guessing at many accounts;
 * - the account from that address (`pair`): one address guessing at one account;
 * - the account (`account`), with a much higher limit: guesses at one account from many
 *   addresses (a distributed attack), which no per-address count sees.
 *
 * An address that has failed (either of its keys counted something in the window) has every
 * answer held back by the largest delay that applies, success included, so from the guessing
 * address a slow answer says nothing. An address that has not failed is never delayed for a
 * correct password, however much the account is under attack: the owner gets in. Its wrong
 * passwords, though, wait for the account's delay, so a distributed attack gets at most one
 * fast guess per fresh address before that address counts as failed.
 *
 * In a Redis cluster (`shared`, issue 18) every failure is also counted in Redis (one script call
 * per failure, not waited for), and `delayShared` decides on the counts of all nodes: one script
 * call per answer, waited for `timeoutMs` at most. Each key's count is the larger of this node's
 * and Redis's (a failure made here while Redis was away still counts here). When Redis is away or
 * slower, this node's counts decide, as without a cluster. The rules above are the same either way.
 */
import { FailureLimiter } from './rate-limit.js';

/** Failure windows shared by the nodes of a Redis cluster (limits/redis-bucket-store.ts). */
export interface SharedFailures {
  /** Count a failure in each key's window (keeping the newest `cap`). */
  fail(keys: string[], windowMs: number, cap: number): Promise<void>;
  /** Each key's failures in the window, or undefined when unreachable within `timeoutMs`. */
  failures(keys: string[], windowMs: number, timeoutMs: number): Promise<number[] | undefined>;
}

/** How long an answer waits for the shared counts at most before this node's decide. */
export const SHARED_TIMEOUT_MS = 200;

export interface ThrottleOptions {
  /** Failures per address, and per account from one address, before answers are delayed. */
  maxFailures: number;
  /** Failures per account (from all addresses) before failures for it are delayed. */
  accountMaxFailures: number;
  windowMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  now?: () => number;
  /** Counted across the nodes of a Redis cluster too; `prefix` starts this host's keys there. */
  shared?: { store: SharedFailures; prefix: string; timeoutMs?: number };
}

export type ThrottleKey = 'ip' | 'pair' | 'account';

/** Failures in the window under each key that applies (`pair`, `account`: undefined without a username). */
interface Counts {
  ip: number;
  pair: number | undefined;
  account: number | undefined;
}

export type ThrottleDecision = { ms: number; key: ThrottleKey | undefined };

export class AuthThrottle {
  private readonly perAddress: FailureLimiter;
  private readonly perAccount: FailureLimiter;
  private readonly shared: ThrottleOptions['shared'];
  private readonly windowMs: number;

  constructor(opts: ThrottleOptions) {
    this.shared = opts.shared;
    this.windowMs = opts.windowMs;
    const common = { windowMs: opts.windowMs, baseDelayMs: opts.baseDelayMs, maxDelayMs: opts.maxDelayMs, now: opts.now };
    // Address and (account, address) keys share a limiter: same limit, one sweep.
    this.perAddress = new FailureLimiter({ ...common, maxFailures: opts.maxFailures });
    this.perAccount = new FailureLimiter({ ...common, maxFailures: opts.accountMaxFailures });
  }

  /** Whether failures are counted across cluster nodes (then `delayShared` is the one to ask). */
  get isShared(): boolean {
    return this.shared !== undefined;
  }

  /**
   * How long to hold back the answer to an attempt from `ip` for `username` (undefined when the
   * mechanism never learnt who), and the key that decided it. `success`: the answer is a success.
   * This node's counts only.
   */
  delay(ip: string, username: string | undefined, success: boolean): ThrottleDecision {
    return this.decide(this.localCounts(ip, username), success);
  }

  /**
   * `delay` on the counts of every node of the cluster; `shared` false when this node's counts
   * decided (Redis did not answer in time, or the throttle is not shared).
   */
  async delayShared(ip: string, username: string | undefined, success: boolean): Promise<ThrottleDecision & { shared: boolean }> {
    const local = this.localCounts(ip, username);
    if (this.shared === undefined) return { ...this.decide(local, success), shared: false };
    const keys = this.sharedKeys(ip, username);
    const remote = await this.shared.store.failures(keys, this.windowMs, this.shared.timeoutMs ?? SHARED_TIMEOUT_MS);
    if (remote === undefined) return { ...this.decide(local, success), shared: false };
    const [ipCount = 0, pair = 0, account = 0] = remote;
    const decision = this.decide(
      {
        ip: Math.max(local.ip, ipCount),
        pair: local.pair === undefined ? undefined : Math.max(local.pair, pair),
        account: local.account === undefined ? undefined : Math.max(local.account, account),
      },
      success,
    );
    return { ...decision, shared: true };
  }

  private localCounts(ip: string, username: string | undefined): Counts {
    return {
      ip: this.perAddress.count(`ip:${ip}`),
      pair: username === undefined ? undefined : this.perAddress.count(`pair:${ip}\0${username}`),
      account: username === undefined ? undefined : this.perAccount.count(`user:${username}`),
    };
  }

  /** The Redis keys, in the order ip, pair, account (a localpart holds no '@'). */
  private sharedKeys(ip: string, username: string | undefined): string[] {
    const prefix = this.shared?.prefix ?? '';
    const keys = [`${prefix}ip:${ip}`];
    if (username !== undefined) keys.push(`${prefix}pair:${username}@${ip}`, `${prefix}account:${username}`);
    return keys;
  }

  private decide(counts: Counts, success: boolean): ThrottleDecision {
    const failedBefore = counts.ip > 0 || (counts.pair ?? 0) > 0;
    const candidates: [ThrottleKey, number][] = [];
    if (failedBefore) {
      candidates.push(['ip', this.perAddress.delayAt(counts.ip)]);
      if (counts.pair !== undefined) candidates.push(['pair', this.perAddress.delayAt(counts.pair)]);
    }
    // The account's delay never holds back a success from an address that has not failed.
    if (counts.account !== undefined && (failedBefore || !success)) candidates.push(['account', this.perAccount.delayAt(counts.account)]);
    let best: ThrottleDecision = { ms: 0, key: undefined };
    for (const [key, ms] of candidates) if (ms > best.ms) best = { ms, key };
    return best;
  }

  /** Count a failed attempt (wrong credentials); returns the keys now over their limit, to log once per window. */
  failed(ip: string, username: string | undefined): { key: ThrottleKey; count: number }[] {
    const warnings: { key: ThrottleKey; count: number }[] = [];
    const note = (key: ThrottleKey, r: { count: number; warn: boolean }) => {
      if (r.warn) warnings.push({ key, count: r.count });
    };
    note('ip', this.perAddress.record(`ip:${ip}`));
    if (username !== undefined) {
      note('pair', this.perAddress.record(`pair:${ip}\0${username}`));
      note('account', this.perAccount.record(`user:${username}`));
    }
    // Not waited for: the answer to this attempt was already decided; the next one reads it.
    if (this.shared) this.shared.store.fail(this.sharedKeys(ip, username), this.windowMs, Math.max(this.perAddress.cap, this.perAccount.cap)).catch(() => {});
    return warnings;
  }

  sweep(): void {
    this.perAddress.sweep();
    this.perAccount.sweep();
  }
}
