/**
 * XEP-0191 Blocking Command: the blocklist IQs and their pushes (commands.ts), the effect of a
 * blocklist on every stanza to and from the user (enforce.ts), presence on block and unblock
 * (presence-effects.ts). Lists are cached per user while they are online (cache.ts). Options are
 * in `[modules.blocking]` (docs/configuration.md).
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import type { StanzaKind } from '../../xml/stanza.js';
import { BlocklistCache } from './cache.js';
import { BlockingCommands, NS_BLOCKING } from './commands.js';
import { BlockEnforcer } from './enforce.js';
import { PresenceEffects, rosterSubscribers } from './presence-effects.js';

export { NS_BLOCKING } from './commands.js';
export { NS_BLOCKING_ERRORS } from './enforce.js';
/** Storage: keyval store, one array of prepared JID strings per user. */
export const BLOCKLIST_STORE = 'blocklist';
/** Above every delivery hook, so nothing is delivered before the check. */
export const BLOCKING_PRIORITY = 1000;

const KINDS: StanzaKind[] = ['message', 'presence', 'iq'];

export default defineModule({
  name: 'blocking',
  description: 'XEP-0191 Blocking Command',
  options: z.object({
    max_items: z.number().int().min(1).default(1000),
    offline_cache_size: z.number().int().min(0).default(1000),
  }),
  setup(mod) {
    const { max_items: maxItems, offline_cache_size: cacheSize } = mod.options;
    const cache = new BlocklistCache(mod.keyval<string[]>(BLOCKLIST_STORE), cacheSize);
    const enforcer = new BlockEnforcer(mod, cache);
    const effects = new PresenceEffects(mod, enforcer, rosterSubscribers(mod));
    const commands = new BlockingCommands(mod, cache, effects, maxItems);

    mod.addFeature(NS_BLOCKING);
    mod.iq('get', NS_BLOCKING, 'blocklist', commands.onBlocklist, { to: 'bare' });
    mod.iq('set', NS_BLOCKING, 'block', commands.onBlock, { to: 'bare' });
    mod.iq('set', NS_BLOCKING, 'unblock', commands.onUnblock, { to: 'bare' });
    mod.iq('set', NS_BLOCKING, 'blocklist', commands.onWrongType, { to: 'bare' });
    mod.iq('get', NS_BLOCKING, 'block', commands.onWrongType, { to: 'bare' });
    mod.iq('get', NS_BLOCKING, 'unblock', commands.onWrongType, { to: 'bare' });

    for (const kind of KINDS) {
      // The sender's list on the sender's side, wherever the stanza goes (this host, another, remote, a component)…
      for (const dest of ['bare', 'full', 'host'] as const) mod.hook(`pre-${kind}/${dest}`, enforcer.onOutbound, BLOCKING_PRIORITY);
      // …and the recipient's list where it is delivered, above every delivery hook.
      for (const dest of ['bare', 'full'] as const) mod.hook(`${kind}/${dest}`, enforcer.onInbound, BLOCKING_PRIORITY);
    }

    // Keep lists of online users in memory; load them at bind so the first stanzas need no wait.
    mod.hook('resource-bind', ({ session }) => {
      cache.userOnline(session.username);
      cache.load(session.username).catch((err: unknown) => mod.log.error({ err, user: session.username }, 'could not load the blocklist'));
    });
    mod.hook('resource-unbind', ({ session }) => {
      if (mod.server.sessions.getUserSessions(mod.host, session.username).length === 0) cache.userOffline(session.username);
    });
    mod.hook('user-deleted', ({ username }) => cache.forget(username));
    // Cluster: another worker changed a list this worker may hold.
    mod.cachedStore(BLOCKLIST_STORE, async (username) => {
      cache.forget(username);
      if (mod.server.sessions.getLocalUserSessions(mod.host, username).length === 0) return;
      cache.userOnline(username);
      await cache.load(username);
    });
  },
});
