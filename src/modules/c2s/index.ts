/**
 * Client connections (RFC 6120) over TCP: the listeners on `[c2s] ports` and direct TLS ports,
 * with an XmppStream as the framing. The session logic shared with other transports (open
 * checks, features, element dispatch, auth timeout, per-IP cap) is in client-session.ts. TLS,
 * SASL and resource binding are separate modules hooking 'stream-features' and 'stream-element'.
 * In a cluster every worker listens on the same ports (node:cluster's primary hands connections
 * round-robin to the workers).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, Server as TlsServer } from 'node:tls';
import { defineModule, type ModuleApi } from '../../core/modules.js';
import type { Logger } from '../../core/logging.js';
import { NS_STREAM } from '../../xml/element.js';
import { NS } from '../../xml/ns.js';
import { XmppStream, type StreamLimits } from '../../core/xmpp-stream.js';
import { SocketConnection } from '../../net/socket-connection.js';
import { listenAll } from '../../net/listen.js';
import { ClientSessions, type ClientSessionHandle, type ClientStreamEvents } from './client-session.js';

export default defineModule({
  name: 'c2s',
  description: 'RFC 6120 client-to-server streams',
  scope: 'global',
  async setup(mod) {
    // Provided first: WebSocket and BOSH start their client sessions through it too.
    mod.provides('c2s', new ClientSessions());
    const cfg = mod.server.config.c2s;

    const tlsContexts = mod.server.tls;
    const plain = await listenAll(cfg.interfaces, cfg.ports, () => createServer({ noDelay: true }, (socket) => acceptClient(mod, socket)), mod.log);
    for (const s of plain) mod.server.registerListener('c2s', s);
    // XEP-0368 direct TLS: encrypted from the first byte, ALPN 'xmpp-client'.
    const direct = await listenAll(
      cfg.interfaces,
      cfg.direct_tls_ports,
      () =>
        createTlsServer(
          { ...tlsContexts.serverOptions(), ALPNProtocols: ['xmpp-client'] },
          (socket) => acceptClient(mod, socket),
        ),
      mod.log,
    );
    for (const s of direct) {
      mod.server.registerListener('c2s_direct_tls', s);
      // Its session-ticket key rotates with the STARTTLS contexts' (src/net/tls-tickets.ts).
      if (s instanceof TlsServer) mod.onUnload(tlsContexts.trackServer(s));
    }
    const servers: NetServer[] = [...plain, ...direct];
    mod.onUnload(async () => {
      for (const s of servers) {
        mod.server.unregisterListener(s);
        await new Promise<void>((r) => s.close(() => r()));
      }
    });
  },
});

function acceptClient(mod: ModuleApi, socket: Socket): void {
  const server = mod.server;
  // The socket reports nothing before the next tick, so `handle` is set by the time its
  // callbacks run; the framing is made (synchronously) inside startClientSession.
  let stream: XmppStream | undefined;
  const conn: SocketConnection = new SocketConnection(socket, {
    data: (data) => {
      handle.activity();
      stream?.feed(data);
    },
    error: (err) => handle.session.log.debug({ err: err.message }, 'socket error'),
    close: () => handle.connectionClosed(),
  });
  const handle: ClientSessionHandle = mod.require('c2s').start({
    server,
    log: mod.log,
    conn,
    logFields: { port: socket.localPort },
    makeFraming: (events, log) => {
      stream = tcpFraming(conn, server.config.limits, log, events, server.cluster ? `w${server.cluster.worker}-` : undefined);
      return stream;
    },
  });
}

/**
 * The TCP framing: an XmppStream whose stream header must be <stream:stream> in the streams
 * namespace carrying jabber:client; the rest of the open checks are the session's.
 */
function tcpFraming(conn: SocketConnection, limits: StreamLimits, log: Logger, events: ClientStreamEvents, idPrefix: string | undefined): XmppStream {
  const handlers: ConstructorParameters<typeof XmppStream>[4] = {
    streamOpen: (header, contentNs) => {
      if (header.name !== 'stream' || header.xmlns !== NS_STREAM) {
        stream.close({ condition: 'invalid-namespace', text: 'the stream element must be <stream:stream> in the streams namespace' });
        return;
      }
      if (contentNs !== NS.client) {
        stream.close({ condition: 'invalid-namespace', text: `client streams use the ${NS.client} namespace` });
        return;
      }
      events.streamOpen({ to: header.attrs.to, from: header.attrs.from, version: header.attrs.version, lang: header.attrs['xml:lang'] });
    },
    element: (el) => events.element(el),
    streamClose: () => events.streamClose(),
  };
  const stream: XmppStream = idPrefix === undefined
    ? new XmppStream(conn, NS.client, limits, log, handlers)
    : new WorkerXmppStream(idPrefix, conn, NS.client, limits, log, handlers);
  return stream;
}

/**
 * Cluster mode: stream ids start with `w{k}-`, so an id (and the client's log) tells which worker
 * holds the stream; the random rest keeps them unique across workers.
 */
class WorkerXmppStream extends XmppStream {
  private readonly idPrefix: string;

  constructor(idPrefix: string, ...args: ConstructorParameters<typeof XmppStream>) {
    super(...args);
    this.idPrefix = idPrefix;
  }

  override openStream(attrs: Parameters<XmppStream['openStream']>[0]): string {
    return super.openStream({ ...attrs, id: attrs.id ?? this.idPrefix + randomBytes(12).toString('base64url') });
  }
}
