/**
 * SASL authentication for client streams (RFC 6120 §6): offers the mechanisms of the host's
 * registry ('sasl-mechanisms' service: SCRAM-SHA-512/256/1(-PLUS) and PLAIN built in, others
 * added by modules) in <mechanisms/>, lists the channel-binding types of the connection
 * (XEP-0440), runs the exchange and turns the session into a `c2s` one. What SASL2 shares with
 * it (context, throttle, logs, metrics) is auth-core.ts, provided as 'sasl-auth'.
 *
 * Options ([modules.saslauth]): max_failures, account_max_failures, failure_window,
 * failure_delay, max_failure_delay, max_stream_failures, allow_plain, require_channel_binding
 * (docs/configuration.md).
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { duration } from '../../core/option-schemas.js';
import type { C2SUnauthedSession, StreamSession } from '../../core/session.js';
import { Element } from '../../xml/element.js';
import { NS } from '../../xml/ns.js';
import { decodeSaslPayload, encodeSaslPayload } from '../../sasl/base64.js';
import { failure, type SaslCondition, type SaslServerMechanism, type SaslStep } from '../../sasl/mechanism.js';
import { SaslMechanisms } from '../../sasl/registry.js';
import { builtinMechanisms } from './builtins.js';
import { makeAuthCore } from './auth-core.js';

declare module '../../core/services.js' {
  interface ServiceMap {
    /** This host's SASL mechanisms: `register(provider)` adds one (src/sasl/registry.ts). */
    'sasl-mechanisms': SaslMechanisms;
  }
}

export const NS_SASL_CB = 'urn:xmpp:sasl-cb:0';

interface StreamAuth {
  mechanism: SaslServerMechanism | undefined;
  failures: number;
  /** Elements are handled one at a time: a step may wait on storage or a rate-limit delay. */
  queue: Promise<void>;
}

export default defineModule({
  name: 'saslauth',
  description: 'RFC 6120 §6 SASL: SCRAM-SHA-1/256/512(-PLUS), PLAIN; XEP-0440, XEP-0474',
  options: z.object({
    allow_plain: z.boolean().default(true),
    require_channel_binding: z.boolean().default(false),
    // RFC 6120 §6.4.5: allow a reasonable number of retries (at least 2, no more than 5).
    max_stream_failures: z.number().int().min(1).max(5).default(3),
    failure_window: duration('5 minutes'),
    /** Failures per address, and per account from one address, before answers are delayed. */
    max_failures: z.number().int().min(1).default(5),
    /** Failures per account from all addresses before its failures are delayed (distributed guessing). */
    account_max_failures: z.number().int().min(1).default(50),
    failure_delay: duration('1s'),
    max_failure_delay: duration('10s'),
  }),
  setup(mod) {
    const server = mod.server;
    const mechanisms = new SaslMechanisms({
      requireChannelBinding: mod.options.require_channel_binding,
      onProviderError: (mechanism, err) => mod.log.error({ err, mechanism }, 'a SASL mechanism failed to say whether it is offered: not offered'),
    });
    mod.provides('sasl-mechanisms', mechanisms);
    const core = makeAuthCore(mod, {
      mechanisms,
      maxStreamFailures: mod.options.max_stream_failures,
      throttle: {
        maxFailures: mod.options.max_failures,
        accountMaxFailures: mod.options.account_max_failures,
        windowMs: mod.options.failure_window,
        baseDelayMs: mod.options.failure_delay,
        maxDelayMs: mod.options.max_failure_delay,
      },
    });
    mod.provides('sasl-auth', core);
    const builtins = builtinMechanisms({ allowPlain: mod.options.allow_plain, onPlainVerified: (u, p, stored) => core.upgradeCredentials(u, p, stored) });
    for (const builtin of builtins) mod.onUnload(mechanisms.register(builtin));
    const { requireEncryption, maxStreamFailures } = core;
    const streams = new WeakMap<StreamSession, StreamAuth>();

    mod.hook('stream-features', ({ origin, features }) => {
      if (origin.type !== 'c2s_unauthed') return;
      // RFC 6120 §5.3.1: with TLS mandatory, SASL is offered only on the encrypted stream.
      if (requireEncryption && !origin.secure) return;
      const sec = core.offerContext(origin);
      const names = mechanisms.offer(sec);
      if (names.length === 0) return;
      const offer = features.c('mechanisms', { xmlns: NS.sasl });
      for (const name of names) offer.c('mechanism').t(name);
      const types = core.bindingTypes(sec);
      if (types.length > 0) {
        const cb = features.c('sasl-channel-binding', { xmlns: NS_SASL_CB });
        for (const type of types) cb.c('channel-binding', { type });
      }
    });

    mod.hook('stream-element', ({ origin, element }) => {
      if (element.xmlns !== NS.sasl || !['auth', 'response', 'abort'].includes(element.name)) return;
      if (origin.type === 'c2s') {
        // After <success/> the restarted stream no longer offers SASL (RFC 6120 §6.4.6), and
        // RFC 6120 has no re-authentication: an <auth/> here uses a feature that was not
        // offered, which we treat as a violation of local policy and close the stream.
        origin.close({ condition: 'policy-violation', text: 'already authenticated' });
        return true;
      }
      if (origin.type !== 'c2s_unauthed') return;
      let state = streams.get(origin);
      if (!state) {
        state = { mechanism: undefined, failures: 0, queue: Promise.resolve() };
        streams.set(origin, state);
      }
      const st = state;
      st.queue = st.queue
        .then(() => handle(origin, st, element))
        .catch((err: unknown) => {
          origin.log.error({ err }, 'SASL handling failed');
          st.mechanism = undefined;
          if (!origin.destroyed) origin.send(failureElement('temporary-auth-failure'));
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
      const payload = decodeSaslPayload(el.getText());
      if (el.name === 'auth') {
        st.mechanism = undefined;
        if (requireEncryption && !session.secure) {
          return finish(session, st, undefined, failure('encryption-required', 'start TLS first'));
        }
        const started = core.start(el.attr('mechanism') ?? '', session);
        if (!started.ok) return finish(session, st, undefined, failure(started.condition, started.text));
        if (payload === 'invalid') return finish(session, st, undefined, failure('incorrect-encoding'));
        st.mechanism = started.mechanism;
        return finish(session, st, st.mechanism, await st.mechanism.step(payload));
      }
      // <response/>
      const mech = st.mechanism;
      if (!mech) return finish(session, st, undefined, failure('malformed-request', 'no authentication in progress'));
      if (payload === 'invalid') return finish(session, st, mech, failure('incorrect-encoding'));
      return finish(session, st, mech, await mech.step(payload ?? Buffer.alloc(0)));
    }

    async function finish(session: C2SUnauthedSession, st: StreamAuth, mech: SaslServerMechanism | undefined, step: SaslStep): Promise<void> {
      if (step.kind === 'challenge') {
        if (!session.destroyed) session.send(new Element('challenge', { xmlns: NS.sasl }).t(step.data.length ? step.data.toString('base64') : ''));
        return;
      }
      st.mechanism = undefined;
      const username = step.kind === 'success' ? step.username : (step.username ?? mech?.username);
      // The throttle decides (throttle.ts): an address that failed waits, success or not.
      if (!(await core.hold(session, username, step.kind === 'success'))) return;
      const mechanism = mech?.name;

      if (step.kind === 'success') {
        // Proven, but not allowed in (a disabled account): told why, no throttle.
        const refused = core.refusal(step.username);
        if (refused) return refuse(session, st, mechanism, step.username, refused.condition, refused.text);
        const authed = server.sessions.makeAuthenticated(session, step.username);
        if (authed) {
          core.succeeded(authed, 'sasl', mechanism, step.username);
          const success = new Element('success', { xmlns: NS.sasl });
          if (step.data) success.t(encodeSaslPayload(step.data));
          authed.send(success);
          authed.resetStream();
          streams.delete(session);
          return;
        }
        return finish(session, st, undefined, failure('not-authorized', undefined, step.username));
      }

      refuse(session, st, mechanism, username, step.condition, step.text);
    }

    function refuse(session: C2SUnauthedSession, st: StreamAuth, mechanism: string | undefined, username: string | undefined, condition: SaslCondition, text: string | undefined): void {
      core.failed(session, 'sasl', mechanism, username, condition);
      session.send(failureElement(condition, text));
      st.failures++;
      if (st.failures >= maxStreamFailures) {
        // RFC 6120 §6.4.5: past the retries allowed, close with a policy-violation stream error.
        session.close({ condition: 'policy-violation', text: 'too many failed authentication attempts' });
      }
    }
  },
});

export function failureElement(condition: SaslCondition, text?: string): Element {
  const el = new Element('failure', { xmlns: NS.sasl });
  el.c(condition);
  if (text !== undefined) el.c('text', { 'xml:lang': 'en' }).t(text);
  return el;
}
