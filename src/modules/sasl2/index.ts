/**
 * XEP-0388 Extensible SASL Profile (SASL2) for client streams, with what it carries inline:
 * XEP-0386 Bind2 (bind2.ts), XEP-0198 stream resumption (the smacks service), XEP-0484 FAST
 * (the fast module's 'fast-sasl2' service). The mechanisms, their context, the throttle, logs
 * and metrics are SASL's own ('sasl-auth' from saslauth), so both protocols offer and limit
 * the same. Unlike SASL, success needs no stream restart: the stream goes on, already bound
 * when Bind2 was asked for.
 *
 * Options ([modules.sasl2]): max_payload.
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { size } from '../../core/option-schemas.js';
import { isBound, type C2SSession, type C2SUnauthedSession, type StreamSession } from '../../core/session.js';
import { Element, approximateSize } from '../../xml/element.js';
import { NS } from '../../xml/ns.js';
import { decodeSaslPayload } from '../../sasl/base64.js';
import { failure, type SaslCondition, type SaslServerMechanism, type SaslStep } from '../../sasl/mechanism.js';
import type { FastServer } from '../fast/mechanism.js';
import { NS_BIND2, NS_FAST, NS_SASL2, NS_SM } from './events.js';
import { bind2, bind2Feature, type Fire } from './bind2.js';
import { parseUserAgent, type UserAgent } from './user-agent.js';

interface StreamAuth {
  mechanism: SaslServerMechanism | undefined;
  /** The <authenticate/> of the exchange in progress (its inline requests are acted on at success). */
  request: Element | undefined;
  userAgent: UserAgent | undefined;
  failures: number;
  /** One element at a time: a step may wait on storage or a throttle delay. */
  queue: Promise<void>;
}

export default defineModule({
  name: 'sasl2',
  description: 'XEP-0388 SASL2 with XEP-0386 Bind2, XEP-0198 resumption and XEP-0484 FAST inline',
  depends: ['saslauth', 'bind'],
  options: z.object({
    /** The largest base64 payload of an <initial-response/> or <response/>; longer is malformed-request. */
    max_payload: size('8 KiB', { min: 256 }),
  }),
  setup(mod) {
    const server = mod.server;
    const auth = mod.require('sasl-auth');
    const maxPayload = mod.options.max_payload;
    // Whole <authenticate/>: the payload plus user agent and inline requests, with room to spare.
    const maxElement = maxPayload + 8192;
    const streams = new WeakMap<StreamSession, StreamAuth>();
    const fire: Fire = (event, payload) => mod.fire(event, payload);
    // Optional partners, looked up when used: a host may run without stream management or FAST.
    const smacks = () => mod.optional('smacks');
    const fast = () => mod.optional('fast-sasl2');

    mod.hook('stream-features', ({ origin, features }) => {
      if (origin.type !== 'c2s_unauthed') return;
      if (auth.requireEncryption && !origin.secure) return;
      const ctx = auth.offerContext(origin);
      const names = auth.mechanisms.offer(ctx);
      const fastMechanisms = fast()?.mechanisms(ctx) ?? [];
      if (names.length === 0 && fastMechanisms.length === 0) return;
      const offer = features.c('authentication', { xmlns: NS_SASL2 });
      for (const name of names) offer.c('mechanism').t(name);
      const inline = offer.c('inline');
      inline.cnode(bind2Feature(fire, origin));
      if (smacks()) inline.c('sm', { xmlns: NS_SM });
      if (fastMechanisms.length > 0) {
        const f = inline.c('fast', { xmlns: NS_FAST });
        for (const m of fastMechanisms) f.c('mechanism').t(m);
      }
    }, 1); // before SASL's <mechanisms/> (clients take the first they know)

    mod.hook('stream-element', ({ origin, element }) => {
      if (element.xmlns !== NS_SASL2 || !['authenticate', 'response', 'abort'].includes(element.name)) return;
      if (origin.type === 'c2s') {
        origin.close({ condition: 'policy-violation', text: 'already authenticated' });
        return true;
      }
      if (origin.type !== 'c2s_unauthed') return;
      let st = streams.get(origin);
      if (!st) {
        st = { mechanism: undefined, request: undefined, userAgent: undefined, failures: 0, queue: Promise.resolve() };
        streams.set(origin, st);
      }
      const state = st;
      state.queue = state.queue
        .then(() => handle(origin, state, element))
        .catch((err: unknown) => {
          origin.log.error({ err }, 'SASL2 handling failed');
          state.mechanism = undefined;
          if (!origin.destroyed && origin.type === 'c2s_unauthed') origin.send(failureElement('temporary-auth-failure'));
        });
      return true;
    });

    async function handle(session: C2SUnauthedSession, st: StreamAuth, el: Element): Promise<void> {
      if (session.destroyed || session.type !== 'c2s_unauthed') return;
      if (el.name === 'abort') {
        st.mechanism = undefined;
        session.send(failureElement('aborted'));
        return;
      }
      if (el.name === 'response') {
        const mech = st.mechanism;
        if (!mech) return finish(session, st, undefined, failure('malformed-request', 'no authentication in progress'));
        const text = el.getText();
        if (text.length > maxPayload) return finish(session, st, mech, failure('malformed-request', 'response too large'));
        const payload = decodeSaslPayload(text);
        if (payload === 'invalid') return finish(session, st, mech, failure('incorrect-encoding'));
        return finish(session, st, mech, await mech.step(payload ?? Buffer.alloc(0)));
      }
      // <authenticate/>
      st.mechanism = undefined;
      st.request = el;
      if (auth.requireEncryption && !session.secure) return finish(session, st, undefined, failure('encryption-required', 'start TLS first'));
      const initial = el.getChild('initial-response', NS_SASL2);
      const text = initial?.getText() ?? '';
      // Refused before any work: no lookup, no token touched.
      if (text.length > maxPayload || approximateSize(el) > maxElement) return finish(session, st, undefined, failure('malformed-request', 'authenticate too large'));
      const ua = parseUserAgent(el);
      if (ua === 'invalid') return finish(session, st, undefined, failure('malformed-request', 'bad user-agent id'));
      st.userAgent = ua;
      // <initial-response/> present but empty is empty data; absent is no initial response.
      const payload = initial === undefined ? undefined : text === '' || text === '=' ? Buffer.alloc(0) : decodeSaslPayload(text);
      if (payload === 'invalid') return finish(session, st, undefined, failure('incorrect-encoding'));
      const name = el.attr('mechanism') ?? '';
      const ctx = auth.offerContext(session);
      const fastExchange = fast()?.start(name, ctx, ua?.id, el.getChild('fast', NS_FAST));
      if (fastExchange) {
        st.mechanism = fastExchange;
      } else {
        const started = auth.start(name, session);
        if (!started.ok) return finish(session, st, undefined, failure(started.condition, started.text));
        st.mechanism = started.mechanism;
      }
      return finish(session, st, st.mechanism, await st.mechanism.step(payload));
    }

    async function finish(session: C2SUnauthedSession, st: StreamAuth, mech: SaslServerMechanism | undefined, step: SaslStep): Promise<void> {
      if (step.kind === 'challenge') {
        if (!session.destroyed) session.send(new Element('challenge', { xmlns: NS_SASL2 }).t(step.data.toString('base64')));
        return;
      }
      st.mechanism = undefined;
      const username = step.kind === 'success' ? step.username : (step.username ?? mech?.username);
      if (!(await auth.hold(session, username, step.kind === 'success'))) return;
      const isFast = mech !== undefined && mech.name.startsWith('HT-');
      if (step.kind === 'success') {
        // Proven, but not allowed in (a disabled account): told why, no throttle.
        const refused = auth.refusal(step.username);
        if (refused) return refuse(session, st, mech?.name, step.username, refused.condition, refused.text, isFast);
        const authed = server.sessions.makeAuthenticated(session, step.username);
        if (authed) return succeed(authed, st, mech, step);
        return finish(session, st, undefined, failure('not-authorized', undefined, step.username));
      }
      refuse(session, st, mech?.name, username, step.condition, step.text, isFast);
    }

    function refuse(session: C2SUnauthedSession, st: StreamAuth, mechanism: string | undefined, username: string | undefined, condition: SaslCondition, text: string | undefined, isFast: boolean): void {
      // A disabled account's tokens were revoked: its devices' FAST attempts fail, and they are
      // the owner's devices, not guesses, so they slow nobody down (the answer stays the same).
      const throttle = !(isFast && username !== undefined && auth.isDisabled(username));
      auth.failed(session, 'sasl2', mechanism, username, condition, { throttle });
      if (isFast) fast()?.failed();
      session.send(failureElement(condition, text));
      st.failures++;
      if (st.failures >= auth.maxStreamFailures) session.close({ condition: 'policy-violation', text: 'too many failed authentication attempts' });
    }

    async function succeed(authed: C2SSession, st: StreamAuth, mech: SaslServerMechanism | undefined, step: Extract<SaslStep, { kind: 'success' }>): Promise<void> {
      const request = st.request;
      streams.delete(authed);
      if (st.userAgent) authed.userAgent = st.userAgent;
      auth.succeeded(authed, 'sasl2', mech?.name, step.username);
      const success = new Element('success', { xmlns: NS_SASL2 });
      if (step.data) success.c('additional-data').t(step.data.toString('base64'));
      const aid = success.c('authorization-identifier');

      // FAST first: a token asked for, or the rotation of the one just used.
      const f = fast();
      let token: Element | undefined;
      if (f && request) {
        const requestToken = request.getChild('request-token', NS_FAST);
        const usedFast = mech?.name.startsWith('HT-') ? (mech as FastServer) : undefined;
        const creds = requestToken && !usedFast ? await auth.credentials(step.username) : undefined;
        token = await f.afterSuccess(authed, creds, usedFast, requestToken, request.getChild('fast', NS_FAST));
      }

      // XEP-0198 inline resumption: on success the older session takes over this stream and
      // Bind2 is skipped; its <failed/> goes before <bound/> so the client resets, then enables.
      let target: C2SSession = authed;
      let after: (() => void) | undefined;
      const resume = request?.getChild('resume', NS_SM);
      const sm = smacks();
      if (resume && sm) {
        let r = sm.resumeInline(authed, resume);
        // Held by another cluster node: it answers first (the client waits for <success/>).
        if (r.kind === 'pending') r = await r.wait;
        if (r.kind === 'closed' || r.kind === 'pending') return;
        success.cnode(r.element);
        if (r.kind === 'resumed') {
          target = r.session;
          after = r.after;
        }
      }
      const bindRequest = request?.getChild('bind', NS_BIND2);
      // (A session resumed from another cluster node continues on `authed` itself: no Bind2 then either.)
      if (bindRequest && after === undefined) {
        const b = bind2(server, fire, authed, bindRequest);
        if (b.ok) success.cnode(b.bound);
        else authed.log.info({ reason: b.text }, 'Bind2 refused: the client may bind with an iq');
      }
      aid.t(isBound(target) ? target.fullJid : `${target.username}@${target.host}`);
      if (token) success.cnode(token);
      target.send(success);
      after?.();
    }
  },
});

/** XEP-0388 §: the condition in the RFC 6120 SASL namespace, the text in SASL2's. */
function failureElement(condition: SaslCondition, text?: string): Element {
  const el = new Element('failure', { xmlns: NS_SASL2 });
  el.c(condition, { xmlns: NS.sasl });
  if (text !== undefined) el.c('text').t(text);
  return el;
}
