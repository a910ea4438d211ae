/**
 * What a component's stanzas must look like before they enter the router (XEP-0114 §3: the
 * server checks the addresses, as between servers): a `to`, and a `from` at the component's
 * own domain. Kept free of sockets so it can be unit tested.
 */
import type { Element } from '../../xml/element.js';
import { NS } from '../../xml/ns.js';
import { tryParseJid } from '../../jid/index.js';

export type AddressCheck =
  | { ok: true }
  | { ok: false; condition: 'invalid-from' | 'improper-addressing'; text: string };

/**
 * Check (and normalize) the addresses of a stanza from the component serving `domain`.
 * A missing `from` is taken to be the domain itself (as Prosody does, for lax components);
 * a `from` outside the domain is `invalid-from`; a missing `to` is `improper-addressing`.
 */
export function checkComponentAddresses(stanza: Element, domain: string): AddressCheck {
  const to = stanza.attrs.to;
  if (to === undefined || to === '') return { ok: false, condition: 'improper-addressing', text: "stanzas from a component need a 'to' address" };
  const claimed = stanza.attrs.from;
  if (claimed === undefined || claimed === '') {
    stanza.attrs.from = domain;
    return { ok: true };
  }
  const from = tryParseJid(claimed);
  if (!from || from.domain !== domain) {
    return { ok: false, condition: 'invalid-from', text: `the from address must be ${domain} or an address at it` };
  }
  stanza.attrs.from = from.full;
  return { ok: true };
}

/**
 * Move a stanza from the component namespace to jabber:client, the form every module expects
 * (`is('iq', NS.client)`, error replies built in jabber:client). Children that inherited the
 * stream's default namespace move with it; the component stream's serializer maps them back.
 */
export function toClientNamespace(el: Element): Element {
  if (el.xmlns === NS.componentAccept) el.xmlns = NS.client;
  for (const c of el.children) if (typeof c !== 'string') toClientNamespace(c);
  return el;
}

/** Whether an element on the component stream is a stanza (message, presence or iq). */
export function isComponentStanza(el: Element): boolean {
  return el.xmlns === NS.componentAccept && (el.name === 'message' || el.name === 'presence' || el.name === 'iq');
}
