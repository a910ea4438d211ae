/**
 * Checking the <username/> and <password/> a client submits, with the stanza error each
 * problem gets (XEP-0077 §3.1 for registration, §3.3 for password changes).
 */
import { JidError, prepareLocalpart } from '../../jid/index.js';
import { saslprepPassword } from '../../sasl/scram-credentials.js';
import type { ErrorType, StanzaErrorCondition } from '../../xml/stanza.js';

/** Why a request is refused: the stanza error to answer with. */
export interface Refusal {
  condition: StanzaErrorCondition;
  text: string;
  /** Defaults to the type RFC 6120 suggests for the condition. */
  type?: ErrorType;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; refusal: Refusal };

/** SASLprep (stored mode) accepts it and it is not empty: the same test SCRAM derivation applies. */
function passwordProblem(password: string): string | undefined {
  try {
    saslprepPassword(password, 'stored');
    return undefined;
  } catch (err) {
    return `the password is not usable: ${(err as Error).message}`;
  }
}

function usernameProblem(username: string): { prepared: string } | { problem: string } {
  try {
    return { prepared: prepareLocalpart(username) };
  } catch (err) {
    if (err instanceof JidError) return { problem: `the username is not a valid JID localpart (${err.reason})` };
    throw err;
  }
}

/**
 * A new account's fields. Every problem is `not-acceptable` (XEP-0077 §3.1: missing or empty
 * information, which includes an empty <password/>; the XEP names no other condition for an
 * unusable value, and a client shows the text). Returns the prepared (PRECIS) username.
 */
export function checkNewAccount(username: string | undefined, password: string | undefined): Checked<{ username: string; password: string }> {
  if (username === undefined || username === '') return { ok: false, refusal: { condition: 'not-acceptable', text: 'a username is required' } };
  if (password === undefined || password === '') return { ok: false, refusal: { condition: 'not-acceptable', text: 'a password is required' } };
  const user = usernameProblem(username);
  if ('problem' in user) return { ok: false, refusal: { condition: 'not-acceptable', text: user.problem } };
  const pw = passwordProblem(password);
  if (pw !== undefined) return { ok: false, refusal: { condition: 'not-acceptable', text: pw } };
  return { ok: true, value: { username: user.prepared, password } };
}

/**
 * A password change by `ownUsername` (XEP-0077 §3.3). Both fields are required; the username
 * must name the user's own account; an empty password never replaces the current one. All of
 * these are `bad-request` ("does not contain complete information"); a password SASLprep
 * refuses is `not-acceptable`.
 */
export function checkPasswordChange(ownUsername: string, username: string | undefined, password: string | undefined): Checked<string> {
  if (username === undefined || username === '') return { ok: false, refusal: { condition: 'bad-request', text: 'the <username/> of the account is required' } };
  if (password === undefined || password === '') return { ok: false, refusal: { condition: 'bad-request', text: 'the new password must not be empty' } };
  const user = usernameProblem(username);
  if ('problem' in user || user.prepared !== ownUsername) {
    return { ok: false, refusal: { condition: 'bad-request', text: 'the username must be that of your own account' } };
  }
  const pw = passwordProblem(password);
  if (pw !== undefined) return { ok: false, refusal: { condition: 'not-acceptable', text: pw } };
  return { ok: true, value: password };
}
