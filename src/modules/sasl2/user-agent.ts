/**
 * XEP-0388 `<user-agent id>`: the device's stable id (a UUID in practice) with the optional
 * `<software>` and `<device>` names. It is recorded on the session, keys FAST tokens and makes
 * the Bind2 resource stable per device.
 */
import { createHash } from 'node:crypto';
import type { Element } from '../../xml/element.js';
import { NS_SASL2 } from './events.js';

export interface UserAgent {
  id: string;
  software?: string;
  device?: string;
}

declare module '../../core/session.js' {
  interface C2SSession {
    /** The XEP-0388 user agent the client named at SASL2 authentication, if any. */
    userAgent?: UserAgent;
  }
}

/** Ids are UUIDs (36 characters); anything printable up to this length is taken. */
const MAX_ID = 128;
const MAX_NAME = 256;
const PRINTABLE = /^[\x21-\x7e]+$/;

/** The user agent of an <authenticate/>, undefined without one; 'invalid' for an unusable id. */
export function parseUserAgent(authenticate: Element): UserAgent | undefined | 'invalid' {
  const ua = authenticate.getChild('user-agent', NS_SASL2);
  if (!ua) return undefined;
  const id = ua.attr('id');
  if (id === undefined) return undefined; // the id is optional in XEP-0388; without it nothing is keyed
  if (id.length > MAX_ID || !PRINTABLE.test(id)) return 'invalid';
  const name = (child: string) => {
    const text = ua.getChildText(child, NS_SASL2)?.trim();
    return text ? text.slice(0, MAX_NAME) : undefined;
  };
  const out: UserAgent = { id };
  const software = name('software');
  const device = name('device');
  if (software !== undefined) out.software = software;
  if (device !== undefined) out.device = device;
  return out;
}

/**
 * XEP-0386: the server picks the resource. For a client that sent a user-agent id it is the
 * same on every connection of that device (so a reconnect replaces the old session instead of
 * adding one), without showing the id to contacts who see the full JID: the client's tag, then
 * a short hash of account and id. Without an id, the tag alone (as a bind request would ask),
 * or a random one when there is no tag either.
 */
export function bind2Resource(host: string, username: string, ua: UserAgent | undefined, tag: string | undefined): string | undefined {
  const cleanTag = tag?.replace(/[^\p{L}\p{N}._-]/gu, '').slice(0, 32) || undefined;
  if (ua === undefined) return cleanTag;
  const digest = createHash('sha256').update(`${host}\0${username}\0${ua.id}`).digest('base64url').slice(0, 8);
  return cleanTag ? `${cleanTag}.${digest}` : digest;
}
