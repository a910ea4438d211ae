/**
 * XEP-0030 Service Discovery: disco#info and disco#items for the host (identity, features and
 * XEP-0128 forms that modules register on the host; items = components plus what modules add)
 * and for users' bare JIDs on the account's behalf. See api.ts to extend it, README.md.
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { NS_DISCO_INFO, NS_DISCO_ITEMS } from './api.js';
import { DiscoResponder } from './responder.js';

import { discoService } from './api.js';

export { addDiscoItem, NS_DISCO_INFO, NS_DISCO_ITEMS, type DiscoItem, type DiscoQuery } from './api.js';

export default defineModule({
  name: 'disco',
  description: 'XEP-0030 Service Discovery',
  options: z.object({ name: z.string().default('Canto') }),
  setup(mod) {
    const ctx = mod.context;
    if (!ctx) throw new Error('disco is a host module');
    mod.addIdentity({ category: 'server', type: 'im', name: mod.options.name });
    // The responder reads the service's fixed items; the service asks the responder for the
    // host's info (only after setup, so `disco` is set by then).
    const service = discoService(() => disco.hostInfoQuery());
    const disco = new DiscoResponder(mod, ctx, service);
    mod.provides('disco', service);
    mod.addFeature(NS_DISCO_INFO);
    mod.addFeature(NS_DISCO_ITEMS);

    mod.iq('get', NS_DISCO_INFO, 'query', disco.hostInfo);
    mod.iq('get', NS_DISCO_ITEMS, 'query', disco.hostItems);
    mod.iq('get', NS_DISCO_INFO, 'query', disco.accountInfo, { to: 'bare' });
    mod.iq('get', NS_DISCO_ITEMS, 'query', disco.accountItems, { to: 'bare' });
  },
});
