/**
 * Message delivery to local accounts (RFC 6121 §8.5): to a full JID, to that resource or by the
 * bare-JID rules when it is gone; to a bare JID, to the available resource(s) with the highest
 * non-negative priority; with no such resource, offered to offline storage ('message/offline')
 * or answered with service-unavailable. Per-type rules for chat, normal, groupchat, headline and
 * error follow the RFC's tables.
 */
import { defineModule, type ModuleApi } from '../../core/modules.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { BoundC2SSession } from '../../core/session.js';

declare module '../../core/event-map.js' {
  interface EventMap {
    /**
     * A message to an account that no available resource can take (RFC 6121 §8.5.2.2): the
     * offline module stores it and returns true; unclaimed, this module bounces it.
     */
    'message/offline': StanzaEvent & { username: string; host: string };
  }
}

export default defineModule({
  name: 'message',
  description: 'RFC 6121 §8.5 message delivery',
  setup(mod) {
    mod.hook('message/full', (event) => {
      const { to, stanza } = event;
      const session = mod.server.sessions.getSession(to.domain, to.local, to.resource);
      if (session) {
        session.send(stanza);
        return true;
      }
      // §8.5.3.2.1: the resource is gone.
      const type = stanza.attrs.type ?? 'normal';
      if (type === 'error') return true;
      if (type === 'groupchat') {
        mod.server.router.bounce(event.origin, stanza, 'service-unavailable');
        return true;
      }
      return deliverToBare(mod, event);
    });

    // The result is returned (a promise while the account is looked up or the message stored
    // offline) so the stanza counts as complete only once that is done.
    mod.hook('message/bare', (event) => deliverToBare(mod, event));
  },
});

/** Available resources with non-negative priority (RFC 6121 §8.5.2.1): those that can receive. */
export function availableResources(sessions: BoundC2SSession[]): BoundC2SSession[] {
  return sessions.filter((s) => s.presence !== undefined && (s.priority ?? 0) >= 0);
}

/** §8.5.2.1.1: of the available resources, those of the highest priority (a chat or normal message goes to each). */
export function highestPriority(available: BoundC2SSession[]): BoundC2SSession[] {
  let top = -Infinity;
  for (const s of available) top = Math.max(top, s.priority ?? 0);
  return available.filter((s) => (s.priority ?? 0) === top);
}

/** RFC 6121 §8.5.2: a message to the bare JID. Synchronous when the user has sessions. */
function deliverToBare(mod: ModuleApi, event: StanzaEvent): true | Promise<true> {
  const { to, stanza, origin } = event;
  const type = stanza.attrs.type ?? 'normal';
  if (type === 'error') return true; // §8.5.2: errors to a bare JID are dropped
  const server = mod.server;
  const sessions = server.sessions.getUserSessions(to.domain, to.local);
  if (sessions.length > 0) return deliverToAccount(mod, event, sessions);
  return server.storage.accounts.exists(to.domain, to.local).then((exists) => {
    if (exists) return deliverToAccount(mod, event, sessions);
    // §8.5.1: no such user.
    if (type !== 'headline') server.router.bounce(origin, stanza, 'service-unavailable');
    return true;
  });
}

function deliverToAccount(mod: ModuleApi, event: StanzaEvent, sessions: BoundC2SSession[]): true | Promise<true> {
  const { to, stanza, origin } = event;
  const type = stanza.attrs.type ?? 'normal';
  const server = mod.server;
  if (type === 'groupchat') {
    server.router.bounce(origin, stanza, 'service-unavailable');
    return true;
  }
  const available = availableResources(sessions);
  if (available.length > 0) {
    for (const s of type === 'headline' ? available : highestPriority(available)) s.send(stanza);
    return true;
  }
  if (type === 'headline') return true;
  const stored = mod.dispatch('message/offline', { ...event, username: to.local, host: to.domain });
  if (stored === true) return true;
  if (stored === false) {
    server.router.bounce(origin, stanza, 'service-unavailable');
    return true;
  }
  return stored.then((handled) => {
    if (!handled) server.router.bounce(origin, stanza, 'service-unavailable');
    return true as const;
  });
}
