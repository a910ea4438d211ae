/**
 * Registration abuse limits beyond the per-address throttle (docs/abuse.md, "Registration"):
 * per subnet (/24 IPv4, /56 IPv6 by default), a minimum time between two registrations from one
 * address, and usernames nobody may register (regular expressions). Registration with an invite
 * is not subject to these: the inviter vouches for it. In memory, per process, or in Redis in a
 * Redis cluster (throttle.ts `takeShared`).
 */
import type { Refusal } from './fields.js';
import type { RegisterOptions } from './options.js';
import { subnetOf } from './subnet.js';
import { RegistrationThrottle, type SlotStore } from './throttle.js';

export type GuardOutcome =
  | { ok: true; giveBack: () => void }
  | { ok: false; why: 'subnet' | 'too-soon' | 'blocked-username'; refusal: Refusal };

const TOO_SOON: GuardOutcome = { ok: false, why: 'too-soon', refusal: { condition: 'not-acceptable', text: 'registrations from your address are too close together; try again later', type: 'wait' } };
const SUBNET: GuardOutcome = { ok: false, why: 'subnet', refusal: { condition: 'not-acceptable', text: 'too many registrations from your network; try again later', type: 'wait' } };

const NOTHING = (): void => {};

/** The spacing slot was taken; with the subnet's too the registration may go on, else the spacing slot goes back. */
function admitted(giveSpacing: () => void, giveSubnet: (() => void) | undefined): GuardOutcome {
  if (!giveSubnet) {
    giveSpacing();
    return SUBNET;
  }
  return {
    ok: true,
    giveBack: () => {
      giveSpacing();
      giveSubnet();
    },
  };
}

export class RegistrationGuard {
  private readonly subnets: RegistrationThrottle;
  private readonly spacing: RegistrationThrottle;
  private readonly exempt: ReadonlySet<string>;

  constructor(private readonly options: RegisterOptions, now?: () => number, shared?: { store: SlotStore; prefix: string }) {
    // registration_throttle_max = 0 turns every address-based limit off.
    const on = options.throttleMax > 0;
    const sharedAs = (name: string) => (shared === undefined ? undefined : { store: shared.store, prefix: `${shared.prefix}${name}:` });
    this.subnets = new RegistrationThrottle({ max: on ? options.subnetMax : 0, periodMs: options.throttlePeriod, now, shared: sharedAs('subnet') });
    this.spacing = new RegistrationThrottle({ max: on && options.minInterval > 0 ? 1 : 0, periodMs: options.minInterval, now, shared: sharedAs('spacing') });
    this.exempt = new Set(options.throttleExempt);
  }

  /** `check`, with the windows shared by the nodes of a Redis cluster (when they are). */
  async checkShared(ip: string, username: string): Promise<GuardOutcome> {
    const early = this.before(ip, username);
    if (early) return early;
    const giveSpacing = await this.spacing.takeShared(ip);
    if (!giveSpacing) return TOO_SOON;
    const subnet = subnetOf(ip, this.options.subnetV4Prefix, this.options.subnetV6Prefix);
    return admitted(giveSpacing, subnet === undefined ? NOTHING : await this.subnets.takeShared(subnet));
  }

  /** Check a registration without an invite; on success the slots taken are given back by `giveBack` if it fails. */
  check(ip: string, username: string): GuardOutcome {
    const early = this.before(ip, username);
    if (early) return early;
    const giveSpacing = this.spacing.take(ip);
    if (!giveSpacing) return TOO_SOON;
    const subnet = subnetOf(ip, this.options.subnetV4Prefix, this.options.subnetV6Prefix);
    return admitted(giveSpacing, subnet === undefined ? NOTHING : this.subnets.take(subnet));
  }

  /** The outcome decided before any window is asked: a blocked username, or an exempt address. */
  private before(ip: string, username: string): GuardOutcome | undefined {
    if (this.options.blockedUsernames.some((re) => re.test(username))) {
      return { ok: false, why: 'blocked-username', refusal: { condition: 'not-acceptable', text: 'that username is not available' } };
    }
    if (this.exempt.has(ip)) return { ok: true, giveBack: NOTHING };
    return undefined;
  }
}
