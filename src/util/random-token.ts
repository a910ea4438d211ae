import { randomBytes } from 'node:crypto';

/**
 * `bytes` random bytes as base64url (safe in URLs, xmpp: URIs and XML attributes) that never
 * start with '-': such tokens are also command-line arguments (`canto invite revoke TOKEN`,
 * `canto token revoke ID`), and an argument starting with '-' reads as an option. One draw in
 * 64 starts with it and is drawn again.
 */
export function randomToken(bytes: number): string {
  for (;;) {
    const token = randomBytes(bytes).toString('base64url');
    if (!token.startsWith('-')) return token;
  }
}
