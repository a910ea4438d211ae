/**
 * What is worth waking a phone for (XEP-0357 leaves it to the server; this follows common
 * practice, as Prosody's mod_cloud_notify and Conversations' expectations have it):
 *
 * - a message with a body (chat, normal);
 * - an encrypted message: OMEMO (legacy and :2), OpenPGP (XEP-0027, OX XEP-0373), OTR (a body
 *   starting with "?OTR"), or any XEP-0380 `<encryption/>` marker; its body, if any, is a
 *   fallback text ("I sent you an OMEMO message") and is never put in a push;
 * - a MUC mention: a groupchat message to the user's resource whose body contains the user's
 *   nick in that room (best effort: the nick the room last confirmed with status 110, else the
 *   account's local part), not the user's own message echoed back;
 * - a subscription request (presence type='subscribe');
 * - an incoming call: a XEP-0353 `<propose/>`.
 *
 * Not important: chat states, receipts, markers, headlines (PEP events), errors, archive query
 * results, carbons of what the user sent from another device, groupchat without a mention,
 * presence updates and iqs. A received carbon is judged by the message it carries.
 *
 * Pure: given the stanza and what we know of the user's nicks, no I/O.
 */
import type { Element } from '../../xml/element.js';

export type ImportantKind = 'message' | 'encrypted' | 'mention' | 'subscription' | 'call';

export type Importance =
  | {
      important: true;
      kind: ImportantKind;
      /** Who it is from (bare JID; a room occupant's full JID for a mention). */
      sender: string;
      /** The text a person would read; never set for encrypted messages or calls. */
      body?: string;
    }
  | { important: false; reason: string };

export interface ImportanceContext {
  /** The account's local part: the fallback nick for mentions. */
  username: string;
  /** The user's nick in a room (bare room JID), when the room confirmed it (status 110). */
  nickIn(room: string): string | undefined;
}

const NS_CARBONS = 'urn:xmpp:carbons:2';
const NS_FORWARD = 'urn:xmpp:forward:0';
const NS_MAM = 'urn:xmpp:mam:2';
const NS_JMI = 'urn:xmpp:jingle-message:0';
const NS_EME = 'urn:xmpp:eme:0';

/** End-to-end encryption payloads (element, namespace). */
const ENCRYPTED: ReadonlyArray<readonly [string, string]> = [
  ['encrypted', 'eu.siacs.conversations.axolotl'],
  ['encrypted', 'urn:xmpp:omemo:2'],
  ['x', 'jabber:x:encrypted'],
  ['openpgp', 'urn:xmpp:openpgp:0'],
];

export function importance(stanza: Element, ctx: ImportanceContext): Importance {
  if (stanza.name === 'presence') {
    if (stanza.attrs.type === 'subscribe') return { important: true, kind: 'subscription', sender: bareOf(stanza.attrs.from) };
    return { important: false, reason: 'presence' };
  }
  if (stanza.name !== 'message') return { important: false, reason: stanza.name };
  return messageImportance(stanza, ctx, false);
}

function messageImportance(stanza: Element, ctx: ImportanceContext, carried: boolean): Importance {
  const type = stanza.attrs.type ?? 'normal';
  if (type === 'error') return { important: false, reason: 'error message' };
  if (type === 'headline') return { important: false, reason: 'headline' };
  if (!carried) {
    if (stanza.getChild('sent', NS_CARBONS)) return { important: false, reason: 'carbon of a message the user sent' };
    const received = stanza.getChild('received', NS_CARBONS)?.getChild('forwarded', NS_FORWARD)?.getChild('message');
    if (received) return messageImportance(received, ctx, true);
    if (stanza.getChild('result', NS_MAM)) return { important: false, reason: 'archive query result' };
  }
  const from = stanza.attrs.from ?? '';
  if (stanza.getChild('propose', NS_JMI)) return { important: true, kind: 'call', sender: bareOf(from) };
  const body = stanza.getChildText('body') ?? undefined;
  if (type === 'groupchat') return mention(from, body, ctx);
  if (isEncrypted(stanza, body)) return { important: true, kind: 'encrypted', sender: bareOf(from) };
  if (body !== undefined && body.trim() !== '') return { important: true, kind: 'message', sender: bareOf(from), body };
  return { important: false, reason: describeBodyless(stanza) };
}

function isEncrypted(stanza: Element, body: string | undefined): boolean {
  if (ENCRYPTED.some(([name, ns]) => stanza.getChild(name, ns) !== undefined)) return true;
  if (stanza.getChild('encryption', NS_EME)) return true;
  return body?.startsWith('?OTR') ?? false;
}

function mention(from: string, body: string | undefined, ctx: ImportanceContext): Importance {
  if (body === undefined || body.trim() === '') return { important: false, reason: 'groupchat without a body' };
  const slash = from.indexOf('/');
  const room = slash < 0 ? from : from.slice(0, slash);
  const speaker = slash < 0 ? '' : from.slice(slash + 1);
  const nick = ctx.nickIn(room) ?? ctx.username;
  if (speaker === nick) return { important: false, reason: "the user's own groupchat message" };
  if (!mentions(body, nick)) return { important: false, reason: 'groupchat without a mention' };
  return { important: true, kind: 'mention', sender: from, body };
}

/** Whether `text` names `nick` as a word (case-insensitive; letters or digits around it make it another word). */
export function mentions(text: string, nick: string): boolean {
  if (nick === '') return false;
  const haystack = text.toLocaleLowerCase();
  const needle = nick.toLocaleLowerCase();
  const wordChar = /[\p{L}\p{N}_]/u;
  for (let i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + 1)) {
    const before = haystack.slice(0, i).at(-1);
    const after = haystack[i + needle.length];
    if ((before === undefined || !wordChar.test(before)) && (after === undefined || !wordChar.test(after))) return true;
  }
  return false;
}

function describeBodyless(stanza: Element): string {
  const kinds = stanza.elements.map((c) => c.name).filter((n) => n !== 'thread' && n !== 'stanza-id' && n !== 'delay');
  return kinds.length === 0 ? 'message without a body' : `message without a body (${[...new Set(kinds)].slice(0, 3).join(', ')})`;
}

function bareOf(jid: string | undefined): string {
  if (jid === undefined) return '';
  const slash = jid.indexOf('/');
  return slash < 0 ? jid : jid.slice(0, slash);
}
