/**
 * The room's stanza path, in one place: how a presence or message of the room is built once and
 * sent to each occupant's resources. A stanza for N recipients is built once; each recipient
 * gets a shallow copy (its own attributes with its `to`, its own child list, the child elements
 * shared and never modified), so a fan-out costs one small object per recipient, not a deep
 * clone. Copies are routed like any stanza (mod.send): local users through their host's
 * delivery (blocking, carbons, stream management), remote ones over s2s.
 */
import { Element } from '../../xml/element.js';
import { presence as presenceStanza } from '../../xml/stanza.js';
import { NS_MUC, NS_MUC_USER } from './ns.js';
import { seesRealJids } from './roles.js';
import type { Affiliation } from './roles.js';
import type { Occupant, Room } from './room.js';

/** A copy of `base` addressed to `to`: own attrs and child list; the child elements are shared. */
export function addressed(base: Element, to: string): Element {
  const copy = new Element(base.name, undefined, base.xmlns);
  // Filled in place (the constructor's own object) rather than spread into a new one: one
  // allocation less per recipient, and the copies keep one hidden class.
  const attrs = copy.attrs;
  const from = base.attrs;
  for (const k in from) attrs[k] = from[k] as string;
  attrs.to = to;
  copy.children = base.children.slice();
  return copy;
}

/** A copy with its own attributes and child list (the children shared), for adding to. */
export function shallow(base: Element): Element {
  const copy = new Element(base.name, undefined, base.xmlns);
  copy.attrs = { ...base.attrs };
  copy.children = base.children.slice();
  return copy;
}

/** The same stanza with one more child (shared as well): the variants of one presence. */
export function withChild(base: Element, child: Element): Element {
  const copy = new Element(base.name, undefined, base.xmlns);
  copy.attrs = { ...base.attrs };
  copy.children = [...base.children, child];
  return copy;
}

/** What a presence from an occupant's resource keeps: everything but addresses and MUC payloads (clients must not forge status codes). */
export function sanitizePresence(p: Element): Element {
  const clean = new Element('presence', undefined, p.xmlns);
  for (const [k, v] of Object.entries(p.attrs)) if (k !== 'to' && k !== 'from' && k !== 'id') clean.attrs[k] = v;
  for (const c of p.children) {
    if (typeof c !== 'string' && c.name === 'x' && (c.xmlns === NS_MUC || c.xmlns === NS_MUC_USER)) continue;
    if (typeof c !== 'string') clean.cnode(c.clone());
  }
  return clean;
}

export interface ItemExtras {
  /** The new nickname (303). */
  nick?: string;
  reason?: string;
  actor?: { nick?: string; jid?: string };
}

/** <x xmlns='muc#user'><item …/><status …/>…</x> */
export function mucUserX(affiliation: Affiliation, role: string, jid: string | undefined, codes: readonly number[], extras: ItemExtras = {}, destroy?: Element): Element {
  const x = new Element('x', { xmlns: NS_MUC_USER });
  if (destroy) x.cnode(destroy);
  const item = x.c('item', { affiliation, role, jid, nick: extras.nick });
  if (extras.actor) item.c('actor', { nick: extras.actor.nick, jid: extras.actor.jid });
  if (extras.reason !== undefined) item.c('reason').t(extras.reason);
  for (const code of codes) x.c('status', { code: String(code) });
  return x;
}

export interface Sender {
  send(stanza: Element): void;
}

/** Send `base` to every resource of an occupant. */
export function toOccupant(out: Sender, o: Occupant, base: Element): void {
  for (const jid of o.sessions.keys()) out.send(addressed(base, jid));
}

/** Send to every resource of every occupant the stanza `pick` chooses for it (undefined: none). */
export function toAll(out: Sender, room: Room, pick: (o: Occupant) => Element | undefined): void {
  for (const o of room.occupants.values()) {
    const stanza = pick(o);
    if (stanza) toOccupant(out, o, stanza);
  }
}

/** The two views of one presence: without the real JID, and with it (moderators; everyone in non-anonymous rooms). */
export interface PresenceViews {
  plain: Element;
  withJid: Element;
}

export function viewFor(views: PresenceViews, room: Room, recipient: Occupant): Element {
  return seesRealJids(recipient.role, room.config.whois) ? views.withJid : views.plain;
}

/** Whether others see this occupant's presence (muc#roomconfig_presencebroadcast). */
export function broadcastsPresence(room: Room, o: Occupant): boolean {
  return room.config.presenceBroadcast.includes(o.role);
}

/** An unavailable presence from an occupant's room JID, keeping the <status/> text it left with. */
export function unavailableFrom(roomJid: string, nick: string, leaving?: Element): Element {
  const p = presenceStanza({ from: `${roomJid}/${nick}`, type: 'unavailable' });
  const status = leaving?.getChild('status');
  if (status) p.cnode(status.clone());
  return p;
}
