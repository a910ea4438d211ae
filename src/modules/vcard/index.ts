/**
 * XEP-0054 vcard-temp: a user stores one vCard (IQ-set with no 'to' or to their own bare JID,
 * replacing the old one) and anyone may read it (IQ-get to the user's bare JID, answered by
 * the server on the user's behalf). Options are in `[modules.vcard]` (docs/configuration.md).
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { stanzaError } from '../../core/errors.js';
import { size } from '../../core/option-schemas.js';
import { Element } from '../../xml/element.js';
import { parseXmlFragment } from '../../xml/parse-fragment.js';
import type { VCardSource } from './api.js';

export type { VCardService, VCardSource } from './api.js';

export const NS_VCARD = 'vcard-temp';
/** Storage: one serialized `<vCard xmlns='vcard-temp'>…</vCard>` per user. */
export const VCARD_STORE = 'vcard';

export default defineModule({
  name: 'vcard',
  description: 'XEP-0054 vcard-temp',
  options: z.object({ max_size: size('64 KiB') }),
  setup(mod) {
    const maxSize = mod.options.max_size;
    const store = mod.keyval<string>(VCARD_STORE);
    mod.addFeature(NS_VCARD);

    const readVCard = async (username: string): Promise<Element | undefined> => {
      const text = await store.get(username);
      if (text === undefined) return undefined;
      return parseXmlFragment(text, { defaultNs: NS_VCARD });
    };

    /** The serialized vCard, or a coded policy-violation when it is over `max_size`. */
    const checkedText = (username: string, vcard: Element): string => {
      const serialized = vcard.toString();
      const bytes = Buffer.byteLength(serialized, 'utf8');
      if (bytes > maxSize) {
        mod.log.info({ user: username, bytes, maxSize }, 'vCard refused: too large');
        throw stanzaError('CANTO_ERR_POLICY_VIOLATION', `the vCard is larger than ${maxSize} bytes`);
      }
      return serialized;
    };

    /**
     * Store a user's vCard; an empty <vCard/> deletes the stored one (reads then give the empty
     * answer or item-not-found). Then `vcard/updated` is dispatched and waited for, so whatever
     * other modules derive from the vCard (XEP-0398 avatars) is done when the client is answered.
     */
    const writeVCard = async (username: string, vcard: Element, serialized: string, source: VCardSource): Promise<undefined> => {
      await store.set(username, vcard.elements.length === 0 && vcard.getText().trim() === '' ? undefined : serialized);
      mod.log.debug({ user: username, bytes: serialized.length, source }, 'vCard stored');
      await mod.dispatch('vcard/updated', { username, vcard, source });
      return undefined;
    };

    mod.provides('vcard', {
      get: readVCard,
      async set(username, vcard, source) {
        const copy = vcard.clone();
        await writeVCard(username, copy, checkedText(username, copy), source);
      },
    });

    // The checks answer at once; a storage failure is thrown on (the core answers
    // internal-server-error and logs it).
    mod.iq(
      'get',
      NS_VCARD,
      'vCard',
      async ({ from, to }) => {
        const own = from.bare === to.bare;
        const vcard = await readVCard(to.local);
        if (vcard) return vcard;
        // XEP-0054 §3.1: for one's own vCard an empty <vCard/> is allowed (and what clients
        // expect); §3.3: another user's missing vCard MUST be an error (no text). The same answer
        // for an unknown user keeps account existence private.
        if (own) return new Element('vCard', { xmlns: NS_VCARD });
        throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', '');
      },
      { to: 'bare' },
    );

    mod.iq(
      'set',
      NS_VCARD,
      'vCard',
      ({ from, to, stanza }) => {
        // §3.2: only the owner may change a vCard.
        if (from.bare !== to.bare) throw stanzaError('CANTO_ERR_FORBIDDEN', 'you can only change your own vCard');
        const vcard = stanza.getChild('vCard', NS_VCARD);
        if (!vcard) throw stanzaError('CANTO_ERR_BAD_REQUEST'); // cannot happen: the event names the payload
        return writeVCard(to.local, vcard, checkedText(to.bare, vcard), 'client');
      },
      { to: 'bare' },
    );

    // The host itself has no vCard to change; reads of it stay unhandled (service-unavailable).
    mod.iq('set', NS_VCARD, 'vCard', () => {
      throw stanzaError('CANTO_ERR_FORBIDDEN', 'you can only change your own vCard');
    });
  },
});
