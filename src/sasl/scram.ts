/**
 * Server side of SCRAM (RFC 5802) with SHA-1, SHA-256 (RFC 7677) and SHA-512, with and without channel
 * binding (-PLUS). One instance is one exchange:
 *
 *   client-first  →  server-first  (challenge: nonce, salt, iterations)
 *   client-final  →  server-final  (success: v=ServerSignature)
 *
 * The server holds only StoredKey and ServerKey, so it verifies the client's proof by
 * recovering ClientKey = proof XOR HMAC(StoredKey, AuthMessage) and checking H(ClientKey).
 * An unknown user gets stand-in credentials (fake-credentials.ts) and the same exchange, so
 * the answer, the salt and the work done do not reveal whether the account exists.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { ScramCredential } from '../storage/types.js';
import { h, hmac, type ScramHash } from './scram-credentials.js';
import type { FakeCredentials } from './fake-credentials.js';
import { decodeBase64Strict } from './base64.js';
import { authzidIsSelf, failure, failureFromError, prepareSaslUsername, type SaslServerMechanism, type SaslStep } from './mechanism.js';
import type { ChannelBindings, ChannelBindingType } from './channel-binding.js';

export interface ScramServerOptions {
  hash: ScramHash;
  /** The -PLUS variant: the client must bind to the channel. */
  plus: boolean;
  /** The domain the client authenticates to (an authzid must be the user's JID there). */
  host: string;
  /** The stored credential for this hash, or undefined when there is none. May throw SaslError. */
  lookup(username: string): Promise<ScramCredential | undefined>;
  fake: FakeCredentials;
  /** Channel-binding data this connection can provide. */
  channelBindings?: ChannelBindings;
  /**
   * Whether -PLUS was offered to this client (RFC 5802 §6 downgrade check on "y").
   * Default: whenever some channel binding is available.
   */
  plusOffered?: boolean;
  /**
   * XEP-0474 downgrade protection: what this stream advertised, as `ssdpInput` makes it. The
   * server-first message then carries `h=` (base64 of H(this), H the mechanism's hash), so a
   * client that saw a shorter list (a mechanism or binding type stripped on the way) notices.
   */
  advertised?: string;
  /** The server's part of the nonce; default 24 random bytes in base64. Tests inject RFC values. */
  serverNonce?: () => string;
}

/** RFC 4790 §9.3 "i;octet": compare the octets (the names here are ASCII, so UTF-8 is theirs). */
function octetOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * XEP-0474 (0.5.0) §5.1: the text both sides hash. The advertised mechanism names sorted by
 * i;octet and joined by %x1E; when channel-binding types were advertised (XEP-0440), %x1F and
 * the types, sorted and joined by %x1E the same way. (Both delimiters cannot occur in XML.)
 */
export function ssdpInput(mechanisms: readonly string[], bindingTypes: readonly string[]): string {
  const list = (names: readonly string[]) => [...names].sort(octetOrder).join('\x1e');
  return bindingTypes.length === 0 ? list(mechanisms) : `${list(mechanisms)}\x1f${list(bindingTypes)}`;
}

/** RFC 5802 §7: cb-name = 1*(ALPHA / DIGIT / "." / "-"). */
const CB_NAME = /^[A-Za-z0-9.-]+$/;
/** printable = %x21-2B / %x2D-7E (no comma). */
const NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;
/** Well above any real message; the stream limits cap the total anyway. */
const MAX_MESSAGE_BYTES = 8192;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** RFC 5802 §5.1 saslname: "=2C" is ',' and "=3D" is '='; any other '=' is an error. */
export function decodeSaslname(value: string): string | undefined {
  if (value === '' || value.includes(',')) return undefined;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch !== '=') {
      out += ch;
      continue;
    }
    const esc = value.slice(i + 1, i + 3);
    if (esc === '2C') out += ',';
    else if (esc === '3D') out += '=';
    else return undefined;
    i += 2;
  }
  return out;
}

/** The inverse of {@link decodeSaslname}, for clients and tests. */
export function encodeSaslname(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) ^ (b[i] as number);
  return out;
}

type State =
  | { at: 'start' }
  | {
      at: 'client-final';
      username: string;
      known: boolean;
      credential: ScramCredential;
      gs2Header: string;
      cbType: ChannelBindingType | undefined;
      nonce: string;
      clientFirstBare: string;
      serverFirst: string;
    }
  | { at: 'done' };

export class ScramServer implements SaslServerMechanism {
  readonly name: string;
  private state: State = { at: 'start' };
  private claimed: string | undefined;

  constructor(private readonly opts: ScramServerOptions) {
    this.name = `SCRAM-${opts.hash}${opts.plus ? '-PLUS' : ''}`;
  }

  get username(): string | undefined {
    return this.claimed;
  }

  async step(message: Buffer | undefined): Promise<SaslStep> {
    const state = this.state;
    // Any failure ends the exchange; only a challenge keeps it going.
    this.state = { at: 'done' };
    if (state.at === 'done') return failure('malformed-request', 'the exchange is over');
    // SCRAM is client-first: <auth/> without an initial response gets an empty challenge.
    if (message === undefined && state.at === 'start') {
      this.state = state;
      return { kind: 'challenge', data: Buffer.alloc(0) };
    }
    if (message === undefined || message.length === 0) return this.fail('malformed-request', 'empty SCRAM message');
    if (message.length > MAX_MESSAGE_BYTES) return this.fail('malformed-request', 'SCRAM message too long');
    let text: string;
    try {
      text = utf8.decode(message);
    } catch {
      return this.fail('malformed-request', 'SCRAM messages are UTF-8');
    }
    if (state.at === 'start') return this.clientFirst(text);
    return this.clientFinal(text, state);
  }

  private fail(condition: Parameters<typeof failure>[0], text?: string): SaslStep {
    return failure(condition, text, this.claimed);
  }

  private async clientFirst(msg: string): Promise<SaslStep> {
    const { opts } = this;
    // gs2-header = gs2-cbind-flag "," [ authzid ] ","
    const c1 = msg.indexOf(',');
    const c2 = c1 < 0 ? -1 : msg.indexOf(',', c1 + 1);
    if (c2 < 0) return this.fail('malformed-request', 'missing GS2 header');
    const flag = msg.slice(0, c1);
    const authzPart = msg.slice(c1 + 1, c2);
    const gs2Header = msg.slice(0, c2 + 1);
    const clientFirstBare = msg.slice(c2 + 1);

    let cbType: ChannelBindingType | undefined;
    if (flag === 'n' || flag === 'y') {
      if (opts.plus) return this.fail('malformed-request', `${this.name} needs channel binding (p=<type>)`);
      const plusOffered = opts.plusOffered ?? Object.keys(opts.channelBindings ?? {}).length > 0;
      // RFC 5802 §6: "y" means the client supports binding but thinks we do not. We offered
      // -PLUS, so someone stripped it from the features on the way: refuse.
      if (flag === 'y' && plusOffered) return this.fail('not-authorized', 'channel binding was offered');
    } else if (flag.startsWith('p=')) {
      const name = flag.slice(2);
      if (!CB_NAME.test(name)) return this.fail('malformed-request', 'bad channel binding name');
      if (!opts.plus) return this.fail('malformed-request', 'channel binding requested with a mechanism without -PLUS');
      if (name !== 'tls-exporter' && name !== 'tls-server-end-point') return this.fail('malformed-request', `unsupported channel binding type ${name}`);
      if (opts.channelBindings?.[name] === undefined) return this.fail('malformed-request', `channel binding ${name} is not available on this connection`);
      cbType = name;
    } else {
      return this.fail('malformed-request', 'bad GS2 channel binding flag');
    }

    let authzid: string | undefined;
    if (authzPart !== '') {
      if (!authzPart.startsWith('a=')) return this.fail('malformed-request', 'bad authzid');
      authzid = decodeSaslname(authzPart.slice(2));
      if (authzid === undefined) return this.fail('malformed-request', 'bad authzid encoding');
    }

    // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
    const attrs = clientFirstBare.split(',');
    const [userAttr, nonceAttr] = attrs;
    if (userAttr?.startsWith('m=')) return this.fail('malformed-request', 'unsupported mandatory extension');
    if (!userAttr?.startsWith('n=') || !nonceAttr?.startsWith('r=')) return this.fail('malformed-request', 'expected n=… and r=…');
    const rawName = decodeSaslname(userAttr.slice(2));
    if (rawName === undefined) return this.fail('malformed-request', 'bad username encoding');
    const clientNonce = nonceAttr.slice(2);
    if (!NONCE.test(clientNonce)) return this.fail('malformed-request', 'bad nonce');

    const username = prepareSaslUsername(rawName);
    if (username === undefined) return this.fail('not-authorized');
    this.claimed = username;
    if (authzid !== undefined && !authzidIsSelf(authzid, username, opts.host)) return this.fail('invalid-authzid');

    let stored: ScramCredential | undefined;
    try {
      stored = await opts.lookup(username);
    } catch (err) {
      return failureFromError(err, username);
    }
    const credential = stored ?? opts.fake.scram(opts.hash, username);
    const nonce = clientNonce + (opts.serverNonce?.() ?? randomBytes(24).toString('base64'));
    const ssdp = opts.advertised === undefined ? '' : `,h=${h(opts.hash, Buffer.from(opts.advertised, 'utf8')).toString('base64')}`;
    const serverFirst = `r=${nonce},s=${credential.salt},i=${credential.iterations}${ssdp}`;
    this.state = { at: 'client-final', username, known: stored !== undefined, credential, gs2Header, cbType, nonce, clientFirstBare, serverFirst };
    return { kind: 'challenge', data: Buffer.from(serverFirst, 'utf8') };
  }

  private clientFinal(msg: string, st: Extract<State, { at: 'client-final' }>): SaslStep {
    // client-final-message = channel-binding "," nonce ["," extensions] "," proof
    const proofAt = msg.lastIndexOf(',p=');
    if (proofAt < 0) return this.fail('malformed-request', 'missing proof');
    const withoutProof = msg.slice(0, proofAt);
    const attrs = withoutProof.split(',');
    const [cbAttr, nonceAttr] = attrs;
    if (!cbAttr?.startsWith('c=') || !nonceAttr?.startsWith('r=')) return this.fail('malformed-request', 'expected c=… and r=…');
    const proof = decodeBase64Strict(msg.slice(proofAt + 3));
    const cbData = decodeBase64Strict(cbAttr.slice(2));
    if (proof === undefined || cbData === undefined) return this.fail('malformed-request', 'bad base64 in the final message');

    const bindingData = st.cbType === undefined ? Buffer.alloc(0) : (this.opts.channelBindings?.[st.cbType] ?? Buffer.alloc(0));
    const expectedCb = Buffer.concat([Buffer.from(st.gs2Header, 'utf8'), bindingData]);
    const cbOk = cbData.length === expectedCb.length && timingSafeEqual(cbData, expectedCb);
    const nonceOk = nonceAttr.slice(2) === st.nonce;

    const { hash } = this.opts;
    const storedKey = Buffer.from(st.credential.storedKey, 'base64');
    const authMessage = `${st.clientFirstBare},${st.serverFirst},${withoutProof}`;
    const clientSignature = hmac(hash, storedKey, authMessage);
    let proofOk = false;
    if (proof.length === clientSignature.length) {
      const computed = h(hash, xor(proof, clientSignature));
      proofOk = computed.length === storedKey.length && timingSafeEqual(computed, storedKey);
    }
    if (!cbOk) return this.fail('not-authorized', 'channel binding mismatch');
    if (!nonceOk) return this.fail('not-authorized', 'nonce mismatch');
    if (!proofOk || !st.known) return this.fail('not-authorized');
    const serverSignature = hmac(hash, Buffer.from(st.credential.serverKey, 'base64'), authMessage);
    return { kind: 'success', username: st.username, data: Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8') };
  }
}
