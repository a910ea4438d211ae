/**
 * The `fast` service: what other modules (ad-hoc commands "list and revoke my devices") may do
 * with an account's XEP-0484 FAST tokens. Provided per host by the fast module; callers take it
 * with `mod.optional('fast')`, since a host may run without FAST.
 *
 * A token is identified by an opaque `id` (never the token itself, which the server only keeps
 * hashed); there is at most one token chain per (account, user-agent id).
 */

/** One device's token, as a user may see it. Times are ms since the epoch. */
export interface FastTokenInfo {
  /** Opaque, stable for the device: pass it to `revoke`. */
  id: string;
  /** The XEP-0388 `<user-agent id>` the token was issued to. */
  userAgent: string;
  /** `<software>` the client named at login, if any. */
  software?: string;
  /** `<device>` the client named at login, if any. */
  device?: string;
  created: number;
  lastUsed?: number;
  expires: number;
}

export interface FastService {
  /** The account's live tokens (expired ones are not listed), newest first. */
  listTokens(username: string): Promise<FastTokenInfo[]>;
  /** Revoke one device's token, or every token of the account when `id` is left out. Resolves to how many were revoked. */
  revoke(username: string, id?: string): Promise<number>;
  /** Revoke every token of the account (password change, account disabled). */
  revokeAll(username: string): Promise<number>;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    fast: FastService;
  }
}
