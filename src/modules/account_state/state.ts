/**
 * The host's account lifecycle state, one document per host in the keyval store
 * `account_state` under the username '' (host-level data: no schema change, and the
 * account-data wipe of a deleted user never touches it). Kept in memory too, because the
 * login path asks `isDisabled` synchronously (the `pre-authenticated` veto is a plain event).
 */
export interface DisabledEntry {
  /** ms since the epoch */
  since: number;
  by?: string;
  reason?: string;
}

export interface AccountStateDoc {
  disabled: Record<string, DisabledEntry>;
  /** username → when (ms since the epoch) the account is deleted, unless its owner logs in first. */
  deletions: Record<string, number>;
}

export const STATE_STORE = 'account_state';
/** The keyval "username" of the host-level document. */
export const HOST_KEY = '';

export function emptyState(): AccountStateDoc {
  return { disabled: {}, deletions: {} };
}

/** A stored value read defensively (older or hand-edited documents). */
export function normalise(doc: AccountStateDoc | undefined): AccountStateDoc {
  return { disabled: { ...(doc?.disabled ?? {}) }, deletions: { ...(doc?.deletions ?? {}) } };
}
