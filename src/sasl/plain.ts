/**
 * SASL PLAIN (RFC 4616): one message, `[authzid] NUL authcid NUL passwd`, UTF-8. Only ever
 * offered on encrypted streams. The password is checked against the stored SCRAM credential
 * (PBKDF2 off the event loop); an unknown user is checked against stand-in credentials so
 * the work and the answer are the same.
 */
import type { AccountCredentials } from '../storage/types.js';
import { verifyPasswordAsync } from './scram-credentials.js';
import type { FakeCredentials } from './fake-credentials.js';
import { authzidIsSelf, failure, failureFromError, prepareSaslUsername, type SaslServerMechanism, type SaslStep } from './mechanism.js';

/** RFC 4616 §2: each field is at most 255 octets. */
const MAX_FIELD_BYTES = 255;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface PlainMessage {
  authzid: string;
  authcid: string;
  password: string;
}

/** Split a PLAIN message; undefined when it is malformed (field count, empty, too long, not UTF-8). */
export function parsePlainMessage(message: Buffer): PlainMessage | undefined {
  const fields: Buffer[] = [];
  let from = 0;
  for (;;) {
    const nul = message.indexOf(0, from);
    if (nul < 0) break;
    fields.push(message.subarray(from, nul));
    from = nul + 1;
  }
  fields.push(message.subarray(from));
  if (fields.length !== 3) return undefined;
  const [authzid, authcid, password] = fields as [Buffer, Buffer, Buffer];
  if (authcid.length === 0 || password.length === 0) return undefined;
  if (authzid.length > MAX_FIELD_BYTES || authcid.length > MAX_FIELD_BYTES || password.length > MAX_FIELD_BYTES) return undefined;
  try {
    return { authzid: utf8.decode(authzid), authcid: utf8.decode(authcid), password: utf8.decode(password) };
  } catch {
    return undefined;
  }
}

export interface PlainServerOptions {
  host: string;
  /** The account's credentials, or undefined when there is no such account. May throw SaslError. */
  lookup(username: string): Promise<AccountCredentials | undefined>;
  fake: FakeCredentials;
  /** Called after a correct password, e.g. to derive stored hashes the account lacks. */
  onVerified?: (username: string, password: string, stored: AccountCredentials) => void;
}

export class PlainServer implements SaslServerMechanism {
  readonly name = 'PLAIN';
  private done = false;
  private challenged = false;
  private claimed: string | undefined;

  constructor(private readonly opts: PlainServerOptions) {}

  get username(): string | undefined {
    return this.claimed;
  }

  async step(message: Buffer | undefined): Promise<SaslStep> {
    // RFC 4616 §2: with no initial response, the server sends an empty challenge.
    if (message === undefined && !this.done && !this.challenged) {
      this.challenged = true;
      return { kind: 'challenge', data: Buffer.alloc(0) };
    }
    if (this.done) return failure('malformed-request', 'the exchange is over');
    this.done = true;
    const parsed = message && parsePlainMessage(message);
    if (!parsed) return failure('malformed-request', 'expected authzid NUL authcid NUL password');
    const username = prepareSaslUsername(parsed.authcid);
    if (username === undefined) return failure('not-authorized');
    this.claimed = username;
    if (parsed.authzid !== '' && !authzidIsSelf(parsed.authzid, username, this.opts.host)) return failure('invalid-authzid', undefined, username);
    let stored: AccountCredentials | undefined;
    try {
      stored = await this.opts.lookup(username);
    } catch (err) {
      return failureFromError(err, username);
    }
    const ok = await verifyPasswordAsync(stored ?? this.opts.fake.account(username), parsed.password);
    if (!ok || !stored) return failure('not-authorized', undefined, username);
    this.opts.onVerified?.(username, parsed.password, stored);
    return { kind: 'success', username };
  }
}
