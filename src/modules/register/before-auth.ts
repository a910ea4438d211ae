/**
 * Registration before authentication (XEP-0077 §3.1, §3.1.1): a client on a c2s_unauthed
 * stream asks for the form and submits a username and password; on success it goes on to
 * authenticate with them. Only on hosts with `allow_registration`, and only once the stream is
 * encrypted when `[c2s] require_encryption` is on.
 */
import type { ModuleApi } from '../../core/modules.js';
import type { CounterMetric, HistogramMetric } from '../../core/metrics.js';
import type { C2SUnauthedSession } from '../../core/session.js';
import type { Element } from '../../xml/element.js';
import { errorReply, reply } from '../../xml/stanza.js';
import { tryParseJid } from '../../jid/index.js';
import { makeCredentialsAsync } from '../../sasl/scram-credentials.js';
import { checkNewAccount, type Refusal } from './fields.js';
import type { RegisterOptions } from './options.js';
import { NS_REGISTER, parseRegisterQuery, registrationForm } from './query.js';
import type { RegistrationThrottle } from './throttle.js';
import type { RegistrationGuard } from './guard.js';

/** 'invite-only': registration is closed, except with an invite token (XEP-0445). */
export type Availability = 'open' | 'invite-only' | 'disabled' | 'needs-tls';

/** XEP-0379/0401 token element, also used on its own before registering (XEP-0445). */
export const NS_PARS = 'urn:xmpp:pars:0';

export class RegistrationBeforeAuth {
  /** Streams that are registering an account now or have registered one (one per stream). */
  private readonly used = new WeakSet<C2SUnauthedSession>();
  /** The invite token a stream presented (XEP-0445 <preauth/>), checked valid when given. */
  private readonly tokens = new WeakMap<C2SUnauthedSession, string>();
  /** Submitted registrations that passed the field checks, by outcome (docs/metrics.md). */
  private readonly registrations: CounterMetric<'result'>;
  /** Seconds to derive the new account's keys and store it. */
  private readonly creationTime: HistogramMetric;

  constructor(
    private readonly mod: ModuleApi,
    private readonly options: RegisterOptions,
    private readonly throttle: RegistrationThrottle,
    private readonly guard: RegistrationGuard,
  ) {
    this.registrations = mod.measure.counter('register_registrations_total', 'In-band registrations submitted with valid fields, by result (created, conflict, refused (a bad invite), throttled, blocked (a reserved username), failed)', ['result']);
    this.creationTime = mod.measure.histogram('register_account_creation_seconds', 'Time to derive the keys of and store an account registered in-band', [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
  }

  /** Whether this stream may register now (the host's switch is read each time, so it can change at runtime). */
  availability(origin: C2SUnauthedSession): Availability {
    const open = this.mod.context?.settings.allow_registration === true && !this.options.requireInvite;
    if (!open && this.mod.optional('invites') === undefined) return 'disabled';
    if (!origin.secure && this.mod.server.config.c2s.require_encryption) return 'needs-tls';
    return open ? 'open' : 'invite-only';
  }

  /**
   * XEP-0445 §3 / XEP-0401 §5.2: `<iq type='set'><preauth xmlns='urn:xmpp:pars:0' token='…'/></iq>`
   * before registering. A valid token is remembered for this stream; others are refused.
   */
  private preauth(origin: C2SUnauthedSession, stanza: Element, token: string | undefined): true {
    const invites = this.mod.optional('invites');
    if (!invites) return this.refuse(origin, stanza, { condition: 'service-unavailable', text: 'invites are not enabled on this server' });
    if (!origin.secure && this.mod.server.config.c2s.require_encryption) return this.refuse(origin, stanza, { condition: 'not-authorized', text: 'negotiate TLS (STARTTLS) first' });
    if (token === undefined || token === '') return this.refuse(origin, stanza, { condition: 'bad-request', text: 'the token is missing' });
    invites.check(token).then(
      (check) => {
        if (!check.ok) return this.refuse(origin, stanza, { condition: 'item-not-found', text: `the invite is ${check.why === 'unknown' ? 'not valid' : check.why}` });
        this.tokens.set(origin, token);
        origin.send(reply(stanza));
        return true;
      },
      (err: unknown) => {
        this.mod.log.error({ err }, 'checking an invite token failed');
        return this.refuse(origin, stanza, { condition: 'internal-server-error' , text: 'the token could not be checked' });
      },
    );
    return true;
  }

  /** Handle a stream element if it is a jabber:iq:register iq; returns whether it was claimed. */
  handle(origin: C2SUnauthedSession, stanza: Element): boolean {
    const type = stanza.attrs.type;
    const query = stanza.elements[0];
    // Only iqs for this host itself (or with no 'to', which on this stream means the same).
    const to = stanza.attrs.to;
    if (to !== undefined && to !== '' && tryParseJid(to)?.full !== origin.host) return false;
    if (type === 'set' && query?.is('preauth', NS_PARS) && stanza.elements.length === 1) return this.preauth(origin, stanza, query.attrs.token);
    if ((type !== 'get' && type !== 'set') || !query?.is('query', NS_REGISTER)) return false;

    if (stanza.elements.length !== 1) return this.refuse(origin, stanza, { condition: 'bad-request', text: 'an iq carries exactly one payload element' });
    const availability = this.availability(origin);
    if (availability === 'disabled') {
      // XEP-0077 §3.1: a host that does not offer in-band registration answers service-unavailable.
      return this.refuse(origin, stanza, { condition: 'service-unavailable', text: 'in-band registration is not available on this server' });
    }
    if (availability === 'invite-only' && !this.tokens.has(origin) && !query.getChild('preauth', NS_PARS)) {
      // Closed registration stays closed (as without invites) for a stream with no token.
      return this.refuse(origin, stanza, { condition: 'service-unavailable', text: 'in-band registration on this server needs an invite' });
    }
    if (availability === 'needs-tls') {
      return this.refuse(origin, stanza, { condition: 'not-authorized', text: 'negotiate TLS (STARTTLS) before registering' });
    }
    if (type === 'get') {
      origin.send(reply(stanza).cnode(registrationForm(this.options.instructions)));
      return true;
    }
    const request = parseRegisterQuery(query);
    if (request.kind === 'remove') {
      // §3.2 table: there is no account to cancel before authentication.
      return this.refuse(origin, stanza, { condition: 'unexpected-request', text: 'authenticate before cancelling a registration', type: 'cancel' });
    }
    if (this.used.has(origin)) {
      // §3.1.1: a server MAY refuse a second identity on the same stream.
      return this.refuse(origin, stanza, { condition: 'not-acceptable', text: 'one account per connection: authenticate with the account just registered' });
    }
    // A token in the query itself (XEP-0445 allows it there too) or presented before on this stream.
    const token = query.getChild('preauth', NS_PARS)?.attrs.token ?? this.tokens.get(origin);
    const checked = checkNewAccount(request.username, request.password);
    if (!checked.ok) return this.refuse(origin, stanza, checked.refusal);
    if (token !== undefined) return this.registerWithInvite(origin, stanza, token, checked.value);
    this.used.add(origin); // before the limits are asked (they may ask Redis): one registration at a time
    void this.registerOpen(origin, stanza, checked.value);
    return true;
  }

  /** Registration without an invite: the address limits, then the account. */
  private async registerOpen(origin: C2SUnauthedSession, stanza: Element, fields: { username: string; password: string }): Promise<void> {
    const giveBack = await this.throttle.takeShared(origin.ip);
    if (!giveBack) {
      this.used.delete(origin);
      origin.log.info({ ip: origin.ip }, 'registration refused: too many from this address');
      this.registrations.inc({ result: 'throttled' });
      // §3.1.1 names not-acceptable for "too many registrations"; type wait says "later".
      this.refuse(origin, stanza, { condition: 'not-acceptable', text: 'too many registrations from your address; try again later', type: 'wait' });
      return;
    }
    const guarded = await this.guard.checkShared(origin.ip, fields.username);
    if (!guarded.ok) {
      giveBack();
      this.used.delete(origin);
      origin.log.info({ ip: origin.ip, why: guarded.why }, 'registration refused');
      this.registrations.inc({ result: guarded.why === 'blocked-username' ? 'blocked' : 'throttled' });
      this.refuse(origin, stanza, guarded.refusal);
      return;
    }
    const giveBackAll = (): void => {
      giveBack();
      guarded.giveBack();
    };
    const { username, password } = fields;
    const timer = this.creationTime.startTimer();
    this.createAccount(origin, username, password).then(
      (refusal) => {
        this.registrations.inc({ result: refusal ? 'conflict' : 'created' });
        if (refusal) {
          giveBackAll();
          this.used.delete(origin);
          this.refuse(origin, stanza, refusal);
        } else {
          timer();
          origin.send(reply(stanza));
        }
      },
      (err: unknown) => {
        this.registrations.inc({ result: 'failed' });
        giveBackAll();
        this.used.delete(origin);
        this.mod.log.error({ err, username }, 'registration failed');
        this.refuse(origin, stanza, { condition: 'internal-server-error', text: 'the account could not be created' });
      },
    );
  }

  /** XEP-0445: create the account with an invite (the invites module does it, subscriptions included). */
  private registerWithInvite(origin: C2SUnauthedSession, stanza: Element, token: string, fields: { username: string; password: string }): true {
    if (!this.mod.optional('invites')) return this.refuse(origin, stanza, { condition: 'service-unavailable', text: 'invites are not enabled on this server' });
    this.used.add(origin); // before the throttle is asked (it may ask Redis): one registration at a time
    void this.registerInvited(origin, stanza, token, fields);
    return true;
  }

  private async registerInvited(origin: C2SUnauthedSession, stanza: Element, token: string, fields: { username: string; password: string }): Promise<void> {
    const giveBack = await this.throttle.takeShared(origin.ip);
    const invites = this.mod.optional('invites');
    if (!giveBack || !invites) {
      giveBack?.();
      this.used.delete(origin);
      if (!invites) {
        this.refuse(origin, stanza, { condition: 'service-unavailable', text: 'invites are not enabled on this server' });
        return;
      }
      this.registrations.inc({ result: 'throttled' });
      this.refuse(origin, stanza, { condition: 'not-acceptable', text: 'too many registrations from your address; try again later', type: 'wait' });
      return;
    }
    invites.register(token, fields.username, fields.password, origin.ip, 'ibr').then(
      (outcome) => {
        if (outcome.ok) {
          this.registrations.inc({ result: 'created' });
          origin.send(reply(stanza));
          return;
        }
        giveBack();
        this.used.delete(origin);
        this.registrations.inc({ result: outcome.why === 'conflict' ? 'conflict' : 'refused' });
        const condition = outcome.why === 'conflict' ? 'conflict' : outcome.why === 'bad-username' || outcome.why === 'bad-password' ? 'not-acceptable' : 'forbidden';
        this.refuse(origin, stanza, { condition, text: outcome.text });
      },
      (err: unknown) => {
        giveBack();
        this.used.delete(origin);
        this.registrations.inc({ result: 'failed' });
        this.mod.log.error({ err }, 'registration with an invite failed');
        this.refuse(origin, stanza, { condition: 'internal-server-error', text: 'the account could not be created' });
      },
    );
  }

  /** Create the account; a refusal when the name is taken, undefined on success. */
  private async createAccount(origin: C2SUnauthedSession, username: string, password: string): Promise<Refusal | undefined> {
    const { server, host } = this.mod;
    const accounts = server.storage.accounts;
    const taken: Refusal = { condition: 'conflict', text: 'that username is already taken' };
    // Checked before the (deliberately slow) key derivation; create() settles any race.
    if (await accounts.exists(host, username)) return taken;
    const { scram_iterations: iterations, scram_hashes: hashes } = server.config.auth;
    const credentials = await makeCredentialsAsync(password, { iterations, hashes });
    if (!(await accounts.create(host, username, credentials))) return taken;
    this.mod.log.info({ host, username, ip: origin.ip }, 'account registered');
    return undefined;
  }

  private refuse(origin: C2SUnauthedSession, stanza: Element, refusal: Refusal): true {
    origin.send(errorReply(stanza, refusal.condition, refusal.text, refusal.type));
    return true;
  }
}
