/**
 * XEP-0133 Service Administration: the commands the server's admins (`admins` in the config)
 * may run on this host's accounts. Each form carries FORM_TYPE http://jabber.org/protocol/admin
 * and the field names of XEP-0133 §4, so generic clients (Gajim, Psi, slixmpp's xep_0133) can
 * fill them.
 */
import type { ModuleApi } from '../../core/modules.js';
import { stanzaError } from '../../core/errors.js';
import { tryParseJid, type Jid } from '../../jid/index.js';
import { accountStatistics, addAccount, announce, onlineUsers } from '../account_state/operations.js';
import type { AdhocCommand, CommandContext, CommandResult } from './api.js';
import { one, type FieldSpec, type FormSpec } from './form.js';
import { checkPasswords, setPassword } from './user-commands.js';

export const NS_ADMIN = 'http://jabber.org/protocol/admin';
const node = (name: string) => `${NS_ADMIN}#${name}`;

const form = (title: string, fields: FieldSpec[]): FormSpec => ({ title, formType: NS_ADMIN, fields });
const ACCOUNT: FieldSpec = { var: 'accountjid', type: 'jid-single', label: 'The account', required: true };
const ACCOUNTS: FieldSpec = { var: 'accountjids', type: 'jid-multi', label: 'The accounts', required: true };
const PASSWORD: FieldSpec = { var: 'password', type: 'text-private', label: 'Password', required: true };
const VERIFY: FieldSpec = { var: 'password-verify', type: 'text-private', label: 'Password again' };

export function adminCommands(mod: ModuleApi): AdhocCommand[] {
  const state = () => mod.require('accounts-state');
  /** The localpart of an account JID of this host (the form has already checked it parses). */
  const local = (text: string | undefined): string => {
    const j: Jid | undefined = text === undefined ? undefined : tryParseJid(text);
    if (!j || j.local === '' || j.resource !== '' || j.domain !== mod.host) throw stanzaError('CANTO_ERR_NOT_ACCEPTABLE', `"${text ?? ''}" is not an account of ${mod.host}`);
    return j.local;
  };
  const existing = async (text: string | undefined): Promise<string> => {
    const username = local(text);
    if (!(await mod.server.storage.accounts.exists(mod.host, username))) throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', `there is no account ${username}@${mod.host}`);
    return username;
  };
  const forEach = async (ctx: CommandContext, fn: (username: string) => Promise<unknown>, done: string): Promise<CommandResult> => {
    const names = (ctx.values.get('accountjids') ?? []).map(local);
    for (const n of names) await existing(`${n}@${mod.host}`);
    for (const n of names) await fn(n);
    mod.log.info({ by: ctx.from.bare, accounts: names }, done);
    return { notes: [{ type: 'info', text: `${done}: ${names.map((n) => `${n}@${mod.host}`).join(', ')}` }] };
  };
  const admin = <T extends Omit<AdhocCommand, 'access'>>(c: T): AdhocCommand => ({ ...c, access: 'admin' });

  return [
    admin({
      node: node('add-user'),
      name: 'Add a user',
      stages: [{ form: () => form('Add a user', [ACCOUNT, PASSWORD, { ...VERIFY, required: true }]) }],
      async complete({ from, values }) {
        const username = local(one(values, 'accountjid'));
        const password = checkPasswords(username, one(values, 'password'), one(values, 'password-verify'));
        if (!(await addAccount(mod.server, mod.host, username, password))) {
          throw stanzaError('CANTO_ERR_CONFLICT', `the account ${username}@${mod.host} exists`);
        }
        mod.log.info({ by: from.bare, username }, 'account added (ad-hoc)');
        return { notes: [{ type: 'info', text: `Account ${username}@${mod.host} created.` }] };
      },
    }),
    admin({
      node: node('delete-user'),
      name: 'Delete users',
      stages: [{ form: () => form('Delete users (immediately, with all their data)', [ACCOUNTS]) }],
      complete: (ctx) => forEach(ctx, (u) => state().deleteNow(u), 'accounts deleted'),
    }),
    admin({
      node: node('disable-user'),
      name: 'Disable users',
      stages: [{ form: () => form('Disable users (they cannot log in; their sessions end)', [ACCOUNTS]) }],
      complete: (ctx) => forEach(ctx, (u) => state().disable(u, ctx.from.bare), 'accounts disabled'),
    }),
    admin({
      node: node('reenable-user'),
      name: 'Re-enable users',
      stages: [{ form: () => form('Re-enable users', [ACCOUNTS]) }],
      complete: (ctx) => forEach(ctx, (u) => state().enable(u), 'accounts enabled'),
    }),
    admin({
      node: node('change-user-password'),
      name: 'Change a user\'s password',
      stages: [{ form: () => form('Change a user\'s password', [ACCOUNT, PASSWORD]) }],
      async complete({ from, values }) {
        const username = await existing(one(values, 'accountjid'));
        const password = checkPasswords(username, one(values, 'password'), one(values, 'password'));
        if (!(await setPassword(mod, username, password))) throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', 'the account no longer exists');
        mod.log.info({ by: from.bare, username }, 'password changed by an admin (ad-hoc)');
        return { notes: [{ type: 'info', text: `Password of ${username}@${mod.host} changed.` }] };
      },
    }),
    admin({
      node: node('get-online-users-list'),
      name: 'List online users',
      stages: [],
      complete() {
        return { form: form('Online users', [{ var: 'onlineuserjids', type: 'jid-multi', label: 'Online users', value: onlineUsers(mod.server, mod.host) }]) };
      },
    }),
    admin({
      node: node('end-user-session'),
      name: 'End user sessions',
      stages: [{ form: () => form('End every session of these users', [ACCOUNTS]) }],
      complete: (ctx) => forEach(ctx, async (u) => state().closeSessions(u, { condition: 'policy-violation', text: 'session ended by an administrator' }), 'sessions ended'),
    }),
    admin({
      node: node('announce'),
      name: 'Send an announcement to online users',
      stages: [{
        form: () => form('Announcement to every online user', [
          { var: 'subject', type: 'text-single', label: 'Subject' },
          { var: 'announcement', type: 'text-multi', label: 'Announcement', required: true },
        ]),
      }],
      complete({ from, values }) {
        const text = (values.get('announcement') ?? []).join('\n');
        if (text.trim() === '') throw stanzaError('CANTO_ERR_NOT_ACCEPTABLE', 'the announcement is empty');
        const sent = announce(mod.server, mod.host, (m) => mod.send(m), text, one(values, 'subject'));
        mod.log.info({ by: from.bare, sent }, 'announcement sent');
        return { notes: [{ type: 'info', text: `Announcement sent to ${sent} session(s).` }] };
      },
    }),
    admin({
      node: node('get-user-statistics'),
      name: 'Get user statistics',
      stages: [{ form: () => form('Get user statistics', [ACCOUNT]) }],
      async complete({ values }) {
        const username = await existing(one(values, 'accountjid'));
        const st = await accountStatistics(mod.server, mod.host, state(), username);
        return {
          form: form('User statistics', [
            { var: 'accountjid', type: 'jid-single', label: 'The account', value: st.jid },
            { var: 'rostersize', type: 'text-single', label: 'Roster size', value: String(st.rosterSize) },
            { var: 'onlineresources', type: 'text-multi', label: 'Online resources', value: st.resources },
            { var: 'ipaddresses', type: 'text-multi', label: 'IP addresses', value: st.ips },
            { var: 'status', type: 'text-single', label: 'Account status', value: st.status },
          ]),
        };
      },
    }),
  ];
}
