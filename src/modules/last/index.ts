/**
 * XEP-0012 Last Activity: to the server, its uptime; to a user's bare JID, answered by the
 * server on the account's behalf: 0 while the user has an available resource, otherwise the
 * seconds since the last resource went offline with the status of its last unavailable
 * presence. Only for the user and contacts allowed to see the user's presence (forbidden
 * otherwise). A query to a full JID is the client's to answer (routed by the iq module).
 */
import { defineModule, type ModuleApi } from '../../core/modules.js';
import { stanzaError } from '../../core/errors.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { BoundC2SSession } from '../../core/session.js';
import { Element } from '../../xml/element.js';
import { maySeePresence } from '../disco/presence-access.js';

export const NS_LAST = 'jabber:iq:last';

/** What is stored per user when the last resource goes offline. */
export interface LastLogout {
  /** ms since epoch */
  when: number;
  /** the <status/> of the last unavailable presence, '' when there was none */
  status: string;
}

export const LAST_STORE = 'last_activity';

export default defineModule({
  name: 'last',
  description: 'XEP-0012 Last Activity',
  setup(mod) {
    const store = mod.keyval<LastLogout>(LAST_STORE);
    const statusOnLeaving = new WeakMap<BoundC2SSession, string>();
    const writes = new Set<Promise<void>>();

    mod.addFeature(NS_LAST);

    mod.iq('get', NS_LAST, 'query', () => {
      const seconds = Math.max(0, Math.floor((Date.now() - mod.server.startedAt) / 1000));
      return new Element('query', { xmlns: NS_LAST, seconds });
    });

    // A resource's broadcast presence (no 'to': addressed to its own bare JID) carries the
    // status to remember if it is the last one to go. Only watched, never claimed.
    mod.hook(
      'pre-presence/bare',
      ({ origin, stanza, from, to }) => {
        if (origin.type !== 'c2s' || from.bare !== to.bare) return;
        if (stanza.attrs.type === 'unavailable') statusOnLeaving.set(origin, stanza.getChildText('status') ?? '');
        else if (stanza.attrs.type === undefined) statusOnLeaving.delete(origin);
      },
      1000,
    );

    mod.hook('resource-unbind', ({ session }) => {
      if (mod.server.sessions.getUserSessions(session.host, session.username).length > 0) return;
      const record: LastLogout = { when: Date.now(), status: statusOnLeaving.get(session) ?? '' };
      // Started now, not later: an account deletion that unbinds the sessions first and then
      // deletes the data must find this write already done.
      const write = store.set(session.username, record).catch((err: unknown) => {
        mod.log.error({ err, username: session.username }, 'could not store the last logout');
      });
      writes.add(write);
      void write.finally(() => writes.delete(write));
    });
    mod.onUnload(async () => {
      await Promise.all(writes);
    });

    mod.iq('get', NS_LAST, 'query', (event) => accountLast(mod, store, event), { to: 'bare' });
  },
});

/** The answer for a user's bare JID: the <query/>, or a thrown coded error. */
async function accountLast(mod: ModuleApi, store: { get(u: string): Promise<LastLogout | undefined> }, event: StanzaEvent): Promise<Element> {
  const { from, to } = event;
  const username = to.local;
  const self = from.bare === to.bare;
  // RFC 6121 §8.5.1: an iq to an account that does not exist is service-unavailable (no text).
  if (!self && !(await mod.accountExists(username))) throw stanzaError('CANTO_ERR_SERVICE_UNAVAILABLE', '');
  if (!self && !(await maySeePresence(mod, username, from))) {
    throw stanzaError('CANTO_ERR_FORBIDDEN', 'you are not subscribed to the presence of this user');
  }
  const online = mod.server.sessions.getUserSessions(mod.host, username).some((s) => s.presence !== undefined);
  if (online) return new Element('query', { xmlns: NS_LAST, seconds: 0 });
  const last = await store.get(username);
  if (!last) throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', 'no last activity is known for this user');
  const seconds = Math.max(0, Math.floor((Date.now() - last.when) / 1000));
  return new Element('query', { xmlns: NS_LAST, seconds }).t(last.status);
}
