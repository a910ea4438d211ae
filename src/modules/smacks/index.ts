/**
 * XEP-0198 stream management (urn:xmpp:sm:3): acknowledgements both ways and session
 * resumption, on every client transport (the client session is transport-independent).
 *
 * Counting: an `in` filter (first of all) counts each stanza the client sends after `<enable/>`;
 * since a session's elements complete in order, the `<a h/>` we answer to `<r/>` covers only
 * stanzas already delivered, stored or bounced. An `out` filter (last of all, so only what
 * reaches the wire) keeps every stanza sent after enable until the client acknowledges it —
 * also while the session hibernates, when the framing drops the writes.
 *
 * A resumable session whose connection is lost (not a clean close, not a kick) hibernates for
 * the resumption window; `<resume/>` on a new authenticated connection moves it there
 * (sessions.resume) and re-sends what the client did not acknowledge. A session that ends
 * without resumption hands its unacknowledged stanzas to unacked.ts (re-routed, bounced or
 * discarded, never dropped silently). Options and the full behaviour: README.md.
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { duration } from '../../core/option-schemas.js';
import { isBound, type BoundC2SSession, type C2SSession, type StreamSession } from '../../core/session.js';
import { errorReply } from '../../xml/stanza.js';
import { approximateSize, type Element } from '../../xml/element.js';
import { parseXmlFragment } from '../../xml/parse-fragment.js';
import { memberOfResumptionId, type MovedSession, type SessionMover, type TakeoverAnswer, type TakeoverRequest } from '../../core/session-mover.js';
import { addH } from './counter.js';
import { NS_SM, ack, countTooHigh, enabled, failed, parseSm, request, resumed, type SmCommand } from './elements.js';
import { ResumeRegistry } from './registry.js';
import { newState, type SmState } from './state.js';
import { fateOf, rerouted } from './unacked.js';

/** How often deadlines (ack requests, hibernation expiry) are checked: one timer per host, not one per session. */
const SWEEP_MS = 1000;
/** Filter priorities: count inbound before any other filter; record outbound after all others. */
const IN_PRIORITY = 10_000;
const OUT_PRIORITY = -10_000;

/** What handling an SM element did (tests read it; the module ignores it). */
export type Outcome = 'answered' | 'acked' | 'closed';

export default defineModule({
  name: 'smacks',
  description: 'XEP-0198 stream management: acknowledgements and resumption',
  options: z.object({
    /** How long a session whose connection was lost waits for `<resume/>`; also the advertised max. */
    resume_timeout: duration('10 minutes', { min: 1000 }),
    /**
     * Unacknowledged stanzas kept per session; past it the session ends (policy-violation if
     * connected). Their size is bounded too, by `[limits] max_send_buffer`: data kept for a
     * client that does not ack is data queued for a client that does not read.
     */
    max_unacked: z.number().int().min(1).default(1000),
    /** Ask for an ack (`<r/>`) once this many stanzas went out since the last request… */
    request_after: z.number().int().min(1).default(5),
    /** …or this long after a stanza went out unacknowledged. */
    request_delay: duration('5s', { min: 0 }),
    /**
     * An `<r/>` unanswered this long: the connection is probably dead though not closed yet.
     * `smacks/ack-delayed` is fired (the push module wakes the device for what it has not
     * acknowledged, and for what comes until it answers).
     */
    max_ack_delay: duration('30s', { min: 100 }),
  }),
  setup(mod) {
    const opts = mod.options;
    const maxBytes = mod.server.config.limits.max_send_buffer;
    const registry = new ResumeRegistry<BoundC2SSession>();
    const states = new Map<BoundC2SSession, SmState>();
    /** States with a deadline (requestAt or expiresAt), looked at by the sweep. */
    const timed = new Set<SmState>();
    const metrics = {
      resumptions: mod.measure.counter('smacks_resumptions_total', 'Resumption attempts, by result', ['result']),
      hibernations: mod.measure.counter('smacks_hibernations_total', 'Sessions that lost their connection and wait for resumption'),
      expired: mod.measure.counter('smacks_expired_total', 'Hibernating sessions whose resumption window ran out'),
      overflows: mod.measure.counter('smacks_queue_overflows_total', 'Sessions ended because their unacknowledged queue passed max_unacked'),
      unacked: mod.measure.counter('smacks_unacked_stanzas_total', 'Unacknowledged stanzas of sessions that ended without resumption, by fate', ['fate']),
    };
    const takeovers = mod.measure.counter(
      'smacks_takeovers_total',
      'Resumptions of a session held by another cluster node, on the resuming node, by result (ok or why not)',
      ['result'],
    );
    const handovers = mod.measure.counter('smacks_handovers_total', 'Sessions this cluster node handed over to another node that resumed them');
    /** In a Redis cluster: moves sessions between nodes (docs/scaling.md); undefined otherwise. */
    const mover: SessionMover | undefined = mod.server.cluster?.sessionMover;
    type ResumeResult = 'ok' | 'item-not-found' | 'expired' | 'unexpected-request' | 'bad-request' | 'handled-count-too-high';
    const resumeResult = (result: ResumeResult) => metrics.resumptions.inc({ result });

    mod.hook('stream-features', ({ origin, features }) => {
      if (origin.type === 'c2s') features.c('sm', { xmlns: NS_SM });
    }, -10); // after bind's features

    mod.hook('stream-element', ({ origin, element }) => {
      if (element.xmlns !== NS_SM) return undefined;
      handle(origin, parseSm(element));
      return true;
    });

    // XEP-0386 Bind2 / XEP-0198 §: <enable/> inline at login; its <enabled/> goes in <bound/>.
    mod.hook('bind2-features', ({ features }) => {
      features.push(NS_SM);
    });
    mod.hook('bind2-inline', ({ session, request, bound }) => {
      const enable = request.getChild('enable', NS_SM);
      if (enable === undefined) return;
      const cmd = parseSm(enable);
      bound.cnode(cmd.kind === 'enable' && !states.has(session) ? enableState(session, cmd.resume, cmd.max) : failed('unexpected-request'));
    });

    function handle(origin: StreamSession, cmd: SmCommand): Outcome {
      if (origin.type !== 'c2s') return answer(origin, failed('unexpected-request'));
      const state = isBound(origin) ? states.get(origin) : undefined;
      switch (cmd.kind) {
        case 'enable':
          if (!isBound(origin) || state !== undefined) return answer(origin, failed('unexpected-request'));
          return enable(origin, cmd.resume, cmd.max);
        case 'r':
          return state === undefined ? answer(origin, failed('unexpected-request')) : answer(origin, ack(state.inbound));
        case 'a':
          return state === undefined ? answer(origin, failed('unexpected-request')) : onAck(state, cmd.h);
        case 'bad-ack':
          if (state === undefined) return answer(origin, failed('unexpected-request'));
          origin.close({ condition: 'bad-format', text: "an <a/> needs an 'h' between 0 and 4294967295" });
          return 'closed';
        case 'resume':
        case 'bad-resume':
          if (isBound(origin)) {
            resumeResult('unexpected-request');
            return answer(origin, failed('unexpected-request'));
          }
          if (cmd.kind === 'bad-resume') {
            resumeResult('bad-request');
            return answer(origin, failed('bad-request'));
          }
          return resume(origin, cmd.previd, cmd.h);
        case 'unexpected':
          return answer(origin, failed('unexpected-request'));
      }
    }

    function answer(origin: StreamSession, el: Element): Outcome {
      origin.send(el);
      return 'answered';
    }

    function enable(session: BoundC2SSession, wantsResume: boolean, clientMax: number | undefined): Outcome {
      return answer(session, enableState(session, wantsResume, clientMax));
    }

    /** Start counting on a bound session; returns the <enabled/> to send (on the stream, or inside Bind2's <bound/>). */
    function enableState(session: BoundC2SSession, wantsResume: boolean, clientMax: number | undefined): Element {
      const windowMs = clientMax !== undefined ? Math.min(opts.resume_timeout, clientMax * 1000) : opts.resume_timeout;
      const id = wantsResume ? registry.add(`${session.username}@${session.host}`, session, mover?.self()) : undefined;
      const state = newState(session, id, windowMs);
      states.set(session, state);
      installFilters(state);
      session.log.debug({ resumable: wantsResume, window: windowMs }, 'stream management enabled');
      return enabled(id, wantsResume ? Math.floor(windowMs / 1000) : undefined);
    }

    function installFilters(state: SmState): void {
      const { session } = state;
      const offIn = session.filters.in.add((stanza) => {
        state.inbound = addH(state.inbound);
        return stanza;
      }, IN_PRIORITY);
      const offOut = session.filters.out.add((stanza) => record(state, stanza), OUT_PRIORITY);
      state.removeFilters = () => {
        offIn();
        offOut();
      };
    }

    function record(state: SmState, stanza: Element): Element {
      if (state.ended) return stanza;
      state.queue.push(stanza, mod.now(), approximateSize(stanza));
      if (state.queue.length > opts.max_unacked || state.queue.bytes > maxBytes) {
        if (!state.overflowed) {
          state.overflowed = true;
          // Not from inside the send path: the session is ended once this stanza is written.
          queueMicrotask(() => overflow(state));
        }
        return stanza;
      }
      if (state.session.hibernating) return stanza;
      state.sinceRequest++;
      if (state.requestPending) return stanza;
      // After the stanza is written: an <r/> before it would not cover it.
      if (state.sinceRequest >= opts.request_after) queueMicrotask(() => sendRequest(state));
      else if (state.requestAt === undefined) deadline(state, 'requestAt', mod.now() + opts.request_delay);
      return stanza;
    }

    function deadline(state: SmState, which: 'requestAt' | 'expiresAt', at: number): void {
      state[which] = at;
      timed.add(state);
    }

    function sendRequest(state: SmState): void {
      state.requestAt = undefined;
      if (state.ended || state.requestPending || state.session.hibernating || state.queue.length === 0) return;
      state.requestPending = true;
      state.requestSentAt = mod.now();
      state.ackDelayed = false;
      timed.add(state); // the sweep watches for the answer (max_ack_delay)
      state.sinceRequest = 0;
      state.session.send(request());
    }

    /** The pending `<r/>` has gone unanswered for max_ack_delay: once per request. */
    function ackDelayed(state: SmState, now: number): void {
      state.ackDelayed = true;
      const waitedMs = now - (state.requestSentAt ?? now);
      state.session.log.debug({ waitedMs, unacked: state.queue.length }, 'stream management: ack delayed');
      mod.fire('smacks/ack-delayed', { session: state.session, unacked: state.queue.unacked().map((q) => q.stanza), waitedMs });
    }

    function onAck(state: SmState, h: number): Outcome {
      const r = state.queue.ack(h);
      if (!r.ok) {
        state.session.log.info({ h, sent: r.sent }, 'client acknowledged more stanzas than were sent');
        state.session.close(countTooHigh(h, r.sent));
        return 'closed';
      }
      state.requestPending = false;
      state.requestSentAt = undefined;
      state.ackDelayed = false;
      if (state.queue.length > 0 && state.sinceRequest >= opts.request_after) sendRequest(state);
      else if (state.queue.length > 0) deadline(state, 'requestAt', mod.now() + opts.request_delay);
      else state.requestAt = undefined;
      return 'acked';
    }

    function overflow(state: SmState): void {
      if (state.ended) return;
      metrics.overflows.inc();
      const { session } = state;
      const { length, bytes } = state.queue;
      session.log.info(
        { unacked: length, bytes, max: opts.max_unacked, maxBytes, hibernating: session.hibernating },
        'too many unacknowledged stanzas: ending the session',
      );
      // A hibernating session just ends (as on expiry); a connected one gets the stream error.
      const text = length > opts.max_unacked ? `more than ${opts.max_unacked} stanzas left unacknowledged` : `more than ${maxBytes} bytes of stanzas left unacknowledged`;
      if (session.hibernating) session.close();
      else session.close({ condition: 'policy-violation', text });
    }

    function resume(fresh: C2SSession, previd: string, h: number): Outcome {
      const r = resumeState(fresh, previd, h);
      if (r.kind === 'closed') return 'closed';
      if (r.kind === 'failed') return answer(fresh, r.element);
      if (r.kind === 'pending') {
        void r.wait.then((done) => {
          if (done.kind === 'failed') fresh.send(done.element);
          else if (done.kind === 'resumed') {
            done.session.send(done.element);
            done.after();
          }
        });
        return 'answered';
      }
      r.session.send(r.element);
      r.after();
      return 'answered';
    }

    /**
     * Resumption without writing the answer: the caller sends `element` (<resumed/> or
     * <failed/>) on the stream or inside a SASL2 <success/>, then calls `after()`, which
     * re-sends what the client did not acknowledge (it must follow the answer).
     */
    function resumeState(fresh: C2SSession, previd: string, h: number): InlineResume {
      const found = registry.lookup(previd, `${fresh.username}@${fresh.host}`, mod.now());
      if (found === undefined && mover !== undefined) {
        // Not here: in a cluster the id names the node holding the session.
        // (Also when it names this node: the session may have moved on from here.)
        const holder = memberOfResumptionId(previd);
        if (holder !== undefined && mover.self() !== undefined) return takeover(mover, fresh, holder, previd, h);
      }
      if (found === undefined || (found.kind === 'live' && (states.get(found.session) === undefined || found.session.destroyed))) {
        // Unknown, or another account's: the same answer, without 'h'.
        fresh.log.info('resumption failed: unknown session id');
        resumeResult('item-not-found');
        return { kind: 'failed', element: failed('item-not-found') };
      }
      if (found.kind === 'gone') {
        fresh.log.info('resumption failed: the session has ended');
        resumeResult('expired');
        return { kind: 'failed', element: failed('item-not-found', found.h) };
      }
      const old = found.session;
      const state = states.get(old) as SmState; // checked above
      if (!state.queue.valid(h)) {
        fresh.log.info({ h, sent: state.queue.sent }, 'resumption failed: client acknowledged more stanzas than were sent');
        resumeResult('handled-count-too-high');
        fresh.close(countTooHigh(h, state.queue.sent));
        return { kind: 'closed' };
      }
      mod.server.sessions.resume(old, fresh);
      state.queue.ack(h);
      state.expiresAt = undefined;
      state.requestAt = undefined;
      state.requestPending = false;
      state.requestSentAt = undefined;
      state.ackDelayed = false;
      state.sinceRequest = 0;
      resumeResult('ok');
      return {
        kind: 'resumed',
        session: old,
        element: resumed(previd, state.inbound),
        after: () => {
          // Written past the out filters: they ran (and recorded) when each was first sent.
          for (const q of state.queue.unacked()) old.framing.send(q.stanza);
          sendRequest(state);
          old.log.debug({ resent: state.queue.length }, 'stream management session resumed');
        },
      };
    }

    /**
     * The session is held by another node: ask for it (sm-takeover.ts). The answer is handled
     * synchronously in the order of this node's stream, so the resource is bound here before
     * anything routed to it afterwards arrives; until the client has `<resumed/>`, what comes
     * for the session is only queued.
     */
    function takeover(m: SessionMover, fresh: C2SSession, holder: string, previd: string, h: number): InlineResume {
      const owner = `${fresh.username}@${fresh.host}`;
      fresh.log.info({ named: holder }, 'resumption: the session is not here, asking the cluster node holding it');
      const wait = new Promise<InlineResume>((resolve) => {
        m.takeover(holder, { id: previd, owner, h, sid: fresh.id }, (a) => resolve(adoptMoved(fresh, previd, h, a)));
      });
      return { kind: 'pending', wait };
    }

    function adoptMoved(fresh: C2SSession, previd: string, h: number, a: TakeoverAnswer): InlineResume {
      const owner = `${fresh.username}@${fresh.host}`;
      if (!a.ok) {
        takeovers.inc({ result: a.reason });
        fresh.log.info({ reason: a.reason }, 'resumption on another node failed');
        if (a.reason === 'too-high') {
          resumeResult('handled-count-too-high');
          fresh.close(countTooHigh(h, a.sent ?? 0));
          return { kind: 'closed' };
        }
        if (a.reason === 'gone') {
          resumeResult('expired');
          return { kind: 'failed', element: failed('item-not-found', a.h) };
        }
        resumeResult('item-not-found');
        return { kind: 'failed', element: failed('item-not-found') };
      }
      const moved = a.state;
      if (fresh.destroyed || isBound(fresh)) {
        takeovers.inc({ result: 'client-gone' });
        orphan(owner, fresh.host, moved);
        return { kind: 'closed' };
      }
      // Bound here as the holder had it; held (hibernating, writes dropped but recorded) until
      // the caller has written <resumed/>.
      if (moved.presence !== undefined) fresh.presence = parsePresence(moved.presence, fresh);
      fresh.priority = moved.priority;
      fresh.interested = moved.interested;
      if (moved.flags !== undefined && moved.flags.length > 0) fresh.flags = new Set(moved.flags);
      fresh.hibernating = true;
      const bound = mod.server.sessions.bindResource(fresh, moved.resource, 'kick_old');
      if (!bound.ok) {
        fresh.hibernating = false;
        takeovers.inc({ result: 'error' });
        resumeResult('item-not-found');
        fresh.log.warn({ reason: bound.text }, 'resumption on another node: could not bind the resource here');
        orphan(owner, fresh.host, moved);
        return { kind: 'failed', element: failed('item-not-found') };
      }
      const session = bound.session;
      const state = newState(session, previd, moved.windowMs);
      state.inbound = moved.inbound;
      const items = [];
      for (const u of moved.unacked) {
        const stanza = parseStanza(u.xml, session);
        if (stanza !== undefined) items.push({ stanza, at: u.at, size: approximateSize(stanza) });
      }
      // (An unreadable stanza, which cannot happen between two nodes of one build, would be skipped.)
      state.queue.restore(moved.acked, items);
      states.set(session, state);
      installFilters(state);
      const offHold = session.filters.out.add(() => undefined, OUT_PRIORITY - 1);
      registry.adopt(previd, owner, session);
      takeovers.inc({ result: 'ok' });
      resumeResult('ok');
      return {
        kind: 'resumed',
        session,
        element: resumed(previd, state.inbound),
        after: () => {
          offHold();
          session.hibernating = false;
          for (const q of state.queue.unacked()) session.framing.send(q.stanza);
          sendRequest(state);
          session.log.info({ resent: state.queue.length }, 'stream management session resumed from another cluster node');
        },
      };
    }

    function parsePresence(xml: string, session: C2SSession): Element | undefined {
      return parseStanza(xml, session);
    }

    function parseStanza(xml: string, session: C2SSession): Element | undefined {
      try {
        return parseXmlFragment(xml);
      } catch (err) {
        session.log.warn({ err }, 'unreadable stanza in a session state from another node');
        return undefined;
      }
    }

    /** On the holder: hand a session over to the node its client resumes on (sm-takeover.ts). */
    function handOver(req: TakeoverRequest): TakeoverAnswer {
      const found = registry.lookup(req.id, req.owner, mod.now());
      if (found === undefined) return { ok: false, reason: 'unknown' };
      if (found.kind === 'gone') return { ok: false, reason: 'gone', h: found.h };
      const old = found.session;
      const state = states.get(old);
      if (state === undefined || old.destroyed || state.ended) return { ok: false, reason: 'unknown' };
      if (!state.queue.valid(req.h)) return { ok: false, reason: 'too-high', sent: state.queue.sent };
      state.queue.ack(req.h);
      const moved: MovedSession = {
        resource: old.resource,
        interested: old.interested,
        inbound: state.inbound,
        acked: state.queue.acked,
        unacked: state.queue.unacked().map((q) => ({ xml: q.stanza.toString(), at: q.at })),
        windowMs: state.windowMs,
      };
      if (old.priority !== undefined) moved.priority = old.priority;
      if (old.presence !== undefined) moved.presence = old.presence.toString();
      if (old.flags !== undefined && old.flags.size > 0) moved.flags = [...old.flags];
      // Frozen: it leaves without fates for its queue (that travels) and without resource-unbind.
      state.ended = true;
      states.delete(old);
      timed.delete(state);
      state.removeFilters();
      registry.forget(req.id);
      mod.server.sessions.handOver(old);
      handovers.inc();
      return { ok: true, state: moved, sid: old.id };
    }

    /** A moved session's state that reached no session: the fates of an ended session's queue. */
    function orphan(owner: string, host: string, moved: MovedSession): void {
      const items = [];
      for (const u of moved.unacked) {
        try {
          items.push({ stanza: parseXmlFragment(u.xml), at: u.at });
        } catch (err) {
          mod.log.warn({ err, user: owner }, 'unreadable stanza in a session state from another node');
        }
      }
      giveFates(items, owner, host, mod.log);
    }

    if (mover !== undefined) {
      mod.onUnload(mover.register(mod.host, { onRequest: handOver, onOrphan: (owner, state) => orphan(owner, mod.host, state) }));
    }

    mod.hook('pre-session-destroy', ({ session, connectionLost }) => {
      const state = states.get(session);
      return state !== undefined && state.id !== undefined && connectionLost && !state.overflowed && !state.ended;
    });

    mod.hook('session-hibernated', ({ session }) => {
      const state = states.get(session);
      if (state === undefined) return;
      metrics.hibernations.inc();
      state.requestPending = false;
      state.requestSentAt = undefined;
      state.ackDelayed = false;
      state.requestAt = undefined;
      deadline(state, 'expiresAt', mod.now() + state.windowMs);
      session.log.debug({ window: state.windowMs, unacked: state.queue.length }, 'waiting for resumption');
    });

    mod.hook('resource-unbind', ({ session }) => {
      const state = states.get(session);
      if (state !== undefined) end(state);
    });

    /** The session ended without resumption: its unacknowledged stanzas get their fates. */
    function end(state: SmState): void {
      const { session } = state;
      state.ended = true;
      states.delete(session);
      timed.delete(state);
      state.removeFilters();
      if (state.id !== undefined) registry.retire(state.id, state.inbound, mod.now() + opts.resume_timeout);
      giveFates(state.queue.drain(), `${session.username}@${session.host}`, session.host, session.log);
    }

    function giveFates(items: readonly { stanza: Element; at: number }[], bare: string, host: string, log: typeof mod.log): void {
      if (items.length === 0) return;
      const counts = { rerouted: 0, bounced: 0, discarded: 0 };
      for (const { stanza, at } of items) {
        const fate = fateOf(stanza);
        if (fate.action === 'reroute') {
          counts.rerouted++;
          routeFromHost(rerouted(stanza, bare, host, at), true);
        } else if (fate.action === 'bounce') {
          counts.bounced++;
          routeFromHost(errorReply(stanza, 'service-unavailable', 'the recipient session ended'));
        } else {
          counts.discarded++;
        }
      }
      for (const [fate, n] of Object.entries(counts)) if (n > 0) metrics.unacked.inc({ fate }, n);
      log.info(counts, 'session ended with unacknowledged stanzas');
    }

    const hostSession = mod.context?.session;
    function routeFromHost(stanza: Element, redelivery = false): void {
      // The sender's own events already ran when the stanza was first routed; a re-sent message
      // was archived and copied then (redelivery: MAM and carbons leave it alone).
      if (hostSession !== undefined) void mod.server.router.route(hostSession, stanza, { senderSideDone: true, redelivery });
    }

    mod.setInterval(() => {
      const now = mod.now();
      registry.sweep(now);
      for (const state of timed) {
        if (state.ended) {
          timed.delete(state);
        } else if (state.expiresAt !== undefined) {
          if (state.expiresAt <= now && state.session.hibernating) expire(state);
        } else {
          if (state.requestAt !== undefined && state.requestAt <= now) sendRequest(state);
          const watching = state.requestPending && !state.ackDelayed && state.requestSentAt !== undefined;
          if (watching && now - (state.requestSentAt ?? now) >= opts.max_ack_delay) ackDelayed(state, now);
          else if (!watching && state.requestAt === undefined) timed.delete(state);
        }
      }
    }, SWEEP_MS);

    function expire(state: SmState): void {
      state.expiresAt = undefined;
      metrics.expired.inc();
      state.session.log.info({ unacked: state.queue.length }, 'resumption window expired: ending the session');
      state.session.close(); // a hibernating session's close destroys it for good (resource-unbind → end)
    }

    mod.onUnload(() => {
      for (const state of states.values()) {
        state.ended = true;
        state.removeFilters();
      }
      states.clear();
      timed.clear();
    });

    // For tests: the handler without the event bus.
    mod.provides('smacks', {
      handle,
      state: (s: BoundC2SSession) => states.get(s),
      resumeInline: (fresh, el) => {
        const cmd = parseSm(el);
        if (cmd.kind !== 'resume') {
          resumeResult('bad-request');
          return { kind: 'failed', element: failed('bad-request') };
        }
        return resumeState(fresh, cmd.previd, cmd.h);
      },
      enableInline: (session, el) => {
        const cmd = parseSm(el);
        if (cmd.kind !== 'enable' || states.has(session)) return failed('unexpected-request');
        return enableState(session, cmd.resume, cmd.max);
      },
    });
  },
});

/** What resuming inline (XEP-0198 in a SASL2 <authenticate/>) gives the caller to send. */
export type InlineResume =
  | { kind: 'resumed'; session: BoundC2SSession; element: Element; after(): void }
  | { kind: 'failed'; element: Element }
  /** The stream was closed (the client acknowledged more than was sent). */
  | { kind: 'closed' }
  /** The session is on another cluster node: the outcome once it has answered. */
  | { kind: 'pending'; wait: Promise<InlineResume> };

declare module '../../core/event-map.js' {
  interface EventMap {
    /**
     * A connected session left our `<r/>` unanswered for `max_ack_delay` (host bus; once per
     * request): its connection is probably dead though not closed. `unacked` is what it has not
     * acknowledged, oldest first. Handlers must not throw or hold it.
     */
    'smacks/ack-delayed': { session: BoundC2SSession; unacked: Element[]; waitedMs: number };
  }
}

export interface SmacksService {
  handle(origin: StreamSession, cmd: SmCommand): Outcome;
  state(session: BoundC2SSession): SmState | undefined;
  /** XEP-0198 §/XEP-0388 inline `<resume/>` for a freshly authenticated session. */
  resumeInline(fresh: C2SSession, resume: Element): InlineResume;
  /** XEP-0386 inline `<enable/>` on a session Bind2 just bound; returns <enabled/> or <failed/> for <bound/>. */
  enableInline(session: BoundC2SSession, enable: Element): Element;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    smacks: SmacksService;
  }
}
