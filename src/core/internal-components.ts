/**
 * Internal components' contexts: a `[[component]]` with `module = "name"` is served by that host
 * module, loaded in this process for the component's domain with a HostContext of its own (not a
 * virtual host: clients cannot log in to it and it is not in `server.hosts`). The server loads
 * modules, so this lives in the core; the component module asks for it (`server.startInternalComponent`).
 */
import type { InternalComponent } from './components.js';
import { HostContext } from './host.js';
import type { Logger } from './logging.js';
import { loadModule, resolveLoadOrder, suggestModule, type LoadedModule } from './modules.js';
import type { Server } from './server.js';

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

