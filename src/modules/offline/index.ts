/**
 * Offline messages (XEP-0160): a chat or normal message to an account with no available resource
 * is kept, stamped with a XEP-0203 delay, and delivered when the account next sends initial
 * presence with non-negative priority. A per-user limit (`max_messages`) bounds the store;
 * past it the sender gets service-unavailable (the message is not lost silently).
 *
 * Options ([modules.offline]): max_messages (default 1000).
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import type { BoundC2SSession } from '../../core/session.js';
import { Element } from '../../xml/element.js';
import { parseXmlFragment } from '../../xml/parse-fragment.js';

export const NS_DELAY = 'urn:xmpp:delay';

declare module '../../core/event-map.js' {
  interface EventMap {
    /**
     * A stored message about to be delivered to `session` at login (already removed from the
     * store). A handler returning true takes it: it is not sent (mam: the session already has it
     * from the archive).
     */
    'offline/deliver': { session: BoundC2SSession; username: string; host: string; stanza: Element };
  }
}
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
  options: z.object({ max_messages: z.number().int().min(1).default(1000) }),
  setup(mod) {
    const maxMessages = mod.options.max_messages;
    const store = mod.archive<string>('offline');
    mod.addFeature('msgoffline');

    /**
     * Deliver the stored messages of an account to `target` (or, without one, to its
     * highest-priority available resource with non-negative priority). One run per account at a
     * time, so two runs never send the same stored message twice; a request arriving during a
     * run makes it look again when it ends.
     */
    const flushing = new Map<string, { again: boolean; target: BoundC2SSession | undefined }>();
    const flush = async (host: string, username: string, target?: BoundC2SSession): Promise<void> => {
      const key = `${username}@${host}`;
      const running = flushing.get(key);
      if (running) {
        running.again = true;
        running.target = target ?? running.target;
        return;
      }
      const state = { again: true, target };
      flushing.set(key, state);
      try {
        while (state.again) {
          state.again = false;
          const to = state.target && !state.target.destroyed ? state.target : bestRecipient(mod.server.sessions.getUserSessions(host, username));
          state.target = undefined;
          if (!to) return;
          const items = await store.find(username);
          let sent = 0;
          for (const item of items) {
            if (to.destroyed) return; // keep the rest for the next login
            // Claimed by deleting it first: another delivery run (another cluster worker's)
            // that read the same item finds it gone and does not send it again.
            if ((await store.delete(username, { ids: [item.id] })) === 0) continue;
            const stanza = parseXmlFragment(item.value);
            if (mod.fire('offline/deliver', { session: to, username, host, stanza })) continue;
            to.send(stanza);
            sent++;
          }
          if (sent > 0) to.log.debug({ count: sent }, 'delivered offline messages');
        }
      } catch (err) {
        mod.log.error({ err, user: key }, 'could not deliver offline messages');
      } finally {
        flushing.delete(key);
      }
    };

    // Returns the storing as a promise: the event is claimed, and the work is the handler's own
    // (no detached async left running after it returned).
    mod.hook('message/offline', async (event): Promise<true> => {
      const { stanza, username, host } = event;
      if (!worthStoring(stanza)) return true; // dropped by design: nothing a person would miss
      try {
        if ((await store.count(username)) >= maxMessages) {
          mod.log.info({ user: `${username}@${host}` }, 'offline store full');
          mod.server.router.bounce(event.origin, stanza, 'service-unavailable', 'the recipient is offline and their message store is full');
          return true;
        }
        const copy = stanza.clone();
        copy.removeChildren('delay', NS_DELAY);
        copy.c('delay', { xmlns: NS_DELAY, from: host, stamp: new Date().toISOString() }).t('Offline storage');
        await store.append(username, { with: event.from.bare, value: copy.toString() });
        mod.log.debug({ user: `${username}@${host}` }, 'message stored offline');
        // The user may have come online while the message was being stored, after their login
        // had already read the store: deliver it now rather than at their next login.
        if (bestRecipient(mod.server.sessions.getUserSessions(host, username))) await flush(host, username);
      } catch (err) {
        mod.log.error({ err }, 'could not store an offline message');
        mod.server.router.bounce(event.origin, stanza, 'internal-server-error');
      }
      return true;
    });

    mod.hook('presence/initial', ({ session }) => {
      if ((session.priority ?? 0) < 0) return;
      void flush(session.host, session.username, session);
    });
  },
});

/** The resource offline messages go to: available, non-negative priority, the highest such. */
function bestRecipient(sessions: BoundC2SSession[]): BoundC2SSession | undefined {
  let best: BoundC2SSession | undefined;
  for (const s of sessions) {
    if (s.presence === undefined || s.destroyed || (s.priority ?? 0) < 0) continue;
    if (!best || (s.priority ?? 0) > (best.priority ?? 0)) best = s;
  }
  return best;
}
