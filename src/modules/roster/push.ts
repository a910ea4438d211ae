/**
 * Roster pushes (RFC 6121 §2.1.6): after a change, every interested resource of the user (one
 * that requested the roster) gets an iq set with the changed item and the new version.
 */
import { randomBytes } from 'node:crypto';
import type { ModuleServer } from '../../core/server.js';
import type { BoundC2SSession } from '../../core/session.js';
import { Element } from '../../xml/element.js';
import { iq } from '../../xml/stanza.js';
import { itemElement, removedItemElement, NS_ROSTER } from './items.js';
import { Roster, modifyRoster } from './store.js';

/** The roster loaded into `session.roster`, when it is loaded. */
export function sessionRoster(session: BoundC2SSession): Roster | undefined {
  return session.roster instanceof Roster ? session.roster : undefined;
}

/**
 * Push every item in `roster.changed` to the user's interested resources; refresh `session.roster`.
 * Pushes carry the roster version only with versioning on (`[modules.roster] versioning`).
 */
export function pushChanges(server: ModuleServer, roster: Roster, versioning = true): void {
  const sessions = server.sessions.getUserSessions(roster.host, roster.username);
  for (const s of sessions) s.roster = roster;
  if (roster.changed.size === 0) return;
  const bare = `${roster.username}@${roster.host}`;
  for (const jid of roster.changed) {
    const item = roster.getItem(jid);
    const payload = (): Element => (item ? itemElement(item) : removedItemElement(jid));
    for (const s of sessions) {
      if (!s.interested || s.fullJid === undefined) continue;
      const push = iq({ type: 'set', id: `push-${randomBytes(6).toString('base64url')}`, from: bare, to: s.fullJid });
      push.c('query', { xmlns: NS_ROSTER, ver: versioning ? roster.ver : undefined }).cnode(payload());
      s.send(push);
    }
  }
}

/** modifyRoster() followed by the pushes of what changed. */
export async function modifyAndPush<T>(server: ModuleServer, host: string, username: string, fn: (roster: Roster) => T, versioning = true): Promise<{ roster: Roster; result: T }> {
  const out = await modifyRoster(server, host, username, fn);
  pushChanges(server, out.roster, versioning);
  return out;
}

/** What the roster module provides on its host as the 'roster' service. */
export interface RosterService {
  /** Change a user's roster atomically, then push what changed (with the host's versioning setting). */
  modify<T>(username: string, fn: (roster: Roster) => T): Promise<{ roster: Roster; result: T }>;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    roster: RosterService;
  }
}
