/**
 * XEP-0401 §4 ad-hoc commands for users allowed to invite: `urn:xmpp:invite#invite` (an invite
 * to join and to add the inviter) and `urn:xmpp:invite#create-account` (an account invite,
 * optionally for a chosen username and without the subscription). Both answer a result form
 * with the xmpp: URI, the landing page and the expiry.
 */
import type { ModuleApi } from '../../core/modules.js';
import type { AdhocCommand, CommandResult } from '../adhoc/api.js';
import { bool, one } from '../adhoc/form.js';
import { stanzaError } from '../../core/errors.js';
import { checkNewAccount } from '../register/fields.js';
import type { InvitesService } from './api.js';
import type { Invite } from './store.js';

export const NODE_INVITE = 'urn:xmpp:invite#invite';
export const NODE_CREATE_ACCOUNT = 'urn:xmpp:invite#create-account';

export function inviteCommands(mod: ModuleApi, invites: InvitesService): AdhocCommand[] {
  const result = (invite: Invite): CommandResult => ({
    form: {
      title: 'Invite',
      instructions: 'Send this link to the person you invite.',
      fields: [
        { var: 'uri', type: 'text-single', label: 'Invite URI', value: invites.uri(invite) },
        { var: 'landing-url', type: 'text-single', label: 'Invite web page', value: invites.landingUrl(invite) },
        { var: 'expire', type: 'text-single', label: 'Valid until', value: new Date(invite.expires).toISOString() },
      ],
    },
  });
  const access = (from: { local: string }): boolean => invites.mayInvite(from.local);
  return [
    {
      node: NODE_INVITE,
      name: 'Invite someone',
      access,
      stages: [],
      async complete({ from }) {
        return result(await invites.create({ inviter: from.local, via: 'adhoc' }));
      },
    },
    {
      node: NODE_CREATE_ACCOUNT,
      name: 'Create an account invite',
      access,
      stages: [{
        form: () => ({
          title: 'Create an account invite',
          fields: [
            { var: 'username', type: 'text-single', label: 'Username (optional)' },
            { var: 'roster-subscription', type: 'boolean', label: 'Add me to their contacts', value: '0' },
          ],
        }),
        check({ values }) {
          const username = one(values, 'username');
          if (username !== undefined && !checkNewAccount(username, 'x').ok) throw stanzaError('CANTO_ERR_NOT_ACCEPTABLE', `"${username}" is not a valid username`);
        },
      }],
      async complete({ from, values }) {
        const given = one(values, 'username');
        const checked = given === undefined ? undefined : checkNewAccount(given, 'x');
        const invite = await invites.create({
          inviter: bool(values, 'roster-subscription') ? from.local : undefined,
          username: checked?.ok ? checked.value.username : undefined,
          via: 'adhoc',
        });
        mod.log.info({ by: from.bare }, 'account invite created (ad-hoc)');
        return result(invite);
      },
    },
  ];
}
