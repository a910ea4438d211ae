/**
 * The stanza router: validates and stamps addresses on what sessions send, then turns each
 * stanza into events named like Prosody's, fired on the destination host:
 *   pre-<kind>/<dest>, then for iq get/set iq-<type>/<dest>/<ns>:<name>, then <kind>/<dest>
 * where dest is 'host', 'bare' or 'full'. Destinations that are not local go to
 * 'route/component' or 'route/remote' (handled by the component and s2s modules).
 * An iq get/set nobody handles is answered with service-unavailable (RFC 6120 §8.4).
 */
import type { Element } from '../xml/element.js';
import { errorReply, canReplyWithError, type StanzaErrorCondition, type StanzaKind } from '../xml/stanza.js';
import { tryParseJid, type Jid } from '../jid/index.js';
import type { Destination, StanzaEvent } from './event-map.js';
import type { EventName } from './events.js';
import type { Server } from './server.js';
import { isBound, type StanzaOrigin, type StreamSession } from './session.js';

const IQ_TYPES = new Set(['get', 'set', 'result', 'error']);

export class Router {
  constructor(private readonly server: Server) {}

  /**
   * A stanza received from a client session: check it, stamp `from`, route it.
   * Returns false when the stream must be closed (the session has been told why).
   */
  fromClient(origin: StreamSession, stanza: Element): void {
    if (!isBound(origin)) {
      origin.close({ condition: 'not-authorized', text: 'stanzas are not allowed before authentication and resource binding' });
      return;
    }
    const kind = stanza.name;
    if (kind !== 'message' && kind !== 'presence' && kind !== 'iq') {
      origin.close({ condition: 'unsupported-stanza-type', text: `<${kind}/> is not a stanza` });
      return;
    }
    const bare = `${origin.username}@${origin.host}`;
    const claimed = stanza.attrs.from;
    if (claimed !== undefined) {
      const parsed = tryParseJid(claimed);
      if (!parsed || (parsed.full !== origin.fullJid && parsed.full !== bare)) {
        origin.close({ condition: 'invalid-from', text: 'the from address does not match this session' });
        return;
      }
      stanza.attrs.from = parsed.full;
    } else {
      stanza.attrs.from = origin.fullJid;
    }
    if (kind === 'iq' && !this.checkIq(origin, stanza)) return;
    this.route(origin, stanza);
  }

  /**
   * Route a stanza whose `from` is already trusted (from a client after fromClient(), from a
   * module, from an authenticated server or component).
   */
  route(origin: StanzaOrigin, stanza: Element): void {
    const kind = stanza.name as StanzaKind;
    const from = tryParseJid(stanza.attrs.from ?? '') ?? this.defaultFrom(origin);
    if (!from) {
      origin.log.warn({ stanza: kind }, 'dropping stanza without a usable from address');
      return;
    }
    let toAttr = stanza.attrs.to;
    if (toAttr === undefined || toAttr === '') {
      // RFC 6120 §10.3: no 'to' means the sender's own account (bare JID).
      toAttr = from.bare;
    }
    const to = tryParseJid(toAttr);
    if (!to) {
      this.bounce(origin, stanza, 'jid-malformed', 'the to address is not a valid JID');
      return;
    }
    const event: StanzaEvent = { origin, stanza, to, from };
    const ctx = this.server.hosts.get(to.domain);
    if (ctx) {
      this.deliverLocal(event, kind, ctx.events);
      return;
    }
    if (this.server.components.has(to.domain)) {
      if (!this.server.events.fire('route/component', { ...event, toHost: to.domain })) {
        this.bounce(origin, stanza, 'service-unavailable', 'the component is not connected');
      }
      return;
    }
    const fromCtx = this.server.hosts.get(from.domain);
    const bus = fromCtx?.events ?? this.server.events;
    if (!bus.fire('route/remote', { ...event, toHost: to.domain, fromHost: from.domain })) {
      this.bounce(origin, stanza, 'remote-server-not-found', `no route to ${to.domain}`);
    }
  }

  /** Answer a stanza with an error, if the rules allow an error reply. */
  bounce(origin: StanzaOrigin, stanza: Element, condition: StanzaErrorCondition, text?: string): void {
    if (!canReplyWithError(stanza)) return;
    const err = errorReply(stanza, condition, text);
    // The error comes from the address the stanza was sent to, or the host when that is unusable.
    if (condition === 'jid-malformed' || err.attrs.from === undefined) {
      const host = origin.type === 'c2s' ? origin.host : undefined;
      if (host !== undefined) err.attrs.from = host;
      else delete err.attrs.from;
    }
    origin.send(err);
  }

  private deliverLocal(event: StanzaEvent, kind: StanzaKind, bus: import('./events.js').EventBus): void {
    const { to, stanza } = event;
    const dest: Destination = to.local === '' ? 'host' : to.resource === '' ? 'bare' : 'full';
    try {
      if (bus.fire(`pre-${kind}/${dest}`, event)) return;
      if (kind === 'iq') {
        const type = stanza.attrs.type;
        if (type === 'get' || type === 'set') {
          const payload = stanza.elements[0];
          if (payload && bus.fire(`iq-${type}/${dest}/${payload.xmlns}:${payload.name}` as EventName, event)) return;
        }
      }
      if (bus.fire(`${kind}/${dest}`, event)) return;
    } catch (err) {
      // Handlers' exceptions are caught by the bus; this guards the routing code itself.
      event.origin.log.error({ err }, 'routing failed');
      event.handlerError = err;
    }
    this.unhandled(event, kind, dest);
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
    if (origin.type === 'c2s') return tryParseJid(origin.fullJid ?? `${origin.username}@${origin.host}`);
    return undefined;
  }
}
