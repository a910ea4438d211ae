/**
 * XEP-0280 rules that need no server state: which messages are copied (§6, with the MUC rules
 * of 1.0 and the XEP-0334 <no-copy/> hint), how a copy is wrapped (§7, §8, XEP-0297), and the
 * carbon wrappers a message may not carry when it is not from the account itself (§11; the
 * CVE-2017-5589 family of client bugs, where clients took forged carbons as their own).
 */
import type { Jid } from '../../jid/index.js';
import type { Element } from '../../xml/element.js';
import { asClientStanza, message } from '../../xml/stanza.js';

export const NS_CARBONS = 'urn:xmpp:carbons:2';
export const NS_FORWARD = 'urn:xmpp:forward:0';
export const NS_HINTS = 'urn:xmpp:hints';
export const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';

/** Payloads that make a message part of an IM conversation whatever its type (chat states, receipts, markers). */
const IM_PAYLOADS = ['http://jabber.org/protocol/chatstates', 'urn:xmpp:receipts', 'urn:xmpp:chat-markers:0'];

export type Direction = 'sent' | 'received';

export interface Verdict {
  copy: boolean;
  /** Why, for the debug log. */
  reason: string;
}

/** Whether the message is itself a carbon (has a <sent/> or <received/> of urn:xmpp:carbons:2). */
export function isCarbon(stanza: Element): boolean {
  return stanza.getChild('sent', NS_CARBONS) !== undefined || stanza.getChild('received', NS_CARBONS) !== undefined;
}

/**
 * Is the message copied to the user's other resources? `direction` is whose side we are on:
 * 'sent' for what a user's client sends, 'received' for what is delivered to a user;
 * `toFull`: the message is addressed to a full JID.
 */
export function carbonVerdict(stanza: Element, direction: Direction, toFull: boolean): Verdict {
  if (isCarbon(stanza)) return { copy: false, reason: 'already a carbon' };
  if (stanza.getChild('private', NS_CARBONS)) return { copy: false, reason: 'private' };
  if (stanza.getChild('no-copy', NS_HINTS)) return { copy: false, reason: 'no-copy hint' };
  const type = stanza.attrs.type ?? 'normal';
  if (type === 'groupchat') return { copy: false, reason: 'groupchat' };
  const mucUser = stanza.getChild('x', NS_MUC_USER);
  if (direction === 'received' && mucUser) {
    // §6: a MUC invitation to the bare JID concerns every client; a private message from a room
    // occupant (to a full JID) only the client that joined the room.
    if (!toFull && mucUser.getChild('invite')) return { copy: true, reason: 'MUC invitation' };
    if (toFull) return { copy: false, reason: 'MUC private message' };
  }
  if (type === 'chat') return { copy: true, reason: 'chat' };
  // Errors would be copied only in answer to a copied message, which needs tracking every
  // message (§6 says so itself): not done. Headlines are not conversations.
  if (type === 'error' || type === 'headline') return { copy: false, reason: type };
  if (stanza.getChild('body')) return { copy: true, reason: 'normal with a body' };
  if (IM_PAYLOADS.some((ns) => stanza.getChildByNs(ns) !== undefined)) return { copy: true, reason: 'IM payload' };
  return { copy: false, reason: 'not an IM message' };
}

/** The copy of `stanza` for one resource: <message from=bare to=full><sent|received><forwarded>…. */
export function wrapCarbon(direction: Direction, stanza: Element, userBare: string, toFull: string): Element {
  const copy = message({ from: userBare, to: toFull, type: stanza.attrs.type });
  copy.c(direction, { xmlns: NS_CARBONS }).c('forwarded', { xmlns: NS_FORWARD }).cnode(asClientStanza(stanza));
  return copy;
}

/**
 * Remove carbon wrappers from a message that crosses from one account to another: only the
 * user's own server makes carbons (from the user's bare JID), so a <sent/> or <received/> from
 * anyone else is forged. True when something was removed.
 */
export function stripForgedCarbons(stanza: Element, from: Jid, to: Jid): boolean {
  if (from.bare === to.bare || !isCarbon(stanza)) return false;
  stanza.removeChildren('sent', NS_CARBONS).removeChildren('received', NS_CARBONS);
  return true;
}

/** Remove <private xmlns='urn:xmpp:carbons:2'/> (§9: the receiving server removes it before delivery). */
export function stripPrivate(stanza: Element): void {
  if (stanza.getChild('private', NS_CARBONS)) stanza.removeChildren('private', NS_CARBONS);
}
