/**
 * The XEP-0157 contact addresses form (a XEP-0128 extension of the server's disco#info).
 */
import { Element } from '../../xml/element.js';

export const NS_DATA = 'jabber:x:data';
export const SERVERINFO_FORM_TYPE = 'http://jabber.org/network/serverinfo';

/** The address kinds XEP-0157 registers; each is the field `<kind>-addresses`. */
export const CONTACT_KINDS = ['abuse', 'admin', 'feedback', 'sales', 'security', 'status', 'support'] as const;
export type ContactKind = (typeof CONTACT_KINDS)[number];
export type ContactAddresses = Partial<Record<ContactKind, string[]>>;

/** A URI with a scheme ('mailto:', 'xmpp:', 'https:', …), which XEP-0157 requires. */
export function isContactUri(value: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\S+$/i.test(value);
}

/** The form, or undefined when no address is configured (nothing to advertise). */
export function contactForm(addresses: ContactAddresses): Element | undefined {
  const kinds = CONTACT_KINDS.filter((k) => (addresses[k]?.length ?? 0) > 0);
  if (kinds.length === 0) return undefined;
  const form = new Element('x', { xmlns: NS_DATA, type: 'result' });
  form.c('field', { var: 'FORM_TYPE', type: 'hidden' }).c('value').t(SERVERINFO_FORM_TYPE);
  for (const kind of kinds) {
    const field = form.c('field', { var: `${kind}-addresses`, type: 'list-multi' });
    for (const uri of addresses[kind] ?? []) field.c('value').t(uri);
  }
  return form;
}
