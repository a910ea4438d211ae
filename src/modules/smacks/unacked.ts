/**
 * What becomes of the stanzas a session never acknowledged when it ends without resumption
 * (the hibernation expired, the client closed or was kicked, the queue overflowed). Nothing is
 * dropped silently: each stanza gets one of these fates, counted by the module's metric.
 *
 * - message chat/normal: routed again to the account's bare JID with a XEP-0203 delay, so
 *   another resource gets it, else offline storage (which keeps what a person would miss);
 * - message error/groupchat/headline: discarded (an error is never answered or re-sent; a
 *   groupchat message belongs to the room's history and re-routing it to the bare JID would
 *   reach nobody; headlines are ephemeral by definition, RFC 6121 §5.2.2);
 * - a MAM result (XEP-0313 `<result/>`) or a carbon copy (XEP-0280 `<received/>`/`<sent/>`):
 *   discarded. Neither is a message to the account: a result answers one query of that session
 *   (the client queries again), and a carbon copies a message that reached its own recipient
 *   and the archive; re-routed, either would land in offline storage as a stray wrapper.
 * - iq get/set: the sender gets service-unavailable (RFC 6121 §8.5.3.1 for an unavailable full
 *   JID); iq result/error: discarded;
 * - presence: discarded (presence state is probed again when the account comes back).
 */
import type { Element } from '../../xml/element.js';

const NS_DELAY = 'urn:xmpp:delay';

export type Fate =
  | { action: 'reroute' }
  | { action: 'bounce' }
  | { action: 'discard'; reason: 'presence' | 'error' | 'groupchat' | 'headline' | 'iq-response' | 'mam-result' | 'carbon' };

const NS_CARBONS = 'urn:xmpp:carbons:2';

/** A MAM result of any version (urn:xmpp:mam:0/1/2), or a carbon copy. */
function wrapperKind(stanza: Element): 'mam-result' | 'carbon' | undefined {
  for (const child of stanza.children) {
    if (typeof child === 'string') continue;
    if (child.name === 'result' && child.xmlns.startsWith('urn:xmpp:mam:')) return 'mam-result';
    if ((child.name === 'received' || child.name === 'sent') && child.xmlns === NS_CARBONS) return 'carbon';
  }
  return undefined;
}

export function fateOf(stanza: Element): Fate {
  const type = stanza.attrs.type;
  switch (stanza.name) {
    case 'message':
      if (type === 'error' || type === 'groupchat' || type === 'headline') return { action: 'discard', reason: type };
      {
        const wrapper = wrapperKind(stanza);
        if (wrapper !== undefined) return { action: 'discard', reason: wrapper };
      }
      return { action: 'reroute' };
    case 'iq':
      return type === 'get' || type === 'set' ? { action: 'bounce' } : { action: 'discard', reason: 'iq-response' };
    default:
      return { action: 'discard', reason: 'presence' };
  }
}

/**
 * A copy of a message for the account's bare JID, with a delay stamped by `host` at `at` (ms)
 * unless the host stamped one already.
 */
export function rerouted(stanza: Element, bareJid: string, host: string, at: number): Element {
  const copy = stanza.clone();
  copy.attrs.to = bareJid;
  if (!copy.getChildren('delay', NS_DELAY).some((d) => d.attrs.from === host)) {
    copy.c('delay', { xmlns: NS_DELAY, from: host, stamp: new Date(at).toISOString() }).t('Resent after a lost connection');
  }
  return copy;
}
