/**
 * A served domain: its event bus, its loaded modules, and what those modules advertise
 * (disco features and identities). Its `session` is the documented `local` session.
 */
import type { Element } from '../xml/element.js';
import { EventBus, type EventName } from './events.js';
import type { Logger } from './logging.js';
import type { LocalSession } from './session.js';
import type { LoadedModule } from './modules.js';
import { ServiceScope } from './services.js';

export interface DiscoIdentity {
  category: string;
  type: string;
  name?: string;
}

export interface VirtualHostSettings {
  domain: string;
  certificate?: string;
  key?: string;
  allow_registration: boolean;
  /** Overrides `[auth] channel_binding` for this host. */
  channel_binding?: boolean;
  modules_enabled: string[];
  modules_disabled: string[];
}

export class HostContext {
  readonly events: EventBus;
  readonly modules = new Map<string, LoadedModule>();
  /** disco#info features advertised for the host (and counted per feature so unload is exact). */
  private readonly featureCounts = new Map<string, number>();
  readonly identities: DiscoIdentity[] = [];
  /** Extra disco#info payloads (XEP-0128 data forms), e.g. contact addresses. */
  readonly discoExtensions: Element[] = [];
  readonly session: LocalSession;
  /** Services provided by this host's modules (ModuleApi.provides). */
  readonly services: ServiceScope;

  constructor(
    readonly host: string,
    readonly settings: VirtualHostSettings,
    readonly log: Logger,
    deliver: (stanza: Element) => void,
  ) {
    this.events = new EventBus(log);
    this.services = new ServiceScope(host);
    // As in Prosody, an iq get/set's payload event (iq-get/bare/jabber:iq:roster:query, …) is fired
    // by the generic iq/<dest> event's own handler at priority 0: hook iq/<dest> above 0 to see
    // every iq first (blocking, firewalls), below 0 for a fallback.
    for (const dest of ['bare', 'full', 'host'] as const) {
      this.events.on(`iq/${dest}`, (event) => {
        const type = event.stanza.attrs.type;
        const payload = type === 'get' || type === 'set' ? event.stanza.elements[0] : undefined;
        if (payload === undefined) return false;
        // The payload-specific event names are declared by the modules that handle them.
        return this.events.dispatch(`iq-${type}/${dest}/${payload.xmlns}:${payload.name}` as EventName, event);
      }, 0);
    }
    this.session = { type: 'local', id: 'local:' + host, host, context: this, log, send: deliver };
  }

  addFeature(ns: string): () => void {
    this.featureCounts.set(ns, (this.featureCounts.get(ns) ?? 0) + 1);
    return () => {
      const n = (this.featureCounts.get(ns) ?? 1) - 1;
      if (n <= 0) this.featureCounts.delete(ns);
      else this.featureCounts.set(ns, n);
    };
  }

  get features(): string[] {
    return [...this.featureCounts.keys()].sort();
  }

  addIdentity(identity: DiscoIdentity): () => void {
    this.identities.push(identity);
    return () => {
      const i = this.identities.indexOf(identity);
      if (i >= 0) this.identities.splice(i, 1);
    };
  }
}
