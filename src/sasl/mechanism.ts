/**
 * What every server-side SASL mechanism shares: the RFC 6120 §6.5 failure conditions, the
 * step result a mechanism returns, and the identity checks (username preparation, authzid).
 *
 * A mechanism instance is one authentication exchange. The stream layer (the saslauth module)
 * feeds it the decoded payload of <auth/> and each <response/>, and turns the result into
 * <challenge/>, <success/> or <failure/>.
 */
import { prepareLocalpart, tryParseJid } from '../jid/index.js';
import { saslprepPassword } from './scram-credentials.js';

/** RFC 6120 §6.5 SASL error conditions. */
export type SaslCondition =
  | 'aborted'
  | 'account-disabled'
  | 'credentials-expired'
  | 'encryption-required'
  | 'incorrect-encoding'
  | 'invalid-authzid'
  | 'invalid-mechanism'
  | 'malformed-request'
  | 'mechanism-too-weak'
  | 'not-authorized'
  | 'temporary-auth-failure';

export const SASL_CONDITIONS: readonly SaslCondition[] = [
  'aborted',
  'account-disabled',
  'credentials-expired',
  'encryption-required',
  'incorrect-encoding',
  'invalid-authzid',
  'invalid-mechanism',
  'malformed-request',
  'mechanism-too-weak',
  'not-authorized',
  'temporary-auth-failure',
];

/**
 * A failure with its condition. Credential lookups may throw it (e.g. 'account-disabled');
 * any other error thrown by a lookup becomes 'temporary-auth-failure'.
 */
export class SaslError extends Error {
  constructor(
    readonly condition: SaslCondition,
    message?: string,
  ) {
    super(message ?? condition);
    this.name = 'SaslError';
  }
}

export type SaslStep =
  | { kind: 'challenge'; data: Buffer }
  /** `data` is the additional data for <success/> (SCRAM's server-final message). */
  | { kind: 'success'; username: string; data?: Buffer }
  /** `username` is set when the mechanism got far enough to know who tried (for logs and limits). */
  | { kind: 'failure'; condition: SaslCondition; text?: string; username?: string };

export interface SaslServerMechanism {
  readonly name: string;
  /** The username the client claimed, once known (prepared), for logging and rate limiting. */
  readonly username: string | undefined;
  /** Feed the next client message; `undefined` means <auth/> carried no initial response. */
  step(message: Buffer | undefined): Promise<SaslStep>;
}

export function failure(condition: SaslCondition, text?: string, username?: string): SaslStep {
  return username === undefined ? { kind: 'failure', condition, text } : { kind: 'failure', condition, text, username };
}

/** The error as a failure step: SaslError keeps its condition, anything else is temporary. */
export function failureFromError(err: unknown, username?: string): SaslStep {
  if (err instanceof SaslError) return failure(err.condition, err.message === err.condition ? undefined : err.message, username);
  return failure('temporary-auth-failure', undefined, username);
}

/**
 * A SASL simple username (RFC 6120 §6.3.8: the localpart of the account) as stored: SASLprep
 * in query mode (RFC 4013, as RFC 5802 §5.1 asks), then the JID localpart profile, which also
 * case-folds. Returns undefined when the name cannot be an account name.
 */
export function prepareSaslUsername(raw: string): string | undefined {
  try {
    return prepareLocalpart(saslprepPassword(raw, 'query'));
  } catch {
    // Prohibited characters, bidi violations, empty or too long: no account can have this name.
    return undefined;
  }
}

/**
 * RFC 6120 §6.3.8: an authorization identity is a bare JID. Canto does not let one account
 * act for another, so the only accepted authzid is the authenticating account's own JID.
 */
export function authzidIsSelf(authzid: string, username: string, host: string): boolean {
  const jid = tryParseJid(authzid);
  if (!jid) return false;
  return jid.local === username && jid.domain === host && jid.resource === '';
}
