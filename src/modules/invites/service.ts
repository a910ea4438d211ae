/**
 * The invites service on one host: invites in the store (store.ts), account creation with an
 * invite (shared by in-band registration and the web page), the mutual subscriptions an invite
 * brings, and who may invite.
 */
import type { ModuleApi } from '../../core/modules.js';
import type { CounterMetric } from '../../core/metrics.js';
import { makeCredentialsAsync } from '../../sasl/scram-credentials.js';
import { checkNewAccount } from '../register/fields.js';
import type { InvitesService, RegisterOutcome } from './api.js';
import { createInvite, giveBackUse, inviteUri, HOST_KEY, INVITES_STORE, listInvites, problemOf, revokeInvite, takeUse, type Invite } from './store.js';

export interface InvitesOptions {
  allowUserInvites: boolean;
  defaultExpiry: number;
  publicUrl: string;
}

/** Accounts allowed to invite because their invite said so (keyval under ''). */
const GRANTS_STORE = 'invite_grants';
/** Members of invite groups: map under '' keyed by group name. */
const GROUPS_STORE = 'invite_groups';

export async function makeInvitesService(mod: ModuleApi, options: InvitesOptions): Promise<InvitesService> {
  const store = mod.map<Invite>(INVITES_STORE);
  const grantsStore = mod.keyval<string[]>(GRANTS_STORE);
  const groups = mod.map<string[]>(GROUPS_STORE);
  let grants = new Set(await grantsStore.get(HOST_KEY));
  mod.cachedStore(GRANTS_STORE, async () => {
    grants = new Set(await grantsStore.get(HOST_KEY));
  });
  const created: CounterMetric<'via'> = mod.measure.counter('invites_created_total', 'Invites created, by how (adhoc, cli, api)', ['via']);
  const registrations: CounterMetric<'via' | 'result'> = mod.measure.counter('invites_registrations_total', 'Account creations with an invite, by path (ibr, web) and result (created, or why refused)', ['via', 'result']);

  /** Make `a` and `b` subscribed to each other (both rosters, pushed to their sessions). */
  const subscribeMutually = async (a: string, b: string, group: string | undefined): Promise<void> => {
    const roster = mod.optional('roster');
    if (!roster) return;
    for (const [user, contact] of [[a, b], [b, a]] as const) {
      const jid = `${contact}@${mod.host}`;
      await roster.modify(user, (r) => {
        const item = r.getItem(jid);
        const itemGroups = new Set(item?.groups ?? []);
        if (group !== undefined) itemGroups.add(group);
        r.setItem({ ...(item ?? { jid }), jid, groups: [...itemGroups], subscription: 'both', ask: false, approved: false });
      });
    }
  };

  const service: InvitesService = {
    async create(opts) {
      const invite = await createInvite(store, mod.now(), { ...opts, expiresInMs: opts.expiresInMs ?? options.defaultExpiry });
      created.inc({ via: opts.via === 'cli' || opts.via === 'api' ? opts.via : 'adhoc' });
      mod.log.info({ inviter: invite.inviter, via: invite.via, expires: new Date(invite.expires).toISOString(), uses: invite.maxUses }, 'invite created');
      return invite;
    },
    async check(token) {
      const invite = await store.get(HOST_KEY, token);
      const why = problemOf(invite, mod.now());
      return why === undefined && invite ? { ok: true, invite } : { ok: false, why: why ?? 'unknown' };
    },
    list: () => listInvites(store, mod.now()),
    revoke: (token) => revokeInvite(store, token),
    async register(token, username, password, ip, via): Promise<RegisterOutcome> {
      const refuse = (why: Exclude<RegisterOutcome, { ok: true }>['why'], text: string): RegisterOutcome => {
        registrations.inc({ via, result: why });
        return { ok: false, why, text };
      };
      const checked = checkNewAccount(username, password);
      if (!checked.ok) return refuse(checked.refusal.text.includes('password') ? 'bad-password' : 'bad-username', checked.refusal.text);
      const name = checked.value.username;
      const accounts = mod.server.storage.accounts;
      if (await accounts.exists(mod.host, name)) return refuse('conflict', 'that username is already taken');
      const taken = await takeUse(store, token, name, mod.now());
      if (!taken.ok) return refuse(taken.why, taken.why === 'reserved' ? 'this invite is for another username' : `the invite is ${taken.why === 'unknown' ? 'not valid' : taken.why}`);
      const { scram_iterations: iterations, scram_hashes: hashes } = mod.server.config.auth;
      let ok = false;
      try {
        ok = await accounts.create(mod.host, name, await makeCredentialsAsync(checked.value.password, { iterations, hashes }));
      } finally {
        if (!ok) await giveBackUse(store, token, name);
      }
      if (!ok) return refuse('conflict', 'that username is already taken');
      const invite = taken.invite;
      mod.log.info({ username: name, ip, via, inviter: invite.inviter }, 'account created with an invite');
      registrations.inc({ via, result: 'created' });
      // What the invite brings; the account exists already, so a failure here is logged, not refused.
      try {
        if (invite.mayInvite) {
          const next = await grantsStore.update(HOST_KEY, (list) => [...new Set([...(list ?? []), name])]);
          grants = new Set(next);
        }
        if (invite.inviter !== undefined && invite.inviter !== name) await subscribeMutually(invite.inviter, name, invite.group);
        if (invite.group !== undefined) {
          const group = invite.group;
          const members = (await groups.get(HOST_KEY, group)) ?? [];
          for (const m of members) if (m !== name && m !== invite.inviter) await subscribeMutually(m, name, group);
          await groups.update(HOST_KEY, group, (list) => [...new Set([...(list ?? []), name])]);
        }
      } catch (err) {
        mod.log.error({ err, username: name }, 'could not set up the subscriptions of an invited account');
      }
      return { ok: true, username: name, invite };
    },
    uri: (invite) => inviteUri(mod.host, invite),
    landingUrl(invite) {
      return `${options.publicUrl.replace(/\/+$/, '')}/invite/${invite.token}`;
    },
    mayInvite(username) {
      return options.allowUserInvites || grants.has(username) || mod.server.config.admins.includes(`${username}@${mod.host}`);
    },
  };
  return service;
}
