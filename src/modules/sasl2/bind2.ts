/**
 * Bind2 (XEP-0386) inside a SASL2 <authenticate/>: the advertisement (`<bind>` with the
 * features modules take inline) and, after a successful authentication, the binding itself:
 * the resource comes from the user agent (user-agent.ts), then each module acts on its inline
 * element ('bind2-inline': stream management enable, carbons, CSI) and adds its result to
 * `<bound/>`.
 */
import type { ModuleServer } from '../../core/server.js';
import type { C2SSession, C2SUnauthedSession } from '../../core/session.js';
import type { EventMap } from '../../core/event-map.js';
import { Element } from '../../xml/element.js';
import { NS_BIND2 } from './events.js';
import { bind2Resource } from './user-agent.js';

/** The `<bind/>` advertised inside SASL2's `<inline/>`. */
/** How this module fires its events (mod.fire). */
export type Fire = <E extends 'bind2-features' | 'bind2-inline'>(event: E, payload: EventMap[E]) => boolean;

export function bind2Feature(fire: Fire, session: C2SUnauthedSession): Element {
  const features: string[] = [];
  fire('bind2-features', { session, features });
  const bind = new Element('bind', { xmlns: NS_BIND2 });
  const inline = bind.c('inline');
  for (const v of features) inline.c('feature', { var: v });
  return bind;
}

export type Bind2Result = { ok: true; bound: Element } | { ok: false; text: string };

/** Bind the authenticated session as `<bind/>` asks; returns the `<bound/>` for <success/>. */
export function bind2(server: ModuleServer, fire: Fire, session: C2SSession, request: Element): Bind2Result {
  const tag = request.getChildText('tag', NS_BIND2)?.trim();
  const resource = bind2Resource(session.host, session.username, session.userAgent, tag);
  const result = server.sessions.bindResource(session, resource, 'kick_old');
  if (!result.ok) return { ok: false, text: result.text ?? result.condition };
  const bound = new Element('bound', { xmlns: NS_BIND2 });
  fire('bind2-inline', { session: result.session, request, bound });
  session.log.info({ jid: result.session.fullJid }, 'resource bound (Bind2)');
  return { ok: true, bound };
}
