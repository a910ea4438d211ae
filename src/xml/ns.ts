/** Namespace URIs used across the server. */
export const NS = {
  stream: 'http://etherx.jabber.org/streams',
  streams: 'urn:ietf:params:xml:ns:xmpp-streams',
  stanzas: 'urn:ietf:params:xml:ns:xmpp-stanzas',
  client: 'jabber:client',
  server: 'jabber:server',
  componentAccept: 'jabber:component:accept',
  tls: 'urn:ietf:params:xml:ns:xmpp-tls',
  sasl: 'urn:ietf:params:xml:ns:xmpp-sasl',
  bind: 'urn:ietf:params:xml:ns:xmpp-bind',
  session: 'urn:ietf:params:xml:ns:xmpp-session',
  xml: 'http://www.w3.org/XML/1998/namespace',
} as const;

/** The namespaces a stanza can have at the top level of a stream (client, server, component). */
export const STANZA_NAMESPACES: ReadonlySet<string> = new Set([NS.client, NS.server, NS.componentAccept]);
