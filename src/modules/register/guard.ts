/**
 * Registration abuse limits beyond the per-address throttle (docs/abuse.md, "Registration"):
 * per subnet (/24 IPv4, /56 IPv6 by default), a minimum time between two registrations from one
 * address, and usernames nobody may register (regular expressions). Registration with an invite
 * is not subject to these: the inviter vouches for it. In memory, per process.
 */
import type { Refusal } from './fields.js';
import type { RegisterOptions } from './options.js';
import { subnetOf } from './subnet.js';
import { RegistrationThrottle } from './throttle.js';

export type GuardOutcome =
  | { ok: true; giveBack: () => void }
  | { ok: false; why: 'subnet' | 'too-soon' | 'blocked-username'; refusal: Refusal };

const LATER = 'too many registrations from your network; try again later';

export class RegistrationGuard {
  private readonly subnets: RegistrationThrottle;
  private readonly spacing: RegistrationThrottle;
  private readonly exempt: ReadonlySet<string>;

  constructor(private readonly options: RegisterOptions, now?: () => number) {
    // registration_throttle_max = 0 turns every address-based limit off.
    const on = options.throttleMax > 0;
    this.subnets = new RegistrationThrottle({ max: on ? options.subnetMax : 0, periodMs: options.throttlePeriod, now });
    this.spacing = new RegistrationThrottle({ max: on && options.minInterval > 0 ? 1 : 0, periodMs: options.minInterval, now });
    this.exempt = new Set(options.throttleExempt);
  }

  /** Check a registration without an invite; on success the slots taken are given back by `giveBack` if it fails. */
  check(ip: string, username: string): GuardOutcome {
    if (this.options.blockedUsernames.some((re) => re.test(username))) {
      return { ok: false, why: 'blocked-username', refusal: { condition: 'not-acceptable', text: 'that username is not available' } };
    }
    if (this.exempt.has(ip)) return { ok: true, giveBack: () => {} };
    const giveSpacing = this.spacing.take(ip);
    if (!giveSpacing) return { ok: false, why: 'too-soon', refusal: { condition: 'not-acceptable', text: 'registrations from your address are too close together; try again later', type: 'wait' } };
    const subnet = subnetOf(ip, this.options.subnetV4Prefix, this.options.subnetV6Prefix);
    const giveSubnet = subnet === undefined ? () => {} : this.subnets.take(subnet);
    if (!giveSubnet) {
      giveSpacing();
      return { ok: false, why: 'subnet', refusal: { condition: 'not-acceptable', text: LATER, type: 'wait' } };
    }
    return {
      ok: true,
      giveBack: () => {
        giveSpacing();
        giveSubnet();
      },
    };
  }
}
