/**
 * Incoming server-to-server streams: header checks (jabber:server, `to` served here), STARTTLS
 * (required; the peer's certificate is requested), SASL EXTERNAL for a peer whose certificate
 * names it, dialback as receiving server (db:result, several domain pairs per stream) and as
 * authoritative server (db:verify), and the address checks on every stanza before routing.
 * Stanzas never go back on an incoming stream: the session's send() routes them out.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { Element, NS_STREAM } from '../../xml/element.js';
import { NS } from '../../xml/ns.js';
import { XmppStream } from '../../core/xmpp-stream.js';
import { isStanza, newSessionId, type Framing, type S2SSession, type S2SUnauthedSession } from '../../core/session.js';
import { SocketConnection } from '../../net/socket-connection.js';
import { prepareDomain, tryParseJid } from '../../jid/index.js';
import { answer, authoritativeAnswer, dialbackFeature, dialbackWire, NS_BIDI, NS_BIDI_FEATURE, NS_DIALBACK } from './dialback.js';
import { writeStreamHeader, type S2SContext } from './context.js';

export interface IncomingHandle {
  readonly session: S2SUnauthedSession | S2SSession;
  /** Authenticated (from domain, to domain) pairs. */
  readonly pairs: ReadonlySet<string>;
}

function safeDomain(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  try {
    return prepareDomain(value);
  } catch {
    return undefined;
  }
}

const pairKey = (from: string, to: string) => `${from} ${to}`;

export function acceptIncoming(ctx: S2SContext, socket: Socket, live: Set<IncomingHandle>): void {
  const { server, security, stats } = ctx;
  /** Domains a peer may address: our hosts and our components. */
  const served = (domain: string) => server.serves(domain);
  const id = newSessionId('s2sin');
  const log = ctx.log.child({ s2s: 'in', session: id, ip: socket.remoteAddress });
  const pairs = new Set<string>();
  let streamTo: string | undefined;
  let streamFrom: string | undefined;
  let saslDone = false;
  /** The domain SASL EXTERNAL authenticated. */
  let saslFrom: string | undefined;
  /** XEP-0288: the peer asked for a bidirectional stream; its authenticated pairs become routes for us. */
  let bidi = false;
  const withdrawRoutes: Array<() => void> = [];
  stats.incomingStreams++;

  const conn = new SocketConnection(socket, {
    data: (d) => {
      session.lastActivity = Date.now();
      s.feed(d);
    },
    error: (err) => log.debug({ err: err.message }, 'socket error'),
    close: () => {
      clearTimeout(authTimer);
      for (const withdraw of withdrawRoutes.splice(0)) withdraw();
      live.delete(handle);
      s.disposed();
      log.debug('incoming s2s connection closed');
      server.sessions.connectionClosed(current(), conn);
    },
  });
  const s = new XmppStream(conn, NS.server, server.config.limits, log, {
    streamOpen: (header, ns) => onStreamOpen(header, ns),
    element: (el) => onElement(el),
    streamClose: () => log.debug('remote closed the stream'),
  });

  // Replies to what this peer sent leave over our outgoing stream, never this one.
  const framing: Framing = {
    send: (data) => {
      if (data instanceof Element && isStanza(data)) {
        const fromDomain = tryParseJid(data.attrs.from ?? '')?.domain ?? streamTo;
        // A component's replies have no host of their own: any local session routes them.
        const host = (fromDomain !== undefined ? server.hosts.get(fromDomain) : undefined) ?? server.hosts.values().next().value;
        if (host) server.router.route(host.session, data);
        return;
      }
      s.send(data);
    },
    close: (reason) => s.close(reason),
    restart: () => s.restart(),
    get closeReason() {
      return s.closeReason;
    },
    get ended() {
      return s.ended;
    },
  };
  const session: S2SUnauthedSession = server.sessions.create(conn, framing, { type: 's2s_unauthed', id, log, direction: 'incoming' });
  const handle: IncomingHandle = { session, pairs };
  live.add(handle);
  log.info({ port: socket.localPort, directTls: conn.encrypted }, 'incoming s2s connection');

  const authTimer = setTimeout(() => {
    if (pairs.size === 0 && !session.destroyed) {
      log.info('closing an incoming stream that did not authenticate in time');
      stats.authFailures++;
      session.close({ condition: 'connection-timeout', text: 'authentication took too long' });
    }
  }, ctx.options.authTimeout);
  authTimer.unref();

  const current = (): S2SUnauthedSession | S2SSession => session as S2SUnauthedSession | S2SSession;

  function onStreamOpen(header: Element, ns: string): void {
    if (header.name !== 'stream' || header.xmlns !== NS_STREAM || ns !== NS.server) {
      s.close({ condition: 'invalid-namespace', text: 'server streams are <stream:stream> carrying jabber:server' });
      return;
    }
    const to = safeDomain(header.attrs.to);
    if (to === undefined || !served(to)) {
      s.close({ condition: 'host-unknown', text: `this server does not serve ${header.attrs.to ?? '(no to)'}` });
      return;
    }
    if (streamTo !== undefined && streamTo !== to) {
      s.close({ condition: 'not-authorized', text: "the 'to' attribute must stay the same across stream restarts" });
      return;
    }
    if (header.attrs.from !== undefined) {
      const from = safeDomain(header.attrs.from);
      if (from === undefined) {
        s.close({ condition: 'invalid-from', text: 'the from attribute is not a domain' });
        return;
      }
      streamFrom = from;
    }
    streamTo = to;
    if (!(header.attrs.version ?? '').startsWith('1.')) {
      writeStreamHeader(s, { from: to });
      s.close({ condition: 'unsupported-version', text: 'only XMPP 1.0 streams are supported' });
      return;
    }
    session.notopen = false;
    session.secure = conn.encrypted;
    session.streamId = randomBytes(12).toString('base64url');
    writeStreamHeader(s, { from: to, to: streamFrom, id: session.streamId });
    s.send(features());
    // After SASL success and this restart, the authenticated pair may be used the other way.
    if (saslFrom !== undefined && withdrawRoutes.length === 0) offerBidiRoute(saslFrom, to);
  }

  function features(): Element {
    const f = new Element('features', undefined, NS_STREAM);
    if (!conn.encrypted) {
      f.c('starttls', { xmlns: NS.tls }).c('required');
      return f;
    }
    if (!saslDone && streamFrom !== undefined) {
      const peer = security.checkPeer(conn.tlsSocket, streamFrom);
      if (peer.valid) f.c('mechanisms', { xmlns: NS.sasl }).c('mechanism').t('EXTERNAL');
      else log.info({ from: streamFrom, reason: peer.reason }, 'peer certificate not valid: SASL EXTERNAL not offered');
    }
    const dialbackAllowed = streamFrom !== undefined ? !security.requiresCertificate(streamFrom) : !server.config.s2s.secure_auth;
    if (dialbackAllowed) f.cnode(dialbackFeature());
    if (server.config.s2s.bidi && pairs.size === 0) f.c('bidi', { xmlns: NS_BIDI_FEATURE });
    return f;
  }

  function onElement(el: Element): void {
    if (session.notopen) return;
    if (el.is('starttls', NS.tls)) startTls();
    else if (el.is('auth', NS.sasl)) saslExternal(el);
    else if (el.is('result', NS_DIALBACK)) dialbackResult(el);
    else if (el.is('verify', NS_DIALBACK)) dialbackVerify(el);
    else if (el.is('bidi', NS_BIDI)) requestBidi();
    else if (el.xmlns === NS.server && (el.name === 'message' || el.name === 'presence' || el.name === 'iq')) stanza(el);
    else s.close({ condition: 'unsupported-stanza-type', text: `<${el.name} xmlns='${el.xmlns}'/> is not understood here` });
  }

  function startTls(): void {
    if (conn.encrypted) {
      s.send(new Element('failure', { xmlns: NS.tls }));
      s.close();
      return;
    }
    s.send(new Element('proceed', { xmlns: NS.tls }));
    conn
      .startTls({ secureContext: security.serverContext(streamTo), SNICallback: security.sniCallback, requestCert: true, rejectUnauthorized: false })
      .then(() => {
        log.debug({ protocol: conn.tlsSocket?.getProtocol() }, 'TLS established');
        session.resetStream();
      })
      .catch((err: Error) => {
        log.info({ err: err.message }, 'TLS handshake failed');
        conn.destroy();
      });
  }

  /** XEP-0288 §2.2: after TLS, before authenticating; no answer. Ignored when not offered. */
  function requestBidi(): void {
    if (bidi || !conn.encrypted || !server.config.s2s.bidi || pairs.size > 0) {
      log.debug('ignoring a bidi request that was not offered');
      return;
    }
    bidi = true;
    stats.bidiStreams++;
    log.debug('the peer asked for a bidirectional stream');
  }

  function saslFailure(condition: string, why: string): void {
    stats.authFailures++;
    log.info({ reason: why }, 'SASL EXTERNAL refused');
    s.send(new Element('failure', { xmlns: NS.sasl }).c(condition).up());
  }

  function saslExternal(el: Element): void {
    if (saslDone || streamTo === undefined) return saslFailure('not-authorized', 'already authenticated');
    if (el.attrs.mechanism !== 'EXTERNAL') return saslFailure('invalid-mechanism', `mechanism ${el.attrs.mechanism ?? '(none)'}`);
    const text = el.getText().trim();
    let authzid: string | undefined = streamFrom;
    if (text !== '' && text !== '=') {
      authzid = safeDomain(Buffer.from(text, 'base64').toString('utf8'));
      if (authzid === undefined || (streamFrom !== undefined && authzid !== streamFrom)) return saslFailure('invalid-authzid', 'the authorization identity is not the stream from');
    }
    if (authzid === undefined) return saslFailure('not-authorized', 'no identity given');
    const check = security.checkPeer(conn.tlsSocket, authzid);
    if (!check.valid) return saslFailure('not-authorized', check.reason ?? 'certificate not valid');
    s.send(new Element('success', { xmlns: NS.sasl }));
    saslDone = true;
    saslFrom = authzid;
    authenticated(authzid, streamTo, 'SASL EXTERNAL');
    session.resetStream();
  }

  function authenticated(from: string, to: string, method: string): void {
    pairs.add(pairKey(from, to));
    clearTimeout(authTimer);
    if (method === 'dialback') stats.authDialback++;
    else stats.authExternal++;
    const sess = current();
    if (sess.type === 's2s_unauthed' && !server.sessions.makeS2SAuthenticated(sess, from, to, method === 'dialback' ? 'dialback' : 'SASL EXTERNAL')) {
      log.info({ from, to, method }, 'incoming s2s stream refused by a pre-s2s-authenticated handler');
      s.close({ condition: 'policy-violation', text: `${from} may not connect to ${to}` });
      return;
    }
    log.info({ from, to, method, bidi }, 'incoming s2s stream authenticated');
  }

  /**
   * On a bidirectional stream, stanzas from `to` to `from` (an authenticated pair, reversed) may
   * use it from now on: called once the peer can take stanzas (after the dialback answer; after
   * the stream restart that follows SASL success).
   */
  function offerBidiRoute(from: string, to: string): void {
    if (!bidi || session.destroyed || !pairs.has(pairKey(from, to))) return;
    withdrawRoutes.push(
      ctx.bidiRoutes.addBidiRoute(to, from, {
        send: (stanza) => {
          session.lastActivity = Date.now();
          s.send(stanza);
        },
      }),
    );
  }

  function dialbackResult(el: Element): void {
    const from = safeDomain(el.attrs.from);
    const to = safeDomain(el.attrs.to);
    const key = el.getText().trim();
    const reply = (type: 'valid' | 'invalid' | 'error', condition?: Parameters<typeof answer>[3], text?: string) =>
      s.send(dialbackWire(answer('result', { from: el.attrs.to ?? '', to: el.attrs.from ?? '' }, type, condition, text)));
    if (!conn.encrypted) {
      s.close({ condition: 'policy-violation', text: 'use STARTTLS before authenticating' });
      return;
    }
    if (from === undefined || to === undefined || key === '') return reply('error', 'bad-request', 'db:result needs from, to and a key');
    if (!served(to)) return reply('error', 'item-not-found', `this server does not serve ${to}`);
    if (security.requiresCertificate(from)) {
      stats.authFailures++;
      log.info({ from, to }, 'dialback refused: this domain must authenticate with a certificate');
      return reply('error', 'policy-violation', 'dialback is not accepted for your domain: a valid certificate is required');
    }
    if (pairs.has(pairKey(from, to))) return reply('valid');
    const streamId = session.streamId;
    ctx.verifier
      .verify(to, from, streamId, key)
      .then((result) => {
        if (session.destroyed) return;
        if (result === 'valid') {
          authenticated(from, to, 'dialback');
          reply('valid');
          offerBidiRoute(from, to);
          return;
        }
        stats.authFailures++;
        if (result === 'invalid') {
          log.info({ from, to }, 'dialback failed: the authoritative server says the key is invalid');
          reply('invalid');
        } else {
          log.info({ from, to, condition: result.error, reason: result.text }, 'dialback failed: the key could not be verified');
          reply('error', result.error, result.text ?? `could not verify the key with ${from}`);
        }
      })
      .catch((err: unknown) => log.error({ err }, 'dialback verification failed'));
  }

  /** As the authoritative server: is this key one of ours for (receiving, originating, stream id)? */
  function dialbackVerify(el: Element): void {
    const result = authoritativeAnswer(el, ctx.secret, served);
    if (!result) {
      s.close({ condition: 'improper-addressing', text: 'db:verify needs from, to and id' });
      return;
    }
    stats.dialbackVerifiesAnswered++;
    log.debug({ receiving: el.attrs.from, originating: el.attrs.to, valid: result.valid }, 'answered a dialback verification');
    s.send(dialbackWire(result.answer));
  }

  function stanza(el: Element): void {
    if (pairs.size === 0) {
      s.close({ condition: 'not-authorized', text: 'authenticate before sending stanzas' });
      return;
    }
    const fromAttr = el.attrs.from;
    const toAttr = el.attrs.to;
    if (fromAttr === undefined || toAttr === undefined || fromAttr === '' || toAttr === '') {
      s.close({ condition: 'improper-addressing', text: 'stanzas between servers need both from and to' });
      return;
    }
    const from = tryParseJid(fromAttr);
    if (!from) {
      s.close({ condition: 'invalid-from', text: 'the from address is not a valid JID' });
      return;
    }
    const to = tryParseJid(toAttr);
    if (!to) {
      s.close({ condition: 'improper-addressing', text: 'the to address is not a valid JID' });
      return;
    }
    if (!served(to.domain)) {
      s.close({ condition: 'host-unknown', text: `this server does not serve ${to.domain}` });
      return;
    }
    if (!pairs.has(pairKey(from.domain, to.domain))) {
      s.close({ condition: 'invalid-from', text: `${from.domain} is not authenticated for ${to.domain} on this stream` });
      return;
    }
    stats.stanzasIn++;
    const stanza = server.sessions.receive(current(), el);
    if (stanza !== undefined) server.router.route(current(), stanza);
  }
}
