/** The `[modules.register]` options: their schema, and the names the module's code uses. */
import { z } from 'zod';
import { duration, list } from '../../core/option-schemas.js';

export const registerOptions = z.object({
  allow_password_change: z.boolean().default(true),
  allow_account_removal: z.boolean().default(true),
  registration_throttle_max: z.number().int().min(0).default(5),
  registration_throttle_period: duration('1 hour'),
  registration_throttle_exempt: list(),
  instructions: z.string().default('Choose a username and password to register an account on this server.'),
  /** <remove/> schedules the deletion this long ahead; a login before then restores the account. */
  deletion_grace: duration(),
});

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
    instructions: options.instructions,
    deletionGrace: options.deletion_grace,
  };
}
