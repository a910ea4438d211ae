/**
 * Presence and presence subscriptions (RFC 6121 §3, §4, Appendix A), with subscription
 * pre-approval (§3.4). The roster data lives in the roster module's store (../roster/store.ts).
 * Options in `[modules.presence]`; see README.md for the events.
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { BoundC2SSession } from '../../core/session.js';
import type { Element } from '../../xml/element.js';
import { PresenceService } from './service.js';

export const NS_PRE_APPROVAL_FEATURE = 'urn:xmpp:features:pre-approval';

declare module '../../core/event-map.js' {
  interface EventMap {
    /**
     * A resource sent its initial available presence, after the broadcast and probes (offline
     * delivery listens). The cluster layer fires it for a resource that became available on
     * another worker, as this module would have.
     */
    'presence/initial': { session: BoundC2SSession; presence: Element };
  }
}

export default defineModule({
  name: 'presence',
  description: 'RFC 6121 presence and subscriptions, §3.4 pre-approval',
  depends: ['roster'],
  options: z.object({
    pre_approval: z.boolean().default(true),
    max_pending_requests: z.number().int().min(1).default(200),
  }),
  setup(mod) {
    const { pre_approval: preApproval, max_pending_requests: maxPendingRequests } = mod.options;
    const service = new PresenceService(mod, { preApproval, maxPendingRequests });

    mod.hook('stream-features', ({ origin, features }) => {
      if (!preApproval || origin.type !== 'c2s' || origin.resource !== undefined) return;
      features.c('sub', { xmlns: NS_PRE_APPROVAL_FEATURE });
    });

    // What a user sends, wherever it goes (this host, another, a remote domain, a component): the
    // sender-side events fire on the sender's host before any delivery.
    const outbound = ({ origin, stanza, to }: StanzaEvent): boolean | undefined | Promise<true> =>
      origin.type === 'c2s' ? service.outbound(origin, stanza, to) : undefined;
    mod.hook('pre-presence/bare', outbound);
    mod.hook('pre-presence/full', outbound);
    mod.hook('pre-presence/host', outbound);

    mod.hook('presence/bare', (event) => {
      const { origin, stanza } = event;
      // No 'to' (the router addressed it to the sender's bare JID): the user's own broadcast.
      // Returned, not detached: the sender's next stanza waits until this one is done.
      if (origin.type === 'c2s' && stanza.attrs.to === undefined) return service.broadcast(origin, stanza);
      return service.inbound(event);
    });
    mod.hook('presence/full', (event) => service.inbound(event));

    mod.hook('resource-unbind', ({ session }) => {
      service.sessionEnded(session);
    });
  },
});
