/**
 * The client side of SCRAM-SHA-1 (RFC 5802) for the load generator. PBKDF2 (SaltedPassword) is
 * by far the costliest step, and the bench gives every account the same password, salt and
 * iteration count, so its result — and the keys derived from it — is cached per
 * (password, salt, iterations): each login then costs the client three HMACs and a hash.
 * The server gets no such shortcut; it is what is being measured.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

interface ClientKeys {
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

const keyCache = new Map<string, ClientKeys>();
let derivations = 0;

/** How many times PBKDF2 actually ran (for tests: the cache must work). */
export function scramDerivations(): number {
  return derivations;
}

function keysFor(password: string, saltB64: string, iterations: number): ClientKeys {
  const cacheKey = `${iterations}\u0000${saltB64}\u0000${password}`;
  let keys = keyCache.get(cacheKey);
  if (keys === undefined) {
    derivations++;
    const salted = pbkdf2Sync(password, Buffer.from(saltB64, 'base64'), iterations, 20, 'sha1');
    const clientKey = createHmac('sha1', salted).update('Client Key').digest();
    keys = {
      clientKey,
      storedKey: createHash('sha1').update(clientKey).digest(),
      serverKey: createHmac('sha1', salted).update('Server Key').digest(),
    };
    keyCache.set(cacheKey, keys);
  }
  return keys;
}

const GS2_HEADER = 'n,,';
const GS2_HEADER_B64 = Buffer.from(GS2_HEADER).toString('base64');

/** One SCRAM-SHA-1 exchange without channel binding. Usernames here are plain ASCII. */
export class ScramSha1 {
  private readonly clientFirstBare: string;
  private expectedServerFinal = '';

  constructor(
    username: string,
    private readonly password: string,
  ) {
    this.clientFirstBare = `n=${username},r=${randomBytes(15).toString('base64')}`;
  }

  /** The client-first message, base64, for <auth>. */
  firstB64(): string {
    return Buffer.from(GS2_HEADER + this.clientFirstBare).toString('base64');
  }

  /** The client-final message, base64, for <response>, answering a base64 server-first. */
  finalB64(serverFirstB64: string): string {
    const serverFirst = Buffer.from(serverFirstB64, 'base64').toString('utf8');
    let nonce = '';
    let salt = '';
    let iterations = 0;
    for (const part of serverFirst.split(',')) {
      const value = part.slice(2);
      if (part.startsWith('r=')) nonce = value;
      else if (part.startsWith('s=')) salt = value;
      else if (part.startsWith('i=')) iterations = Number(value);
    }
    if (nonce === '' || salt === '' || !(iterations > 0)) throw new Error(`bad SCRAM server-first: ${serverFirst}`);
    const keys = keysFor(this.password, salt, iterations);
    const withoutProof = `c=${GS2_HEADER_B64},r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = createHmac('sha1', keys.storedKey).update(authMessage).digest();
    const proof = Buffer.allocUnsafe(20);
    for (let i = 0; i < 20; i++) proof[i] = (keys.clientKey[i] ?? 0) ^ (signature[i] ?? 0);
    this.expectedServerFinal = `v=${createHmac('sha1', keys.serverKey).update(authMessage).digest('base64')}`;
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`).toString('base64');
  }

  /** Whether the server-final (base64, from <success>) proves the server knew the key. */
  verifyB64(serverFinalB64: string): boolean {
    const got = Buffer.from(Buffer.from(serverFinalB64, 'base64').toString('utf8'));
    const want = Buffer.from(this.expectedServerFinal);
    return want.length > 0 && got.length === want.length && timingSafeEqual(got, want);
  }
}
