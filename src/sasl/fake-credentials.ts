/**
 * Stand-in credentials for usernames that have no account, so that an unknown user goes
 * through exactly the same exchange as a known one with a wrong password: a salt that is the
 * same on every attempt (a random one would reveal that the account does not exist), the
 * configured iteration count, and keys that no proof can match.
 *
 * Everything is derived from a secret with HMAC, so nothing is stored per name. The secret is
 * random per process unless one is given: after a restart the fake salts change, which an
 * observer could only notice by probing the same unknown name across a restart.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { AccountCredentials, ScramCredential } from '../storage/types.js';
import { mechanismName, type ScramHash } from './scram-credentials.js';

const DIGEST_BYTES: Record<ScramHash, number> = { 'SHA-1': 20, 'SHA-256': 32, 'SHA-512': 64 };
const SALT_BYTES = 16;

export class FakeCredentials {
  private readonly secret: Buffer;

  constructor(
    private readonly iterations: number,
    secret?: Buffer,
  ) {
    this.secret = secret ?? randomBytes(32);
  }

  private derive(label: string, hash: ScramHash, username: string, bytes: number): Buffer {
    return createHmac('sha256', this.secret).update(`${label}\0${hash}\0${username}`).digest().subarray(0, bytes);
  }

  scram(hash: ScramHash, username: string): ScramCredential {
    return {
      salt: this.derive('salt', hash, username, SALT_BYTES).toString('base64'),
      iterations: this.iterations,
      storedKey: this.derive('stored', hash, username, DIGEST_BYTES[hash]).toString('base64'),
      serverKey: this.derive('server', hash, username, DIGEST_BYTES[hash]).toString('base64'),
    };
  }

  /** A full set, for PLAIN: verifying a password against it costs the same PBKDF2 as a real one. */
  account(username: string): AccountCredentials {
    return { [mechanismName('SHA-256')]: this.scram('SHA-256', username) };
  }
}
