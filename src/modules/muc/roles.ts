/**
 * Roles and affiliations (XEP-0045 §5): the default role an affiliation gives, and who may change
 * whose role or affiliation (§8, §9, §10). Pure functions over plain values, so the tables are
 * unit-tested on their own (test/unit/muc-roles.test.ts).
 */

export type Role = 'moderator' | 'participant' | 'visitor' | 'none';
export type Affiliation = 'owner' | 'admin' | 'member' | 'none' | 'outcast';

export const ROLES: readonly Role[] = ['moderator', 'participant', 'visitor', 'none'];
export const AFFILIATIONS: readonly Affiliation[] = ['owner', 'admin', 'member', 'none', 'outcast'];

export const isRole = (v: string | undefined): v is Role => v !== undefined && (ROLES as readonly string[]).includes(v);
export const isAffiliation = (v: string | undefined): v is Affiliation => v !== undefined && (AFFILIATIONS as readonly string[]).includes(v);

/** §5.2: the order of affiliations, outcast lowest. */
const RANK: Record<Affiliation, number> = { outcast: 0, none: 1, member: 2, admin: 3, owner: 4 };

export const atLeast = (a: Affiliation, than: Affiliation): boolean => RANK[a] >= RANK[than];
export const isAdminOrOwner = (a: Affiliation): boolean => a === 'admin' || a === 'owner';

/** §5.1.2 / §5.2: the role an occupant gets on entering (outcasts never enter: 'none'). */
export function defaultRole(affiliation: Affiliation, moderated: boolean): Role {
  switch (affiliation) {
    case 'owner':
    case 'admin':
      return 'moderator';
    case 'member':
      return 'participant';
    case 'none':
      return moderated ? 'visitor' : 'participant';
    case 'outcast':
      return 'none';
  }
}

/** The answer of a permission check: allowed, or the stanza error condition to refuse with. */
export type Verdict = 'ok' | 'forbidden' | 'not-allowed';

export interface Party {
  role: Role;
  affiliation: Affiliation;
}

/**
 * May `actor` give `target` the role `to`? §8.2 (kick), §8.3–8.4 (voice), §9.6–9.7 (moderator):
 * only moderators change roles (else forbidden); only admins and owners grant or revoke moderator
 * status (forbidden); nobody lowers the role of an admin or owner, nor of someone whose
 * affiliation is above the actor's (not-allowed).
 */
export function checkRoleChange(actor: Party, target: Party, to: Role): Verdict {
  if (actor.role !== 'moderator') return 'forbidden';
  const touchesModerator = to === 'moderator' || target.role === 'moderator';
  if (touchesModerator && !isAdminOrOwner(actor.affiliation)) return 'forbidden';
  if (to !== 'moderator' && isAdminOrOwner(target.affiliation)) return 'not-allowed';
  if (RANK[target.affiliation] > RANK[actor.affiliation]) return 'not-allowed';
  return 'ok';
}

/**
 * May an occupant with affiliation `actor` change `target`'s affiliation to `to`? §9 (admins:
 * ban, member list), §10.3–10.7 (owners: owner and admin lists). Admins may not touch admins
 * or owners (not-allowed) nor make them (forbidden); everything else needs admin or owner.
 * Keeping at least one owner is the caller's check (it needs the whole list).
 */
export function checkAffiliationChange(actor: Affiliation, target: Affiliation, to: Affiliation): Verdict {
  if (!isAdminOrOwner(actor)) return 'forbidden';
  if (actor === 'owner') return 'ok';
  if (isAdminOrOwner(to)) return 'forbidden';
  if (isAdminOrOwner(target)) return 'not-allowed';
  return 'ok';
}

/** May someone with this role and affiliation read the list of an affiliation (§9.5, §9.8, §10.5, §10.8) or role (§8.5, §9.9)? */
export function mayReadList(reader: Party, list: { affiliation?: Affiliation; role?: Role }): boolean {
  if (list.role !== undefined) return reader.role === 'moderator';
  return isAdminOrOwner(reader.affiliation);
}

export type AllowPm = 'anyone' | 'participants' | 'moderators' | 'none';

/** muc#roomconfig_allowpm: may an occupant with `role` send private messages? */
export function mayPrivateMessage(role: Role, allow: AllowPm): boolean {
  switch (allow) {
    case 'anyone':
      return role !== 'none';
    case 'participants':
      return role === 'participant' || role === 'moderator';
    case 'moderators':
      return role === 'moderator';
    case 'none':
      return false;
  }
}

/** §7.2.3–7.2.4: whether this occupant sees real JIDs in presence: everyone in non-anonymous rooms, moderators otherwise. */
export function seesRealJids(role: Role, whois: 'anyone' | 'moderators'): boolean {
  return whois === 'anyone' || role === 'moderator';
}

/** May an occupant change the subject (§8.1, muc#roomconfig_changesubject)? */
export function mayChangeSubject(role: Role, changeSubject: boolean): boolean {
  return role === 'moderator' || (changeSubject && role === 'participant');
}
