/**
 * One BOSH session (XEP-0124): ONE client session (client-session.ts) living across many HTTP
 * requests. This class owns what is BOSH-specific:
 *
 * - request ids: requests are processed in rid order (a later one within the window waits for
 *   the gap to fill); a repeated rid is answered from the cache of recent responses; a rid
 *   outside the window ends the session with item-not-found;
 * - holding: at most `hold` requests are kept open for data; output goes to the oldest one, an
 *   extra request releases the oldest with an empty body, and a request held `wait` long is
 *   answered empty;
 * - overactivity: more than `requests` outstanding requests, or empty polls closer together
 *   than `polling` while nothing is held, end the session with policy-violation;
 * - inactivity: with no request outstanding for `inactivity`, the session is destroyed (the
 *   normal session end: unavailable presence to contacts, etc.);
 * - acknowledgements, basic mode (§9): a client that asked for them at creation gets `ack` on
 *   responses that do not answer the highest rid received in order, and the client's own `ack`
 *   lets us drop cached responses it has seen;
 * - rate limits: before a request's payload is processed the connection's read gate is asked
 *   (connection.ts); while it says wait, the request and those after it stay parked (counted
 *   against `requests`), so a flooding client waits for its answers. A wait longer than the
 *   session's `wait` (at least GATE_LIMIT_MIN_MS) would outlast the client's HTTP requests: the
 *   session is ended with policy-violation instead.
 */
import { randomBytes } from 'node:crypto';
import type { ModuleServer } from '../../core/server.js';
import type { Logger } from '../../core/logging.js';
import type { Element } from '../../xml/element.js';
import type { ClientSessionHandle, ClientSessions } from '../c2s/client-session.js';
import { BoshConnection } from './connection.js';
import { BoshFraming } from './framing.js';
import { intAttr, negotiateVersion, payloadOf, placeRid, responseBody, terminateBody, type TerminalCondition } from './body.js';

export interface BoshSettings {
  /** Longest time a request is held, ms (the client's 'wait' is lowered to it). */
  maxWaitMs: number;
  /** Most requests held at once (the client's 'hold' is lowered to it). */
  maxHold: number;
  /** A session with no request outstanding this long is destroyed, ms. */
  inactivityMs: number;
  /** Shortest allowed interval between empty polls, ms. */
  pollingMs: number;
}

/** The HTTP side of one request: how to answer it and learn that the client gave up on it. */
export interface BoshReply {
  send(body: string): void;
  /** Called when the HTTP request goes away unanswered. */
  onAbort(listener: () => void): void;
}

export interface BoshSessionOptions {
  server: ModuleServer;
  /** The c2s module's service: BOSH sessions are client sessions. */
  clientSessions: ClientSessions;
  log: Logger;
  settings: BoshSettings;
  /** The client's address and security as the request context reports them. */
  ip: string;
  secure: boolean;
  remoteAddress: string;
  remotePort: number;
  /** Called once the session is gone and its sid must be forgotten. */
  forget(sid: string): void;
  /** Appended to the random sid: in a Redis cluster, `~node_id` names the owning node (cluster.ts). */
  sidSuffix?: string;
}

/** The longest a rate-limit wait may hold requests, at least (the session's `wait` if longer). */
const GATE_LIMIT_MIN_MS = 10_000;

interface Held {
  rid: number;
  reply: BoshReply;
  timer: NodeJS.Timeout | undefined;
  /** The session creation request: answered at once with the session's attributes. */
  creation: boolean;
  /** Answer at the next flush even if there is nothing to send (hold=0, terminate). */
  immediate: boolean;
}

export class BoshSession {
  readonly sid: string;
  readonly secure: boolean;
  /** Negotiated at creation: seconds a request may be held, requests held, requests outstanding. */
  private wait = 0;
  private hold = 0;
  private requests = 1;
  private readonly conn: BoshConnection;
  private readonly handle: ClientSessionHandle;
  private framing: BoshFraming | undefined;
  private readonly log: Logger;
  /** The highest rid processed in order. */
  private last = 0;
  private readonly held: Held[] = [];
  /** Requests that arrived ahead of a gap, by rid. */
  private readonly parked = new Map<number, { body: Element; reply: BoshReply; bytes: number }>();
  /** A rate-limit wait in progress (the read gate said wait): parked requests wait behind it. */
  private gateWait: Promise<void> | undefined;
  /** Requests held back by a rate limit, so far (tests, diagnostics). */
  gateWaits = 0;
  /** Recent responses by rid, for repeated requests. */
  private readonly cache = new Map<number, string>();
  /** Rids whose request was processed but went away before it was answered. */
  private readonly orphans = new Set<number>();
  private ackMode = false;
  private version = '';
  private flushScheduled = false;
  private inactivityTimer: NodeJS.Timeout | undefined;
  /** The last empty poll, while its response carried nothing. */
  private poll: { rid: number; at: number } | undefined;
  /** Set once the session has ended: the terminate body still owed to the client, if any. */
  private ended: { owed: string | undefined } | undefined;
  private closedHandle = false;

  /** Requests inside the session right now: held for output, or parked ahead of a gap (diagnostics, tests). */
  get requestsInside(): number {
    return this.held.length + this.parked.size;
  }

  constructor(private readonly opts: BoshSessionOptions) {
    this.sid = randomBytes(18).toString('base64url') + (opts.sidSuffix ?? '');
    this.secure = opts.secure;
    this.conn = new BoshConnection(opts.remoteAddress, opts.remotePort, opts.secure, {
      queued: () => this.scheduleFlush(),
      ended: () => this.finish(),
      destroyed: () => this.terminate(undefined),
    });
    this.handle = opts.clientSessions.start({
      server: opts.server,
      log: opts.log,
      conn: this.conn,
      ip: opts.ip,
      logFields: { sid: this.sid },
      makeFraming: (events, log) => {
        this.framing = new BoshFraming(this.conn, opts.server.config.limits, log, events);
        return this.framing;
      },
    });
    this.log = this.handle.session.log;
  }

  /** The session creation request (no sid). Sets wait/hold/requests from the client's wishes. */
  create(body: Element, rid: number, reply: BoshReply): void {
    const s = this.opts.settings;
    const maxWait = Math.floor(s.maxWaitMs / 1000);
    const wantWait = intAttr(body, 'wait') ?? maxWait;
    const wantHold = intAttr(body, 'hold') ?? 1;
    this.wait = Math.min(wantWait, maxWait);
    // A request that may not wait cannot be held: wait=0 makes a polling session.
    this.hold = this.wait === 0 ? 0 : Math.min(wantHold, s.maxHold);
    this.requests = this.hold + 1;
    this.version = negotiateVersion(body.attrs.ver);
    this.ackMode = body.attrs.ack !== undefined;
    this.last = rid;
    this.handle.activity();
    this.holdRequest(rid, reply, { creation: true, immediate: true });
    this.framing?.open({
      to: body.attrs.to,
      from: body.attrs.from,
      version: body.attrs['xmpp:version'],
      lang: body.attrs['xml:lang'],
    });
    this.scheduleFlush();
  }

  /** A request for this session (it has our sid). */
  receive(body: Element, reply: BoshReply, bytes = 0): void {
    if (this.ended) {
      reply.send(this.ended.owed ?? terminateBody('item-not-found'));
      this.ended.owed = undefined;
      this.opts.forget(this.sid);
      return;
    }
    const rid = intAttr(body, 'rid');
    if (rid === undefined) {
      this.fail('bad-request', reply, "missing or malformed 'rid'");
      return;
    }
    this.handle.activity();
    const place = placeRid(rid, this.last, this.requests);
    if (place === 'repeat') {
      this.repeat(rid, reply);
      return;
    }
    if (place === 'out-of-window') {
      this.fail('item-not-found', reply, `rid ${rid} is outside the window after ${this.last}`);
      return;
    }
    if (this.parked.has(rid)) {
      // A resend of a request still waiting for its gap: the new copy takes its place.
      this.parked.get(rid)?.reply.send(responseBody({}));
      this.park(rid, body, reply, bytes);
      return;
    }
    const oldest = Math.min(rid, ...this.held.map((h) => h.rid), ...this.parked.keys());
    if (rid - oldest + 1 > this.requests) {
      this.fail('policy-violation', reply, `more than ${this.requests} simultaneous requests`);
      return;
    }
    // An empty request (a poll) carries nothing to limit: the gate is not asked for it.
    if (payloadOf(body).length === 0) bytes = 0;
    if (place === 'ahead' || this.gateWait !== undefined) {
      this.park(rid, body, reply, bytes);
      return;
    }
    if (!this.admit(bytes)) {
      this.park(rid, body, reply, bytes);
      return;
    }
    this.process(rid, body, reply);
    this.drain();
  }

  /** Process the parked requests that are next in order, as long as the read gate lets them. */
  private drain(): void {
    for (let next = this.parked.get(this.last + 1); next && !this.ended; next = this.parked.get(this.last + 1)) {
      if (this.gateWait !== undefined || !this.admit(next.bytes)) return;
      this.parked.delete(this.last + 1);
      this.process(this.last + 1, next.body, next.reply);
    }
  }

  /** Whether the read gate lets a payload of `bytes` be processed now; if not, wait for it, then drain. */
  private admit(bytes: number): boolean {
    if (bytes === 0) return true;
    const wait = this.conn.askGate(bytes);
    if (wait === undefined) return true;
    this.gateWaits++;
    this.gateWait = wait;
    const limitMs = Math.max(this.wait * 1000, GATE_LIMIT_MIN_MS);
    const limit = setTimeout(() => {
      if (this.gateWait !== wait || this.ended) return;
      this.log.info({ condition: 'policy-violation', wait_limit_ms: limitMs }, 'terminating the BOSH session: over its rate limit for longer than a request may wait');
      this.terminate('policy-violation');
    }, limitMs);
    limit.unref();
    const go = (): void => {
      clearTimeout(limit);
      if (this.gateWait !== wait) return;
      this.gateWait = undefined;
      this.drain();
    };
    wait.then(go, go);
    return false;
  }

  /** Tear the session down (module unload). */
  shutdown(): void {
    if (this.inactivityTimer) clearTimeout(this.inactivityTimer);
    this.inactivityTimer = undefined;
    this.terminate('system-shutdown');
  }

  /** Keep a request that arrived ahead of a gap until the gap fills. */
  private park(rid: number, body: Element, reply: BoshReply, bytes: number): void {
    this.parked.set(rid, { body, reply, bytes });
    this.watchAbort(reply, () => {
      if (this.parked.get(rid)?.reply === reply) this.parked.delete(rid);
      this.updateInactivity();
    });
    this.updateInactivity();
  }

  private process(rid: number, body: Element, reply: BoshReply): void {
    this.last = rid;
    const ack = intAttr(body, 'ack');
    if (ack !== undefined) for (const r of this.cache.keys()) if (r <= ack) this.cache.delete(r);
    const payload = payloadOf(body);
    const type = body.attrs.type;
    const restart = body.attrs['xmpp:restart'] === 'true';
    const empty = payload.length === 0 && type === undefined && !restart && body.attrs.pause === undefined;
    // The polling rule (XEP-0124 §11) binds polling sessions; in a long-polling one each empty
    // request is held, which paces the client already.
    if (empty && this.hold === 0) {
      const now = Date.now();
      if (this.poll !== undefined && now - this.poll.at < this.opts.settings.pollingMs) {
        this.fail('policy-violation', reply, `polling faster than every ${this.opts.settings.pollingMs} ms`);
        return;
      }
      this.poll = { rid, at: now };
    } else {
      this.poll = undefined;
    }
    const terminate = type === 'terminate';
    this.holdRequest(rid, reply, { creation: false, immediate: terminate });
    const framing = this.framing;
    if (!framing) return;
    if (restart) {
      framing.open({ to: body.attrs.to, from: body.attrs.from, version: '1.0', lang: body.attrs['xml:lang'] });
    } else {
      for (const el of payload) framing.element(el);
    }
    if (terminate) framing.clientClosed();
    this.scheduleFlush();
  }

  private repeat(rid: number, reply: BoshReply): void {
    const cached = this.cache.get(rid);
    if (cached !== undefined) {
      this.log.debug({ rid }, 'repeated request: resending the cached response');
      reply.send(cached);
      return;
    }
    const held = this.held.find((h) => h.rid === rid);
    if (held) {
      // The client gave up on the first copy: the new one takes its place.
      held.reply.send(responseBody({}));
      held.reply = reply;
      this.watchAbort(reply, () => this.abandon(held));
      return;
    }
    if (this.orphans.delete(rid)) {
      this.holdRequest(rid, reply, { creation: false, immediate: false });
      this.scheduleFlush();
      return;
    }
    this.fail('item-not-found', reply, `rid ${rid} was answered and is no longer cached`);
  }

  private holdRequest(rid: number, reply: BoshReply, kind: { creation: boolean; immediate: boolean }): void {
    const h: Held = { rid, reply, timer: undefined, ...kind };
    if (this.wait > 0 && !kind.immediate) {
      h.timer = setTimeout(() => {
        this.respond(h, '');
        this.updateInactivity();
      }, this.wait * 1000);
      h.timer.unref();
    }
    let i = this.held.length;
    while (i > 0 && (this.held[i - 1]?.rid ?? 0) > rid) i--;
    this.held.splice(i, 0, h);
    this.watchAbort(reply, () => this.abandon(h));
    this.updateInactivity();
  }

  /** A held request went away unanswered: its rid may come again. */
  private abandon(h: Held): void {
    const i = this.held.indexOf(h);
    if (i < 0) return;
    this.held.splice(i, 1);
    if (h.timer) clearTimeout(h.timer);
    this.orphans.add(h.rid);
    this.updateInactivity();
  }

  private watchAbort(reply: BoshReply, listener: () => void): void {
    reply.onAbort(listener);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // One tick of grace gathers what the session writes in answer to a request into one body.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.ended) return;
    const first = this.held[0];
    if (first && (this.conn.bufferedBytes > 0 || first.immediate)) this.respond(first, this.conn.take());
    while (this.held.length > this.hold) {
      const oldest = this.held[0];
      if (!oldest) break;
      this.respond(oldest, '');
    }
    for (const h of [...this.held]) if (h.immediate) this.respond(h, '');
    this.updateInactivity();
  }

  private respond(h: Held, payload: string): void {
    const i = this.held.indexOf(h);
    if (i < 0) return;
    this.held.splice(i, 1);
    if (h.timer) clearTimeout(h.timer);
    const attrs: Record<string, string | number | undefined> = h.creation ? this.creationAttrs() : {};
    if (this.ackMode && !h.creation && h.rid !== this.last) attrs.ack = this.last;
    const body = responseBody(attrs, payload);
    if (payload !== '' && this.poll?.rid === h.rid) this.poll = undefined;
    this.cache.set(h.rid, body);
    for (const r of this.cache.keys()) if (r <= this.last - this.requests) this.cache.delete(r);
    for (const r of this.orphans) if (r <= this.last - this.requests) this.orphans.delete(r);
    h.reply.send(body);
  }

  private creationAttrs(): Record<string, string | number | undefined> {
    return {
      sid: this.sid,
      wait: this.wait,
      hold: this.hold,
      requests: this.requests,
      inactivity: Math.floor(this.opts.settings.inactivityMs / 1000),
      polling: Math.ceil(this.opts.settings.pollingMs / 1000),
      ver: this.version,
      from: this.framing?.streamFrom,
      authid: this.framing?.streamId || undefined,
      ack: this.ackMode ? this.last : undefined,
      'xmpp:version': '1.0',
      'xmpp:restartlogic': 'true',
    };
  }

  private updateInactivity(): void {
    const idle = this.held.length === 0 && this.parked.size === 0;
    if (!idle) {
      if (this.inactivityTimer) clearTimeout(this.inactivityTimer);
      this.inactivityTimer = undefined;
      return;
    }
    if (this.inactivityTimer) return;
    this.inactivityTimer = setTimeout(() => {
      this.inactivityTimer = undefined;
      if (this.ended) {
        this.opts.forget(this.sid);
        return;
      }
      this.log.info('BOSH session inactive: destroying it');
      this.terminate(undefined);
    }, this.opts.settings.inactivityMs);
    this.inactivityTimer.unref();
  }

  /** The client broke a rule: answer it with a terminal condition and end the session. */
  private fail(condition: TerminalCondition, reply: BoshReply, why: string): void {
    this.log.info({ condition, why }, 'terminating the BOSH session');
    reply.send(terminateBody(condition));
    this.terminate(condition);
  }

  /** The connection ended (our close or the client's terminate): deliver the terminate body. */
  private finish(): void {
    if (this.ended) return;
    const framing = this.framing;
    const condition: TerminalCondition | undefined = framing?.closeReason !== undefined ? 'remote-stream-error' : undefined;
    const body = terminateBody(condition, this.conn.take());
    this.ended = { owed: body };
    const first = this.held.shift();
    if (first) {
      if (first.timer) clearTimeout(first.timer);
      first.reply.send(body);
      this.ended.owed = undefined;
    }
    this.answerAllWith(terminateBody());
    this.closeHandle();
    if (this.ended.owed === undefined) this.opts.forget(this.sid);
    else this.updateInactivity(); // keep the sid until the client collects the body, or for `inactivity`
  }

  /** End the session at once, answering outstanding requests with a terminate. */
  private terminate(condition: TerminalCondition | undefined): void {
    if (this.ended) return;
    this.ended = { owed: undefined };
    this.answerAllWith(terminateBody(condition));
    this.closeHandle();
    this.opts.forget(this.sid);
  }

  private answerAllWith(body: string): void {
    for (const h of this.held.splice(0)) {
      if (h.timer) clearTimeout(h.timer);
      h.reply.send(body);
    }
    for (const p of this.parked.values()) p.reply.send(body);
    this.parked.clear();
    if (this.inactivityTimer) clearTimeout(this.inactivityTimer);
    this.inactivityTimer = undefined;
  }

  private closeHandle(): void {
    if (this.closedHandle) return;
    this.closedHandle = true;
    this.handle.connectionClosed();
  }
}
