/**
 * Internal components: a `[[component]]` with `module = "name"` is served by that module,
 * loaded in this process once for the component's domain with a HostContext of its own (not a
 * virtual host: clients cannot log in to it and it is not in `server.hosts`). The module sees
 * the component's domain as `mod.host`, hooks stanza events on the component's bus exactly as
 * a host module hooks its host's (`message/bare`, `presence/full`, `iq-get/host/<ns>:<name>`…),
 * stores data under the component's domain, and sends with `mod.send()` (from = the domain
 * unless the stanza says otherwise). See docs/components.md.
 */
import type { StanzaEvent } from '../../core/event-map.js';
import { destinationOf } from '../../core/router.js';
import type { HostContext } from '../../core/host.js';
import type { StanzaKind } from '../../xml/stanza.js';

/**
 * Deliver a stanza to an internal component: the destination events the router fires for a
 * local host (<kind>/<dest>, whose priority-0 handler on the context fires the iq payload event
 * iq-<type>/<dest>/<ns>:<name>), on the component's bus. Returns false when no handler took it;
 * the caller lets the router answer (service-unavailable for iq and messages, presence dropped).
 */
export function deliverToComponent(ctx: HostContext, event: StanzaEvent): { handled: boolean; error?: unknown } {
  const kind = event.stanza.name as StanzaKind;
  if (ctx.events.fire(`${kind}/${destinationOf(event.to)}`, event)) return { handled: true };
  return { handled: false, error: event.handlerError };
}
