/**
 * One FAST login (XEP-0484) as a SASL mechanism exchange: the HT-* message (ht.ts) checked
 * against the device's token record (tokens.ts). The SASL2 module runs it like any mechanism;
 * on success `verified` says which token matched, for the rotation that follows.
 */
import { failure, failureFromError, prepareSaslUsername, type SaslServerMechanism, type SaslStep } from '../../sasl/mechanism.js';
import type { AccountCredentials } from '../../storage/types.js';
import { bindingOf, parseHtMessage, proofMatches, responderProof, type FastMechanism } from './ht.js';
import { candidates, credentialFingerprint, recordId, type TokenStore } from './tokens.js';
import type { ChannelBindings } from '../../sasl/channel-binding.js';

export interface FastServerOptions {
  mechanism: FastMechanism;
  store: TokenStore;
  /** The device's user-agent id; a token is looked up by it. */
  userAgentId: string | undefined;
  /** XEP-0484 `count` from the client's <fast/>, when it sent one. */
  count: number | undefined;
  bindings: ChannelBindings;
  credentials(username: string): Promise<AccountCredentials | undefined>;
  now(): number;
}

export interface FastVerified {
  username: string;
  id: string;
  /** The digest that matched (base64), to rotate from. */
  usedKey: string;
  count: number | undefined;
}

export class FastServer implements SaslServerMechanism {
  readonly name: FastMechanism;
  private claimed: string | undefined;
  private done = false;
  verified: FastVerified | undefined;

  constructor(private readonly opts: FastServerOptions) {
    this.name = opts.mechanism;
  }

  get username(): string | undefined {
    return this.claimed;
  }

  async step(message: Buffer | undefined): Promise<SaslStep> {
    if (this.done) return failure('malformed-request', 'the exchange is over');
    this.done = true;
    if (message === undefined) return failure('malformed-request', `${this.name} needs an initial response`);
    const parsed = parseHtMessage(message);
    if (!parsed) return failure('malformed-request', `expected authcid NUL a 32-byte HMAC`);
    const username = prepareSaslUsername(parsed.authcid);
    if (username === undefined) return failure('not-authorized');
    this.claimed = username;
    const fail = (text: string) => failure('not-authorized', text, username);
    const { opts } = this;
    if (opts.userAgentId === undefined) return fail('FAST needs the <user-agent id> the token was issued to');
    let creds: AccountCredentials | undefined;
    try {
      creds = await opts.credentials(username);
    } catch (err) {
      return failureFromError(err, username);
    }
    const id = recordId(opts.userAgentId);
    const record = creds ? await opts.store.get(username, id) : undefined;
    // One answer for "no account", "no token" and "wrong token": nothing to learn from it.
    if (!creds || !record) return fail('invalid token');
    if (record.credentials !== credentialFingerprint(creds)) return fail('invalid token');
    if (record.mechanism !== this.name) return fail('the token was issued for another mechanism');
    const type = bindingOf(this.name);
    const cbData = type === undefined ? Buffer.alloc(0) : opts.bindings[type];
    if (cbData === undefined) return failure('malformed-request', `no ${type ?? ''} channel binding on this connection`, username);
    const match = candidates(record, opts.now()).find((c) => proofMatches(c.key, cbData, parsed.proof));
    if (!match) return fail('invalid token');
    if (match.expired) return failure('credentials-expired', 'the token has expired', username);
    // XEP-0484 replay protection: each use carries a higher count than the last.
    if (opts.count !== undefined && opts.count <= record.count) return fail('replayed: the count was used before');
    this.verified = { username, id, usedKey: match.key.toString('base64'), count: opts.count };
    return { kind: 'success', username, data: responderProof(match.key, cbData) };
  }
}
