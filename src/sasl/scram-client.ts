/**
 * The client side of SCRAM (RFC 5802, RFC 7677), for Canto's own tools that log in to a server
 * (`canto check features`, src/cli/feature-client.ts). One exchange per instance: `first()`, then
 * `final(serverFirst)`, then `verify(serverFinal)` checks the server's signature, so the tool
 * knows it talked to a server holding the account's keys and not to something in between.
 *
 * Channel binding (RFC 5056 via the GS2 header): `binding` is the type and data when the client
 * binds (the -PLUS mechanism), 'y' when it could bind but the server offered no -PLUS mechanism
 * (RFC 5802 §6: a server that does support binding then fails the login, which catches a
 * downgrade), 'n' when it cannot bind.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { encodeSaslname } from './scram.js';
import { h, hmac, saltedPassword, type ScramHash } from './scram-credentials.js';

export interface ScramClientOptions {
  hash: ScramHash;
  username: string;
  password: string;
  binding: 'n' | 'y' | { type: string; data: Buffer };
  /** The client nonce (default: 18 random bytes, base64); set only to reproduce test vectors. */
  nonce?: string;
}

export class ScramClientError extends Error {}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) ^ (b[i] as number);
  return out;
}

/** The `k=v` attributes of a SCRAM message (values may contain '='). */
function attributes(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    if (part.length < 2 || part[1] !== '=') throw new ScramClientError(`malformed SCRAM message from the server: ${JSON.stringify(message.slice(0, 100))}`);
    out.set(part[0] as string, part.slice(2));
  }
  return out;
}

export class ScramClient {
  private readonly gs2Header: string;
  private readonly nonce: string;
  private readonly clientFirstBare: string;
  private expectedServerSignature: Buffer | undefined;

  constructor(private readonly o: ScramClientOptions) {
    const b = o.binding;
    this.nonce = o.nonce ?? randomBytes(18).toString('base64');
    this.gs2Header = `${typeof b === 'string' ? b : `p=${b.type}`},,`;
    this.clientFirstBare = `n=${encodeSaslname(o.username)},r=${this.nonce}`;
  }

  first(): string {
    return this.gs2Header + this.clientFirstBare;
  }

  /** The client-final message answering `serverFirst`; throws on a malformed or suspicious one. */
  final(serverFirst: string): string {
    const attrs = attributes(serverFirst);
    if (attrs.has('m')) throw new ScramClientError('the server asks for a SCRAM extension this client does not know');
    const nonce = attrs.get('r') ?? '';
    if (!nonce.startsWith(this.nonce) || nonce.length === this.nonce.length) throw new ScramClientError('the server-first nonce does not extend the client nonce');
    const salt = Buffer.from(attrs.get('s') ?? '', 'base64');
    const iterations = Number(attrs.get('i'));
    if (salt.length === 0 || !Number.isSafeInteger(iterations) || iterations < 1) throw new ScramClientError('the server-first message has no usable salt or iteration count');
    const b = this.o.binding;
    const cbind = Buffer.concat([Buffer.from(this.gs2Header), typeof b === 'string' ? Buffer.alloc(0) : b.data]);
    const withoutProof = `c=${cbind.toString('base64')},r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    let salted: Buffer;
    try {
      salted = saltedPassword(this.o.password, salt, iterations, this.o.hash);
    } catch (err) {
      throw new ScramClientError(`cannot compute the SCRAM proof: ${(err as Error).message}`);
    }
    const clientKey = hmac(this.o.hash, salted, 'Client Key');
    const signature = hmac(this.o.hash, h(this.o.hash, clientKey), authMessage);
    this.expectedServerSignature = hmac(this.o.hash, hmac(this.o.hash, salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${xor(clientKey, signature).toString('base64')}`;
  }

  /** Check the server-final message (the additional data of <success/>); throws when it is wrong. */
  verify(serverFinal: string): void {
    const attrs = attributes(serverFinal);
    const error = attrs.get('e');
    if (error !== undefined) throw new ScramClientError(`the server ended SCRAM with an error: ${error}`);
    const v = Buffer.from(attrs.get('v') ?? '', 'base64');
    const expected = this.expectedServerSignature;
    if (expected === undefined || v.length !== expected.length || !timingSafeEqual(v, expected)) {
      throw new ScramClientError('the server signature is wrong: the server does not hold this account\'s keys');
    }
  }
}
