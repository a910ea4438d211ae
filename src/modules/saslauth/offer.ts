/**
 * Which SASL mechanisms a client stream is offered, and why a requested one is refused.
 * Pure, so the policy is testable without a connection.
 */
import type { ScramHash } from '../../sasl/scram-credentials.js';
import type { ChannelBindings } from '../../sasl/channel-binding.js';
import type { SaslCondition } from '../../sasl/mechanism.js';

export interface OfferPolicy {
  /** `[auth] scram_hashes`. */
  hashes: readonly ScramHash[];
  allowPlain: boolean;
  /** Refuse mechanisms without channel binding on connections that have one. */
  requireChannelBinding: boolean;
}

export interface StreamSecurity {
  secure: boolean;
  bindings: ChannelBindings;
}

const STRONGEST_FIRST: readonly ScramHash[] = ['SHA-256', 'SHA-1'];

export type MechanismChoice =
  | { ok: true; kind: 'scram'; hash: ScramHash; plus: boolean }
  | { ok: true; kind: 'plain' }
  | { ok: false; condition: SaslCondition; text: string };

/** The mechanism names to offer, best first. */
export function offeredMechanisms(policy: OfferPolicy, sec: StreamSecurity): string[] {
  const hashes = STRONGEST_FIRST.filter((h) => policy.hashes.includes(h));
  const hasBinding = Object.keys(sec.bindings).length > 0;
  const out: string[] = [];
  if (hasBinding) for (const h of hashes) out.push(`SCRAM-${h}-PLUS`);
  if (policy.requireChannelBinding && hasBinding) return out;
  for (const h of hashes) out.push(`SCRAM-${h}`);
  if (policy.allowPlain && sec.secure) out.push('PLAIN');
  return out;
}

/** What to run for a requested mechanism name, or the RFC 6120 §6.5 condition refusing it. */
export function chooseMechanism(name: string, policy: OfferPolicy, sec: StreamSecurity): MechanismChoice {
  const hasBinding = Object.keys(sec.bindings).length > 0;
  const tooWeak = policy.requireChannelBinding && hasBinding;
  if (name === 'PLAIN') {
    if (!policy.allowPlain) return { ok: false, condition: 'invalid-mechanism', text: 'PLAIN is disabled' };
    if (!sec.secure) return { ok: false, condition: 'encryption-required', text: 'PLAIN needs an encrypted stream' };
    if (tooWeak) return { ok: false, condition: 'mechanism-too-weak', text: 'use a -PLUS mechanism' };
    return { ok: true, kind: 'plain' };
  }
  const m = /^SCRAM-(SHA-1|SHA-256)(-PLUS)?$/.exec(name);
  const hash = m?.[1] as ScramHash | undefined;
  if (!m || hash === undefined || !policy.hashes.includes(hash)) return { ok: false, condition: 'invalid-mechanism', text: `${name} is not offered` };
  const plus = m[2] !== undefined;
  if (plus && !hasBinding) return { ok: false, condition: 'invalid-mechanism', text: 'no channel binding on this connection' };
  if (!plus && tooWeak) return { ok: false, condition: 'mechanism-too-weak', text: 'use a -PLUS mechanism' };
  return { ok: true, kind: 'scram', hash, plus };
}
