/**
 * One external component connection (XEP-0114, jabber:component:accept): the stream header
 * naming the component's domain, the <handshake/>, then stanzas both ways.
 *
 * Until the handshake succeeds the connection is kept out of the SessionManager (the session
 * union has no "component_unauthed" type); the module tracks it and closes it at unload.
 * Afterwards it is a registered `component` session with `host` = the domain.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { escapeAttr } from '../../xml/escape.js';
import { Element, NS_STREAM } from '../../xml/element.js';
import { NS } from '../../xml/ns.js';
import { prepareDomain } from '../../jid/index.js';
import type { Logger } from '../../core/logging.js';
import type { ModuleServer } from '../../core/server.js';
import { newSessionId, type ComponentSession, type Framing } from '../../core/session.js';
import { XmppStream, describeReason } from '../../core/xmpp-stream.js';
import type { ExternalComponent } from '../../core/components.js';
import { SocketConnection } from '../../net/socket-connection.js';
import { verifyHandshake } from './handshake.js';
import { checkComponentAddresses, isComponentStanza, toClientNamespace } from './addressing.js';

/** What happens when a component authenticates while another stream serves its domain. */
export type ConflictPolicy = 'refuse_new' | 'kick_old';

export interface ExternalOptions {
  authTimeoutMs: number;
  onConflict: ConflictPolicy;
}

/** The module's view of a connection that has not authenticated yet. */
export interface PendingConnection {
  close(): void;
}

export function acceptComponent(
  server: ModuleServer,
  parentLog: Logger,
  socket: Socket,
  options: ExternalOptions,
  pending: Set<PendingConnection>,
): void {
  const id = newSessionId('comp');
  let authenticated = false;
  let entry: ExternalComponent | undefined;
  /** Elements that came while the handshake's cluster claim was under way: handled after it. */
  let claiming: Element[] | undefined;

  const conn = new SocketConnection(socket, {
    data: (chunk) => {
      session.lastActivity = Date.now();
      framing.feed(chunk);
    },
    error: (err) => log.debug({ err: err.message }, 'socket error'),
    close: () => connectionClosed(),
  });
  const log = parentLog.child({ session: id, ip: conn.remoteAddress });
  // The socket reports nothing before the next tick, so the handlers above may refer to these.
  const framing: XmppStream = new XmppStream(conn, NS.componentAccept, server.config.limits, log, {
    streamOpen: (header, contentNs) => onStreamOpen(header, contentNs),
    element: (el) => onElement(el),
    streamClose: () => log.debug('component closed the stream'),
  });

  const sending: Framing = {
    send: (stanza) => {
      // Counted here rather than in route/component so error replies the router sends back count too.
      if (authenticated && entry && typeof stanza !== 'string') entry.stanzasOut++;
      framing.send(stanza);
    },
    close: (reason) => framing.close(reason),
    // Component streams are never restarted (no STARTTLS, no SASL).
    restart: () => {},
    get closeReason() {
      return framing.closeReason;
    },
    get ended() {
      return framing.ended;
    },
  };
  const session: ComponentSession = server.sessions.create(conn, sending, { type: 'component', id, log, host: '' });
  const pendingHandle: PendingConnection = { close: () => session.close({ condition: 'system-shutdown' }) };
  pending.add(pendingHandle);
  server.components.counters.connections++;
  log.info({ port: socket.localPort }, 'component connection');

  const authTimer = setTimeout(() => {
    if (!authenticated && !session.destroyed) {
      log.info({ domain: entry?.domain }, 'closing a component connection that did not authenticate in time');
      session.close({ condition: 'connection-timeout', text: 'the handshake took too long' });
    }
  }, options.authTimeoutMs);
  authTimer.unref();

  function onStreamOpen(header: Element, contentNs: string): void {
    if (!session.notopen) return;
    if (header.name !== 'stream' || header.xmlns !== NS_STREAM) {
      session.close({ condition: 'invalid-namespace', text: 'the stream element must be <stream:stream> in the streams namespace' });
      return;
    }
    if (contentNs !== NS.componentAccept) {
      session.close({ condition: 'invalid-namespace', text: `component streams use the ${NS.componentAccept} namespace` });
      return;
    }
    let domain: string;
    try {
      domain = prepareDomain(header.attrs.to ?? '');
    } catch {
      session.close({ condition: 'host-unknown', text: "the stream header needs a 'to' naming the component's domain" });
      return;
    }
    const found = server.components.get(domain);
    if (found?.kind !== 'external') {
      // Unknown, or served by a module in this process: no external program may claim it.
      log.info({ domain }, 'component stream for a domain that is not an external component');
      session.close({ condition: 'host-unknown', text: `${domain} is not an external component of this server` });
      return;
    }
    entry = found;
    session.host = domain;
    session.notopen = false;
    session.streamId = openStream(domain);
    if (found.session && options.onConflict === 'refuse_new') {
      log.info({ domain }, 'component already connected: refusing the new stream');
      session.close({ condition: 'conflict', text: `a component is already connected for ${domain}` });
    }
  }

  /** Our header per XEP-0114 example 2: no version (this is not an RFC 6120 stream), no features. */
  function openStream(domain: string): string {
    const streamId = randomBytes(12).toString('hex');
    conn.write(
      `<?xml version='1.0'?><stream:stream xmlns='${NS.componentAccept}' xmlns:stream='${NS_STREAM}' id='${streamId}' from='${escapeAttr(domain)}'>`,
    );
    framing.headerSent = true;
    return streamId;
  }

  function onElement(el: Element): void {
    if (claiming) {
      claiming.push(el);
      return;
    }
    if (session.notopen || !entry) return;
    if (!authenticated) {
      if (el.is('handshake', NS.componentAccept)) handshake(entry, el);
      else session.close({ condition: 'not-authorized', text: 'send the <handshake/> before anything else' });
      return;
    }
    if (el.is('handshake', NS.componentAccept)) return; // a repeated handshake changes nothing
    if (!isComponentStanza(el)) {
      session.close({ condition: 'unsupported-stanza-type', text: `<${el.name} xmlns='${el.xmlns}'/> is not a stanza` });
      return;
    }
    const check = checkComponentAddresses(el, entry.domain);
    if (!check.ok) {
      log.info({ condition: check.condition, from: el.attrs.from, to: el.attrs.to }, 'closing a component stream on bad addressing');
      session.close({ condition: check.condition, text: check.text });
      return;
    }
    entry.stanzasIn++;
    const stanza = server.sessions.receive(session, toClientNamespace(el));
    if (stanza !== undefined) server.router.route(session, stanza);
  }

  function handshake(target: ExternalComponent, el: Element): void {
    if (!verifyHandshake(el.getText(), session.streamId, target.secret)) {
      server.components.counters.authFailed++;
      log.warn({ domain: target.domain, ip: session.ip }, 'component authentication failed');
      session.close({ condition: 'not-authorized', text: 'the handshake does not match the shared secret' });
      return;
    }
    const placement = server.components.placement;
    if (!placement) {
      if (!conflictSettled(target)) accept(target);
      return;
    }
    // In a cluster the domain is held by one node at a time (docs/scaling.md): the same rule
    // decides between this connection and one on another node.
    if (target.session && options.onConflict === 'refuse_new') {
      refuse(target.domain);
      return;
    }
    claiming = [];
    void placement.claim(target.domain, options.onConflict === 'kick_old').then(
      (ok) => afterClaim(target, ok),
      (err: unknown) => {
        log.error({ err, domain: target.domain }, 'claiming the component\'s domain in the cluster failed');
        afterClaim(target, false);
      },
    );
  }

  function afterClaim(target: ExternalComponent, ok: boolean): void {
    const queued = claiming ?? [];
    claiming = undefined;
    if (session.destroyed || framing.ended) {
      // Closed while the claim ran: give the domain back unless another connection here holds it.
      if (ok && !target.session) server.components.placement?.release(target.domain);
      return;
    }
    if (!ok) {
      log.info({ domain: target.domain }, 'component already connected on another cluster node: refusing the new stream');
      session.close({ condition: 'conflict', text: `a component is already connected for ${target.domain} on another cluster node (or this node cannot reach the cluster)` });
      return;
    }
    if (conflictSettled(target)) return;
    accept(target);
    for (const el of queued) {
      if (session.destroyed || framing.ended) break;
      onElement(el);
    }
  }

  function refuse(domain: string): void {
    log.info({ domain }, 'component already connected: refusing the new stream');
    session.close({ condition: 'conflict', text: `a component is already connected for ${domain}` });
  }

  /** Another connection here serves the domain: true when this one was refused (refuse_new); with kick_old the other is closed. */
  function conflictSettled(target: ExternalComponent): boolean {
    const existing = target.session;
    if (!existing) return false;
    if (options.onConflict === 'refuse_new') {
      refuse(target.domain);
      return true;
    }
    log.info({ domain: target.domain, replaced: existing.id }, 'component replaces its previous connection');
    target.session = undefined;
    existing.close({ condition: 'conflict', text: 'replaced by a new connection' });
    return false;
  }

  function accept(target: ExternalComponent): void {
    authenticated = true;
    clearTimeout(authTimer);
    pending.delete(pendingHandle);
    server.components.counters.authSucceeded++;
    target.session = session;
    session.log = log.child({ component: target.domain });
    log.info({ domain: target.domain, ip: session.ip }, 'component authenticated');
    framing.send(new Element('handshake', undefined, NS.componentAccept));
  }

  function connectionClosed(): void {
    clearTimeout(authTimer);
    framing.disposed();
    pending.delete(pendingHandle);
    if (!authenticated) {
      log.debug('unauthenticated component connection closed');
    } else {
      if (entry && entry.session === session) {
        entry.session = undefined;
        server.components.placement?.release(entry.domain);
      }
      log.info({ domain: session.host, reason: describeReason(framing.closeReason) }, 'component disconnected');
    }
    server.sessions.connectionClosed(session, conn);
  }
}
