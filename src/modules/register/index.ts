/**
 * XEP-0077 In-Band Registration: creating an account before authentication (when the host has
 * `allow_registration`), and for signed-in users, changing the password and deleting the
 * account. Options are in `[modules.register]` (docs/configuration.md).
 */
import { defineModule } from '../../core/modules.js';
import { NS } from '../../xml/ns.js';
import { AccountManagement } from './account-management.js';
import { RegistrationBeforeAuth } from './before-auth.js';
import { readRegisterOptions, registerOptions } from './options.js';
import { NS_REGISTER, NS_REGISTER_FEATURE } from './query.js';
import { RegistrationThrottle } from './throttle.js';
import { RegistrationGuard } from './guard.js';
import { RedisBucketStore } from '../limits/redis-bucket-store.js';

export default defineModule({
  name: 'register',
  description: 'XEP-0077 In-Band Registration',
  options: registerOptions,
  setup(mod) {
    const options = readRegisterOptions(mod.options);
    // In a Redis cluster the address windows are in Redis, counted by every node (the client
    // connects on the first registration only).
    const redisUrl = mod.server.config.cluster.redis;
    const store = redisUrl === undefined ? undefined : new RedisBucketStore(redisUrl, mod.log);
    if (store) mod.onUnload(() => store.close());
    const prefix = `register:${mod.host}:`;
    const throttle = new RegistrationThrottle({
      max: options.throttleMax,
      periodMs: options.throttlePeriod,
      exempt: options.throttleExempt,
      shared: store && { store, prefix: `${prefix}ip:` },
    });
    const guard = new RegistrationGuard(options, () => mod.now(), store && { store, prefix });
    const beforeAuth = new RegistrationBeforeAuth(mod, options, throttle, guard);
    const management = new AccountManagement(mod, options);

    mod.addFeature(NS_REGISTER);

    mod.hook('stream-features', ({ origin, features }) => {
      if (origin.type !== 'c2s_unauthed') return;
      const availability = beforeAuth.availability(origin);
      if (availability === 'open') features.c('register', { xmlns: NS_REGISTER_FEATURE });
      // XEP-0401 §5.1: registration with an invite token is possible (open or not).
      if ((availability === 'open' || availability === 'invite-only') && mod.optional('invites')) features.c('register', { xmlns: 'urn:xmpp:invite' });
    });

    // Unauthenticated streams' stanzas are offered as stream elements (the router takes only
    // bound sessions' stanzas).
    mod.hook('stream-element', ({ origin, element }) => {
      if (origin.type !== 'c2s_unauthed' || !element.is('iq', NS.client)) return undefined;
      return beforeAuth.handle(origin, element);
    });

    // To the host, or with no 'to' (the router then addresses the iq to the user's bare JID).
    // Raw hookIq, not mod.iq: an iq that is not about the sender's own account is left unclaimed.
    mod.hookIq('get', 'host', NS_REGISTER, 'query', management.onGet);
    mod.hookIq('get', 'bare', NS_REGISTER, 'query', management.onGet);
    mod.hookIq('set', 'host', NS_REGISTER, 'query', management.onSet);
    mod.hookIq('set', 'bare', NS_REGISTER, 'query', management.onSet);
  },
});
