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
import { HostContext } from '../../core/host.js';
import type { Logger } from '../../core/logging.js';
import { loadModule, resolveLoadOrder, suggestModule, type LoadedModule } from '../../core/modules.js';
import type { Server } from '../../core/server.js';
import type { InternalComponent } from '../../core/components.js';
import type { StanzaKind } from '../../xml/stanza.js';

/**
 * Load the module (and its dependencies) serving an internal component. Returns the loaded
 * modules, last loaded last; none when the module does not exist (logged: the domain then
 * answers service-unavailable, as a disconnected external component does).
 */
export async function startInternalComponent(server: Server, entry: InternalComponent, log: Logger): Promise<LoadedModule[]> {
  const def = server.registry.get(entry.module);
  if (!def || (def.scope ?? 'host') !== 'host') {
    const hint = def ? undefined : suggestModule(entry.module, server.registry);
    const why = def ? 'is a global module and cannot serve a component' : `does not exist${hint ? ` (did you mean ${hint}?)` : ''}`;
    log.error({ domain: entry.domain, module: entry.module }, `component ${entry.domain}: module "${entry.module}" ${why}; the domain is not served`);
    return [];
  }
  const ctx: HostContext = new HostContext(
    entry.domain,
    { domain: entry.domain, allow_registration: false, modules_enabled: [entry.module], modules_disabled: [] },
    server.log.child({ component: entry.domain }),
    // The context's session is the component itself: what is sent to it is routed.
    (stanza) => server.router.route(ctx.session, stanza),
  );
  const loaded: LoadedModule[] = [];
  try {
    for (const d of resolveLoadOrder([entry.module], server.registry, 'host').order) {
      const m = await loadModule(server, d, ctx);
      ctx.modules.set(d.name, m);
      loaded.push(m);
    }
  } catch (err) {
    for (const m of loaded.reverse()) await m.unload();
    throw err;
  }
  entry.context = ctx;
  log.info({ domain: entry.domain, modules: [...ctx.modules.keys()] }, 'internal component started');
  return loaded;
}

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
