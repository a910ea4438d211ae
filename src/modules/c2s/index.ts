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
import type { C2SConfig } from './config.js';
import { RedisBucketStore } from '../limits/redis-bucket-store.js';

export default defineModule({
  name: 'c2s',
  description: 'RFC 6120 client-to-server streams',
  scope: 'global',
  async setup(mod) {
    // Provided first: WebSocket and BOSH start their client sessions through it too. On a Redis
    // cluster node the per-address cap on unauthenticated connections counts every node's
    // (connected now: a connection's count waits for Redis briefly only).
    const redisUrl = mod.server.config.cluster.redis;
    const shared = redisUrl === undefined ? undefined : new RedisBucketStore(redisUrl, mod.log);
    if (shared) {
      shared.connectSoon();
      mod.onUnload(() => shared.close());
    }
    mod.provides('c2s', new ClientSessions(shared));
    const tlsContexts = mod.server.tls;
    /** Untrack functions of the direct TLS listeners' session-ticket keys. */
    const tracked = new Map<NetServer, () => void>();
    const bind = async (cfg: C2SConfig): Promise<NetServer[]> => {
      const plain = await listenAll(cfg.interfaces, cfg.ports, () => createServer({ noDelay: true }, (socket) => acceptClient(mod, socket)), mod.log);
      // XEP-0368 direct TLS: encrypted from the first byte, ALPN 'xmpp-client'.
      let direct: NetServer[];
      try {
        direct = await listenAll(
          cfg.interfaces,
          cfg.direct_tls_ports,
          () =>
            createTlsServer(
              { ...tlsContexts.serverOptions(), ALPNProtocols: ['xmpp-client'] },
              (socket) => acceptClient(mod, socket),
            ),
          mod.log,
        );
      } catch (err) {
        for (const s of plain) s.close();
        throw err;
      }
      for (const s of plain) mod.server.registerListener('c2s', s);
      for (const s of direct) {
        mod.server.registerListener('c2s_direct_tls', s);
        // Its session-ticket key rotates with the STARTTLS contexts' (src/net/tls-tickets.ts).
        if (s instanceof TlsServer) tracked.set(s, tlsContexts.trackServer(s));
      }
      return [...plain, ...direct];
    };
    /** Stop listening; `wait`: until the connections they accepted have ended too (at unload). */
    const release = async (servers: NetServer[], wait: boolean): Promise<void> => {
      for (const s of servers) {
        mod.server.unregisterListener(s);
        tracked.get(s)?.();
        tracked.delete(s);
        const closed = new Promise<void>((r) => s.close(() => r()));
        if (wait) await closed;
      }
    };
    let bound = mod.server.config.c2s;
    let servers = await bind(bound);
    mod.onUnload(() => release(servers, true));
    // A reload with new [c2s] interfaces or ports: the new listeners first, then the old ones stop
    // accepting (close() leaves the streams they accepted alone). When the new ones cannot be
    // opened and share a port with the old (the same port on another interface), the old ones
    // stop first, and come back if the new ones still cannot be opened.
    mod.onRebind('c2s', async () => {
      const next = mod.server.config.c2s;
      let fresh: NetServer[];
      try {
        fresh = await bind(next);
        await release(servers, false);
      } catch (first) {
        // Only a port the old listeners hold can be freed by stopping them first.
        const held = new Set([...bound.ports, ...bound.direct_tls_ports].filter((p) => p !== 0));
        if (![...next.ports, ...next.direct_tls_ports].some((p) => held.has(p))) throw first;
        await release(servers, false);
        try {
          fresh = await bind(next);
        } catch (err) {
          servers = await bind(bound).catch((again: unknown) => {
            mod.log.error({ err: again }, 'the previous client listeners could not be opened again: no client listener until a restart or reload');
            return [];
          });
          throw err instanceof Error ? err : first;
        }
      }
      servers = fresh;
      bound = next;
      mod.log.info({ interfaces: next.interfaces, ports: next.ports, direct_tls_ports: next.direct_tls_ports }, 'client listeners rebound; established streams stay');
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
