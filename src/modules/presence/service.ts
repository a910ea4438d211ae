/**
 * Presence for one host (RFC 6121 §3 and §4): what the host's users send (broadcasts, directed
 * presence, subscription stanzas) and what reaches them (presence, probes, subscription
 * stanzas from local or remote contacts). Nothing here assumes a contact is local: stanzas to
 * contacts go through the router, which takes them to local users, components or s2s.
 */
import type { ModuleApi } from '../../core/modules.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { BoundC2SSession } from '../../core/session.js';
import type { Jid } from '../../jid/index.js';
import type { Element } from '../../xml/element.js';
import { parseXmlFragment } from '../../xml/parse-fragment.js';
import { errorReply, presence } from '../../xml/stanza.js';
import { sessionRoster } from '../roster/push.js';
import { loadRoster, type Roster } from '../roster/store.js';
import {
  SUBSCRIPTION_TYPES, acceptPreApproved, autoApprove, inbound, outbound,
  type SubState, type SubscriptionType, type Transition,
} from './subscription.js';

export const NS_DELAY = 'urn:xmpp:delay';

/** The last unavailable presence of an account, for probes while it is offline (§4.3.2). */
export interface LastPresence {
  xml: string;
  /** ms since epoch */
  when: number;
}
export const LAST_PRESENCE_STORE = 'last_presence';

export interface PresenceOptions {
  preApproval: boolean;
  /** Inbound subscription requests kept unanswered per user; more are dropped (anti-spam). */
  maxPendingRequests: number;
}

/**
 * Subscription stanzas a user sent that have been processed (roster updated) and are routed
 * again: the outbound hooks let them pass the second time. Shared by every host's instance.
 */
const rerouted = new WeakSet<Element>();

/** The priority of an available presence: <priority/>, -128..127, 0 when absent or unusable. */
export function parsePriority(p: Element): number {
  const text = p.getChildText('priority', p.xmlns)?.trim();
  if (text === undefined || !/^[+-]?\d{1,10}$/.test(text)) return 0;
  return Math.max(-128, Math.min(127, Number.parseInt(text, 10)));
}

function stateOf(roster: Roster, jid: string): SubState {
  const item = roster.getItem(jid);
  return {
    subscription: item?.subscription ?? 'none',
    pendingOut: item?.ask ?? false,
    approved: item?.approved ?? false,
    pendingIn: roster.hasPendingIn(jid),
  };
}

/** Write a new subscription state; an item is created only when the state needs one. */
function applyState(roster: Roster, jid: string, next: SubState, request?: string): void {
  if (!next.pendingIn) roster.setPendingIn(jid, undefined);
  else if (!roster.hasPendingIn(jid) && request !== undefined) roster.setPendingIn(jid, request);
  const item = roster.getItem(jid);
  if (!item && next.subscription === 'none' && !next.pendingOut && !next.approved) return;
  if (item && item.subscription === next.subscription && item.ask === next.pendingOut && item.approved === next.approved) return;
  roster.setItem({ ...(item ?? { jid, groups: [] }), subscription: next.subscription, ask: next.pendingOut, approved: next.approved });
}

const hasFrom = (s: SubState) => s.subscription === 'from' || s.subscription === 'both';

export class PresenceService {
  /** Full JIDs each session sent directed available presence to (§4.6). */
  private readonly directed = new WeakMap<BoundC2SSession, Set<string>>();
  private readonly lastStore;

  constructor(
    private readonly mod: ModuleApi,
    private readonly options: PresenceOptions,
  ) {
    this.lastStore = mod.keyval<LastPresence>(LAST_PRESENCE_STORE);
  }

  private get server() {
    return this.mod.server;
  }

  private failed = (err: unknown): void => {
    this.mod.log.error({ err }, 'presence processing failed');
  };

  // ───────────────────────── what a local user sends ─────────────────────────

  /**
   * A presence with a 'to' from one of this host's sessions, seen before it is routed on.
   * Returns true when the stanza is taken (it is routed again later, or dropped), or a promise of
   * true while a subscription is processed (the stanza is complete when it settles).
   */
  outbound(origin: BoundC2SSession, stanza: Element, to: Jid): boolean | undefined | Promise<true> {
    if (rerouted.has(stanza) || stanza.attrs.to === undefined) return undefined;
    const type = stanza.attrs.type;
    if (type === undefined || type === 'unavailable' || type === 'error') {
      this.trackDirected(origin, to, type);
      return undefined;
    }
    if (type === 'probe') return undefined;
    if (SUBSCRIPTION_TYPES.has(type)) return this.done(this.outboundSubscription(origin, stanza, to, type as SubscriptionType));
    this.server.router.bounce(origin, stanza, 'bad-request', `"${type}" is not a presence type`);
    return true;
  }

  private trackDirected(origin: BoundC2SSession, to: Jid, type: string | undefined): void {
    if (to.bare === `${origin.username}@${origin.host}`) return;
    // Contacts subscribed to the user's presence get the broadcasts anyway.
    if (sessionRoster(origin)?.isSubscriber(to.bare)) return;
    let set = this.directed.get(origin);
    if (type === undefined) {
      if (!set) this.directed.set(origin, (set = new Set()));
      if (set.has(to.full)) return;
      set.add(to.full);
      this.mod.fire('presence/directed', { session: origin, to: to.full, available: true });
    } else if (set?.delete(to.full) === true) {
      this.mod.fire('presence/directed', { session: origin, to: to.full, available: false });
    }
  }

  /** RFC 6121 §3 outbound, Appendix A.2: update the user's roster, push, then route (or not). */
  private async outboundSubscription(origin: BoundC2SSession, stanza: Element, to: Jid, type: SubscriptionType): Promise<void> {
    const own = `${origin.username}@${origin.host}`;
    const contact = to.bare;
    // §3.1.2 etc.: subscription stanzas go out from the bare JID, to the bare JID.
    stanza.attrs.from = own;
    stanza.attrs.to = contact;
    if (contact === own) {
      this.mod.log.debug({ type }, 'ignoring a subscription stanza to the user itself');
      return;
    }
    const { result } = await this.mod.require('roster').modify(origin.username, (roster) => {
      const before = stateOf(roster, contact);
      const t = outbound(type, before, this.options.preApproval);
      if (t.next) applyState(roster, contact, t.next);
      return { before, t };
    });
    this.mod.log.debug({ type, contact, route: result.t.pass, state: result.t.next }, 'outbound subscription stanza');
    if (!result.t.pass) return;
    rerouted.add(stanza);
    this.server.router.route(origin, stanza);
    if (type === 'subscribed') {
      // §3.1.5: the new subscriber gets the user's current presence.
      this.sendCurrentPresence(origin.username, contact);
    } else if (type === 'unsubscribed' && hasFrom(result.before)) {
      // §3.2.2: the former subscriber sees the user go offline.
      this.sendUnavailableFromResources(origin.username, contact);
    }
  }

  /**
   * A presence without 'to' from a session of this host: a broadcast (§4.2, §4.4, §4.5). The
   * promise settles when the broadcast (and, for initial presence, the probes) went out.
   */
  broadcast(origin: BoundC2SSession, stanza: Element): true | Promise<true> {
    const type = stanza.attrs.type;
    if (type === 'error') return true;
    if (type !== undefined && type !== 'unavailable') {
      origin.send(errorReply(stanza, 'bad-request', `a presence of type "${type}" needs a 'to' address`));
      return true;
    }
    const p = stanza.clone();
    delete p.attrs.to;
    p.attrs.from = origin.fullJid ?? p.attrs.from ?? '';
    if (type === undefined) {
      const initial = origin.presence === undefined;
      this.server.sessions.setPresence(origin, p, parsePriority(p));
      return this.done(this.broadcastAvailable(origin, p, initial));
    }
    const wasAvailable = origin.presence !== undefined;
    this.server.sessions.setPresence(origin, undefined);
    return this.done(this.broadcastUnavailable(origin, p, wasAvailable));
  }

  /** Work a stanza's fate depends on, as a hold for the router: failures are logged, never thrown. */
  private done(work: Promise<void>): Promise<true> {
    return work.then(
      () => true as const,
      (err: unknown) => {
        this.failed(err);
        return true as const;
      },
    );
  }

  private async broadcastAvailable(origin: BoundC2SSession, p: Element, initial: boolean): Promise<void> {
    const roster = await this.currentRoster(origin.username);
    for (const item of roster.items()) {
      if (roster.isSubscriber(item.jid)) this.mod.send(withTo(p, item.jid));
    }
    const mine = this.server.sessions.getUserSessions(origin.host, origin.username);
    // §4.2.2 / §4.4.2: to all the user's available resources, the sender included.
    for (const s of mine) if (s.presence !== undefined && s.fullJid !== undefined) s.send(withTo(p, s.fullJid));
    if (!initial || origin.destroyed) return;
    const own = `${origin.username}@${origin.host}`;
    // §4.2.1 / §4.3.1: probe the contacts whose presence the user receives.
    for (const item of roster.items()) {
      if (roster.isSubscribedTo(item.jid)) this.mod.send(presence({ type: 'probe', from: own, to: item.jid }));
    }
    // The new resource learns about the user's other available resources.
    for (const s of mine) {
      if (s !== origin && s.presence !== undefined && origin.fullJid !== undefined) origin.send(withTo(s.presence, origin.fullJid));
    }
    // §3.1.3: pending subscription requests are delivered each time the user comes online.
    for (const { stanza } of roster.pendingIn()) {
      try {
        origin.send(parseXmlFragment(stanza));
      } catch (err) {
        this.mod.log.warn({ err }, 'dropping an unreadable stored subscription request');
      }
    }
    this.mod.fire('presence/initial', { session: origin, presence: p });
  }

  /** §4.5.2 and §4.6.3: unavailable to subscribers, the user's other resources and directed recipients. */
  private async broadcastUnavailable(session: BoundC2SSession, p: Element, wasAvailable: boolean): Promise<void> {
    const directed = this.directed.get(session);
    this.directed.delete(session);
    for (const jid of directed ?? []) {
      this.mod.send(withTo(p, jid));
      this.mod.fire('presence/directed', { session, to: jid, available: false });
    }
    if (!wasAvailable) return;
    const roster = await this.currentRoster(session.username, session);
    for (const item of roster.items()) {
      if (roster.isSubscriber(item.jid) && !directed?.has(item.jid)) this.mod.send(withTo(p, item.jid));
    }
    let othersAvailable = false;
    for (const s of this.server.sessions.getUserSessions(session.host, session.username)) {
      if (s === session || s.presence === undefined || s.fullJid === undefined) continue;
      othersAvailable = true;
      s.send(withTo(p, s.fullJid));
    }
    if (!othersAvailable) await this.lastStore.set(session.username, { xml: p.toString(), when: Date.now() });
  }

  /** A session ended (cleanly or not): it goes unavailable (§4.5.3). */
  sessionEnded(session: BoundC2SSession): void {
    const wasAvailable = session.presence !== undefined;
    if (!wasAvailable && !this.directed.has(session)) return;
    this.server.sessions.setPresence(session, undefined);
    const p = presence({ type: 'unavailable', from: session.fullJid });
    this.broadcastUnavailable(session, p, wasAvailable).catch(this.failed);
  }

  // ───────────────────────── what reaches a local user ─────────────────────────

  /** presence/bare and presence/full on this host, except the user's own broadcasts. */
  inbound(event: StanzaEvent): true | Promise<true> {
    const { stanza, to } = event;
    const type = stanza.attrs.type;
    if (type !== undefined && SUBSCRIPTION_TYPES.has(type)) {
      return this.done(this.inboundSubscription(event, type as SubscriptionType));
    } else if (type === 'probe') {
      return this.done(this.inboundProbe(event));
    } else if (type === undefined || type === 'unavailable' || type === 'error') {
      if (to.isBare()) {
        // §8.5.2.1.1: to every available resource; with none, the presence is dropped.
        for (const s of this.server.sessions.getUserSessions(to.domain, to.local)) if (s.presence !== undefined) s.send(stanza);
      } else {
        // §8.5.3.1: to that resource, if it exists; otherwise dropped (§8.5.3.2.1).
        this.server.sessions.getSession(to.domain, to.local, to.resource)?.send(stanza);
      }
    } else {
      this.mod.log.debug({ type, from: event.from.full }, 'dropping a presence of unknown type');
    }
    return true;
  }

  /** RFC 6121 §3 inbound, Appendix A.3. */
  private async inboundSubscription(event: StanzaEvent, type: SubscriptionType): Promise<void> {
    const { to, from } = event;
    const owner = to.local;
    const own = to.bare;
    const contact = from.bare;
    if (contact === own) return;
    if (!(await this.mod.accountExists(owner))) {
      // §3.1.3: no such user: the request is declined.
      if (type === 'subscribe') this.mod.send(presence({ type: 'unsubscribed', from: own, to: contact }));
      return;
    }
    const stamped = event.stanza.clone();
    stamped.attrs.from = contact;
    stamped.attrs.to = own;
    type Outcome = { kind: 'already' | 'pre-approved' | 'too-many-pending' } | { kind: 'table'; t: Transition; before: SubState };
    const { result } = await this.mod.require('roster').modify(owner, (roster): Outcome => {
      const before = stateOf(roster, contact);
      if (type === 'subscribe') {
        const auto = autoApprove(before);
        if (auto === 'pre-approved') applyState(roster, contact, acceptPreApproved(before));
        if (auto !== undefined) return { kind: auto };
        // Each unanswered request is stored until the user answers: without a bound, anyone
        // (e.g. one remote domain with many JIDs) could grow a user's roster document at will.
        if (!roster.hasPendingIn(contact) && roster.pendingIn().length >= this.options.maxPendingRequests) return { kind: 'too-many-pending' };
      }
      const t = inbound(type, before);
      if (t.next) applyState(roster, contact, t.next, stamped.toString());
      return { kind: 'table', t, before };
    });
    this.mod.log.debug({ type, contact, outcome: result.kind === 'table' ? result.t : result.kind }, 'inbound subscription stanza');
    if (result.kind === 'too-many-pending') {
      this.mod.log.info({ user: own, contact, max: this.options.maxPendingRequests }, 'subscription request dropped: too many unanswered requests');
      return;
    }
    if (result.kind !== 'table') {
      // §3.1.3 (already subscribed) and §3.4 (pre-approved): approved on the user's behalf.
      this.mod.send(presence({ type: 'subscribed', from: own, to: contact }));
      this.sendCurrentPresence(owner, contact);
      return;
    }
    if (!result.t.pass) return;
    // RFC 6121: a request goes to the available resources (§3.1.3; the others get it again at
    // their initial presence); an approval, cancellation or unsubscribe to the interested ones,
    // those that asked for the roster (§3.1.6, §3.2.3, §3.3.3).
    for (const s of this.server.sessions.getUserSessions(this.mod.host, owner)) {
      if (type === 'subscribe' ? s.presence !== undefined : s.interested) s.send(stamped);
    }
    if (type === 'unsubscribe' && hasFrom(result.before)) this.sendUnavailableFromResources(owner, contact);
  }

  /**
   * A user's roster: the copy a local session holds (loaded at bind, replaced by every roster
   * push, reloaded when another cluster worker changes it), else read from storage. Broadcasts
   * and probe answers read it instead of parsing the stored roster each time.
   */
  private async currentRoster(username: string, also?: BoundC2SSession): Promise<Roster> {
    const held = (also && sessionRoster(also)) ?? this.loadedRoster(username);
    return held ?? loadRoster(this.server, this.mod.host, username);
  }

  private loadedRoster(username: string): Roster | undefined {
    for (const s of this.server.sessions.getLocalUserSessions(this.mod.host, username)) {
      const r = sessionRoster(s);
      if (r) return r;
    }
    return undefined;
  }

  /** §4.3.2: answer a probe with each available resource's presence, or the last unavailable one. */
  private async inboundProbe(event: StanzaEvent): Promise<void> {
    const { to, from } = event;
    const owner = to.local;
    const own = to.bare;
    if (from.bare !== own) {
      // An account online here exists; only an offline one needs the account store.
      const online = this.loadedRoster(owner);
      if (!online && !(await this.mod.accountExists(owner))) {
        this.mod.send(presence({ type: 'unsubscribed', from: own, to: from.bare }));
        return;
      }
      const roster = online ?? (await loadRoster(this.server, this.mod.host, owner));
      if (!roster.isSubscriber(from.bare)) {
        // Not authorised to see the presence: say so, revealing nothing (§4.3.2).
        this.mod.send(presence({ type: 'unsubscribed', from: own, to: from.bare }));
        return;
      }
    }
    if (this.sendCurrentPresence(owner, from.full) > 0) return;
    const answer = presence({ type: 'unavailable', from: own, to: from.full });
    const last = await this.lastStore.get(owner);
    if (last) {
      try {
        const stored = parseXmlFragment(last.xml);
        for (const c of stored.elements) answer.cnode(c.clone());
        answer.c('delay', { xmlns: NS_DELAY, from: this.mod.host, stamp: new Date(last.when).toISOString() });
      } catch (err) {
        this.mod.log.warn({ err }, 'unreadable stored last presence');
      }
    }
    this.mod.send(answer);
  }

  // ───────────────────────── helpers ─────────────────────────

  /** Send the current presence of each available resource of a local user to `to`; returns how many. */
  private sendCurrentPresence(username: string, to: string): number {
    let n = 0;
    for (const s of this.server.sessions.getUserSessions(this.mod.host, username)) {
      if (s.presence === undefined || s.fullJid === undefined) continue;
      const p = withTo(s.presence, to);
      p.attrs.from = s.fullJid;
      this.mod.send(p);
      n++;
    }
    return n;
  }

  private sendUnavailableFromResources(username: string, to: string): void {
    for (const s of this.server.sessions.getUserSessions(this.mod.host, username)) {
      if (s.presence !== undefined && s.fullJid !== undefined) this.mod.send(presence({ type: 'unavailable', from: s.fullJid, to }));
    }
  }

  /** Whether a stanza is the re-routed copy of a processed subscription stanza. */
  static isRerouted(stanza: Element): boolean {
    return rerouted.has(stanza);
  }
}

function withTo(p: Element, to: string): Element {
  const c = p.clone();
  c.attrs.to = to;
  return c;
}
