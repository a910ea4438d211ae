/**
 * What every client authentication on a host shares, whichever protocol carries it (RFC 6120
 * SASL here, XEP-0388 SASL2 in the sasl2 module): the mechanism registry and the context a
 * mechanism sees, credential lookups, stand-in credentials, the failure throttle, the log lines
 * and the metrics. The saslauth module makes one per host and provides it as 'sasl-auth', so
 * SASL2 (and FAST in it) cannot drift from SASL in what is offered, what is slowed down and
 * what is counted.
 */
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { C2SUnauthedSession, StreamSession } from '../../core/session.js';
import type { ModuleApi } from '../../core/modules.js';
import { serverChannelBindings, CHANNEL_BINDING_TYPES, type ChannelBindings, type ChannelBindingType } from '../../sasl/channel-binding.js';
import { FakeCredentials } from '../../sasl/fake-credentials.js';
import type { SaslCondition, SaslServerMechanism } from '../../sasl/mechanism.js';
import { makeCredentialsAsync, mechanismName } from '../../sasl/scram-credentials.js';
import type { SaslMechanisms, SaslOfferContext } from '../../sasl/registry.js';
import type { AccountCredentials } from '../../storage/types.js';
import { RedisBucketStore } from '../limits/redis-bucket-store.js';
import { AuthThrottle, type ThrottleOptions } from './throttle.js';

/** Conditions that mean "wrong credentials": these feed the throttle. */
export const CREDENTIAL_FAILURES: ReadonlySet<SaslCondition> = new Set(['not-authorized', 'invalid-authzid', 'credentials-expired']);

export type AuthProtocol = 'sasl' | 'sasl2';

export interface SaslAuthService {
  readonly mechanisms: SaslMechanisms;
  readonly requireEncryption: boolean;
  /** RFC 6120 §6.4.5 retries per stream; SASL2 uses the same number. */
  readonly maxStreamFailures: number;
  readonly fake: FakeCredentials;
  /** What a mechanism provider sees of this stream. */
  offerContext(session: StreamSession): SaslOfferContext;
  /** The binding types the stream can offer (XEP-0440), computing no value. */
  bindingTypes(ctx: SaslOfferContext): ChannelBindingType[];
  /** The account's stored credentials; may throw SaslError (e.g. account-disabled). */
  credentials(username: string): Promise<AccountCredentials | undefined>;
  /** Pick and start a registered mechanism for this stream, or say why not. */
  start(name: string, session: StreamSession): { ok: true; mechanism: SaslServerMechanism; ctx: SaslOfferContext } | { ok: false; condition: SaslCondition; text: string };
  /**
   * Hold back the answer as the throttle says (see throttle.ts). Resolves to false when the
   * session is gone or authenticated meanwhile: then nothing is to be sent.
   */
  hold(session: C2SUnauthedSession, username: string | undefined, success: boolean): Promise<boolean>;
  succeeded(session: StreamSession, protocol: AuthProtocol, mechanism: string | undefined, username: string): void;
  /**
   * `throttle: false` for a failure that must not slow anyone down (a disabled account's stale
   * FAST token: the owner's device, not a guess).
   */
  failed(session: StreamSession, protocol: AuthProtocol, mechanism: string | undefined, username: string | undefined, condition: SaslCondition, opts?: { throttle?: boolean }): void;
  /**
   * Why an account may not log in although it is who it says (RFC 6120 §6.5.1
   * `account-disabled`), or undefined. Asked only after the credentials were proven, so the
   * account's state is never told to someone guessing; such a failure does not feed the throttle.
   */
  refusal(username: string): { condition: SaslCondition; text: string } | undefined;
  /** Whether the account is disabled (the account_state module; false without it). */
  isDisabled(username: string): boolean;
  /**
   * A password that was just verified in plain text (PLAIN over TLS): derive the configured
   * SCRAM hashes the account lacks (accounts imported with only SHA-1 gain SHA-256/512).
   * Runs in the background; never fails a login.
   */
  upgradeCredentials(username: string, password: string, stored: AccountCredentials): void;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    'sasl-auth': SaslAuthService;
  }
}

export interface AuthCoreOptions {
  mechanisms: SaslMechanisms;
  maxStreamFailures: number;
  throttle: Omit<ThrottleOptions, 'now'>;
}

export function makeAuthCore(mod: ModuleApi, opts: AuthCoreOptions): SaslAuthService {
  const server = mod.server;
  const host = mod.host;
  const { mechanisms } = opts;
  const { scram_hashes: hashes, scram_iterations: iterations } = server.config.auth;
  const credentialKinds = hashes.map(mechanismName);
  const fake = new FakeCredentials(iterations);
  // In a Redis cluster failures count on every node (throttle.ts). Connected now, not at the first
  // answer: an answer waits for Redis briefly only, and a connection being made takes longer.
  const redisUrl = server.config.cluster.redis;
  const store = redisUrl === undefined ? undefined : new RedisBucketStore(redisUrl, mod.log);
  if (store) {
    store.connectSoon();
    mod.onUnload(() => store.close());
  }
  const throttle = new AuthThrottle({ ...opts.throttle, now: () => mod.now(), shared: store && { store, prefix: `auth:${host}:` } });
  mod.setInterval(() => throttle.sweep(), Math.max(1000, opts.throttle.windowMs));
  const configuredCertDer = certificateDer(server.tls.forDomain(host)?.certificatePem);
  const bindingCache = new WeakMap<TLSSocket, ChannelBindings>();
  const metrics = {
    authentications: mod.measure.counter('saslauth_authentications_total', 'SASL authentications by mechanism ("none" when refused before one ran) and result', ['mechanism', 'result']),
    byProtocol: mod.measure.counter('saslauth_protocol_authentications_total', 'Authentications by protocol (sasl, sasl2) and result', ['protocol', 'result']),
    throttled: mod.measure.counter('saslauth_throttled_total', 'Answers held back after failed authentications, by the key that decided the delay (ip, pair, account)', ['key']),
    sharedReads: mod.measure.counter('saslauth_throttle_reads_total', 'In a Redis cluster, answers decided on the counts of every node (shared) or, Redis being away or slow, of this node (local)', ['result']),
    upgrades: mod.measure.counter('saslauth_credential_upgrades_total', 'Accounts that gained SCRAM hashes at a PLAIN login'),
  };

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
  const upgrading = new Set<string>();
  // Optional: without the account_state module no account is ever disabled.
  const isDisabled = (username: string): boolean => mod.optional('accounts-state')?.isDisabled(username) ?? false;

  // Clustered: one Redis call for the counts of every node (bounded; local counts otherwise).
  const sharedDelay = async (ip: string, username: string | undefined, success: boolean) => {
    const decision = await throttle.delayShared(ip, username, success);
    metrics.sharedReads.inc({ result: decision.shared ? 'shared' : 'local' });
    return decision;
  };

  return {
    mechanisms,
    requireEncryption: server.config.c2s.require_encryption,
    maxStreamFailures: opts.maxStreamFailures,
    fake,
    offerContext,
    bindingTypes: (ctx) => CHANNEL_BINDING_TYPES.filter((t) => t in ctx.bindings),
    credentials,
    start(name, session) {
      const ctx = offerContext(session);
      const choice = mechanisms.choose(name, ctx);
      if (!choice.ok) return choice;
      return { ok: true, ctx, mechanism: choice.provider.start({ ...ctx, offered: mechanisms.offer(ctx), credentials, fake }) };
    },
    async hold(session, username, success) {
      const { ms, key } = throttle.isShared ? await sharedDelay(session.ip, username, success) : throttle.delay(session.ip, username, success);
      if (ms > 0 && key !== undefined) {
        metrics.throttled.inc({ key });
        await new Promise<void>((r) => mod.setTimeout(r, ms));
      }
      return !session.destroyed && session.type === 'c2s_unauthed';
    },
    succeeded(session, protocol, mechanism, username) {
      session.log.info({ ip: session.ip, username, mechanism, protocol }, 'authenticated');
      metrics.authentications.inc({ mechanism: mechanism ?? 'none', result: 'success' });
      metrics.byProtocol.inc({ protocol, result: 'success' });
    },
    failed(session, protocol, mechanism, username, condition, failOpts) {
      session.log.info({ ip: session.ip, username, mechanism, protocol, condition }, 'authentication failed');
      metrics.authentications.inc({ mechanism: mechanism ?? 'none', result: 'failure' });
      metrics.byProtocol.inc({ protocol, result: 'failure' });
      if (!CREDENTIAL_FAILURES.has(condition) || failOpts?.throttle === false) return;
      for (const { key, count } of throttle.failed(session.ip, username)) {
        session.log.warn({ ip: session.ip, username, failures: count, key }, 'too many failed authentications: answers are now delayed');
      }
    },
    refusal(username) {
      return mod.optional('accounts-state')?.refusesLogin(username) ? { condition: 'account-disabled', text: 'this account is disabled; ask the server administrator' } : undefined;
    },
    isDisabled,
    upgradeCredentials(username, password, stored) {
      const missing = hashes.filter((hash) => stored[mechanismName(hash)] === undefined);
      if (missing.length === 0 || upgrading.has(username)) return;
      upgrading.add(username);
      void (async () => {
        try {
          const added = await makeCredentialsAsync(password, { iterations, hashes: missing });
          // Only if nothing changed meanwhile (a password change must not be undone).
          const now = await credentials(username);
          if (!now || JSON.stringify(now) !== JSON.stringify(stored)) return;
          await server.storage.accounts.setCredentials(host, username, { ...stored, ...added });
          metrics.upgrades.inc();
          mod.log.info({ username, added: missing }, 'stored password hashes upgraded at login');
        } catch (err) {
          mod.log.warn({ err, username }, 'could not upgrade stored password hashes');
        } finally {
          upgrading.delete(username);
        }
      })();
    },
  };
}

function certificateDer(pem: string | undefined): Buffer | undefined {
  if (pem === undefined) return undefined;
  try {
    return new X509Certificate(pem).raw;
  } catch {
    return undefined;
  }
}
