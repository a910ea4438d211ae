/**
 * XEP-0199 XMPP Ping: the server answers pings sent to it, and pings client connections that
 * have been silent for `ping_interval` to find dead ones (closed after `ping_timeout` without
 * an answer). Options in `[modules.ping]`; see README.md.
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { duration } from '../../core/option-schemas.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { Keepalive, NS_PING } from './keepalive.js';

export { NS_PING } from './keepalive.js';

export default defineModule({
  name: 'ping',
  description: 'XEP-0199 XMPP Ping',
  options: z.object({
    ping_interval: duration('5 minutes'), // 0 turns the server-initiated pings off
    ping_timeout: duration('1 minute', { min: 1 }),
  }),
  setup(mod) {
    mod.addFeature(NS_PING);
    mod.iq('get', NS_PING, 'ping', () => undefined); // an empty result

    const { ping_interval: interval, ping_timeout: timeout } = mod.options;
    // 0 turns the server-initiated pings off.
    if (interval === 0) return;
    const clock = mod.clock;
    const keepalive = new Keepalive({ host: mod.host, interval, timeout, log: mod.log, now: clock.now });
    mod.hook('resource-bind', ({ session }) => keepalive.track(session));
    mod.hook('resource-unbind', ({ session }) => keepalive.untrack(session));
    // Sessions already bound when the module loads (a reload) are watched too.
    for (const s of mod.server.sessions.all) {
      if (s.type === 'c2s' && s.host === mod.host && s.fullJid !== undefined) keepalive.track(s);
    }
    // The pong comes to the host, or (from clients that omit 'to') to the user's bare JID.
    const onResult = ({ origin, stanza }: StanzaEvent): boolean => {
      const type = stanza.attrs.type;
      if (origin.type !== 'c2s' || (type !== 'result' && type !== 'error')) return false;
      return keepalive.answer(origin, stanza.attrs.id);
    };
    mod.hook('iq/host', onResult, 100);
    mod.hook('iq/bare', onResult, 100);
    clock.setInterval(() => keepalive.sweep(), keepalive.sweepEvery);
  },
});
