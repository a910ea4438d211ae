/**
 * The mechanisms every host has: SCRAM-SHA-512/256/1 (each offered when `[auth] scram_hashes` stores it) with and without -PLUS, and PLAIN. The
 * saslauth module registers them in the host's registry like any module adds its own; their
 * priorities give the offer order -PLUS first, then SCRAM by strength, PLAIN last.
 */
import { mechanismName, type ScramHash } from '../../sasl/scram-credentials.js';
import { ScramServer, ssdpInput } from '../../sasl/scram.js';
import { CHANNEL_BINDING_TYPES } from '../../sasl/channel-binding.js';
import { PlainServer } from '../../sasl/plain.js';
import type { SaslMechanismProvider } from '../../sasl/registry.js';
import type { AccountCredentials } from '../../storage/types.js';

export interface BuiltinOptions {
  /** The saslauth option allow_plain. */
  allowPlain: boolean;
  /** A PLAIN password was verified: the stored hashes may be upgraded (auth-core.ts). */
  onPlainVerified?: (username: string, password: string, stored: AccountCredentials) => void;
}

const PRIORITY: Record<`${ScramHash}${'' | '-PLUS'}`, number> = {
  'SHA-512-PLUS': 65,
  'SHA-256-PLUS': 60,
  'SHA-1-PLUS': 50,
  'SHA-512': 45,
  'SHA-256': 40,
  'SHA-1': 30,
};
const PLAIN_PRIORITY = 10;

function scram(hash: ScramHash, plus: boolean): SaslMechanismProvider {
  const stored = mechanismName(hash);
  return {
    name: `SCRAM-${hash}${plus ? '-PLUS' : ''}`,
    priority: PRIORITY[`${hash}${plus ? '-PLUS' : ''}`],
    bindsChannel: plus,
    available(ctx) {
      // Only the hashes the host derives credentials for (`[auth] scram_hashes`).
      if (!ctx.credentialKinds.includes(stored)) return false;
      if (plus && Object.keys(ctx.bindings).length === 0) return { condition: 'invalid-mechanism', text: 'no channel binding on this connection' };
      return true;
    },
    start(ctx) {
      return new ScramServer({
        hash,
        plus,
        host: ctx.host,
        fake: ctx.fake,
        channelBindings: ctx.bindings,
        plusOffered: ctx.offered.some((m) => m.startsWith('SCRAM-') && m.endsWith('-PLUS')),
        // XEP-0474: what this stream advertised (no binding value is computed by `in`).
        advertised: ssdpInput(ctx.offered, CHANNEL_BINDING_TYPES.filter((t) => t in ctx.bindings)),
        lookup: async (username) => (await ctx.credentials(username))?.[stored],
      });
    },
  };
}

function plain(opts: BuiltinOptions): SaslMechanismProvider {
  return {
    name: 'PLAIN',
    priority: PLAIN_PRIORITY,
    available(ctx) {
      if (!opts.allowPlain) return { condition: 'invalid-mechanism', text: 'PLAIN is disabled' };
      if (!ctx.secure) return { condition: 'encryption-required', text: 'PLAIN needs an encrypted stream' };
      return true;
    },
    start(ctx) {
      return new PlainServer({ host: ctx.host, fake: ctx.fake, lookup: (username) => ctx.credentials(username), onVerified: opts.onPlainVerified });
    },
  };
}

export function builtinMechanisms(opts: BuiltinOptions): SaslMechanismProvider[] {
  return [scram('SHA-512', true), scram('SHA-256', true), scram('SHA-1', true), scram('SHA-512', false), scram('SHA-256', false), scram('SHA-1', false), plain(opts)];
}
