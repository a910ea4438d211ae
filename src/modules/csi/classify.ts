/**
 * What an inactive client (XEP-0352) gets at once and what may wait. Only presence updates and
 * messages that carry nothing but a chat state wait, the latest per sender kept; anything the
 * user would want to see now (a message with a body, an encrypted message, a subscription
 * request or other typed presence, the user's own presence in a MUC room, a <store/> hint) is important: it goes out at once, after
 * what was waiting. Everything else (iqs, receipts, markers, headlines…) goes out at once
 * without flushing.
 */
import type { Element } from '../../xml/element.js';
import { NS } from '../../xml/ns.js';

const NS_HINTS = 'urn:xmpp:hints';
const NS_CHATSTATES = 'http://jabber.org/protocol/chatstates';
const NS_CARBONS = 'urn:xmpp:carbons:2';
const NS_FORWARD = 'urn:xmpp:forward:0';
const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';

/** End-to-end encryption payloads: OMEMO (legacy and :2), OpenPGP (XEP-0027 and XEP-0373). */
const ENCRYPTED: Array<[string, string]> = [
  ['encrypted', 'eu.siacs.conversations.axolotl'],
  ['encrypted', 'urn:xmpp:omemo:2'],
  ['x', 'jabber:x:encrypted'],
  ['openpgp', 'urn:xmpp:openpgp:0'],
];

/** Children that may come with a chat state and still leave it "only a chat state". */
const INCIDENTAL = new Set([NS_CHATSTATES, NS_HINTS, 'urn:xmpp:sid:0', 'urn:xmpp:delay']);

export type Class =
  | { kind: 'hold'; key: string }
  | { kind: 'important' }
  | { kind: 'pass' };

export function classify(stanza: Element): Class {
  if (stanza.name === 'presence') {
    const type = stanza.attrs.type;
    // The user's own presence in a MUC room (status 110) answers a join or a nick change: not held.
    if (isMucSelfPresence(stanza)) return { kind: 'important' };
    if (type === undefined || type === 'unavailable') return { kind: 'hold', key: `presence ${stanza.attrs.from ?? ''}` };
    return { kind: 'important' }; // subscription requests and answers, errors, probes
  }
  if (stanza.name !== 'message') return { kind: 'pass' };
  return classifyMessage(stanza, `chatstate ${stanza.attrs.from ?? ''}`);
}

function classifyMessage(stanza: Element, holdKey: string): Class {
  if (stanza.getChild('store', NS_HINTS)) return { kind: 'important' };
  if (stanza.getChild('body') || ENCRYPTED.some(([name, ns]) => stanza.getChild(name, ns))) return { kind: 'important' };
  // A carbon: judged by the message it carries, held per conversation.
  for (const direction of ['sent', 'received'] as const) {
    const inner = stanza.getChild(direction, NS_CARBONS)?.getChild('forwarded', NS_FORWARD)?.getChild('message');
    if (inner) {
      const peer = direction === 'sent' ? inner.attrs.to : inner.attrs.from;
      return classifyMessage(inner, `carbon ${direction} ${peer ?? ''}`);
    }
  }
  if (isChatStateOnly(stanza)) return { kind: 'hold', key: holdKey };
  return { kind: 'pass' };
}

function isMucSelfPresence(stanza: Element): boolean {
  const x = stanza.getChild('x', NS_MUC_USER);
  return x !== undefined && x.getChildren('status').some((st) => st.attrs.code === '110');
}

function isChatStateOnly(stanza: Element): boolean {
  let state = false;
  for (const child of stanza.elements) {
    if (child.xmlns === NS_CHATSTATES) state = true;
    else if (!INCIDENTAL.has(child.xmlns) && !(child.name === 'thread' && child.xmlns === NS.client)) return false;
  }
  return state;
}
