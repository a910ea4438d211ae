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
 */
import { FailureLimiter } from './rate-limit.js';

export interface ThrottleOptions {
  /** Failures per address, and per account from one address, before answers are delayed. */
  maxFailures: number;
  /** Failures per account (from all addresses) before failures for it are delayed. */
  accountMaxFailures: number;
  windowMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  now?: () => number;
}

export type ThrottleKey = 'ip' | 'pair' | 'account';

export class AuthThrottle {
  private readonly perAddress: FailureLimiter;
  private readonly perAccount: FailureLimiter;

  constructor(opts: ThrottleOptions) {
    const common = { windowMs: opts.windowMs, baseDelayMs: opts.baseDelayMs, maxDelayMs: opts.maxDelayMs, now: opts.now };
    // Address and (account, address) keys share a limiter: same limit, one sweep.
    this.perAddress = new FailureLimiter({ ...common, maxFailures: opts.maxFailures });
    this.perAccount = new FailureLimiter({ ...common, maxFailures: opts.accountMaxFailures });
  }

  /**
   * How long to hold back the answer to an attempt from `ip` for `username` (undefined when the
   * mechanism never learnt who), and the key that decided it. `success`: the answer is a success.
   */
  delay(ip: string, username: string | undefined, success: boolean): { ms: number; key: ThrottleKey | undefined } {
    const ipKey = `ip:${ip}`;
    const pairKey = username === undefined ? undefined : `pair:${ip}\0${username}`;
    const failedBefore = this.perAddress.count(ipKey) > 0 || (pairKey !== undefined && this.perAddress.count(pairKey) > 0);
    const candidates: [ThrottleKey, number][] = [];
    if (failedBefore) {
      candidates.push(['ip', this.perAddress.delayFor(ipKey)]);
      if (pairKey !== undefined) candidates.push(['pair', this.perAddress.delayFor(pairKey)]);
    }
    // The account's delay never holds back a success from an address that has not failed.
    if (username !== undefined && (failedBefore || !success)) candidates.push(['account', this.perAccount.delayFor(`user:${username}`)]);
    let best: { ms: number; key: ThrottleKey | undefined } = { ms: 0, key: undefined };
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
    return warnings;
  }

  sweep(): void {
    this.perAddress.sweep();
    this.perAccount.sweep();
  }
}
