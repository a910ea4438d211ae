/**
 * XEP-0157 Contact Addresses for XMPP Services: the addresses in `[modules.contact]` are
 * published as a `http://jabber.org/network/serverinfo` form in the server's disco#info.
 */
import { defineModule, ModuleOptionError } from '../../core/modules.js';
import { CONTACT_KINDS, contactForm, isContactUri, type ContactAddresses } from './form.js';

export { contactForm, CONTACT_KINDS, SERVERINFO_FORM_TYPE, type ContactAddresses, type ContactKind } from './form.js';

export default defineModule({
  name: 'contact',
  description: 'XEP-0157 Contact Addresses for XMPP Services',
  depends: ['disco'],
  setup(mod) {
    const addresses: ContactAddresses = {};
    for (const kind of CONTACT_KINDS) {
      const list = mod.option.list(kind, []);
      const bad = list.find((uri) => !isContactUri(uri));
      if (bad !== undefined) {
        throw new ModuleOptionError(`modules.contact.${kind}: "${bad}" is not a URI (write e.g. "mailto:abuse@example.com" or "xmpp:admin@example.com")`);
      }
      addresses[kind] = list;
    }
    const form = contactForm(addresses);
    if (form) mod.addDiscoExtension(form);
    else mod.log.debug('no contact addresses configured');
  },
});
