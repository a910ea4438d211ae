/**
 * Rosters (RFC 6121 §2): get, set and remove, with the checks of §2.3.3 and §2.5.3, pushes to
 * interested resources, and roster versioning (§2.6, XEP-0237). Subscription states change in
 * the presence module; both use the storage API in ./store.ts. Options in `[modules.roster]`.
 */
import { z } from 'zod';
import { defineModule, type ModuleApi } from '../../core/modules.js';
import { stanzaError } from '../../core/errors.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { BoundC2SSession } from '../../core/session.js';
import { Element } from '../../xml/element.js';
import { presence } from '../../xml/stanza.js';
import { NS_ROSTER, NS_ROSTERVER_FEATURE, itemElement, parseRosterSet, type RosterLimits, type RosterSetRequest } from './items.js';
import { modifyAndPush } from './push.js';
import { loadRoster, ROSTER_STORE, type RosterItem } from './store.js';

interface RosterOptions extends RosterLimits {
  maxItems: number;
  versioning: boolean;
}

export default defineModule({
  name: 'roster',
  description: 'RFC 6121 §2 rosters, XEP-0237 roster versioning',
  options: z.object({
    max_items: z.number().int().min(1).default(1000),
    max_name_length: z.number().int().min(1).default(1024),
    max_group_length: z.number().int().min(1).default(1024),
    versioning: z.boolean().default(true),
  }),
  setup(mod) {
    const options: RosterOptions = {
      maxItems: mod.options.max_items,
      maxNameLength: mod.options.max_name_length,
      maxGroupLength: mod.options.max_group_length,
      versioning: mod.options.versioning,
    };
    mod.provides('roster', {
      modify: (username, fn) => modifyAndPush(mod.server, mod.host, username, fn, options.versioning),
    });

    mod.hook('stream-features', ({ origin, features }) => {
      if (!options.versioning || origin.type !== 'c2s' || origin.resource !== undefined) return;
      features.c('ver', { xmlns: NS_ROSTERVER_FEATURE });
    });

    // session.roster is loaded when the resource binds and kept current by every change.
    // Cluster: another worker changed the roster; the local sessions that hold it reload it.
    mod.cachedStore(ROSTER_STORE, async (username) => {
      const sessions = mod.server.sessions.getLocalUserSessions(mod.host, username).filter((s) => s.roster !== undefined);
      if (sessions.length === 0) return;
      const roster = await loadRoster(mod.server, mod.host, username);
      for (const s of sessions) s.roster = roster;
    });
    mod.hook('resource-bind', ({ session }) => {
      loadRoster(mod.server, session.host, session.username).then(
        (roster) => {
          session.roster ??= roster;
        },
        (err: unknown) => session.log.error({ err }, 'could not load the roster'),
      );
    });

    // The result (or error) goes to the requesting resource, which is the sending session; a
    // storage failure is thrown on (the core answers internal-server-error and logs it).
    mod.iq('get', NS_ROSTER, 'query', (event) => onGet(mod, options, ownSession(event), event), { to: 'bare' });
    mod.iq('set', NS_ROSTER, 'query', (event) => onSet(mod, options, ownSession(event), event), { to: 'bare' });
  },
});

/** The sending session when it is the account's own resource (only it may see or change the roster); throws forbidden otherwise. */
function ownSession({ origin, to, from }: StanzaEvent): BoundC2SSession {
  if (origin.type !== 'c2s' || from.bare !== to.bare || origin.username !== to.local || origin.host !== to.domain) {
    throw stanzaError('CANTO_ERR_FORBIDDEN', 'only the account itself may use its roster');
  }
  return origin;
}

/** The roster, or nothing (an empty result) when the client's version is current. */
async function onGet(mod: ModuleApi, options: RosterOptions, session: BoundC2SSession, { stanza }: StanzaEvent): Promise<Element | undefined> {
  mod.server.sessions.setInterested(session);
  const roster = await loadRoster(mod.server, session.host, session.username);
  session.roster = roster;
  const clientVer = stanza.elements[0]?.attrs.ver;
  // XEP-0237 §2.3: the client's copy is current; changes from now on come as pushes.
  if (options.versioning && clientVer !== undefined && clientVer === roster.ver) return undefined;
  const query = new Element('query', { xmlns: NS_ROSTER, ver: options.versioning ? roster.ver : undefined });
  for (const item of roster.items()) query.cnode(itemElement(item));
  return query;
}

type SetOutcome =
  | { kind: 'updated' }
  | { kind: 'full' }
  | { kind: 'not-found' }
  | { kind: 'removed'; previous: RosterItem; pendingIn: boolean };

/**
 * A roster set: the checks throw at once; then the change, its pushes (before the result) and,
 * for a removal, the presence of §2.5.2; the empty result is sent when the promise resolves.
 */
function onSet(mod: ModuleApi, options: RosterOptions, session: BoundC2SSession, { stanza }: StanzaEvent): Promise<undefined> {
  const query = stanza.elements[0];
  if (!query) throw stanzaError('CANTO_ERR_BAD_REQUEST'); // cannot happen: the event names the payload
  const parsed = parseRosterSet(query, options);
  if (!parsed.ok) throw stanzaError(parsed.code, parsed.text);
  const request = parsed.request;
  const own = `${session.username}@${session.host}`;
  if (request.jid === own) throw stanzaError('CANTO_ERR_NOT_ALLOWED', 'your own JID cannot be a roster item');
  return applySet(mod, options, session, request);
}

async function applySet(mod: ModuleApi, options: RosterOptions, session: BoundC2SSession, request: RosterSetRequest): Promise<undefined> {
  const { result: outcome } = await mod.require('roster').modify(session.username, (roster): SetOutcome => {
    const existing = roster.getItem(request.jid);
    if (request.kind === 'remove') {
      if (!existing) return { kind: 'not-found' };
      const pendingIn = roster.hasPendingIn(request.jid);
      roster.removeItem(request.jid);
      roster.setPendingIn(request.jid, undefined);
      return { kind: 'removed', previous: existing, pendingIn };
    }
    if (!existing && roster.size >= options.maxItems) return { kind: 'full' };
    const item: RosterItem = existing ?? { jid: request.jid, groups: [], subscription: 'none', ask: false, approved: false };
    item.groups = request.groups;
    if (request.name === undefined) delete item.name;
    else item.name = request.name;
    roster.setItem(item);
    return { kind: 'updated' };
  });
  switch (outcome.kind) {
    case 'not-found':
      throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', 'no such item in the roster');
    case 'full':
      throw stanzaError('CANTO_ERR_POLICY_VIOLATION', `a roster holds at most ${options.maxItems} items`);
    case 'removed':
      cancelSubscriptions(mod, session, outcome.previous, outcome.pendingIn);
      break;
    case 'updated':
      break;
  }
  return undefined;
}

/**
 * RFC 6121 §2.5.2: removing an item ends the subscriptions both ways: unsubscribe when the user
 * was subscribed to (or asked for) the contact's presence, unsubscribed when the contact was
 * subscribed to (or asked for) the user's, then unavailable from the user's available resources.
 */
function cancelSubscriptions(mod: ModuleApi, session: BoundC2SSession, previous: RosterItem, pendingIn: boolean): void {
  const own = `${session.username}@${session.host}`;
  const to = previous.jid;
  const sub = previous.subscription;
  if (sub === 'to' || sub === 'both' || previous.ask) mod.send(presence({ type: 'unsubscribe', from: own, to }));
  const subscriber = sub === 'from' || sub === 'both';
  if (subscriber || pendingIn) mod.send(presence({ type: 'unsubscribed', from: own, to }));
  if (!subscriber) return;
  for (const s of mod.server.sessions.getUserSessions(session.host, session.username)) {
    if (s.presence !== undefined && s.fullJid !== undefined) mod.send(presence({ type: 'unavailable', from: s.fullJid, to }));
  }
}
