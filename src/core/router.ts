/**
 * The stanza router. What a local session sends is checked (fromClient: the session may send,
 * `from` stamped or verified, iq shape) and its addresses parsed once; then:
 *
 *   sender side   on the sender's host, for stanzas from a local session (a client resource, or
 *                 the host speaking for one of its users): pre-stanza, then pre-<kind>/<dest>
 *   destination   a served host: <kind>/<dest>, whose priority-0 handler fires, for an iq get or
 *                 set, iq-<type>/<dest>/<ns>:<name>; a component: route/component; another
 *                 domain: route/remote
 *
 * where dest is 'host', 'bare' or 'full' by the `to` address. A handler may hold a stanza
 * (return a promise, see events.ts); routing goes on where it stopped once the promise settles.
 * An iq get/set nobody handles is answered with service-unavailable (RFC 6120 §8.4).
 * docs/routing.md lists the events in order.
 */
import type { Element } from '../xml/element.js';
import { errorReply, canReplyWithError, type StanzaErrorCondition, type StanzaKind } from '../xml/stanza.js';
import { parseJid, tryParseJid, type Jid } from '../jid/index.js';
import type { Destination, StanzaEvent } from './event-map.js';
import type { EventBus } from './events.js';
import type { Server } from './server.js';
import { isBound, type StanzaOrigin, type StreamSession } from './session.js';

const IQ_TYPES = new Set(['get', 'set', 'result', 'error']);

/**
 * When routing a stanza is complete: undefined when it completed before route() returned (the
 * common case), else a promise that settles (never rejects) once a handler that held it is done
 * and the stanza was delivered, stored, answered or bounced.
 */
export type Completion = Promise<void> | undefined;

export interface RouteOptions {
  /** The sender-side events already ran (a stanza forwarded from another cluster worker). */
  senderSideDone?: boolean;
  /** Delivered once already, routed again for its recipient (see StanzaEvent.redelivery). */
  redelivery?: boolean;
}

export function destinationOf(to: Jid): Destination {
  return to.local === '' ? 'host' : to.resource === '' ? 'bare' : 'full';
}

export class Router {
  constructor(private readonly server: Server) {}

  /**
   * A stanza received from a client session (after its `in` filters): check it, stamp `from`,
   * route it. Closes the stream when the stanza breaks the stream rules (the session is told why).
   * Returns a promise when a handler holds the stanza (async work, e.g. storing it offline): it
   * settles once the stanza is delivered, stored, answered or bounced. The client session waits
   * for it before routing the session's next stanza, so a session's stanzas complete in order.
   */
  fromClient(origin: StreamSession, stanza: Element): Completion {
    if (!isBound(origin)) {
      origin.close({ condition: 'not-authorized', text: 'stanzas are not allowed before authentication and resource binding' });
      return undefined;
    }
    const kind = stanza.name;
    if (kind !== 'message' && kind !== 'presence' && kind !== 'iq') {
      origin.close({ condition: 'unsupported-stanza-type', text: `<${kind}/> is not a stanza` });
      return undefined;
    }
    const claimed = stanza.attrs.from;
    let from: Jid;
    if (claimed !== undefined) {
      const parsed = tryParseJid(claimed);
      if (!parsed || (parsed.full !== origin.fullJid && parsed.full !== `${origin.username}@${origin.host}`)) {
        origin.close({ condition: 'invalid-from', text: 'the from address does not match this session' });
        return undefined;
      }
      from = parsed;
    } else {
      from = parseJid(origin.fullJid);
    }
    stanza.attrs.from = from.full;
    if (kind === 'iq' && !this.checkIq(origin, stanza)) return undefined;
    return this.routeFrom(origin, stanza, from);
  }

  /**
   * Route a stanza whose `from` is already trusted (from a client after fromClient(), from a
   * module, from an authenticated server or component). Returns the completion as fromClient.
   */
  route(origin: StanzaOrigin, stanza: Element, opts: RouteOptions = {}): Completion {
    const from = tryParseJid(stanza.attrs.from ?? '') ?? this.defaultFrom(origin);
    if (!from) {
      origin.log.warn({ stanza: stanza.name }, 'dropping stanza without a usable from address');
      return undefined;
    }
    return this.routeFrom(origin, stanza, from, opts);
  }

  private routeFrom(origin: StanzaOrigin, stanza: Element, from: Jid, opts: RouteOptions = {}): Completion {
    const kind = stanza.name as StanzaKind;
    this.server.coreMetrics.stanzasRouted[kind]++;
    // RFC 6120 §10.3: no 'to' means the sender's own account (bare JID).
    const toAttr = stanza.attrs.to;
    const to = toAttr === undefined || toAttr === '' ? (from.local === '' ? from : parseJid(from.bare)) : tryParseJid(toAttr);
    if (!to) {
      this.bounce(origin, stanza, 'jid-malformed', 'the to address is not a valid JID');
      return undefined;
    }
    const event: StanzaEvent = { origin, stanza, to, from };
    if (opts.redelivery === true) event.redelivery = true;
    const dest = destinationOf(to);
    const senderBus = opts.senderSideDone ? undefined : this.senderBus(origin, from);
    if (senderBus === undefined) return this.deliver(event, kind, dest);
    // pre-stanza sees every stanza a local session sends, then pre-<kind>/<dest> the kind and
    // destination. The common case (nobody holds it) runs straight through without closures.
    const first = senderBus.dispatch('pre-stanza', event);
    if (first === false) return this.afterPreStanza(senderBus, event, kind, dest);
    if (first === true) return undefined;
    return this.later(first, event, () => this.afterPreStanza(senderBus, event, kind, dest));
  }

  private afterPreStanza(senderBus: EventBus, event: StanzaEvent, kind: StanzaKind, dest: Destination): Completion {
    const r = senderBus.dispatch(`pre-${kind}/${dest}`, event);
    if (r === false) return this.deliver(event, kind, dest);
    if (r === true) return undefined;
    return this.later(r, event, () => this.deliver(event, kind, dest));
  }

  /** The sender's host bus when the sender-side events apply (a local client, or the host for its user). */
  private senderBus(origin: StanzaOrigin, from: Jid): EventBus | undefined {
    if (origin.type === 'c2s') return this.server.hosts.get(origin.host)?.events;
    // A served host speaking for one of its users (not an internal component's context).
    if (origin.type === 'local' && from.local !== '' && from.domain === origin.host && this.server.hosts.get(origin.host) === origin.context) {
      return origin.context.events;
    }
    return undefined;
  }

  /**
   * A held stanza: `next` runs once the promise settles, unless a handler handled it. The
   * returned promise settles when the stanza's routing is complete (never rejects).
   */
  private later(held: Promise<boolean>, event: StanzaEvent, next: () => Completion): Promise<void> {
    return held.then(
      (handled) => (handled ? undefined : next()),
      (err: unknown) => {
        event.origin.log.error({ err }, 'routing failed');
        this.bounce(event.origin, event.stanza, 'internal-server-error');
      },
    );
  }

  private deliver(event: StanzaEvent, kind: StanzaKind, dest: Destination): Completion {
    const { to, from, origin, stanza } = event;
    const ctx = this.server.hosts.get(to.domain);
    if (ctx) return this.deliverLocal(event, kind, dest, ctx.events);
    if (this.server.components.has(to.domain)) {
      if (!this.server.events.fire('route/component', { ...event, toHost: to.domain })) {
        this.bounce(origin, stanza, 'service-unavailable', 'the component is not connected');
      }
      return undefined;
    }
    const bus = this.server.hosts.get(from.domain)?.events ?? this.server.events;
    if (!bus.fire('route/remote', { ...event, toHost: to.domain, fromHost: from.domain })) {
      this.bounce(origin, stanza, 'remote-server-not-found', `no route to ${to.domain}`);
    }
    return undefined;
  }

  /** Answer a stanza with an error, if the rules allow an error reply. */
  bounce(origin: StanzaOrigin, stanza: Element, condition: StanzaErrorCondition, text?: string): void {
    const errors = this.server.coreMetrics.routingErrors;
    errors.set(condition, (errors.get(condition) ?? 0) + 1);
    if (!canReplyWithError(stanza)) return;
    const err = errorReply(stanza, condition, text);
    // The error comes from the address the stanza was sent to, or the host when that is unusable.
    // A client's stanza without 'to' was for its own account (RFC 6120 §10.3): the answer on the
    // account's behalf carries no 'from' (§8.1.2.1), as every other reply to such a stanza does.
    if (err.attrs.from === undefined && condition !== 'jid-malformed' && origin.type === 'c2s') return origin.send(err);
    if (condition === 'jid-malformed' || err.attrs.from === undefined) {
      const host = origin.type === 'c2s' ? origin.host : undefined;
      if (host !== undefined) err.attrs.from = host;
      else delete err.attrs.from;
    }
    origin.send(err);
  }

  private deliverLocal(event: StanzaEvent, kind: StanzaKind, dest: Destination, bus: EventBus): Completion {
    // For iq get/set, the host's own iq/<dest> handler at priority 0 fires the payload event (host.ts).
    const r = bus.dispatch(`${kind}/${dest}`, event);
    if (r === false) {
      this.unhandled(event, kind, dest);
      return undefined;
    }
    if (r === true) return undefined;
    return this.later(r, event, () => {
      this.unhandled(event, kind, dest);
      return undefined;
    });
  }

  /** What happens to a stanza no module took (RFC 6120 §8.4, §10.5; RFC 6121 §8.5). */
  private unhandled(event: StanzaEvent, kind: StanzaKind, dest: Destination): void {
    const { origin, stanza } = event;
    if (event.handlerError !== undefined) {
      this.bounce(origin, stanza, 'internal-server-error');
      return;
    }
    if (kind === 'iq') {
      this.bounce(origin, stanza, 'service-unavailable');
    } else if (kind === 'message' && dest !== 'host') {
      this.bounce(origin, stanza, 'service-unavailable');
    }
    // Presence and messages to the host itself that nobody wants are dropped silently.
  }

  private checkIq(origin: StreamSession, stanza: Element): boolean {
    const type = stanza.attrs.type;
    let problem: string | undefined;
    if (stanza.attrs.id === undefined) problem = "an iq needs an 'id' attribute";
    else if (type === undefined || !IQ_TYPES.has(type)) problem = "an iq needs a 'type' of get, set, result or error";
    else if ((type === 'get' || type === 'set') && stanza.elements.length !== 1) problem = 'an iq get or set carries exactly one payload element';
    if (problem === undefined) return true;
    if (type !== 'error' && type !== 'result') {
      const err = errorReply(stanza, 'bad-request', problem);
      delete err.attrs.from;
      origin.send(err);
    }
    return false;
  }

  private defaultFrom(origin: StanzaOrigin): Jid | undefined {
    if (origin.type === 'local') return tryParseJid(origin.host);
    if (origin.type === 'c2s') return tryParseJid(origin.fullJid);
    return undefined;
  }
}
