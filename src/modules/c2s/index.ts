/**
 * Client connections (RFC 6120): the TCP listeners on `[c2s] ports`, the c2s_unauthed → c2s
 * session lifecycle, the stream header checks and stream features. TLS, SASL and resource
 * binding are separate modules hooking 'stream-features' and 'stream-element'.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { defineModule, type ModuleApi } from '../../core/modules.js';
import { Element, NS_STREAM } from '../../xml/element.js';
import { NS } from '../../xml/ns.js';
import { XmppStream } from '../../core/xmpp-stream.js';
import { newSessionId, type C2SSession, type C2SUnauthedSession } from '../../core/session.js';
import { SocketConnection } from '../../net/socket-connection.js';
import { listenAll } from '../../net/listen.js';
import { prepareDomain } from '../../jid/index.js';

export default defineModule({
  name: 'c2s',
  description: 'RFC 6120 client-to-server streams',
  scope: 'global',
  async setup(mod) {
    const cfg = mod.server.config.c2s;
    const unauthedPerIp = new Map<string, number>();

    const tlsContexts = mod.server.tls;
    const plain = await listenAll(cfg.interfaces, cfg.ports, () => createServer({ noDelay: true }, (socket) => acceptClient(mod, socket, unauthedPerIp)), mod.log);
    for (const s of plain) mod.server.registerListener('c2s', s);
    // XEP-0368 direct TLS: encrypted from the first byte, ALPN 'xmpp-client'.
    const direct = await listenAll(
      cfg.interfaces,
      cfg.direct_tls_ports,
      () =>
        createTlsServer(
          { ...tlsContexts.serverOptions(), ALPNProtocols: ['xmpp-client'] },
          (socket) => acceptClient(mod, socket, unauthedPerIp),
        ),
      mod.log,
    );
    for (const s of direct) mod.server.registerListener('c2s_direct_tls', s);
    const servers: NetServer[] = [...plain, ...direct];
    mod.onUnload(async () => {
      for (const s of servers) {
        mod.server.unregisterListener(s);
        await new Promise<void>((r) => s.close(() => r()));
      }
    });
  },
});

function acceptClient(mod: ModuleApi, socket: Socket, unauthedPerIp: Map<string, number>): void {
  const server = mod.server;
  const cfg = server.config.c2s;
  const id = newSessionId('c2s');
  const conn: SocketConnection = new SocketConnection(socket, {
    data: (data) => {
      session.lastActivity = Date.now(); // read by the ping module to find idle connections
      stream.feed(data);
    },
    error: (err) => log.debug({ err: err.message }, 'socket error'),
    close: () => onClose(),
  });
  const ip = conn.remoteAddress;
  const log = mod.log.child({ session: id, ip });

  const count = (unauthedPerIp.get(ip) ?? 0) + 1;
  unauthedPerIp.set(ip, count);
  let countedUnauthed = true;
  const releaseUnauthed = () => {
    if (!countedUnauthed) return;
    countedUnauthed = false;
    const n = (unauthedPerIp.get(ip) ?? 1) - 1;
    if (n <= 0) unauthedPerIp.delete(ip);
    else unauthedPerIp.set(ip, n);
  };

  const stream: XmppStream = new XmppStream(conn, NS.client, server.config.limits, log, {
    streamOpen: (header, contentNs) => onStreamOpen(header, contentNs),
    element: (el) => onElement(el),
    streamClose: () => log.debug('client closed the stream'),
  });

  const session: C2SUnauthedSession = {
    type: 'c2s_unauthed',
    id,
    conn,
    notopen: true,
    secure: conn.encrypted,
    ip,
    streamId: '',
    log,
    destroyed: false,
    send: (stanza) => stream.send(stanza),
    close: (reason) => stream.close(reason),
    resetStream: () => {
      session.notopen = true;
      session.secure = conn.encrypted;
      stream.restart();
    },
  };
  server.sessions.add(session);
  log.debug({ port: socket.localPort }, 'client connected');

  if (count > cfg.max_unauthed_per_ip) {
    log.warn({ count }, 'too many unauthenticated connections from this address');
    session.close({ condition: 'policy-violation', text: 'too many unauthenticated connections from your address' });
  }

  const authTimer = setTimeout(() => {
    if (session.type === 'c2s_unauthed' && !session.destroyed) {
      log.info('closing a connection that did not authenticate in time');
      session.close({ condition: 'connection-timeout', text: 'authentication took too long' });
    }
  }, cfg.auth_timeout);
  authTimer.unref();

  // The session object changes type in place as it authenticates.
  const current = (): C2SUnauthedSession | C2SSession => session as C2SUnauthedSession | C2SSession;

  function onClose(): void {
    clearTimeout(authTimer);
    releaseUnauthed();
    stream.disposed();
    log.debug('client disconnected');
    server.sessions.destroySession(current(), stream.closeReason);
  }

  function onStreamOpen(header: Element, contentNs: string): void {
    const s = current();
    if (header.name !== 'stream' || header.xmlns !== NS_STREAM) {
      s.close({ condition: 'invalid-namespace', text: 'the stream element must be <stream:stream> in the streams namespace' });
      return;
    }
    if (contentNs !== NS.client) {
      s.close({ condition: 'invalid-namespace', text: `client streams use the ${NS.client} namespace` });
      return;
    }
    const to = header.attrs.to;
    let host: string;
    try {
      if (to === undefined || to === '') throw new Error('missing');
      host = prepareDomain(to);
    } catch {
      s.close({ condition: 'host-unknown', text: "the stream header needs a valid 'to' naming a domain served here" });
      return;
    }
    const previous = s.notopen && s.streamId === '' ? undefined : s.host;
    if (previous !== undefined && previous !== host) {
      s.close({ condition: 'not-authorized', text: "the 'to' attribute must stay the same across stream restarts" });
      return;
    }
    if (!server.hosts.has(host)) {
      s.close({ condition: 'host-unknown', text: `this server does not serve ${host}` });
      return;
    }
    const version = header.attrs.version ?? '0.0';
    const major = Number.parseInt(version.split('.')[0] ?? '0', 10);
    if (major !== 1) {
      stream.openStream({ from: host });
      s.close({ condition: 'unsupported-version', text: 'only XMPP 1.0 streams are supported' });
      return;
    }
    if (s.type === 'c2s_unauthed') s.host = host;
    s.notopen = false;
    s.secure = conn.encrypted;
    s.streamId = stream.openStream({ from: host, lang: header.attrs['xml:lang'] });
    const features = new Element('features', undefined, NS_STREAM);
    server.hosts.get(host)?.events.fire('stream-features', { origin: s, features });
    s.send(features);
  }

  function onElement(el: Element): void {
    const s = current();
    if (s.notopen) return;
    const isStanza = el.xmlns === NS.client && (el.name === 'message' || el.name === 'presence' || el.name === 'iq');
    // Non-stanza elements (<starttls/>, <auth/>, …) and, until a resource is bound, stanzas
    // (the bind iq) are offered to the modules first.
    const bound = s.type === 'c2s' && s.resource !== undefined;
    if (!isStanza || !bound) {
      const ctx = server.hosts.get(s.host ?? '');
      if (ctx?.events.fire('stream-element', { origin: s, element: el })) {
        if (s.type !== 'c2s_unauthed') {
          clearTimeout(authTimer);
          releaseUnauthed();
        }
        return;
      }
      if (!isStanza) {
        s.close({ condition: 'unsupported-stanza-type', text: `<${el.name} xmlns='${el.xmlns}'/> is not understood here` });
        return;
      }
    }
    if (s.type === 'c2s_unauthed') {
      s.close({ condition: 'not-authorized', text: 'authenticate before sending stanzas' });
      return;
    }
    server.router.fromClient(s, el);
  }
}
