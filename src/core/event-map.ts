/**
 * Every event name with its payload type, in one place. Stanza events follow Prosody's names:
 * `<kind>/<bare|full|host>` (and `pre-` variants fired first), and for iq get/set with a payload
 * `iq-<type>/<bare|full|host>/<namespace>:<local name>`, e.g. `iq-get/host/jabber:iq:version:query`.
 * Modules add their own events by declaration merging:
 *   declare module '../core/event-map.js' { interface EventMap { 'my-event': MyPayload } }
 */
import type { Element } from '../xml/element.js';
import type { Jid } from '../jid/index.js';
import type { StanzaKind } from '../xml/stanza.js';
import type { BoundC2SSession, C2SSession, S2SSession, S2SUnauthedSession, Session, StanzaOrigin, StreamSession } from './session.js';
import type { CloseReason } from './session.js';

export type Destination = 'bare' | 'full' | 'host';

/** Payload of every stanza event. `to` and `from` are parsed and validated by the router. */
export interface StanzaEvent {
  origin: StanzaOrigin;
  stanza: Element;
  to: Jid;
  from: Jid;
  handlerError?: unknown;
  /**
   * A stanza the server routes a second time for its recipient, e.g. a message stream
   * management had delivered to a session that then ended without acknowledging it. It was
   * archived, copied (carbons) and stamped the first time: modules that record or copy
   * deliveries skip it.
   */
  redelivery?: true;
}

type StanzaEvents = {
  [K in `${StanzaKind}/${Destination}` | `pre-${StanzaKind}/${Destination}` | 'pre-stanza']: StanzaEvent;
};

export interface StreamFeaturesEvent {
  origin: StreamSession;
  features: Element;
}

export interface SessionEvent {
  session: Session;
}

export interface EventMap extends StanzaEvents {
  /** A stanza from a local session to a domain this server does not serve. */
  'route/remote': StanzaEvent & { toHost: string; fromHost: string };
  /** A stanza to a component's domain (internal or external). */
  'route/component': StanzaEvent & { toHost: string };
  /** Build the <stream:features/> for a session; handlers append children. */
  'stream-features': StreamFeaturesEvent;
  /** A top-level element on a stream that is not a stanza (e.g. <starttls/>, <auth/>): handlers claim it. */
  'stream-element': { origin: StreamSession; element: Element };
  'session-created': SessionEvent;
  /** Vetoable: a handler returning true refuses the authentication. */
  'pre-authenticated': { session: Session; username: string };
  'authenticated': { session: C2SSession };
  /** Vetoable: a handler returning true refuses the bind. */
  'pre-resource-bind': { session: C2SSession; resource: string };
  'resource-bind': { session: BoundC2SSession };
  'resource-unbind': { session: BoundC2SSession; reason?: CloseReason };
  /**
   * Vetoable, on the host of a bound client session about to be destroyed: a handler returning
   * true keeps it alive without a connection (it hibernates; stream management). `connectionLost`
   * is true when the connection dropped without the stream being closed by either side.
   */
  'pre-session-destroy': { session: BoundC2SSession; reason?: CloseReason; connectionLost: boolean };
  /** A bound client session lost its connection and hibernates (host bus). */
  'session-hibernated': { session: BoundC2SSession };
  /** A hibernating (or half-dead) session continues on a new connection (host bus). */
  'session-resumed': { session: BoundC2SSession };
  /**
   * A session moved to another cluster node that resumed it (host bus, on the node it left;
   * SessionManager.handOver): no resource-unbind and no session-destroyed are fired for it, as the
   * resource stays bound (elsewhere). Modules drop what they keep per session here.
   */
  'session-handed-over': { session: BoundC2SSession };
  /**
   * A local session's directed available presence (RFC 6121 §4.6) to `to` (a full or bare JID)
   * was recorded (`available`), or the record dropped (directed unavailable, or the session went
   * unavailable and its directed recipients were told). Host bus, fired by the presence module
   * only when the record changes; the Redis cluster keeps them so a survivor can tell them when
   * the session's node dies (src/cluster/redis/directed-presence.ts).
   */
  'presence/directed': { session: BoundC2SSession; to: string; available: boolean };
  'session-destroyed': { session: StreamSession; reason?: CloseReason };
  /** Vetoable (server bus): a handler returning true refuses the server-to-server authentication. */
  'pre-s2s-authenticated': { session: S2SUnauthedSession; fromHost: string; toHost: string; method: 'dialback' | 'SASL EXTERNAL' };
  /** A server-to-server stream (either direction) authenticated its first domain pair (server bus). */
  's2s-authenticated': { session: S2SSession; method: 'dialback' | 'SASL EXTERNAL' };
  /**
   * Another process wrote a user's value in a keyval store some module caches (cluster mode;
   * ModuleApi.cachedStore hooks it). Handlers may return a promise (reload).
   */
  'store-changed': { host: string; store: string; username: string };
  'host-activated': { host: string };
  /** A reload removed a virtual host: its sessions are closed (host-gone) and its modules unloaded. */
  'host-deactivated': { host: string };
  /** A reload was applied (Server.reconfigure): what changed, and what waits for a restart. */
  'config-reloaded': { applied: string[]; needsRestart: string[] };
  /**
   * A presence another cluster node routed was handed to a local session (host bus): the
   * router's events for it ran on that node; modules that learn from presence reaching local
   * users (caps) learn here too.
   */
  'cluster-presence-delivered': { session: BoundC2SSession; stanza: Element };
  /**
   * Redis cluster, on a singleton component's bus (src/cluster/redis/placement.ts): this node now
   * serves the service — load its state from storage (handlers may return a promise; nothing is
   * routed to the component before it settles) — or no longer does (drop the live state quietly:
   * another node serves it).
   */
  'cluster-service-acquired': { service: string };
  'cluster-service-released': { service: string };
  /** Cluster (server bus): resources bound on a node that died or stopped are gone (full JIDs), on every node. */
  'cluster-sessions-gone': { jids: string[] };
  'server-started': Record<string, never>;
  'server-stopping': { reason: string };
  /**
   * An account was deleted (in-band by the register module, or by another cluster worker): modules
   * drop the user's state. Declared here, not by a module, because the cluster layer fires it too.
   */
  'user-deleted': { host: string; username: string };
}
