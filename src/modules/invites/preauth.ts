/**
 * XEP-0379 pre-authenticated roster subscription: a subscription request that carries the
 * token of an invite the recipient made (`<preauth xmlns='urn:xmpp:pars:0' token='…'/>`) is
 * pre-approved before the presence module sees it, which then approves it as RFC 6121 §3.4
 * says for any pre-approval. A token that is not the recipient's, expired or revoked changes
 * nothing: the request goes to the user as usual.
 */
import type { ModuleApi } from '../../core/modules.js';
import { NS_PARS } from './api.js';
import { HOST_KEY, INVITES_STORE, type Invite } from './store.js';

export function hookPreauth(mod: ModuleApi): void {
  const store = mod.map<Invite>(INVITES_STORE);
  const approved = mod.measure.counter('invites_preauth_total', 'Subscription requests carrying an invite token, by result (approved, refused)', ['result']);
  // Above the presence module (priority 0), and holding the stanza until the roster is written.
  mod.hook('presence/bare', ({ stanza, to, from }) => {
    if (stanza.attrs.type !== 'subscribe' || to.local === '') return undefined;
    const token = stanza.getChild('preauth', NS_PARS)?.attrs.token;
    if (token === undefined || token === '') return undefined;
    return (async (): Promise<false> => {
      const invite = await store.get(HOST_KEY, token);
      const valid = invite !== undefined && !invite.revoked && invite.expires > mod.now() && invite.inviter === to.local;
      approved.inc({ result: valid ? 'approved' : 'refused' });
      if (!valid) return false;
      const roster = mod.optional('roster');
      if (!roster) return false;
      const contact = from.bare;
      await roster.modify(to.local, (r) => {
        const item = r.getItem(contact);
        if (item?.subscription === 'from' || item?.subscription === 'both') return;
        r.setItem({ ...(item ?? { jid: contact, groups: [], subscription: 'none', ask: false }), jid: contact, approved: true });
      });
      mod.log.info({ user: to.local, contact }, 'subscription pre-approved by an invite token');
      return false; // the presence module goes on and approves it
    })();
  }, 10);
}
