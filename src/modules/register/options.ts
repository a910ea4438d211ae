/** The `[modules.register]` options: their schema, and the names the module's code uses. */
import { z } from 'zod';
import { duration, list } from '../../core/option-schemas.js';

export const registerOptions = z.object({
  allow_password_change: z.boolean().default(true),
  allow_account_removal: z.boolean().default(true),
  registration_throttle_max: z.number().int().min(0).default(5),
  registration_throttle_period: duration('1 hour'),
  registration_throttle_exempt: list(),
  /** New accounts per subnet per period (the subnet of `registration_subnet_v4/v6_prefix`); 0 = unlimited. */
  registration_subnet_max: z.number().int().min(0).default(20),
  registration_subnet_v4_prefix: z.number().int().min(8).max(32).default(24),
  registration_subnet_v6_prefix: z.number().int().min(16).max(128).default(56),
  /** Least time between two registrations from one address; 0 = no minimum. */
  registration_min_interval: duration('0s'),
  /** Usernames nobody may register (regular expressions, matched case-insensitively). */
  blocked_usernames: z.array(z.string().superRefine((v, ctx) => {
    try {
      new RegExp(v, 'iu');
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `expected a regular expression: ${(err as Error).message}` });
    }
  })).default(() => [...RESERVED_USERNAMES]),
  /** Registration only with an invite (XEP-0401/0445), even where `allow_registration` is on. */
  require_invite: z.boolean().default(false),
  instructions: z.string().default('Choose a username and password to register an account on this server.'),
  /** <remove/> schedules the deletion this long ahead; a login before then restores the account. */
  deletion_grace: duration(),
});

/** Role addresses (RFC 2142) and the like: reserved by default. */
export const RESERVED_USERNAMES: readonly string[] = ['^(admin|administrator|root|postmaster|hostmaster|webmaster|abuse|security|support|noc)$'];

export interface RegisterOptions {
  /** Registered users may change their password in-band (XEP-0077 §3.3). */
  allowPasswordChange: boolean;
  /** Registered users may delete their account in-band (XEP-0077 §3.2). */
  allowAccountRemoval: boolean;
  /** New accounts per client address per period; 0 = unlimited. */
  throttleMax: number;
  /** The throttle's window, in ms. */
  throttlePeriod: number;
  /** Addresses the throttle never applies to. */
  throttleExempt: string[];
  /** New accounts per subnet per period; 0 = unlimited. */
  subnetMax: number;
  subnetV4Prefix: number;
  subnetV6Prefix: number;
  /** ms between two registrations from one address; 0 = no minimum. */
  minInterval: number;
  blockedUsernames: RegExp[];
  requireInvite: boolean;
  /** The <instructions/> shown with the registration form. */
  instructions: string;
  /** ms; undefined: <remove/> deletes at once. */
  deletionGrace: number | undefined;
}

export function readRegisterOptions(options: z.output<typeof registerOptions>): RegisterOptions {
  return {
    allowPasswordChange: options.allow_password_change,
    allowAccountRemoval: options.allow_account_removal,
    throttleMax: options.registration_throttle_max,
    throttlePeriod: options.registration_throttle_period,
    throttleExempt: options.registration_throttle_exempt,
    subnetMax: options.registration_subnet_max,
    subnetV4Prefix: options.registration_subnet_v4_prefix,
    subnetV6Prefix: options.registration_subnet_v6_prefix,
    minInterval: options.registration_min_interval,
    blockedUsernames: options.blocked_usernames.map((p) => new RegExp(p, 'iu')),
    requireInvite: options.require_invite,
    instructions: options.instructions,
    deletionGrace: options.deletion_grace,
  };
}
