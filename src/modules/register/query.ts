/**
 * The jabber:iq:register payload (XEP-0077 §3): reading what a client sent and building what
 * the server answers. Only the plain fields are supported (<username/>, <password/>,
 * <remove/>); the optional XEP-0004 data form is not offered, so clients use the fields.
 */
import { Element } from '../../xml/element.js';

export const NS_REGISTER = 'jabber:iq:register';
/** The stream feature advertising registration before authentication (XEP-0077 §8). */
export const NS_REGISTER_FEATURE = 'http://jabber.org/features/iq-register';

/** What an iq set carries: a cancellation, or fields (registration or password change). */
export type RegisterRequest =
  | { kind: 'remove'; /** false when <remove/> has siblings: XEP-0077 §3.2 says bad-request */ alone: boolean }
  | { kind: 'fields'; username: string | undefined; password: string | undefined };

/**
 * Read an iq set's <query xmlns='jabber:iq:register'/>. Field values are the element text;
 * an absent element is `undefined`, an empty one `''`. The username is trimmed (pretty-printed
 * XML wraps it in whitespace, and no valid localpart has any); the password is kept verbatim.
 */
export function parseRegisterQuery(query: Element): RegisterRequest {
  if (query.getChild('remove', NS_REGISTER)) {
    return { kind: 'remove', alone: query.elements.length === 1 };
  }
  return {
    kind: 'fields',
    username: query.getChildText('username', NS_REGISTER)?.trim(),
    password: query.getChildText('password', NS_REGISTER),
  };
}

/** The answer to an iq get from someone not yet registered: the fields to fill in (§3.1). */
export function registrationForm(instructions: string): Element {
  const query = new Element('query', { xmlns: NS_REGISTER });
  query.c('instructions').t(instructions);
  query.c('username');
  query.c('password');
  return query;
}

/** The answer to an iq get from a registered user: <registered/> and what is on file (§3.1). */
export function registeredInfo(username: string, instructions: string): Element {
  const query = new Element('query', { xmlns: NS_REGISTER });
  query.c('registered');
  query.c('instructions').t(instructions);
  query.c('username').t(username);
  return query;
}
