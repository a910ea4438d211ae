/**
 * The stranger checks on stanzas:
 * - incoming (`message/bare|full` on the recipient's host, below blocking and above MAM and
 *   delivery): a chat or normal message from someone the recipient does not know (no roster
 *   item, never contacted, not approved) is delivered (`allow`), held as a message request
 *   (`quarantine`) or refused with service-unavailable (`drop`, RFC 6121 §8.5.2.2 style: the
 *   sender cannot tell it from an unknown account);
 * - outgoing (`pre-message/*`, `pre-presence/*` on the sender's host): what a local user writes
 *   to (a message, a directed presence such as a room join) becomes known; a young account's
 *   messages to strangers are limited per day (policy-violation beyond).
 * Messages from servers and components (no local part), within one account, redeliveries,
 * groupchat, headline and error messages are never touched.
 */
import type { ModuleApi } from '../../core/modules.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { BoundC2SSession } from '../../core/session.js';
import type { CounterMetric } from '../../core/metrics.js';
import { errorReply, message } from '../../xml/stanza.js';
import { loadRoster, type Roster } from '../roster/store.js';
import { sessionRoster } from '../roster/push.js';
import { KnownContacts } from './known.js';
import type { MessageRequests } from './requests.js';

export type StrangerPolicy = 'allow' | 'quarantine' | 'drop';

export interface GateOptions {
  policy: StrangerPolicy;
  /** Senders on this same host: 'allow' (never checked) or 'policy' (the host policy applies). */
  localSenders: 'allow' | 'policy';
  notify: boolean;
  newAccountPeriodMs: number;
  newAccountDailyLimit: number;
}

export type Verdict = 'delivered' | 'quarantined' | 'dropped' | 'discarded';

const DAY = 24 * 60 * 60 * 1000;

export class StrangerGate {
  constructor(
    private readonly mod: ModuleApi,
    private readonly known: KnownContacts,
    private readonly requests: MessageRequests,
    private readonly opts: GateOptions,
    private readonly verdicts: CounterMetric<'verdict'>,
    private readonly limited: CounterMetric,
  ) {}

  /** `message/bare|full` on the recipient's host. True when the message was taken. */
  readonly onIncoming = (event: StanzaEvent): boolean | Promise<boolean> => {
    const { from, to } = event;
    if (this.opts.policy === 'allow' || !this.applies(event)) return false;
    if (this.opts.localSenders === 'allow' && this.isLocal(from.domain)) return false;
    const username = to.local;
    const doc = this.known.peek(username);
    const roster = this.onlineRoster(username);
    if (doc && KnownContacts.knows(doc, from.bare)) return false;
    if (doc && roster) return roster.getItem(from.bare) ? false : this.stranger(event);
    return Promise.all([this.known.load(username), roster ?? loadRoster(this.mod.server, this.mod.host, username)]).then(
      ([d, r]) => (KnownContacts.knows(d, from.bare) || r.getItem(from.bare) ? false : this.stranger(event)),
      (err: unknown) => {
        // Unsure: deliver rather than lose a message.
        this.mod.log.error({ err, user: to.bare }, 'could not check a sender: delivering');
        return false;
      },
    );
  };

  /** `pre-message/*` on the sender's host: remember the recipient; limit young accounts. */
  readonly onOutgoingMessage = (event: StanzaEvent): boolean | Promise<boolean> => {
    const { origin, stanza, from, to } = event;
    if (origin.type !== 'c2s' || from.domain !== this.mod.host || to.local === '' || to.bare === from.bare) return false;
    const type = stanza.attrs.type ?? 'normal';
    if (type !== 'chat' && type !== 'normal') return false;
    const username = from.local;
    const doc = this.known.peek(username);
    const roster = sessionRoster(origin);
    if (doc && KnownContacts.knows(doc, to.bare)) {
      // Cheap: no write unless the order changes in memory only.
      void this.known.contacted(username, to.bare).catch(() => undefined);
      return false;
    }
    const inRoster = roster?.getItem(to.bare) !== undefined;
    return this.firstContact(event, origin, inRoster).catch((err: unknown) => {
      this.mod.log.error({ err, user: from.bare }, 'could not record a contact');
      return false;
    });
  };

  /** `pre-presence/*`: a directed available presence (e.g. joining a room) makes the peer known. */
  readonly onOutgoingPresence = (event: StanzaEvent): false | Promise<false> => {
    const { origin, stanza, from, to } = event;
    if (origin.type !== 'c2s' || stanza.attrs.type !== undefined || stanza.attrs.to === undefined || to.bare === from.bare) return false;
    if (to.local === '') return false;
    const doc = this.known.peek(from.local);
    if (doc && KnownContacts.knows(doc, to.bare)) return false;
    return this.known.contacted(from.local, to.bare).then(
      () => false as const,
      (err: unknown) => {
        this.mod.log.error({ err, user: from.bare }, 'could not record a contact');
        return false as const;
      },
    );
  };

  private async firstContact(event: StanzaEvent, origin: BoundC2SSession, inRoster: boolean): Promise<boolean> {
    const { stanza, from, to } = event;
    const username = from.local;
    const doc = await this.known.load(username);
    const known = inRoster || KnownContacts.knows(doc, to.bare);
    // Recipients on this server count only where local senders are checked too (local_senders = 'policy').
    const counted = !this.isLocal(to.domain) || this.opts.localSenders === 'policy';
    if (!known && counted && stanza.getChild('body') !== undefined && this.opts.newAccountPeriodMs > 0 && (await this.isYoung(username))) {
      const now = this.mod.now();
      if (!(await this.known.countFirstContact(username, now, DAY, this.opts.newAccountDailyLimit))) {
        this.limited.inc();
        this.mod.log.info({ user: from.bare, to: to.bare, limit: this.opts.newAccountDailyLimit }, 'new account: message to a stranger refused (daily limit)');
        origin.send(errorReply(stanza, 'policy-violation', `new accounts may write to ${this.opts.newAccountDailyLimit} new contacts a day`));
        return true;
      }
    }
    await this.known.contacted(username, to.bare);
    return false;
  }

  private async isYoung(username: string): Promise<boolean> {
    const account = await this.mod.server.storage.accounts.get(this.mod.host, username);
    return account !== undefined && this.mod.now() - account.created < this.opts.newAccountPeriodMs;
  }

  /** A domain of this server: one of its hosts or components (e.g. its chat rooms, whose invitations pass). */
  private isLocal(domain: string): boolean {
    return domain === this.mod.host || this.mod.server.serves(domain);
  }

  /** Whether the stanza is one the policy looks at. */
  private applies({ stanza, from, to, redelivery }: StanzaEvent): boolean {
    if (redelivery === true || to.local === '' || from.local === '' || from.bare === to.bare) return false;
    const type = stanza.attrs.type ?? 'normal';
    return type === 'chat' || type === 'normal';
  }

  /** A roster of one of the user's bound resources (the freshest copy), if any. */
  private onlineRoster(username: string): Roster | undefined {
    for (const s of this.mod.server.sessions.getUserSessions(this.mod.host, username)) {
      const r = sessionRoster(s);
      if (r) return r;
    }
    return undefined;
  }

  /** The sender is a stranger: apply the policy. */
  private stranger(event: StanzaEvent): boolean | Promise<boolean> {
    const { stanza, from, to } = event;
    const hasBody = stanza.getChild('body') !== undefined;
    if (this.opts.policy === 'drop') {
      this.count('dropped', event);
      this.mod.server.router.bounce(event.origin, stanza, 'service-unavailable');
      return true;
    }
    // Quarantine: what has no body (chat states, receipts, markers) is nothing to read later.
    if (!hasBody) {
      this.count('discarded', event);
      return true;
    }
    return this.requests.hold(to.local, from.bare, stanza).then(
      ({ outcome, firstFromSender }) => {
        if (outcome !== 'held') {
          this.count('discarded', event, outcome);
          return true;
        }
        this.count('quarantined', event);
        if (firstFromSender && this.opts.notify) this.notify(to.bare, from.bare);
        return true;
      },
      (err: unknown) => {
        this.mod.log.error({ err, user: to.bare }, 'could not hold a message request: delivering');
        return false;
      },
    );
  }

  private count(verdict: Verdict, { from, to }: StanzaEvent, why?: string): void {
    this.verdicts.inc({ verdict });
    this.mod.log.debug({ from: from.full, to: to.bare, verdict, why }, 'message from a stranger');
  }

  /** Tell the user (once per sender) that a message request waits. */
  private notify(user: string, sender: string): void {
    this.mod.log.info({ user, sender }, 'message request held');
    const m = message({ from: this.mod.host, to: user, type: 'normal', id: `request-${this.mod.now().toString(36)}` });
    m.c('subject').t('Message request');
    m.c('body').t(`${sender} wants to write to you. Their messages are held until you accept them: use the command "Message requests" (ad-hoc commands) to accept or dismiss.`);
    this.mod.send(m);
  }
}
