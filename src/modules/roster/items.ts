/**
 * Roster items in XML (RFC 6121 §2.1) and the checks of a roster set (§2.3.3, §2.5.3).
 */
import { Element } from '../../xml/element.js';
import type { StanzaErrorCode } from '../../core/errors.js';
import { tryParseJid } from '../../jid/index.js';
import type { RosterItem } from './store.js';

export const NS_ROSTER = 'jabber:iq:roster';
export const NS_ROSTERVER_FEATURE = 'urn:xmpp:features:rosterver';

export interface RosterLimits {
  maxNameLength: number;
  maxGroupLength: number;
}

/** The <item/> of a roster result or push. */
export function itemElement(item: RosterItem): Element {
  const el = new Element('item', {
    xmlns: NS_ROSTER,
    jid: item.jid,
    name: item.name,
    subscription: item.subscription,
    ask: item.ask ? 'subscribe' : undefined,
    approved: item.approved ? 'true' : undefined,
  });
  for (const g of item.groups) el.c('group').t(g);
  return el;
}

/** The <item subscription='remove'/> of a removal push. */
export function removedItemElement(jid: string): Element {
  return new Element('item', { xmlns: NS_ROSTER, jid, subscription: 'remove' });
}

export type RosterSetRequest =
  | { kind: 'update'; jid: string; name?: string; groups: string[] }
  | { kind: 'remove'; jid: string };

export type RosterSetParse = { ok: true; request: RosterSetRequest } | { ok: false; code: StanzaErrorCode; text: string };

/** Length in characters (code points), as a user counts them. */
function chars(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * Check a roster set's <query/>. The client's 'subscription' (other than 'remove'), 'ask' and
 * 'approved' are ignored (§2.1.2), as the RFC requires.
 */
export function parseRosterSet(query: Element, limits: RosterLimits): RosterSetParse {
  const items = query.getChildren('item', NS_ROSTER);
  if (items.length !== 1) return { ok: false, code: 'CANTO_ERR_BAD_REQUEST', text: 'a roster set carries exactly one <item/>' };
  const item = items[0] as Element;
  const jidAttr = item.attrs.jid;
  if (jidAttr === undefined) return { ok: false, code: 'CANTO_ERR_BAD_REQUEST', text: "the <item/> needs a 'jid' attribute" };
  const jid = tryParseJid(jidAttr);
  if (!jid) return { ok: false, code: 'CANTO_ERR_JID_MALFORMED', text: "the item's 'jid' is not a valid JID" };
  if (item.attrs.subscription === 'remove') return { ok: true, request: { kind: 'remove', jid: jid.full } };

  const name = item.attrs.name;
  if (name !== undefined && chars(name) > limits.maxNameLength) {
    return { ok: false, code: 'CANTO_ERR_NOT_ACCEPTABLE', text: `the name is longer than ${limits.maxNameLength} characters` };
  }
  const groups: string[] = [];
  for (const g of item.getChildren('group', NS_ROSTER)) {
    const text = g.getText();
    if (text === '') return { ok: false, code: 'CANTO_ERR_NOT_ACCEPTABLE', text: 'a <group/> may not be empty' };
    if (chars(text) > limits.maxGroupLength) {
      return { ok: false, code: 'CANTO_ERR_NOT_ACCEPTABLE', text: `a group name is longer than ${limits.maxGroupLength} characters` };
    }
    if (groups.includes(text)) return { ok: false, code: 'CANTO_ERR_BAD_REQUEST', text: `the group "${text}" is given twice` };
    groups.push(text);
  }
  const request: RosterSetRequest = { kind: 'update', jid: jid.full, groups };
  if (name !== undefined && name !== '') request.name = name;
  return { ok: true, request };
}
