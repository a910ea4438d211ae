/**
 * Invites as stored: the map store `invites` under the username '' (host-level data in the
 * existing store shapes, no schema change), keyed by token. Shared by the module and the
 * `canto invite` command, which writes the same store while the server runs; the module reads
 * it at each use (no cache), so an invite made or revoked by the command counts at once.
 */
import type { MapStore } from '../../storage/types.js';
import { randomToken } from '../../util/random-token.js';

export const INVITES_STORE = 'invites';
export const HOST_KEY = '';

export interface Invite {
  token: string;
  /** ms since the epoch */
  created: number;
  expires: number;
  /** Accounts that may be created with it; 0: none (a roster invite, XEP-0379, for an existing account). */
  maxUses: number;
  /** Usernames of the accounts created with it. */
  usedBy: string[];
  /** The local user who invited (the new account is subscribed to them, mutually). */
  inviter?: string;
  /** A group: every account made with an invite of this group is subscribed to the others. */
  group?: string;
  /** The accounts made with it may invite others themselves. */
  mayInvite?: boolean;
  /** A username reserved for the new account (XEP-0401 create-account with a username). */
  username?: string;
  revoked?: boolean;
  /** Who made it: 'cli', 'adhoc', … (for `canto invite list`). */
  via: string;
}

export type InviteProblem = 'unknown' | 'expired' | 'revoked' | 'used';

/** 18 random bytes, base64url: unguessable, safe in URLs, xmpp: URIs and XML attributes, and as a CLI argument. */
export function newToken(): string {
  return randomToken(18);
}

export const TOKEN_SHAPE = /^[A-Za-z0-9_-]{16,64}$/;

/** Why an invite cannot create an account now (undefined: it can). */
export function problemOf(invite: Invite | undefined, now: number): InviteProblem | undefined {
  if (!invite) return 'unknown';
  if (invite.revoked) return 'revoked';
  if (invite.expires <= now) return 'expired';
  if (invite.usedBy.length >= invite.maxUses) return 'used';
  return undefined;
}

export interface NewInvite {
  expiresInMs: number;
  maxUses?: number;
  inviter?: string;
  group?: string;
  mayInvite?: boolean;
  username?: string;
  via: string;
}

export async function createInvite(store: MapStore<Invite>, now: number, opts: NewInvite): Promise<Invite> {
  const invite: Invite = {
    token: newToken(),
    created: now,
    expires: now + opts.expiresInMs,
    maxUses: opts.maxUses ?? 1,
    usedBy: [],
    via: opts.via,
  };
  if (opts.inviter !== undefined) invite.inviter = opts.inviter;
  if (opts.group !== undefined) invite.group = opts.group;
  if (opts.mayInvite) invite.mayInvite = true;
  if (opts.username !== undefined) invite.username = opts.username;
  await store.set(HOST_KEY, invite.token, invite);
  return invite;
}

/**
 * The xmpp: URI of an invite (XEP-0401 §3), whoever made it (the module, the CLI): with an
 * inviter, the roster form that adds them, offering registration (`ibr=y`); without, the
 * registration form on the account name the invite reserves, or the server.
 */
export function inviteUri(host: string, invite: Invite): string {
  const token = `preauth=${invite.token}`;
  if (invite.inviter !== undefined) return `xmpp:${invite.inviter}@${host}?roster;${token};ibr=y`;
  const who = invite.username !== undefined ? `${invite.username}@${host}` : host;
  return `xmpp:${who}?register;${token}`;
}

export async function revokeInvite(store: MapStore<Invite>, token: string): Promise<boolean> {
  let found = false;
  await store.update(HOST_KEY, token, (inv) => {
    found = inv !== undefined;
    return inv === undefined ? undefined : { ...inv, revoked: true };
  });
  return found;
}

/** Invites not yet expired, newest first (expired ones are dropped from the store as they are seen). */
export async function listInvites(store: MapStore<Invite>, now: number): Promise<Invite[]> {
  const all = [...(await store.getAll(HOST_KEY)).values()];
  const live: Invite[] = [];
  for (const inv of all) {
    if (inv.expires <= now) await store.set(HOST_KEY, inv.token, undefined);
    else live.push(inv);
  }
  return live.sort((a, b) => b.created - a.created);
}

/**
 * Take one use of the invite for `username` (atomic: two registrations cannot both take the
 * last use). Returns the invite as it was, or the problem.
 */
export async function takeUse(store: MapStore<Invite>, token: string, username: string, now: number): Promise<{ ok: true; invite: Invite } | { ok: false; why: InviteProblem | 'reserved' }> {
  // The outcome of the last run of the update function (a driver may run it more than once).
  let outcome: { ok: true; invite: Invite } | { ok: false; why: InviteProblem | 'reserved' } = { ok: false, why: 'unknown' };
  await store.update(HOST_KEY, token, (inv) => {
    const problem = problemOf(inv, now);
    if (problem || !inv) {
      outcome = { ok: false, why: problem ?? 'unknown' };
      return inv;
    }
    if (inv.username !== undefined && inv.username !== username) {
      outcome = { ok: false, why: 'reserved' };
      return inv;
    }
    outcome = { ok: true, invite: { ...inv, usedBy: [...inv.usedBy] } };
    return { ...inv, usedBy: [...inv.usedBy, username] };
  });
  return outcome;
}

/** Give a use back (the account could not be created after all). */
export async function giveBackUse(store: MapStore<Invite>, token: string, username: string): Promise<void> {
  await store.update(HOST_KEY, token, (inv) => {
    if (!inv) return inv;
    const i = inv.usedBy.lastIndexOf(username);
    if (i >= 0) inv.usedBy.splice(i, 1);
    return inv;
  });
}
