/**
 * Commands every user may run on their own account: change the password (which also revokes
 * every FAST token, so a stolen device token stops working), and list or revoke the devices'
 * FAST tokens (only when the fast module is loaded).
 */
import type { ModuleApi } from '../../core/modules.js';
import { stanzaError } from '../../core/errors.js';
import { changePassword } from '../account_state/operations.js';
import { checkNewAccount } from '../register/fields.js';
import type { AdhocCommand } from './api.js';
import { one, type FormSpec } from './form.js';
import { fastService, type FastTokenInfo } from './fast.js';

export const NODE_CHANGE_PASSWORD = 'urn:canto:adhoc:change-password';
export const NODE_LIST_DEVICES = 'urn:canto:adhoc:devices';
export const NODE_REVOKE_DEVICES = 'urn:canto:adhoc:revoke-devices';

const PASSWORD_FORM: FormSpec = {
  title: 'Change your password',
  instructions: 'Your devices signed in with a token will have to sign in again with the new password.',
  fields: [
    { var: 'password', type: 'text-private', label: 'New password', required: true },
    { var: 'password-verify', type: 'text-private', label: 'New password again', required: true },
  ],
};

function describe(t: FastTokenInfo): string {
  const name = [t.software, t.device].filter((x) => x !== undefined && x !== '').join(' on ') || t.userAgent || t.id;
  const used = t.lastUsed !== undefined ? `, last used ${new Date(t.lastUsed).toISOString()}` : '';
  return `${name}${used}`;
}

/** Change a password: SCRAM credentials with the server's settings; false when the account is gone. */
export async function setPassword(mod: ModuleApi, username: string, password: string): Promise<boolean> {
  return changePassword(mod.server, mod.host, username, password);
}

/** The same checks as in-band registration's password (SASLprep), and both fields equal. */
export function checkPasswords(username: string, password: string | undefined, verify: string | undefined): string {
  if (password !== verify) throw stanzaError('CANTO_ERR_NOT_ACCEPTABLE', 'the two passwords differ');
  const checked = checkNewAccount(username, password);
  if (!checked.ok) throw stanzaError('CANTO_ERR_NOT_ACCEPTABLE', checked.refusal.text);
  return checked.value.password;
}

export function userCommands(mod: ModuleApi): AdhocCommand[] {
  const hasFast = (): boolean => fastService(mod) !== undefined;
  return [
    {
      node: NODE_CHANGE_PASSWORD,
      name: 'Change password',
      access: 'user',
      stages: [{ form: () => PASSWORD_FORM }],
      async complete({ from, values }) {
        const password = checkPasswords(from.local, one(values, 'password'), one(values, 'password-verify'));
        if (!(await setPassword(mod, from.local, password))) throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', 'the account no longer exists');
        await fastService(mod)?.revokeAll(from.local);
        mod.log.info({ username: from.local }, 'password changed (ad-hoc)');
        return { notes: [{ type: 'info', text: 'Password changed. Devices signed in with a token must sign in again.' }] };
      },
    },
    {
      node: NODE_LIST_DEVICES,
      name: 'List my devices',
      access: hasFast,
      stages: [],
      async complete({ from }) {
        const tokens = (await fastService(mod)?.listTokens(from.local)) ?? [];
        if (tokens.length === 0) return { notes: [{ type: 'info', text: 'No device has a sign-in token.' }] };
        return {
          form: {
            title: 'Devices with a sign-in token',
            fields: tokens.map((t) => ({ var: t.id, type: 'fixed' as const, label: t.id, value: describe(t) })),
          },
        };
      },
    },
    {
      node: NODE_REVOKE_DEVICES,
      name: 'Sign out devices',
      access: hasFast,
      stages: [
        {
          async form({ from }) {
            const tokens = (await fastService(mod)?.listTokens(from.local)) ?? [];
            return {
              title: 'Sign out devices',
              instructions: 'The devices chosen must sign in with the password again.',
              fields: [{
                var: 'devices', type: 'list-multi', label: 'Devices', required: true,
                options: [{ value: 'all', label: 'All devices' }, ...tokens.map((t) => ({ value: t.id, label: describe(t) }))],
              }],
            };
          },
        },
      ],
      async complete({ from, values }) {
        const fast = fastService(mod);
        if (!fast) throw stanzaError('CANTO_ERR_SERVICE_UNAVAILABLE', 'device tokens are not enabled');
        const chosen = values.get('devices') ?? [];
        if (chosen.includes('all')) await fast.revokeAll(from.local);
        else for (const id of chosen) await fast.revoke(from.local, id);
        return { notes: [{ type: 'info', text: chosen.includes('all') ? 'All devices signed out.' : `${chosen.length} device(s) signed out.` }] };
      },
    },
  ];
}
