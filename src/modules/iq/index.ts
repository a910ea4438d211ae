/**
 * IQ to a full JID of a local account (RFC 6120 §8.5.3.1, RFC 6121 §8.5.3.2.2): delivered to
 * that resource; when it is not connected, get/set are answered with service-unavailable and
 * results/errors dropped. (An iq to a bare JID is answered by the server on the account's behalf:
 * modules hook `iq-<type>/bare/<ns>:<name>`; the router answers the rest.)
 */
import { defineModule } from '../../core/modules.js';

export default defineModule({
  name: 'iq',
  description: 'RFC 6120 iq routing to full JIDs',
  setup(mod) {
    mod.hook('iq/full', ({ to, stanza, origin }) => {
      const session = mod.server.sessions.getSession(to.domain, to.local, to.resource);
      if (session) session.send(stanza);
      else mod.server.router.bounce(origin, stanza, 'service-unavailable');
      return true;
    });
  },
});
