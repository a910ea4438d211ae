/**
 * SASL authentication for client streams (RFC 6120 §6): offers the mechanisms of the host's
 * registry ('sasl-mechanisms' service: SCRAM-SHA-256/1(-PLUS) and PLAIN built in, others added
 * by modules) in <mechanisms/>, lists the channel-binding types of the connection (XEP-0440),
 * runs the exchange and turns the session into a `c2s` one.
 *
 * Options ([modules.saslauth]): max_failures, failure_window, failure_delay,
 * max_failure_delay, max_stream_failures, allow_plain, require_channel_binding
 * (docs/configuration.md).
 */
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { duration } from '../../core/option-schemas.js';
import type { C2SUnauthedSession, StreamSession } from '../../core/session.js';
import { Element } from '../../xml/element.js';
import { NS } from '../../xml/ns.js';
import { serverChannelBindings, CHANNEL_BINDING_TYPES, type ChannelBindings } from '../../sasl/channel-binding.js';
import { FakeCredentials } from '../../sasl/fake-credentials.js';
import { decodeSaslPayload, encodeSaslPayload } from '../../sasl/base64.js';
import { failure, type SaslCondition, type SaslServerMechanism, type SaslStep } from '../../sasl/mechanism.js';
import { mechanismName } from '../../sasl/scram-credentials.js';
import { SaslMechanisms, type SaslOfferContext } from '../../sasl/registry.js';
import { builtinMechanisms } from './builtins.js';
import { FailureLimiter } from './rate-limit.js';

declare module '../../core/services.js' {
  interface ServiceMap {
    /** This host's SASL mechanisms: `register(provider)` adds one (src/sasl/registry.ts). */
    'sasl-mechanisms': SaslMechanisms;
  }
}

export const NS_SASL_CB = 'urn:xmpp:sasl-cb:0';

/** Conditions that mean "wrong credentials": these feed the rate limiter. */
const CREDENTIAL_FAILURES: ReadonlySet<SaslCondition> = new Set(['not-authorized', 'invalid-authzid']);

interface StreamAuth {
  mechanism: SaslServerMechanism | undefined;
  failures: number;
  /** Elements are handled one at a time: a step may wait on storage or a rate-limit delay. */
  queue: Promise<void>;
}

export default defineModule({
  name: 'saslauth',
  description: 'RFC 6120 §6 SASL: SCRAM-SHA-1/256(-PLUS), PLAIN; XEP-0440',
  options: z.object({
    allow_plain: z.boolean().default(true),
    require_channel_binding: z.boolean().default(false),
    // RFC 6120 §6.4.5: allow a reasonable number of retries (at least 2, no more than 5).
    max_stream_failures: z.number().int().min(1).max(5).default(3),
    failure_window: duration('5 minutes'),
    max_failures: z.number().int().min(1).default(5),
    failure_delay: duration('1s'),
    max_failure_delay: duration('10s'),
  }),
  setup(mod) {
    const server = mod.server;
    const host = mod.host;
    const requireEncryption = server.config.c2s.require_encryption;
    const credentialKinds = server.config.auth.scram_hashes.map(mechanismName);
    const mechanisms = new SaslMechanisms({
      requireChannelBinding: mod.options.require_channel_binding,
      onProviderError: (mechanism, err) => mod.log.error({ err, mechanism }, 'a SASL mechanism failed to say whether it is offered: not offered'),
    });
    for (const builtin of builtinMechanisms({ allowPlain: mod.options.allow_plain })) mod.onUnload(mechanisms.register(builtin));
    mod.provides('sasl-mechanisms', mechanisms);
    // RFC 6120 §6.4.5: allow a reasonable number of retries (at least 2, no more than 5).
    const maxStreamFailures = mod.options.max_stream_failures;
    const windowMs = mod.options.failure_window;
    const limiter = new FailureLimiter({
      maxFailures: mod.options.max_failures,
      windowMs,
      baseDelayMs: mod.options.failure_delay,
      maxDelayMs: mod.options.max_failure_delay,
    });
    mod.setInterval(() => limiter.sweep(), Math.max(1000, windowMs));
    const fake = new FakeCredentials(server.config.auth.scram_iterations);
    const configuredCertDer = certificateDer(server.tls.forDomain(host)?.certificatePem);
    const bindingCache = new WeakMap<TLSSocket, ChannelBindings>();
    const streams = new WeakMap<StreamSession, StreamAuth>();
    const authentications = mod.measure.counter('saslauth_authentications_total', 'SASL authentications by mechanism ("none" when refused before one ran) and result', ['mechanism', 'result']);

    // `[auth] channel_binding` (per host: `[[virtualhost]] channel_binding`): off, no binding type
    // is offered, so no -PLUS mechanism either, and a client's "y" flag is accepted (RFC 5802 §6).
    const channelBinding = mod.context?.settings.channel_binding ?? server.config.auth.channel_binding;
    if (!channelBinding) mod.log.info('channel binding is off for this host: SCRAM-*-PLUS is not offered');
    const offerContext = (session: StreamSession): SaslOfferContext => {
      const socket = session.conn.tlsSocket;
      let bindings: ChannelBindings = {};
      if (socket && session.secure && channelBinding) {
        bindings = bindingCache.get(socket) ?? serverChannelBindings(socket, configuredCertDer);
        bindingCache.set(socket, bindings);
      }
      return { host, secure: session.secure, bindings, credentialKinds, tlsSocket: socket };
    };
    const credentials = async (username: string) => (await server.storage.accounts.get(host, username))?.credentials;

    mod.hook('stream-features', ({ origin, features }) => {
      if (origin.type !== 'c2s_unauthed') return;
      // RFC 6120 §5.3.1: with TLS mandatory, SASL is offered only on the encrypted stream.
      if (requireEncryption && !origin.secure) return;
      const sec = offerContext(origin);
      const names = mechanisms.offer(sec);
      if (names.length === 0) return;
      const offer = features.c('mechanisms', { xmlns: NS.sasl });
      for (const name of names) offer.c('mechanism').t(name);
      const types = CHANNEL_BINDING_TYPES.filter((t) => t in sec.bindings); // no value computed
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
        const name = el.attr('mechanism') ?? '';
        const ctx = offerContext(session);
        const choice = mechanisms.choose(name, ctx);
        if (!choice.ok) return finish(session, st, undefined, failure(choice.condition, choice.text));
        if (payload === 'invalid') return finish(session, st, undefined, failure('incorrect-encoding'));
        st.mechanism = choice.provider.start({ ...ctx, offered: mechanisms.offer(ctx), credentials, fake });
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
      const ipKey = `ip:${session.ip}`;
      const userKey = username === undefined ? undefined : `user:${username}`;
      // Hold back the answer — success too, or a client could treat "no answer yet" as a
      // failure and keep guessing in parallel — while this address or account is over the limit.
      const delay = Math.max(limiter.delayFor(ipKey), userKey ? limiter.delayFor(userKey) : 0);
      if (delay > 0) await new Promise<void>((r) => mod.setTimeout(r, delay));
      if (session.destroyed || session.type !== 'c2s_unauthed') return;
      const mechanism = mech?.name;

      if (step.kind === 'success') {
        const authed = server.sessions.makeAuthenticated(session, step.username);
        if (authed) {
          session.log.info({ ip: session.ip, username: step.username, mechanism }, 'authenticated');
          authentications.inc({ mechanism: mechanism ?? 'none', result: 'success' });
          const success = new Element('success', { xmlns: NS.sasl });
          if (step.data) success.t(encodeSaslPayload(step.data));
          authed.send(success);
          authed.resetStream();
          streams.delete(session);
          return;
        }
        return finish(session, st, undefined, failure('not-authorized', undefined, step.username));
      }

      session.log.info({ ip: session.ip, username, mechanism, condition: step.condition }, 'authentication failed');
      authentications.inc({ mechanism: mechanism ?? 'none', result: 'failure' });
      if (CREDENTIAL_FAILURES.has(step.condition)) {
        for (const key of userKey ? [ipKey, userKey] : [ipKey]) {
          const { count, warn } = limiter.record(key);
          if (warn) session.log.warn({ ip: session.ip, username, failures: count, key }, 'too many failed authentications: answers are now delayed');
        }
      }
      session.send(failureElement(step.condition, step.text));
      st.failures++;
      if (st.failures >= maxStreamFailures) {
        // RFC 6120 §6.4.5: past the retries allowed, close with a policy-violation stream error.
        session.close({ condition: 'policy-violation', text: 'too many failed authentication attempts' });
      }
    }
  },
});

function failureElement(condition: SaslCondition, text?: string): Element {
  const el = new Element('failure', { xmlns: NS.sasl });
  el.c(condition);
  if (text !== undefined) el.c('text', { 'xml:lang': 'en' }).t(text);
  return el;
}

function certificateDer(pem: string | undefined): Buffer | undefined {
  if (pem === undefined) return undefined;
  try {
    return new X509Certificate(pem).raw;
  } catch {
    return undefined;
  }
}
