/**
 * XEP-0157 Contact Addresses for XMPP Services: the addresses in `[modules.contact]` are
 * published as a `http://jabber.org/network/serverinfo` form in the server's disco#info.
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { check, list } from '../../core/option-schemas.js';
import { CONTACT_KINDS, contactForm, isContactUri, type ContactAddresses, type ContactKind } from './form.js';

export { contactForm, CONTACT_KINDS, SERVERINFO_FORM_TYPE, type ContactAddresses, type ContactKind } from './form.js';

const uris = list(check((v): v is string => typeof v === 'string' && isContactUri(v), 'a URI such as "mailto:abuse@example.com" or "xmpp:admin@example.com"'));
/** One list of URIs per kind of address. */
const addressLists = Object.fromEntries(CONTACT_KINDS.map((kind) => [kind, uris])) as Record<ContactKind, typeof uris>;

export default defineModule({
  name: 'contact',
  description: 'XEP-0157 Contact Addresses for XMPP Services',
  depends: ['disco'],
  options: z.object(addressLists),
  setup(mod) {
    const addresses: ContactAddresses = mod.options;
    const form = contactForm(addresses);
    if (form) mod.addDiscoExtension(form);
    else mod.log.debug('no contact addresses configured');
  },
});
