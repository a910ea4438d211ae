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

export type Availability = 'open' | 'disabled' | 'needs-tls';

export class RegistrationBeforeAuth {
  /** Streams that are registering an account now or have registered one (one per stream). */
  private readonly used = new WeakSet<C2SUnauthedSession>();
  /** Submitted registrations that passed the field checks, by outcome (docs/metrics.md). */
  private readonly registrations: CounterMetric<'result'>;
  /** Seconds to derive the new account's keys and store it. */
  private readonly creationTime: HistogramMetric;

  constructor(
    private readonly mod: ModuleApi,
    private readonly options: RegisterOptions,
    private readonly throttle: RegistrationThrottle,
  ) {
    this.registrations = mod.measure.counter('register_registrations_total', 'In-band registrations submitted with valid fields, by result (created, conflict, throttled, failed)', ['result']);
    this.creationTime = mod.measure.histogram('register_account_creation_seconds', 'Time to derive the keys of and store an account registered in-band', [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
  }

  /** Whether this stream may register now (the host's switch is read each time, so it can change at runtime). */
  availability(origin: C2SUnauthedSession): Availability {
    if (this.mod.context?.settings.allow_registration !== true) return 'disabled';
    if (!origin.secure && this.mod.server.config.c2s.require_encryption) return 'needs-tls';
    return 'open';
  }

  /** Handle a stream element if it is a jabber:iq:register iq; returns whether it was claimed. */
  handle(origin: C2SUnauthedSession, stanza: Element): boolean {
    const type = stanza.attrs.type;
    const query = stanza.elements[0];
    if ((type !== 'get' && type !== 'set') || !query?.is('query', NS_REGISTER)) return false;
    // Only iqs for this host itself (or with no 'to', which on this stream means the same).
    const to = stanza.attrs.to;
    if (to !== undefined && to !== '' && tryParseJid(to)?.full !== origin.host) return false;

    if (stanza.elements.length !== 1) return this.refuse(origin, stanza, { condition: 'bad-request', text: 'an iq carries exactly one payload element' });
    const availability = this.availability(origin);
    if (availability === 'disabled') {
      // XEP-0077 §3.1: a host that does not offer in-band registration answers service-unavailable.
      return this.refuse(origin, stanza, { condition: 'service-unavailable', text: 'in-band registration is not available on this server' });
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
    const checked = checkNewAccount(request.username, request.password);
    if (!checked.ok) return this.refuse(origin, stanza, checked.refusal);
    const giveBack = this.throttle.take(origin.ip);
    if (!giveBack) {
      origin.log.info({ ip: origin.ip }, 'registration refused: too many from this address');
      this.registrations.inc({ result: 'throttled' });
      // §3.1.1 names not-acceptable for "too many registrations"; type wait says "later".
      return this.refuse(origin, stanza, { condition: 'not-acceptable', text: 'too many registrations from your address; try again later', type: 'wait' });
    }
    this.used.add(origin);
    const { username, password } = checked.value;
    const timer = this.creationTime.startTimer();
    this.createAccount(origin, username, password).then(
      (refusal) => {
        this.registrations.inc({ result: refusal ? 'conflict' : 'created' });
        if (refusal) {
          giveBack();
          this.used.delete(origin);
          this.refuse(origin, stanza, refusal);
        } else {
          timer();
          origin.send(reply(stanza));
        }
      },
      (err: unknown) => {
        this.registrations.inc({ result: 'failed' });
        giveBack();
        this.used.delete(origin);
        this.mod.log.error({ err, username }, 'registration failed');
        this.refuse(origin, stanza, { condition: 'internal-server-error', text: 'the account could not be created' });
      },
    );
    return true;
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
