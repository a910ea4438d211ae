/**
 * XEP-0357 push notifications, made debuggable. A client `<enable/>`s an app server and node
 * (stored per account, several devices); when something important (importance.ts) reaches a
 * session of that device's resource while it is hibernated (stream management), or the account
 * has no available resource and a message goes offline, the app server gets a notification
 * (engine.ts: rate limit, coalescing, retries with back-off, disabling after repeated failures).
 * Every decision, sent or not and why, goes to the push trace (`canto push-trace user@host`,
 * the `push` service) and a debug log line. README.md in this folder; docs/push.md for operators.
 *
 * A connected session is never pushed for, active or CSI-inactive: its connection gets the
 * stanza (as Prosody's mod_cloud_notify does by default). A connection that is dead without the
 * server knowing is the exception that matters: when it is found dead and the session hibernates,
 * the important stanzas it never acknowledged are pushed for then.
 */
import { defineModule } from '../../core/modules.js';
import { stanzaError } from '../../core/errors.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { BoundC2SSession, StreamSession } from '../../core/session.js';
import type { Element } from '../../xml/element.js';
import { AdminError } from '../adminsocket/index.js';
import { Deadlines } from './deadlines.js';
import { PushEngine, type Important, type Trigger } from './engine.js';
import { NS_PUSH } from './form.js';
import { importance, type Importance } from './importance.js';
import { RoomNicks } from './nicks.js';
import { pushOptions } from './options.js';
import { Publisher } from './publisher.js';
import { describeRegistration, RegistrationBook, type Registration } from './registrations.js';
import { parseDisable, parseEnable } from './requests.js';
import { PushTrace, type TraceEntry } from './trace.js';

export { NS_PUSH } from './form.js';
export type { TraceEntry } from './trace.js';

/** How often deadlines (answer timeouts, retries, coalesced notifications) are looked at. */
const SWEEP_MS = 100;
/** Above delivery (0) and below blocking (1000): watch what reaches delivery, never claim it. */
const WATCH_PRIORITY = 10;
/** Between CSI (500: what it holds is not delivered yet) and stream management's recording (-10000). */
const FILTER_PRIORITY = 0;

/** A registration as the push service and `canto push-trace` show it (no publish-options: they hold the app's secret). */
export interface RegistrationInfo {
  appServer: string;
  node: string;
  resource: string;
  enabledAt: number;
  /** Consecutive failed attempts so far (disabled at max_failures). */
  failures: number;
  /** Whether a session of its resource is bound now, and in what state. */
  session: 'connected' | 'hibernated' | 'none';
}

/** The `push` service (per host): what the admin socket and, later, an admin API read. */
export interface PushService {
  /** The account's last push decisions, oldest first. */
  trace(username: string): TraceEntry[];
  registrations(username: string): Promise<RegistrationInfo[]>;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    push: PushService;
  }
}

export default defineModule({
  name: 'push',
  description: 'XEP-0357 push notifications, with a per-account trace of every decision',
  depends: ['disco', 'adminsocket'],
  options: pushOptions,
  setup(mod) {
    const o = mod.options;
    const host = mod.host;
    const book = new RegistrationBook(mod.keyval<Registration[]>('push'), o.max_registrations);
    const trace = new PushTrace(o.trace_size, o.trace_accounts);
    const deadlines = new Deadlines(() => mod.now());
    mod.setInterval(() => deadlines.sweep(), SWEEP_MS);
    const publisher = new Publisher({ now: () => mod.now(), after: (ms, fn) => deadlines.after(ms, fn) }, (stanza) => mod.send(stanza), o.timeout);
    const engine = new PushEngine({
      host,
      options: o,
      now: () => mod.now(),
      deadlines,
      publisher,
      trace,
      book,
      log: mod.log,
      answersReachUs: mod.server.cluster === undefined || mod.server.cluster.serviceWorker,
      metrics: {
        sent: mod.measure.counter('push_sent_total', 'Notifications sent to app servers (retries not counted), by trigger', ['trigger']),
        suppressed: mod.measure.counter('push_suppressed_total', 'Push decisions that sent nothing, by reason', ['reason']),
        errors: mod.measure.counter('push_app_server_errors_total', 'Failed attempts: the app server answered an error, or nothing in time', ['kind']),
        disabled: mod.measure.counter('push_registrations_disabled_total', 'Registrations disabled after max_failures consecutive failures'),
        answerSeconds: mod.measure.histogram('push_answer_seconds', "Time to the app server's successful answer", [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]),
      },
    });
    mod.onUnload(() => {
      engine.stop();
      publisher.stop();
      deadlines.clear();
    });
    const nicks = new RoomNicks();
    const account = (username: string) => `${username}@${host}`;

    // ── Protocol: disco, enable, disable ──

    // §5: advertised on the account (disco#info to the user's bare JID); on the host too, since
    // <enable/> addressed to the server is answered as well (the account's own).
    mod.addFeature(NS_PUSH);
    mod.hook('disco-info', ({ to, query, trusted }) => {
      if (to.local !== '' && trusted) query.c('feature', { var: NS_PUSH });
    });

    /** The account an <enable/>/<disable/> is for: the sender's own, from one of its resources. */
    const requester = ({ origin, from, to }: StanzaEvent): BoundC2SSession => {
      const own = origin.type === 'c2s' && origin.host === host && 'resource' in origin && (to.local === '' ? to.domain === host : to.bare === from.bare);
      if (!own) throw stanzaError('CANTO_ERR_FORBIDDEN', 'push is enabled by a client for its own account');
      return origin as BoundC2SSession;
    };

    mod.iq('set', NS_PUSH, 'enable', async (event) => {
      const session = requester(event);
      const req = parseEnable(event.stanza.elements[0] as Element);
      const reg: Registration = { jid: req.jid, node: req.node, resource: session.resource, enabledAt: mod.now() };
      if (req.options !== undefined) reg.options = req.options;
      const result = await book.enable(session.username, reg);
      if (result === 'too-many') throw stanzaError('CANTO_ERR_PUSH_TOO_MANY_REGISTRATIONS', `at most ${o.max_registrations} push registrations per account`);
      engine.enabled(session.username, reg, result === 'replaced');
      return undefined;
    }, { to: ['bare', 'host'] });

    mod.iq('set', NS_PUSH, 'disable', async (event) => {
      const session = requester(event);
      const req = parseDisable(event.stanza.elements[0] as Element);
      const gone = await book.disable(session.username, req.jid, req.node);
      engine.removed(session.username, gone, 'client', `disabled by ${session.resource}`);
      return undefined;
    }, { to: ['bare', 'host'] });

    // The app servers' answers come to the user's bare JID (publisher.ts).
    mod.hook('iq/bare', ({ stanza, from }) => {
      const type = stanza.attrs.type;
      if (type !== 'result' && type !== 'error') return false;
      return publisher.answer(stanza, from.full);
    }, 100);

    // ── Where pushes come from ──

    const ctxOf = (session: BoundC2SSession) => ({ username: session.username, nickIn: (room: string) => nicks.nickIn(session, room) });
    const connected = (username: string, resource: string): boolean => {
      const s = mod.server.sessions.getSession(host, username, resource);
      return s !== undefined && !s.hibernating;
    };
    const ofResource = (regs: readonly Registration[], resource: string) => regs.filter((r) => r.resource === resource);
    /** The session's stream management says its connection left an ack request unanswered too long. */
    const ackDelayed = (session: BoundC2SSession): boolean => mod.optional('smacks')?.state(session)?.ackDelayed === true;

    /** Something reached a session of the account (filter below): decide for its resource's registrations. */
    const reached = (session: BoundC2SSession, stanza: Element, regs: readonly Registration[]): void => {
      const mine = ofResource(regs, session.resource);
      const imp = importance(stanza, ctxOf(session));
      if (!session.hibernating && imp.important && mine.length > 0 && ackDelayed(session)) {
        // Connected, but it has not answered an ack request for max_ack_delay: probably dead.
        for (const reg of mine) engine.offer(session.username, reg, [imp], 'ack-delayed');
        return;
      }
      if (!session.hibernating) {
        // Connected: its connection gets the stanza. Traced only when a device here would have been woken otherwise.
        if (imp.important) for (const reg of mine) engine.suppress(session.username, reg, 'connected', describe(imp, stanza), 'session-connected', `delivered to the connected session ${session.resource}`);
        return;
      }
      if (!imp.important) {
        if (stanza.name === 'message') for (const reg of mine) engine.suppress(session.username, reg, 'hibernated', describe(imp, stanza), 'not-important', imp.reason);
        return;
      }
      if (mine.length === 0) {
        if (regs.length > 0) {
          engine.suppress(session.username, undefined, 'hibernated', describe(imp, stanza), 'no-registration', `the hibernated session ${session.resource} enabled no push; registrations are for ${[...new Set(regs.map((r) => r.resource))].join(', ')}`);
        }
        return;
      }
      for (const reg of mine) engine.offer(session.username, reg, [imp], 'hibernated');
    };

    // Every stanza written to a bound session of this host passes here (cheap unless the account has registrations).
    const filters = new Map<BoundC2SSession, () => void>();
    const watch = (stanza: Element, s: StreamSession): Element => {
      const session = s as BoundC2SSession;
      if (stanza.name === 'presence') nicks.observe(session, stanza);
      if (stanza.name === 'iq') return stanza;
      const regs = book.peek(session.username);
      if (regs !== undefined && regs.length > 0) reached(session, stanza, regs);
      else if (session.hibernating) noRegistration(session.username, stanza, 'hibernated', session);
      return stanza;
    };

    /**
     * Important and nowhere to push. Traced only for accounts with a push history (e.g. their
     * registration was disabled): a trace per account that never enabled push would crowd out
     * the ones that matter. Others get the debug line only.
     */
    const noRegistration = (username: string, stanza: Element, trigger: Trigger, session?: BoundC2SSession): void => {
      const imp = importance(stanza, session ? ctxOf(session) : { username, nickIn: () => undefined });
      if (!imp.important) return;
      if (trace.has(account(username))) engine.suppress(username, undefined, trigger, describe(imp, stanza), 'no-registration', 'the account has no push registration (any more)');
      else mod.log.debug({ user: account(username), what: describe(imp, stanza) }, 'push decision: none (the account has no push registration)');
    };

    mod.hook('resource-bind', ({ session }) => {
      filters.set(session, session.filters.out.add(watch, FILTER_PRIORITY));
      engine.deviceBack(session.username, session.resource);
      void book.pin(session.username).catch((err: unknown) => mod.log.error({ err, user: account(session.username) }, 'could not load push registrations'));
    });

    mod.hook('session-resumed', ({ session }) => {
      engine.deviceBack(session.username, session.resource);
    });

    mod.hook('resource-unbind', ({ session }) => {
      filters.get(session)?.();
      filters.delete(session);
      if (!mod.server.sessions.getUserSessions(host, session.username).some((s) => s !== session)) book.unpin(session.username);
    });
    // Resumed on another cluster node: the resource is bound there (its node pins the registrations).
    mod.hook('session-handed-over', ({ session }) => {
      filters.get(session)?.();
      filters.delete(session);
      if (mod.server.sessions.getLocalUserSessions(host, session.username).length === 0) book.unpin(session.username);
    });

    // A connection found dead: what it never acknowledged may never have reached the phone.
    mod.hook('session-hibernated', ({ session }) => {
      const regs = ofResource(book.peek(session.username) ?? [], session.resource);
      if (regs.length === 0) return;
      const unacked = mod.optional('smacks')?.state(session)?.queue.unacked() ?? [];
      const items = unacked.map((q) => importance(q.stanza, ctxOf(session))).filter((i): i is Important => i.important);
      for (const reg of regs) engine.offer(session.username, reg, items, 'unacked');
    });

    // Connected, but an ack request went unanswered for [modules.smacks] max_ack_delay: the
    // connection is probably dead though not closed. Push for what it has not acknowledged (and,
    // in reached() above, for what comes until it answers), as for a hibernated session.
    mod.hook('smacks/ack-delayed', ({ session, unacked, waitedMs }) => {
      const regs = ofResource(book.peek(session.username) ?? [], session.resource);
      if (regs.length === 0) return;
      const items = unacked.map((stanza) => importance(stanza, ctxOf(session))).filter((i): i is Important => i.important);
      mod.log.debug({ user: account(session.username), resource: session.resource, waitedMs, unacked: unacked.length, important: items.length }, 'push: ack delayed on a connected session');
      for (const reg of regs) engine.offer(session.username, reg, items, 'ack-delayed');
    });

    /** Nobody is available: every registration whose device is not connected gets it. */
    const offline = async (username: string, stanza: Element, trigger: Trigger): Promise<void> => {
      const regs = await book.get(username);
      if (regs.length === 0) {
        noRegistration(username, stanza, trigger);
        return;
      }
      const imp = importance(stanza, { username, nickIn: () => undefined });
      for (const reg of regs) {
        if (!imp.important) engine.suppress(username, reg, trigger, describe(imp, stanza), 'not-important', imp.reason);
        else if (connected(username, reg.resource)) engine.suppress(username, reg, trigger, describe(imp, stanza), 'session-connected', `the session ${reg.resource} is connected (it gets offline messages with its initial presence)`);
        else engine.offer(username, reg, [imp], trigger);
      }
    };
    const detached = (username: string, work: Promise<void>): void => {
      work.catch((err: unknown) => mod.log.error({ err, user: account(username) }, 'push decision failed'));
    };

    // Watch only (never claims): the offline module stores it at 0.
    mod.hook('message/offline', ({ username, stanza }) => {
      detached(username, offline(username, stanza, 'offline'));
      return false;
    }, WATCH_PRIORITY);

    // A subscription request for an account with no available resource waits for its next login.
    mod.hook('presence/bare', ({ stanza, to, from }) => {
      if (stanza.attrs.type !== 'subscribe' || to.local === '' || from.bare === to.bare) return false;
      const sessions = mod.server.sessions.getUserSessions(host, to.local);
      if (!sessions.some((s) => s.presence !== undefined)) detached(to.local, offline(to.local, stanza, 'offline'));
      return false;
    }, WATCH_PRIORITY);

    // ── Housekeeping ──

    mod.cachedStore('push', (username) => (book.peek(username) !== undefined ? book.reload(username) : undefined));
    mod.hook('user-deleted', ({ username }) => {
      book.unpin(username);
      trace.forget(account(username));
    });

    const service: PushService = {
      trace: (username) => trace.get(account(username)),
      async registrations(username) {
        return (await book.get(username)).map((r) => {
          const s = mod.server.sessions.getSession(host, username, r.resource);
          return {
            appServer: r.jid,
            node: r.node,
            resource: r.resource,
            enabledAt: r.enabledAt,
            failures: engine.failures(username, r),
            session: s === undefined ? 'none' : s.hibernating ? 'hibernated' : 'connected',
          };
        });
      },
    };
    mod.provides('push', service);

    // `canto push-trace user@host` (src/cli/push-trace.ts) through the admin socket.
    mod.onUnload(
      mod.require('admin-commands').register('push-trace', host, async (args) => {
        const username = args.user;
        if (typeof username !== 'string' || username === '') throw new AdminError('push-trace needs a user');
        return { account: account(username), registrations: await service.registrations(username), entries: service.trace(username) };
      }),
    );
  },
});

/** What a stanza is, for the trace: "message from x", or why it is not important. */
function describe(imp: Importance, stanza: Element): string {
  if (imp.important) {
    const words = { message: 'message', encrypted: 'encrypted message', mention: 'mention', subscription: 'subscription request', call: 'call' }[imp.kind];
    return `${words} from ${imp.sender}`;
  }
  const from = stanza.attrs.from;
  return from === undefined ? stanza.name : `${stanza.name} from ${from.split('/')[0] ?? from}`;
}

// For tests: what importance() says (re-exported so tests need not know the file).
export { importance } from './importance.js';
export { describeRegistration };
