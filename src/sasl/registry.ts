/**
 * The SASL mechanisms a host offers, as a registry that modules add to. Each provider says
 * whether it can run on a stream (`available`) and starts one exchange (`start`); the
 * registry orders the offer and picks the provider for a client's <auth mechanism='…'/>,
 * with the refusal condition (RFC 6120 §6.5) when it cannot.
 *
 * The saslauth module creates one registry per host, registers the built-ins (SCRAM, PLAIN)
 * through `register` like any other module would, and provides it as the 'sasl-mechanisms'
 * service. The registry knows nothing about streams: what it is told is the context below.
 */
import type { TLSSocket } from 'node:tls';
import type { AccountCredentials, ScramMechanismName } from '../storage/types.js';
import type { ChannelBindings } from './channel-binding.js';
import type { FakeCredentials } from './fake-credentials.js';
import type { SaslCondition, SaslServerMechanism } from './mechanism.js';

/** What a provider may look at to decide whether it is offered on a stream. */
export interface SaslOfferContext {
  /** The domain the client authenticates to. */
  readonly host: string;
  /** The stream is encrypted. */
  readonly secure: boolean;
  /** Channel-binding data this connection can provide; empty without TLS. */
  readonly bindings: ChannelBindings;
  /** The credential kinds the host stores for its accounts (`[auth] scram_hashes`). */
  readonly credentialKinds: readonly ScramMechanismName[];
  /** The TLS socket when the transport has one (e.g. for a client certificate, SASL EXTERNAL). */
  readonly tlsSocket: TLSSocket | undefined;
}

/** What a provider gets to start an exchange, once it was chosen. */
export interface SaslStartContext extends SaslOfferContext {
  /** The mechanism names offered on this stream (SCRAM's -PLUS downgrade check needs them). */
  readonly offered: readonly string[];
  /** The account's stored credentials, undefined when there is no such account. May throw SaslError. */
  credentials(username: string): Promise<AccountCredentials | undefined>;
  /** Stand-ins for unknown users, so they cost the same work as known ones. */
  readonly fake: FakeCredentials;
}

/** Why a mechanism is not run on this stream, as the client will be told. */
export interface SaslRefusal {
  condition: SaslCondition;
  text: string;
}

export interface SaslMechanismProvider {
  /** The SASL mechanism name (RFC 4422 §3.1: 1–20 of A–Z, 0–9, '-', '_'). */
  readonly name: string;
  /** Offer order: higher first; equal priorities in registration order. Built-ins use 10–60. */
  readonly priority: number;
  /**
   * The mechanism binds the exchange to the TLS channel (the -PLUS ones). With the saslauth
   * option require_channel_binding, on a connection that has a binding only these are offered.
   */
  readonly bindsChannel?: boolean;
  /**
   * Whether it is offered on this stream. `false` refuses a client asking for it anyway with
   * invalid-mechanism; a refusal says which condition and text to answer with instead.
   */
  available(ctx: SaslOfferContext): boolean | SaslRefusal;
  /** A fresh state machine for one exchange; the saslauth module feeds it <auth/> and <response/>. */
  start(ctx: SaslStartContext): SaslServerMechanism;
}

export type SaslChoice = { ok: true; provider: SaslMechanismProvider } | ({ ok: false } & SaslRefusal);

export interface SaslMechanismsOptions {
  /** Refuse mechanisms that do not bind to the channel on connections that have a binding. */
  requireChannelBinding: boolean;
  /** Where a provider that throws is reported (it is then not offered, the others still are). */
  onProviderError?: (name: string, err: unknown) => void;
}

/** RFC 4422 §3.1 sasl-mech. */
const MECHANISM_NAME = /^[A-Z0-9_-]{1,20}$/;

export class SaslMechanisms {
  private providers: SaslMechanismProvider[] = [];

  constructor(private readonly opts: SaslMechanismsOptions) {}

  /** Add a mechanism; returns the function that removes it (call it from `mod.onUnload`). */
  register(provider: SaslMechanismProvider): () => void {
    if (!MECHANISM_NAME.test(provider.name)) throw new Error(`"${provider.name}" is not a SASL mechanism name (RFC 4422 §3.1)`);
    if (this.get(provider.name)) throw new Error(`SASL mechanism ${provider.name} is already registered`);
    // A stable sort keeps equal priorities in registration order.
    this.providers = [...this.providers, provider].sort((a, b) => b.priority - a.priority);
    return () => {
      this.providers = this.providers.filter((p) => p !== provider);
    };
  }

  get(name: string): SaslMechanismProvider | undefined {
    return this.providers.find((p) => p.name === name);
  }

  /** Every registered mechanism name, in offer order. */
  get names(): string[] {
    return this.providers.map((p) => p.name);
  }

  /** The mechanism names to offer on a stream, best first. */
  offer(ctx: SaslOfferContext): string[] {
    return this.providers.filter((p) => this.check(p, ctx) === true).map((p) => p.name);
  }

  /** The provider for a requested mechanism, or the condition refusing it. */
  choose(name: string, ctx: SaslOfferContext): SaslChoice {
    const provider = this.get(name);
    const verdict = provider ? this.check(provider, ctx) : false;
    if (verdict === true && provider) return { ok: true, provider };
    if (typeof verdict === 'object') return { ok: false, ...verdict };
    return { ok: false, condition: 'invalid-mechanism', text: `${name} is not offered` };
  }

  private check(p: SaslMechanismProvider, ctx: SaslOfferContext): boolean | SaslRefusal {
    let own: boolean | SaslRefusal;
    try {
      own = p.available(ctx);
    } catch (err) {
      // One broken module's mechanism must not stop every login.
      this.opts.onProviderError?.(p.name, err);
      return false;
    }
    if (own !== true) return own;
    const bindingRequired = this.opts.requireChannelBinding && Object.keys(ctx.bindings).length > 0;
    if (bindingRequired && !p.bindsChannel) return { condition: 'mechanism-too-weak', text: 'use a -PLUS mechanism' };
    return true;
  }
}
