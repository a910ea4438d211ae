/**
 * STARTTLS (RFC 6120 §5): offered to unencrypted streams, marked <required/> when
 * `[c2s] require_encryption` is on (then SASL is not offered until TLS is done).
 */
import { defineModule } from '../../core/modules.js';
import { Element } from '../../xml/element.js';
import { NS } from '../../xml/ns.js';

export default defineModule({
  name: 'tls',
  description: 'RFC 6120 §5 STARTTLS',
  setup(mod) {
    const server = mod.server;
    const required = server.config.c2s.require_encryption;

    mod.hook('stream-features', ({ origin, features }) => {
      if (origin.secure || origin.conn.startTls === undefined || origin.type !== 'c2s_unauthed') return;
      const starttls = features.c('starttls', { xmlns: NS.tls });
      if (required) starttls.c('required');
    }, 100);

    mod.hook('stream-element', ({ origin, element }) => {
      if (!element.is('starttls', NS.tls)) return;
      const conn = origin.conn;
      if (origin.secure || conn.startTls === undefined || origin.type !== 'c2s_unauthed') {
        // RFC 6120 §5.4.2.2: failure, then close the stream.
        origin.send(new Element('failure', { xmlns: NS.tls }));
        origin.close();
        return true;
      }
      origin.send(new Element('proceed', { xmlns: NS.tls }));
      const host = origin.host;
      const tls = server.tls;
      conn
        .startTls({ secureContext: tls.forDomain(host)?.context ?? tls.defaultContext, SNICallback: tls.sniCallback })
        .then(() => {
          origin.log.debug({ protocol: conn.tlsSocket?.getProtocol() }, 'TLS established');
          origin.resetStream();
        })
        .catch((err: Error) => {
          origin.log.info({ err: err.message }, 'TLS handshake failed');
          conn.destroy();
        });
      return true;
    });
  },
});
