/** The `[modules.register]` options, read and checked once when the module loads. */
import type { ModuleOptions } from '../../core/modules.js';

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
}

export function readRegisterOptions(option: ModuleOptions): RegisterOptions {
  return {
    allowPasswordChange: option.boolean('allow_password_change', true),
    allowAccountRemoval: option.boolean('allow_account_removal', true),
    throttleMax: option.number('registration_throttle_max', 5, 0),
    throttlePeriod: option.period('registration_throttle_period', '1 hour'),
    throttleExempt: option.list('registration_throttle_exempt', []),
    instructions: option.string('instructions', 'Choose a username and password to register an account on this server.'),
  };
}
