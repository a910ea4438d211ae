/**
 * Which messages go into an account's archive (XEP-0313 §5.1.1, XEP-0334 hints) and the
 * XEP-0359 stanza-id stamps on them.
 */
import type { Element } from '../../xml/element.js';

export const NS_HINTS = 'urn:xmpp:hints';
export const NS_SID = 'urn:xmpp:sid:0';

/**
 * Payloads worth archiving without a body: what a client needs to rebuild a conversation
 * (encrypted messages, receipts and markers, corrections, retractions, reactions, invitations,
 * attachments). Chat states alone and other ephemeral payloads are not.
 */
const KEPT_PAYLOADS: ReadonlyArray<readonly [string, string]> = [
  ['encrypted', 'eu.siacs.conversations.axolotl'], // OMEMO (legacy)
  ['encrypted', 'urn:xmpp:omemo:2'],
  ['encryption', 'urn:xmpp:eme:0'],
  ['openpgp', 'urn:xmpp:openpgp:0'],
  ['received', 'urn:xmpp:receipts'],
  ['displayed', 'urn:xmpp:chat-markers:0'],
  ['received', 'urn:xmpp:chat-markers:0'],
  ['acknowledged', 'urn:xmpp:chat-markers:0'],
  ['replace', 'urn:xmpp:message-correct:0'],
  ['retract', 'urn:xmpp:message-retract:1'],
  ['reactions', 'urn:xmpp:reactions:0'],
  ['apply-to', 'urn:xmpp:fasten:0'],
  ['x', 'jabber:x:oob'],
  ['x', 'jabber:x:conference'],
  ['x', 'http://jabber.org/protocol/muc#user'],
];

/**
 * Whether a message belongs in the archive: never errors or groupchat (MUC archives its own);
 * never with a `no-store` / `no-permanent-store` hint; always with a `store` hint; otherwise chat
 * and normal messages with a body or a kept payload (a bare chat state is not kept).
 */
export function archivable(stanza: Element): boolean {
  if (stanza.name !== 'message') return false;
  const type = stanza.attrs.type ?? 'normal';
  if (type === 'error' || type === 'groupchat') return false;
  if (stanza.getChild('no-store', NS_HINTS) || stanza.getChild('no-permanent-store', NS_HINTS)) return false;
  if (stanza.getChild('store', NS_HINTS)) return true;
  if (type !== 'chat' && type !== 'normal') return false;
  return hasKeptContent(stanza);
}

/** A body or a payload a client needs to rebuild the conversation (shared with the room archive). */
export function hasKeptContent(stanza: Element): boolean {
  if (stanza.getChild('body', stanza.xmlns)) return true;
  return stanza.elements.some((c) => KEPT_PAYLOADS.some(([name, ns]) => c.name === name && c.xmlns === ns));
}

/**
 * Whether a groupchat message belongs in its room's archive (XEP-0313 §5.1.2): the same hints
 * and kept content as a user archive, only of type groupchat (the room decides the rest).
 */
export function roomArchivable(stanza: Element): boolean {
  if (stanza.getChild('no-store', NS_HINTS) || stanza.getChild('no-permanent-store', NS_HINTS)) return false;
  if (stanza.getChild('store', NS_HINTS)) return true;
  return hasKeptContent(stanza);
}

/** Removes every stanza-id claimed by `by` (a client may not forge the server's stamp). */
export function stripStanzaIds(stanza: Element, by: string): void {
  const own = stanza.getChildren('stanza-id', NS_SID).filter((c) => c.attrs.by === by);
  if (own.length === 0) return;
  stanza.children = stanza.children.filter((c) => typeof c === 'string' || !own.includes(c));
}

/** Adds `<stanza-id xmlns='urn:xmpp:sid:0' id by/>`. */
export function stampStanzaId(stanza: Element, id: string, by: string): void {
  stanza.c('stanza-id', { xmlns: NS_SID, id, by });
}

/** The archive id `by` stamped on the stanza, if any. */
export function stanzaIdBy(stanza: Element, by: string): string | undefined {
  return stanza.getChildren('stanza-id', NS_SID).find((c) => c.attrs.by === by)?.attrs.id;
}
