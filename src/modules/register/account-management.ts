/**
 * What a registered, signed-in user does with jabber:iq:register (XEP-0077 §3.1–§3.3): see that
 * they are registered, change their password, or delete their account. These iqs reach the
 * router like any other, addressed to the host or to nobody (which means the user's own bare JID).
 */
import type { ModuleApi } from '../../core/modules.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { C2SSession, CloseReason } from '../../core/session.js';
import type { Element } from '../../xml/element.js';
import { errorReply, reply } from '../../xml/stanza.js';
import { makeCredentialsAsync } from '../../sasl/scram-credentials.js';
import { fastService } from '../adhoc/fast.js';
import { checkPasswordChange, type Refusal } from './fields.js';
import type { RegisterOptions } from './options.js';
import { parseRegisterQuery, registeredInfo } from './query.js';

const REGISTERED_INSTRUCTIONS = 'You are registered. Send a new <password/> with your <username/> to change it, or <remove/> to delete the account.';

/** The stream error every session of a deleted account is closed with (XEP-0077 §3.2). */
export const ACCOUNT_REMOVED: CloseReason = { condition: 'not-authorized', text: 'account removed' };

export class AccountManagement {
  constructor(
    private readonly mod: ModuleApi,
    private readonly options: RegisterOptions,
  ) {}

  /** iq get: <registered/> and the username. */
  onGet = (event: StanzaEvent): boolean => {
    const user = this.ownAccountRequest(event);
    if (!user) return false;
    user.send(reply(event.stanza).cnode(registeredInfo(user.username, REGISTERED_INSTRUCTIONS)));
    return true;
  };

  /**
   * iq set: a password change or a removal. The async work is returned (the iq is held until it
   * is done, then claimed), not left running after the handler returned.
   */
  onSet = (event: StanzaEvent): boolean | Promise<true> => {
    const user = this.ownAccountRequest(event);
    const query = event.stanza.elements[0];
    if (!user || !query) return false;
    const request = parseRegisterQuery(query);
    if (request.kind === 'remove') {
      if (!request.alone) return this.refuse(user, event.stanza, { condition: 'bad-request', text: '<remove/> must be the only element of the query' });
      if (!this.options.allowAccountRemoval) return this.refuse(user, event.stanza, { condition: 'not-allowed', text: 'accounts cannot be deleted in-band on this server' });
      return this.removeAccount(user, event.stanza);
    }
    if (!this.options.allowPasswordChange) return this.refuse(user, event.stanza, { condition: 'not-allowed', text: 'passwords cannot be changed in-band on this server' });
    if (!user.secure && this.mod.server.config.c2s.require_encryption) {
      return this.refuse(user, event.stanza, { condition: 'not-authorized', text: 'passwords are only changed over an encrypted connection', type: 'modify' });
    }
    const checked = checkPasswordChange(user.username, request.username, request.password);
    if (!checked.ok) return this.refuse(user, event.stanza, checked.refusal);
    return this.changePassword(user, checked.value).then(
      (refusal) => {
        if (refusal) return this.refuse(user, event.stanza, refusal);
        user.send(reply(event.stanza));
        return true;
      },
      (err: unknown) => {
        this.mod.log.error({ err, username: user.username }, 'password change failed');
        return this.refuse(user, event.stanza, { condition: 'internal-server-error', text: 'the password could not be changed' });
      },
    );
  };

  /**
   * The signed-in user of this host asking about their own account, or undefined when the iq
   * is not ours to answer: from another server or host, or addressed to someone else's bare JID.
   */
  private ownAccountRequest({ origin, to, from }: StanzaEvent): C2SSession | undefined {
    if (origin.type !== 'c2s' || origin.host !== this.mod.host) return undefined;
    if (to.local !== '' && to.bare !== from.bare) return undefined;
    return origin;
  }

  private async changePassword(user: C2SSession, password: string): Promise<Refusal | undefined> {
    const { server, host } = this.mod;
    const { scram_iterations: iterations, scram_hashes: hashes } = server.config.auth;
    const credentials = await makeCredentialsAsync(password, { iterations, hashes });
    if (!(await server.storage.accounts.setCredentials(host, user.username, credentials))) {
      return { condition: 'registration-required', text: 'the account no longer exists' };
    }
    // Device tokens (XEP-0484) stop working with the old password.
    await fastService(this.mod)?.revokeAll(user.username);
    this.mod.log.info({ host, username: user.username, ip: user.ip }, 'password changed');
    return undefined;
  }

  /**
   * §3.2: answer with a result, then end every session of the account with the not-authorized
   * stream error, then delete the account with all its data and tell the modules. Sessions go
   * first so that what modules do when a resource goes offline (e.g. unavailable presence to
   * the roster) still finds the user's data. Resolves (true) once the account is deleted.
   */
  private removeAccount(user: C2SSession, stanza: Element): Promise<true> {
    const { server, host } = this.mod;
    const { username, ip } = user;
    user.send(reply(stanza));
    for (const session of [...server.sessions.all]) {
      if (session.type !== 'c2s' || session.host !== host || session.username !== username) continue;
      session.close(ACCOUNT_REMOVED);
      // Destroyed now, not when the socket closes: nothing may act for the account once it is gone.
      server.sessions.destroySession(session, ACCOUNT_REMOVED, { final: true });
    }
    // [modules.register] deletion_grace: only scheduled; a login before it ends restores the account.
    const state = this.mod.optional('accounts-state');
    if (this.options.deletionGrace !== undefined && this.options.deletionGrace > 0 && state) {
      return state.scheduleDeletion(username, this.options.deletionGrace).then(
        (): true => true,
        (err: unknown): true => {
          this.mod.log.error({ err, host, username }, 'scheduling the account deletion failed');
          return true;
        },
      );
    }
    return server.storage.accounts.delete(host, username).then(
      (existed): true => {
        if (existed) this.mod.log.info({ host, username, ip }, 'account removed in-band');
        this.mod.fire('user-deleted', { host, username });
        return true;
      },
      (err: unknown): true => {
        this.mod.log.error({ err, host, username }, 'deleting an account failed');
        return true;
      },
    );
  }

  private refuse(user: C2SSession, stanza: Element, refusal: Refusal): true {
    // XEP-0077 §3.3: errors about password changes do not echo the request (errorReply never does for iq).
    user.send(errorReply(stanza, refusal.condition, refusal.text, refusal.type));
    return true;
  }
}
