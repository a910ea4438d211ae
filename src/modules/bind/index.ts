/**
 * Resource binding (RFC 6120 §7) and the legacy session establishment iq (RFC 3921 §3,
 * advertised as optional per draft-cridland-xmpp-session). Binding makes a `c2s` session
 * routable: it gets `resource` and `fullJid`.
 *
 * Options ([modules.bind]): `resource_conflict` = "kick_old" (default: the new session wins and
 * the old one is closed with the `conflict` stream error) or "refuse_new".
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { oneOf } from '../../core/option-schemas.js';
import type { ResourceConflictPolicy } from '../../core/sessionmanager.js';
import { errorReply, iq } from '../../xml/stanza.js';
import { NS } from '../../xml/ns.js';

export default defineModule({
  name: 'bind',
  description: 'RFC 6120 §7 resource binding, RFC 3921 session',
  options: z.object({ resource_conflict: oneOf(['kick_old', 'refuse_new'], 'kick_old') }),
  setup(mod) {
    const server = mod.server;
    const policy: ResourceConflictPolicy = mod.options.resource_conflict;

    mod.hook('stream-features', ({ origin, features }) => {
      if (origin.type !== 'c2s' || origin.resource !== undefined) return;
      features.c('bind', { xmlns: NS.bind });
      features.c('session', { xmlns: NS.session }).c('optional');
    });

    // Before binding, a c2s session's stanzas arrive as stream elements: the router only takes
    // stanzas from bound sessions. Bind and session iqs are claimed here.
    mod.hook('stream-element', ({ origin, element }) => {
      if (origin.type !== 'c2s' || !element.is('iq', NS.client)) return;
      const type = element.attrs.type;
      const payload = element.elements[0];
      if (type === 'set' && payload?.is('bind', NS.bind)) {
        if (origin.resource !== undefined) {
          origin.send(errorReply(element, 'not-allowed', 'a resource is already bound on this stream'));
          return true;
        }
        const requested = payload.getChildText('resource', NS.bind)?.trim();
        const result = server.sessions.bindResource(origin, requested, policy);
        if (!result.ok) {
          origin.send(errorReply(element, result.condition, result.text));
          return true;
        }
        const reply = iq({ type: 'result', id: element.attrs.id });
        reply.c('bind', { xmlns: NS.bind }).c('jid').t(origin.fullJid ?? '');
        origin.send(reply);
        origin.log.info({ jid: origin.fullJid }, 'resource bound');
        return true;
      }
      if (type === 'set' && payload?.is('session', NS.session)) {
        // Legacy: nothing to do but say yes (also accepted after binding).
        origin.send(iq({ type: 'result', id: element.attrs.id }));
        return true;
      }
      return undefined;
    });

    // The legacy session iq after binding reaches the router like any iq (addressed to the host,
    // or to nobody, which means the account). The whole result is returned: it has no 'from'.
    mod.iq('set', NS.session, 'session', ({ stanza }) => iq({ type: 'result', id: stanza.attrs.id, to: stanza.attrs.from }), { to: ['host', 'bare'] });
  },
});
