/**
 * Time-limited TURN credentials, the "TURN REST API" scheme (draft-uberti-behave-turn-rest-00)
 * that coturn implements with `use-auth-secret` / `static-auth-secret`: the username is
 * `<expiry as a Unix time>:<user>` and the password base64(HMAC-SHA1(secret, username)). The
 * TURN server recomputes the password from the username and refuses it once the time is past,
 * so nothing is shared but the secret.
 */
import { createHmac } from 'node:crypto';

export interface TurnCredentials {
  username: string;
  password: string;
  /** ms since the epoch (a whole second). */
  expires: number;
}

export function turnCredentials(secret: string, user: string, now: number, ttlMs: number): TurnCredentials {
  const expiry = Math.floor((now + ttlMs) / 1000);
  const username = `${expiry}:${user}`;
  return { username, password: createHmac('sha1', secret).update(username).digest('base64'), expires: expiry * 1000 };
}
