/**
 * XEP-0054 vcard-temp: a user stores one vCard (IQ-set with no 'to' or to their own bare JID,
 * replacing the old one) and anyone may read it (IQ-get to the user's bare JID, answered by
 * the server on the user's behalf). Options are in `[modules.vcard]` (docs/configuration.md).
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { size } from '../../core/option-schemas.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { Element } from '../../xml/element.js';
import { parseXmlFragment } from '../../xml/parse-fragment.js';
import { errorReply, reply } from '../../xml/stanza.js';

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

    /** Run an async answer; a storage failure becomes internal-server-error. */
    const answer = (event: StanzaEvent, work: () => Promise<Element>): true => {
      work().then(
        (stanza) => event.origin.send(stanza),
        (err: unknown) => {
          mod.log.error({ err, from: event.from.full }, 'vCard request failed');
          event.origin.send(errorReply(event.stanza, 'internal-server-error'));
        },
      );
      return true;
    };

    const readVCard = async (username: string): Promise<Element | undefined> => {
      const text = await store.get(username);
      if (text === undefined) return undefined;
      return parseXmlFragment(text, { defaultNs: NS_VCARD });
    };

    mod.hookIq('get', 'bare', NS_VCARD, 'vCard', (event) =>
      answer(event, async () => {
        const { from, to, stanza } = event;
        const own = from.bare === to.bare;
        const vcard = await readVCard(to.local);
        if (vcard) return reply(stanza).cnode(vcard);
        // XEP-0054 §3.1: for one's own vCard an empty <vCard/> is allowed (and what clients
        // expect); §3.3: another user's missing vCard MUST be an error. The same answer for an
        // unknown user keeps account existence private.
        if (own) return reply(stanza).cnode(new Element('vCard', { xmlns: NS_VCARD }));
        return errorReply(stanza, 'item-not-found');
      }),
    );

    mod.hookIq('set', 'bare', NS_VCARD, 'vCard', (event) => {
      const { from, to, stanza } = event;
      if (from.bare !== to.bare) {
        // §3.2: only the owner may change a vCard.
        event.origin.send(errorReply(stanza, 'forbidden', 'you can only change your own vCard'));
        return true;
      }
      const vcard = stanza.getChild('vCard', NS_VCARD);
      if (!vcard) return false; // cannot happen: the event names the payload
      const serialized = vcard.toString();
      if (Buffer.byteLength(serialized, 'utf8') > maxSize) {
        mod.log.info({ user: to.bare, bytes: Buffer.byteLength(serialized, 'utf8'), maxSize }, 'vCard refused: too large');
        event.origin.send(errorReply(stanza, 'policy-violation', `the vCard is larger than ${maxSize} bytes`));
        return true;
      }
      return answer(event, async () => {
        // An empty <vCard/> deletes the stored one (reads then give the empty answer or item-not-found).
        await store.set(to.local, vcard.elements.length === 0 && vcard.getText().trim() === '' ? undefined : serialized);
        mod.log.debug({ user: to.bare, bytes: serialized.length }, 'vCard stored');
        return reply(stanza);
      });
    });

    // The host itself has no vCard to change; reads of it stay unhandled (service-unavailable).
    mod.hookIq('set', 'host', NS_VCARD, 'vCard', (event) => {
      event.origin.send(errorReply(event.stanza, 'forbidden', 'you can only change your own vCard'));
      return true;
    });
  },
});
