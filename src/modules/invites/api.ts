/** The `invites` service (XEP-0379, XEP-0401, XEP-0445): what register, adhoc and the web page use. */
import type { Invite, InviteProblem, NewInvite } from './store.js';

export const NS_PARS = 'urn:xmpp:pars:0';
export const NS_INVITE = 'urn:xmpp:invite';

/** Why a registration with an invite was refused. */
export type RegisterRefusal = InviteProblem | 'reserved' | 'conflict' | 'bad-username' | 'bad-password';

export type RegisterOutcome = { ok: true; username: string; invite: Invite } | { ok: false; why: RegisterRefusal; text: string };

export interface InvitesService {
  create(opts: Omit<NewInvite, 'expiresInMs'> & { expiresInMs?: number }): Promise<Invite>;
  /** The invite if it can still create an account, else why not. */
  check(token: string): Promise<{ ok: true; invite: Invite } | { ok: false; why: InviteProblem }>;
  list(): Promise<Invite[]>;
  revoke(token: string): Promise<boolean>;
  /** Create an account with an invite: takes a use, creates it, subscribes it to the inviter and group. */
  register(token: string, username: string | undefined, password: string | undefined, ip: string, via: 'ibr' | 'web'): Promise<RegisterOutcome>;
  /** The xmpp: URI of an invite (XEP-0401 §3) and its landing page. */
  uri(invite: Invite): string;
  landingUrl(invite: Invite): string;
  /** Whether this local user may create invites (admins; everyone with allow_user_invites; accounts invited with mayInvite). */
  mayInvite(username: string): boolean;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    invites: InvitesService;
  }
}
