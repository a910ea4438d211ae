/**
 * Components: domains served by something other than a virtual host (docs/components.md).
 *  - external (XEP-0114): a program connects to `[component_listener]` and authenticates with
 *    the shared `secret`; stanzas for its domain go down its stream (external.ts);
 *  - internal: a module named by `module = "…"` is loaded for the domain and gets the domain's
 *    stanzas as events on its own bus (internal.ts).
 * Always loaded (CORE_GLOBAL_MODULES); without `[[component]]` tables it does nothing, and the
 * listener is only opened when at least one external component is configured.
 */
import { createServer, type Server as NetServer } from 'node:net';
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { duration, oneOf } from '../../core/option-schemas.js';
import type { LoadedModule } from '../../core/modules.js';
import type { ComponentEntry } from '../../core/components.js';
import type { EventMap } from '../../core/event-map.js';
import type { Router } from '../../core/router.js';
import { listenAll } from '../../net/listen.js';
import { acceptComponent, type PendingConnection } from './external.js';
import { deliverToComponent } from './internal.js';

export default defineModule({
  name: 'component',
  description: 'XEP-0114 external components and internal (module-served) components',
  scope: 'global',
  restartOnOptionChange: 'loading it again would close the streams of the connected components',
  options: z.object({
    auth_timeout: duration(undefined, { min: 1 }), // default: [c2s] auth_timeout
    on_conflict: oneOf(['refuse_new', 'kick_old'], 'refuse_new'),
  }),
  async setup(mod) {
    const server = mod.server;
    const registry = server.components;
    // Cluster: components are served by the service worker; the others forward to it (src/cluster).
    if (registry.size === 0 || !server.runsServiceListeners) return;
    const options = {
      authTimeoutMs: mod.options.auth_timeout ?? server.config.c2s.auth_timeout,
      onConflict: mod.options.on_conflict,
    };

    mod.hookGlobal('route/component', (event) => {
      const entry = registry.get(event.toHost);
      return entry ? deliver(server.router, entry, event) : undefined;
    });

    // Internal components first, so their domains answer before any external stream connects.
    const internalModules: LoadedModule[] = [];
    mod.onUnload(async () => {
      for (const m of internalModules.reverse()) await m.unload();
      for (const e of registry.entriesOf('internal')) e.context = undefined;
    });
    for (const entry of registry.entriesOf('internal')) {
      internalModules.push(...(await server.startInternalComponent(entry, mod.log)));
    }

    if (registry.entriesOf('external').length === 0) return;
    const pending = new Set<PendingConnection>();
    const cfg = server.config.component_listener;
    const servers: NetServer[] = await listenAll(
      cfg.interfaces,
      cfg.ports,
      () => createServer({ noDelay: true }, (socket) => acceptComponent(server, mod.log, socket, options, pending)),
      mod.log,
    );
    for (const s of servers) server.registerListener('component', s);
    mod.onUnload(async () => {
      for (const p of [...pending]) p.close();
      for (const s of servers) {
        server.unregisterListener(s);
        await new Promise<void>((r) => s.close(() => r()));
      }
    });
  },
});

/**
 * A stanza for a component's domain. Returns true when delivered or deliberately dropped;
 * undefined lets the router answer service-unavailable (iq get/set and messages to a
 * component that is not connected or not loaded).
 */
function deliver(router: Router, entry: ComponentEntry, event: EventMap['route/component']): boolean | undefined {
  const { stanza, origin } = event;
  if (entry.kind === 'external') {
    if (entry.session) {
      entry.session.send(stanza); // counts stanzasOut
      return true;
    }
  } else if (entry.context) {
    entry.stanzasOut++;
    const result = deliverToComponent(entry.context, event);
    if (result.handled) return true;
    // What the router does for a local host nobody handled (RFC 6120 §8.4, §10.5).
    if (result.error !== undefined) router.bounce(origin, stanza, 'internal-server-error');
    else if (stanza.name === 'iq') router.bounce(origin, stanza, 'service-unavailable');
    else if (stanza.name === 'message' && event.to.local !== '') router.bounce(origin, stanza, 'service-unavailable');
    return true;
  }
  // Nobody serves the domain now: presence is dropped, the router answers the rest.
  return stanza.name === 'presence' ? true : undefined;
}
