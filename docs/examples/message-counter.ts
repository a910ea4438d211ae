/**
 * The example module of docs/modules.md (compiled and run by test/unit/example-module.test.ts):
 * counts the chat messages each user sends, with an option, an event of its own, a service, a
 * metric and an iq to read the count.
 */
import { z } from 'zod';
import { defineModule } from '../../src/core/modules.js';
import { stanzaError } from '../../src/core/errors.js';
import { Element } from '../../src/xml/element.js';

export const NS_COUNTER = 'urn:example:counter';

/** The service other modules can require. */
export interface MessageCounter {
  count(username: string): number;
}

// The module's own event and service, declared where the module is (declaration merging).
declare module '../../src/core/event-map.js' {
  interface EventMap {
    'counter-milestone': { username: string; count: number };
  }
}
declare module '../../src/core/services.js' {
  interface ServiceMap {
    'message-counter': MessageCounter;
  }
}

export default defineModule({
  name: 'message-counter',
  description: 'Counts the chat messages each user sends',
  options: z.object({ milestone: z.number().int().min(1).default(100) }),
  setup(mod) {
    const counts = new Map<string, number>();
    const { milestone } = mod.options;
    const sent = mod.measure.counter('message_counter_messages_total', 'Chat messages sent by users of this host');

    // Sender side: every message a user of this host sends, wherever it goes.
    const onMessage = ({ origin, stanza }: { origin: { type: string; username?: string }; stanza: Element }): false => {
      if (origin.type !== 'c2s' || origin.username === undefined || stanza.attrs.type !== 'chat') return false;
      const n = (counts.get(origin.username) ?? 0) + 1;
      counts.set(origin.username, n);
      sent.inc();
      if (n % milestone === 0) mod.fire('counter-milestone', { username: origin.username, count: n });
      return false; // only watching: the message goes on
    };
    mod.hook('pre-message/bare', onMessage);
    mod.hook('pre-message/full', onMessage);

    mod.provides('message-counter', { count: (username) => counts.get(username) ?? 0 });

    // <count xmlns='urn:example:counter'/> to the user's own account: how many they sent.
    mod.iq('get', NS_COUNTER, 'count', ({ from, to }) => {
      if (from.bare !== to.bare) throw stanzaError('CANTO_ERR_FORBIDDEN', 'only the account itself may ask');
      return new Element('count', { xmlns: NS_COUNTER }).t(String(counts.get(from.local) ?? 0));
    }, { to: 'bare' });
  },
});
