/**
 * Offline messages (XEP-0160): a chat or normal message to an account with no available resource
 * is kept, stamped with a XEP-0203 delay, and delivered when the account next sends initial
 * presence with non-negative priority. A per-user limit (`max_messages`) bounds the store;
 * past it the sender gets service-unavailable (the message is not lost silently).
 *
 * Options ([modules.offline]): max_messages (default 1000).
 */
import { defineModule } from '../../core/modules.js';
import { Element } from '../../xml/element.js';
import { parseXmlFragment } from '../../xml/parse-fragment.js';

export const NS_DELAY = 'urn:xmpp:delay';
const NS_CHATSTATES = 'http://jabber.org/protocol/chatstates';

/** Messages worth keeping: chat/normal with something a person would miss (not a bare chat state). */
export function worthStoring(stanza: Element): boolean {
  const type = stanza.attrs.type ?? 'normal';
  if (type !== 'chat' && type !== 'normal') return false;
  if (stanza.getChild('no-store', 'urn:xmpp:hints') || stanza.getChild('no-permanent-store', 'urn:xmpp:hints')) return false;
  return stanza.elements.some((c) => c.xmlns !== NS_CHATSTATES && !(c.name === 'thread' && c.xmlns === stanza.xmlns));
}

export default defineModule({
  name: 'offline',
  description: 'XEP-0160 offline messages with XEP-0203 delay',
  setup(mod) {
    const maxMessages = mod.option.number('max_messages', 1000, 1);
    const store = mod.archive<string>('offline');
    mod.addFeature('msgoffline');

    mod.hook('message/offline', (event) => {
      const { stanza, username, host } = event;
      if (!worthStoring(stanza)) return true; // dropped by design: nothing a person would miss
      void (async () => {
        try {
          if ((await store.count(username)) >= maxMessages) {
            mod.log.info({ user: `${username}@${host}` }, 'offline store full');
            mod.server.router.bounce(event.origin, stanza, 'service-unavailable', 'the recipient is offline and their message store is full');
            return;
          }
          const copy = stanza.clone();
          copy.removeChildren('delay', NS_DELAY);
          copy.c('delay', { xmlns: NS_DELAY, from: host, stamp: new Date().toISOString() }).t('Offline storage');
          await store.append(username, { with: event.from.bare, value: copy.toString() });
          mod.log.debug({ user: `${username}@${host}` }, 'message stored offline');
        } catch (err) {
          mod.log.error({ err }, 'could not store an offline message');
          mod.server.router.bounce(event.origin, stanza, 'internal-server-error');
        }
      })();
      return true;
    });

    mod.hook('presence/initial', ({ session }) => {
      if ((session.priority ?? 0) < 0) return;
      void (async () => {
        try {
          const items = await store.find(session.username);
          if (items.length === 0) return;
          for (const item of items) {
            if (session.destroyed) return; // keep the rest for the next login
            session.send(parseXmlFragment(item.value));
            await store.delete(session.username, { ids: [item.id] });
          }
          session.log.debug({ count: items.length }, 'delivered offline messages');
        } catch (err) {
          session.log.error({ err }, 'could not deliver offline messages');
        }
      })();
    });
  },
});
