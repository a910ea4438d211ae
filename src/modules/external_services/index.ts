/**
 * XEP-0215 External Service Discovery: the STUN and TURN servers clients use to place calls
 * through NAT (Conversations, Dino, Monal ask for them), from `[modules.external_services]`,
 * with time-limited TURN credentials from a shared secret (credentials.ts). Only users of this
 * host get the list; restricted services carry their credentials in it, and a `credentials`
 * request (§3.3) gives fresh ones for one service. README.md.
 */
import { stanzaError } from '../../core/errors.js';
import { defineModule } from '../../core/modules.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { Element } from '../../xml/element.js';
import { turnCredentials } from './credentials.js';
import { externalServicesOptions, type ServiceConfig } from './options.js';

export const NS_EXTDISCO = 'urn:xmpp:extdisco:2';

export default defineModule({
  name: 'external_services',
  description: 'XEP-0215 External Service Discovery (STUN/TURN with TURN REST API credentials)',
  options: externalServicesOptions,
  setup(mod) {
    const { services, secret, credentials_ttl: ttl } = mod.options;
    if (services.length === 0) {
      mod.log.debug('no external services configured: nothing announced');
      return;
    }
    const handedOut = mod.measure.counter('external_services_credentials_total', 'TURN credentials handed out, by service type', ['type']);
    const refused = mod.measure.counter('external_services_refused_total', 'Requests for external services refused (not a user of this host)');
    for (const s of services) {
      if ((s.type === 'turn' || s.type === 'turns') && s.secret === undefined && secret === undefined && s.username === undefined) {
        mod.log.warn({ host: s.host, type: s.type }, 'a TURN service without credentials: set secret (coturn static-auth-secret) or username/password');
      }
    }
    mod.addFeature(NS_EXTDISCO);

    const secretOf = (s: ServiceConfig): string | undefined => s.secret ?? (s.type === 'turn' || s.type === 'turns' ? secret : undefined);
    const element = (s: ServiceConfig, user: string): Element => {
      const el = new Element('service', { type: s.type, host: s.host, port: s.port, transport: s.transport, name: s.name });
      const shared = secretOf(s);
      const creds = shared !== undefined ? turnCredentials(shared, user, mod.now(), ttl) : undefined;
      if (creds) {
        el.setAttr('username', creds.username).setAttr('password', creds.password).setAttr('expires', new Date(creds.expires).toISOString());
        handedOut.inc({ type: s.type });
      } else if (s.username !== undefined && s.password !== undefined) {
        el.setAttr('username', s.username).setAttr('password', s.password);
      }
      if (s.restricted ?? (shared !== undefined || s.username !== undefined)) el.setAttr('restricted', 'true');
      return el;
    };
    // Credentials are for accounts of this host only (the router stamped `from` from the session).
    const user = ({ from }: StanzaEvent): string => {
      if (from.local === '' || from.domain !== mod.host) {
        refused.inc();
        throw stanzaError('CANTO_ERR_EXTDISCO_FORBIDDEN');
      }
      return from.bare;
    };

    // §3.2: all services, or those of one type.
    mod.iq('get', NS_EXTDISCO, 'services', (event) => {
      const who = user(event);
      const type = event.stanza.elements[0]?.attrs.type;
      const out = new Element('services', { xmlns: NS_EXTDISCO, type });
      for (const s of services) if (type === undefined || s.type === type) out.cnode(element(s, who));
      return out;
    });
    // §3.3: credentials for one service, named by host and type (and port, when several share them).
    mod.iq('get', NS_EXTDISCO, 'credentials', (event) => {
      const who = user(event);
      const want = event.stanza.elements[0]?.getChild('service');
      const port = want?.attrs.port;
      const found = services.find((s) => s.host === want?.attrs.host && s.type === want?.attrs.type && (port === undefined || String(s.port) === port));
      if (!found) throw stanzaError('CANTO_ERR_EXTDISCO_NO_SERVICE');
      return new Element('credentials', { xmlns: NS_EXTDISCO }).cnode(element(found, who));
    });
    mod.log.info({ services: services.map((s) => `${s.type}:${s.host}:${s.port ?? ''}`) }, 'external services announced');
  },
});
