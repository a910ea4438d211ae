/**
 * Outgoing server-to-server streams: one per (local domain, remote domain), made on the first
 * stanza and reused. Stanzas wait in a bounded queue while the stream connects (targets from
 * resolve.ts tried in turn), upgrades with STARTTLS, and authenticates with SASL EXTERNAL when
 * the peer's certificate is valid and EXTERNAL is offered, else with dialback. When it cannot
 * be made the queue is bounced: remote-server-timeout if an attempt timed out, otherwise
 * remote-server-not-found. The same stream carries our db:verify requests as a receiving server.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Element, NS_STREAM } from '../../xml/element.js';
import { NS } from '../../xml/ns.js';
import type { StanzaErrorCondition } from '../../xml/stanza.js';
import { XmppStream } from '../../core/xmpp-stream.js';
import { newSessionId, type CloseReason, type Framing, type S2SUnauthedSession, type StanzaOrigin } from '../../core/session.js';
import { SocketConnection } from '../../net/socket-connection.js';
import { authoritativeAnswer, dialbackKey, dialbackWire, NS_BIDI, NS_BIDI_FEATURE, NS_DIALBACK, NS_DIALBACK_FEATURE, resultRequest, verifyRequest } from './dialback.js';
import { tryParseJid } from '../../jid/index.js';
import { resolveTargets, type ConnectTarget } from './resolve.js';
import { writeStreamHeader, type BidiRoute, type BidiRoutes, type DialbackVerifier, type S2SContext, type VerifyResult } from './context.js';

interface Queued {
  stanza: Element;
  origin: StanzaOrigin;
}

class ConnectTimeoutError extends Error {}


export class OutgoingManager implements DialbackVerifier, BidiRoutes {
  private readonly streams = new Map<string, OutgoingStream>();
  /** Incoming streams the peer made bidirectional (XEP-0288), by "local remote". */
  private readonly bidi = new Map<string, BidiRoute>();
  /**
   * Where to connect for a domain. Replaceable (tests, or a future DNSSEC/POSH resolver); the
   * default reads `[s2s.hosts]` at each call, then DNS.
   */
  resolve: (domain: string) => Promise<ConnectTarget[]>;

  constructor(private readonly ctx: S2SContext) {
    this.resolve = (domain) => resolveTargets(domain, ctx.server.config.s2s.hosts, ctx.dns.srv);
  }

  /**
   * Send (or queue) a stanza from `local` to `remote`: over a bidirectional stream the peer
   * opened when there is one, else over our own stream to it (made when there is none).
   */
  send(local: string, remote: string, stanza: Element, origin: StanzaOrigin): void {
    const route = this.bidi.get(`${local} ${remote}`);
    if (route) {
      this.ctx.stats.stanzasOut++;
      route.send(stanza);
      return;
    }
    this.get(local, remote).send(stanza, origin);
  }

  addBidiRoute(local: string, remote: string, route: BidiRoute): () => void {
    const k = `${local} ${remote}`;
    this.bidi.set(k, route);
    // Stanzas already waiting for our own stream leave now, in order, over the peer's stream.
    this.streams.get(k)?.handOver(route);
    return () => {
      if (this.bidi.get(k) === route) this.bidi.delete(k);
    };
  }

  verify(local: string, remote: string, streamId: string, key: string): Promise<VerifyResult> {
    return this.get(local, remote).verify(streamId, key);
  }

  /** The live stream for the pair, made (and started) when there is none. */
  get(local: string, remote: string): OutgoingStream {
    const k = `${local} ${remote}`;
    let s = this.streams.get(k);
    if (!s) {
      s = new OutgoingStream(this.ctx, local, remote, this.resolve, () => {
        if (this.streams.get(k) === s) this.streams.delete(k);
      });
      this.streams.set(k, s);
      s.start();
    }
    return s;
  }

  /** Close authenticated streams that carried nothing for `idleMs`. */
  closeIdle(idleMs: number, now = Date.now()): void {
    for (const s of [...this.streams.values()]) if (s.idleSince(now) > idleMs) s.closeIdle();
  }

  /** For tests and operators: the pairs with a stream, and its state. */
  describe(): Array<{ local: string; remote: string; state: string }> {
    const own = [...this.streams.values()].map((s) => ({ local: s.local, remote: s.remote, state: s.bidi ? `${s.state} (bidirectional)` : s.state }));
    const theirs = [...this.bidi.keys()].map((k) => {
      const [local = '', remote = ''] = k.split(' ');
      return { local, remote, state: 'over the peer\'s bidirectional stream' };
    });
    return [...own, ...theirs];
  }

  shutdown(): void {
    for (const s of [...this.streams.values()]) s.fail('remote-server-not-found', 'server shutting down', { condition: 'system-shutdown' });
  }
}

export class OutgoingStream {
  state: 'connecting' | 'negotiating' | 'authenticating' | 'ready' | 'closed' = 'connecting';
  private readonly queue: Queued[] = [];
  private readonly pendingVerifies = new Map<string, (r: VerifyResult) => void>();
  /** db:verify requests waiting for the stream to be usable (encrypted, features seen). */
  private readonly verifiesToSend: string[] = [];
  private usable = false;
  private stream: XmppStream | undefined;
  private session: S2SUnauthedSession | undefined;
  private remoteStreamId = '';
  private saslDone = false;
  private dialbackOffered = false;
  /** XEP-0288 negotiated: the peer may send its stanzas to us over this stream. */
  bidi = false;
  private lastUsed = Date.now();
  private negotiationTimer: NodeJS.Timeout | undefined;
  private readonly log;

  constructor(
    private readonly ctx: S2SContext,
    readonly local: string,
    readonly remote: string,
    private readonly resolve: (domain: string) => Promise<ConnectTarget[]>,
    private readonly onGone: () => void,
  ) {
    this.log = ctx.log.child({ s2s: 'out', local, remote });
  }

  start(): void {
    this.negotiationTimer = setTimeout(() => {
      if (this.state !== 'ready' && this.state !== 'closed') this.fail('remote-server-timeout', 'the stream was not ready in time', { condition: 'connection-timeout' });
    }, this.ctx.options.negotiationTimeout);
    this.negotiationTimer.unref();
    this.connect().catch((err: unknown) => this.fail('remote-server-not-found', `connecting failed: ${(err as Error).message}`));
  }

  /** A method, so the compiler does not narrow `state` across awaits. */
  isClosed(): boolean {
    return this.state === 'closed';
  }

  idleSince(now: number): number {
    return this.state === 'ready' && this.queue.length === 0 && this.pendingVerifies.size === 0 ? now - this.lastUsed : 0;
  }

  send(stanza: Element, origin: StanzaOrigin): void {
    this.lastUsed = Date.now();
    if (this.state === 'ready' && this.stream) {
      this.ctx.stats.stanzasOut++;
      this.stream.send(stanza);
      return;
    }
    if (this.queue.length >= this.ctx.options.queueSize) {
      this.ctx.stats.stanzasBounced++;
      this.ctx.server.router.bounce(origin, stanza, 'resource-constraint', `too many stanzas waiting for ${this.remote}`);
      return;
    }
    this.queue.push({ stanza, origin });
  }

  verify(streamId: string, key: string): Promise<VerifyResult> {
    this.lastUsed = Date.now();
    if (this.state === 'closed') return Promise.resolve({ error: 'remote-server-not-found', text: `no stream to ${this.remote}` });
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle({ error: 'remote-server-timeout', text: `${this.remote} did not answer the verification in time` }), this.ctx.options.negotiationTimeout);
      timer.unref();
      const settle = (r: VerifyResult) => {
        clearTimeout(timer);
        this.pendingVerifies.delete(streamId);
        resolve(r);
      };
      this.pendingVerifies.get(streamId)?.({ error: 'conflict', text: 'replaced by a newer request for the same stream' });
      this.pendingVerifies.set(streamId, settle);
      const el = dialbackWire(verifyRequest(this.local, this.remote, streamId, key));
      if (this.usable && this.stream) this.stream.send(el);
      else this.verifiesToSend.push(el);
    });
  }

  closeIdle(): void {
    this.log.info('closing idle outgoing stream');
    this.fail('remote-server-not-found', 'idle');
  }

  /** Send what waits in the queue over `route` instead (a bidirectional stream the peer opened). */
  handOver(route: BidiRoute): void {
    if (this.state === 'ready') return;
    for (const q of this.queue.splice(0)) {
      this.ctx.stats.stanzasOut++;
      route.send(q.stanza);
    }
  }

  /**
   * Give up: bounce what is queued with `condition`, answer pending verifications with
   * 'error', close the stream (with `closeWith` if given) and forget this stream.
   */
  fail(condition: StanzaErrorCondition, why: string, closeWith?: CloseReason): void {
    if (this.state === 'closed') return;
    const wasReady = this.state === 'ready';
    this.state = 'closed';
    clearTimeout(this.negotiationTimer);
    if (!wasReady) {
      this.ctx.stats.authFailures += this.stream ? 1 : 0;
      this.log.warn({ reason: why, bounced: this.queue.length }, 'outgoing s2s stream failed');
    } else if (why !== 'idle') {
      this.log.info({ reason: why }, 'outgoing s2s stream closed');
    }
    for (const q of this.queue.splice(0)) {
      this.ctx.stats.stanzasBounced++;
      this.ctx.server.router.bounce(q.origin, q.stanza, condition, wasReady ? undefined : `cannot reach ${this.remote}: ${why}`);
    }
    const error: VerifyResult = { error: condition === 'remote-server-timeout' ? 'remote-server-timeout' : 'remote-server-not-found', text: `cannot reach ${this.remote}: ${why}` };
    for (const settle of [...this.pendingVerifies.values()]) settle(error);
    this.onGone();
    this.stream?.close(closeWith);
  }

  private async connect(): Promise<void> {
    const targets = await this.resolve(this.remote).catch(() => [] as ConnectTarget[]);
    if (targets.length === 0) {
      this.fail('remote-server-not-found', `no address found for ${this.remote}`);
      return;
    }
    let timedOut = false;
    const reasons: string[] = [];
    for (const target of targets) {
      if (this.isClosed()) return;
      try {
        const socket = await this.open(target);
        if (this.isClosed()) {
          socket.destroy();
          return;
        }
        this.attach(socket, target);
        return;
      } catch (err) {
        this.ctx.stats.connectFailures++;
        if (err instanceof ConnectTimeoutError) timedOut = true;
        reasons.push(`${target.host}:${target.port}${target.directTls ? ' (direct TLS)' : ''}: ${(err as Error).message}`);
        this.log.info({ target: `${target.host}:${target.port}`, err: (err as Error).message }, 'connection attempt failed');
      }
    }
    this.fail(timedOut ? 'remote-server-timeout' : 'remote-server-not-found', reasons.join('; '));
  }

  /** One TCP (or direct TLS) connection attempt within connectTimeout. */
  private open(target: ConnectTarget): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket: Socket = target.directTls
        ? tlsConnect({ host: target.host, port: target.port, lookup: this.ctx.dns.lookup, ...this.ctx.security.clientOptions(this.local, this.remote), ALPNProtocols: ['xmpp-server'] })
        : netConnect({ host: target.host, port: target.port, noDelay: true, lookup: this.ctx.dns.lookup });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ConnectTimeoutError(`timed out after ${this.ctx.options.connectTimeout} ms`));
      }, this.ctx.options.connectTimeout);
      socket.once(target.directTls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      });
    });
  }

  private attach(socket: Socket, target: ConnectTarget): void {
    this.state = 'negotiating';
    this.ctx.stats.outgoingStreams++;
    // The stream is made just below; the socket reports nothing before the next tick.
    const conn: SocketConnection = new SocketConnection(socket, {
      data: (d) => stream.feed(d),
      error: (err) => this.log.debug({ err: err.message }, 'socket error'),
      close: () => this.connectionClosed(),
    });
    const id = newSessionId('s2sout');
    const log = this.log.child({ session: id });
    const stream: XmppStream = new XmppStream(conn, NS.server, this.ctx.server.config.limits, log, {
      streamOpen: (header, ns) => this.streamOpen(header, ns),
      element: (el) => this.element(el),
      // Nothing more can be sent on it: the next stanza makes a new stream.
      streamClose: () => this.fail('remote-server-not-found', 'the remote server closed the stream'),
    });
    this.stream = stream;
    const framing: Framing = {
      send: (data) => stream.send(data),
      close: (reason) => (this.state === 'closed' ? stream.close(reason) : this.fail('remote-server-not-found', 'closed locally', reason)),
      restart: () => this.restart(),
      get closeReason() {
        return stream.closeReason;
      },
      get ended() {
        return stream.ended;
      },
    };
    const session: S2SUnauthedSession = this.ctx.server.sessions.create(conn, framing, {
      type: 's2s_unauthed',
      id,
      log,
      direction: 'outgoing',
      fromHost: this.local,
      toHost: this.remote,
    });
    this.session = session;
    log.info({ target: `${target.host}:${target.port}`, directTls: target.directTls }, 'outgoing s2s connection established');
    writeStreamHeader(stream, { from: this.local, to: this.remote });
  }

  private restart(): void {
    if (!this.stream || !this.session) return;
    this.stream.restart();
    this.session.notopen = true;
    this.session.secure = this.session.conn.encrypted;
    writeStreamHeader(this.stream, { from: this.local, to: this.remote });
  }

  private connectionClosed(): void {
    this.stream?.disposed();
    if (this.session) this.ctx.server.sessions.connectionClosed(this.session, this.session.conn);
    this.fail('remote-server-not-found', 'the connection closed');
  }

  private streamOpen(header: Element, ns: string): void {
    if (header.name !== 'stream' || header.xmlns !== NS_STREAM || ns !== NS.server) {
      this.fail('remote-server-not-found', 'the remote stream header is not a jabber:server stream', 'invalid-namespace');
      return;
    }
    if (!(header.attrs.version ?? '').startsWith('1.')) {
      this.fail('remote-server-not-found', 'the remote server does not speak XMPP 1.0', 'unsupported-version');
      return;
    }
    this.remoteStreamId = header.attrs.id ?? '';
    if (this.session) {
      this.session.notopen = false;
      this.session.streamId = this.remoteStreamId;
    }
  }

  private element(el: Element): void {
    if (el.is('features', NS_STREAM)) this.features(el);
    else if (el.is('proceed', NS.tls)) this.upgrade();
    else if (el.is('failure', NS.tls)) this.fail('remote-server-not-found', 'the remote server refused STARTTLS');
    else if (el.is('success', NS.sasl)) {
      this.saslDone = true;
      this.restart();
    } else if (el.is('failure', NS.sasl)) {
      const cond = el.elements[0]?.name ?? 'unknown';
      if (this.dialbackOffered && !this.ctx.security.requiresCertificate(this.remote)) {
        this.log.info({ condition: cond }, 'SASL EXTERNAL refused: trying dialback');
        this.startDialback();
      } else {
        this.fail('remote-server-not-found', `SASL EXTERNAL refused (${cond})`);
      }
    } else if (el.is('result', NS_DIALBACK)) this.dialbackResult(el);
    else if (el.is('verify', NS_DIALBACK)) this.verifyElement(el);
    else if (el.xmlns === NS.server && (el.name === 'message' || el.name === 'presence' || el.name === 'iq')) this.stanzaFromPeer(el);
    else if (el.is('error', NS_STREAM)) {
      const cond = el.elements[0]?.name ?? 'unknown';
      this.fail('remote-server-not-found', `stream error from the remote server: ${cond} ${el.getChildText('text', NS.streams) ?? ''}`.trim());
    } else {
      this.log.debug({ element: el.name, xmlns: el.xmlns }, 'ignoring an element on an outgoing stream');
    }
  }

  private features(features: Element): void {
    const stream = this.stream;
    const conn = this.session?.conn;
    if (!stream || !conn) return;
    if (!conn.encrypted) {
      if (features.getChild('starttls', NS.tls)) stream.send(new Element('starttls', { xmlns: NS.tls }));
      else this.fail('remote-server-not-found', 'the remote server does not offer TLS', 'policy-violation');
      return;
    }
    if (!this.usable) {
      this.usable = true;
      for (const v of this.verifiesToSend.splice(0)) stream.send(v);
    }
    if (this.state === 'ready') return;
    if (this.saslDone) {
      this.authenticated('SASL EXTERNAL');
      return;
    }
    const peer = this.ctx.security.checkPeer(conn.tlsSocket, this.remote);
    const certRequired = this.ctx.security.requiresCertificate(this.remote);
    if (certRequired && !peer.valid) {
      this.fail('remote-server-not-found', `the certificate of ${this.remote} is not valid and secure authentication is required: ${peer.reason ?? ''}`, 'policy-violation');
      return;
    }
    if (!this.bidi && this.ctx.server.config.s2s.bidi && features.getChild('bidi', NS_BIDI_FEATURE)) {
      // XEP-0288 §2.2: asked for before authenticating; there is no answer to wait for.
      this.bidi = true;
      this.ctx.stats.bidiStreams++;
      this.log.debug('requesting a bidirectional stream');
      stream.send(new Element('bidi', { xmlns: NS_BIDI }));
    }
    const mechanisms = features.getChild('mechanisms', NS.sasl)?.getChildren('mechanism').map((m) => m.getText().trim()) ?? [];
    this.dialbackOffered = features.getChild('dialback', NS_DIALBACK_FEATURE) !== undefined;
    this.state = 'authenticating';
    if (peer.valid && mechanisms.includes('EXTERNAL')) {
      this.log.debug('authenticating with SASL EXTERNAL');
      stream.send(new Element('auth', { xmlns: NS.sasl, mechanism: 'EXTERNAL' }).t(Buffer.from(this.local).toString('base64')));
      return;
    }
    if (certRequired) {
      this.fail('remote-server-not-found', `${this.remote} does not accept our certificate (no SASL EXTERNAL) and secure authentication is required`, 'policy-violation');
      return;
    }
    if (!peer.valid) this.log.info({ reason: peer.reason }, 'remote certificate not valid: using dialback');
    if (!this.dialbackOffered) {
      this.fail('remote-server-not-found', 'the remote server offers neither SASL EXTERNAL for us nor dialback');
      return;
    }
    this.startDialback();
  }

  private upgrade(): void {
    const conn = this.session?.conn;
    if (!(conn instanceof SocketConnection)) return;
    conn
      .startTlsClient(this.ctx.security.clientOptions(this.local, this.remote))
      .then(() => {
        this.log.debug({ protocol: conn.tlsSocket?.getProtocol() }, 'TLS established');
        this.restart();
      })
      .catch((err: Error) => {
        this.ctx.stats.connectFailures++;
        this.fail('remote-server-not-found', `TLS handshake failed: ${err.message}`);
        conn.destroy();
      });
  }

  private startDialback(): void {
    this.log.debug('authenticating with dialback');
    this.state = 'authenticating';
    this.stream?.send(dialbackWire(resultRequest(this.local, this.remote, dialbackKey(this.ctx.secret, this.remote, this.local, this.remoteStreamId))));
  }

  private dialbackResult(el: Element): void {
    if (el.attrs.from !== this.remote || el.attrs.to !== this.local) return;
    const type = el.attrs.type;
    if (type === 'valid') {
      this.authenticated('dialback');
      return;
    }
    const cond = el.getChild('error')?.elements[0]?.name;
    this.fail('remote-server-not-found', `dialback refused by ${this.remote} (${type ?? 'no type'}${cond !== undefined ? `: ${cond}` : ''})`);
  }

  /** A db:verify on our stream: the answer to one of our requests, or (some peers send them on any stream) a request to answer. */
  private verifyElement(el: Element): void {
    const type = el.attrs.type;
    if (type === undefined) {
      const result = authoritativeAnswer(el, this.ctx.secret, (d) => this.ctx.server.serves(d));
      if (!result) {
        this.fail('remote-server-not-found', 'a db:verify request without from, to or id', 'improper-addressing');
        return;
      }
      this.ctx.stats.dialbackVerifiesAnswered++;
      this.log.debug({ receiving: el.attrs.from, valid: result.valid }, 'answered a dialback verification on an outgoing stream');
      this.stream?.send(dialbackWire(result.answer));
      return;
    }
    const id = el.attrs.id;
    if (id === undefined || el.attrs.from !== this.remote || el.attrs.to !== this.local) return;
    const settle = this.pendingVerifies.get(id);
    if (!settle) return;
    if (type === 'valid' || type === 'invalid') settle(type);
    else {
      const error = el.getChild('error');
      const condition = error?.elements.find((c) => c.xmlns === NS.stanzas && c.name !== 'text')?.name as StanzaErrorCondition | undefined;
      settle({ error: condition ?? 'remote-server-not-found', text: error?.getChildText('text', NS.stanzas) ?? `${this.remote} answered the verification with an error` });
    }
  }

  /**
   * A stanza the peer sent on our stream: only on a bidirectional stream, once authenticated, and
   * only from the peer's domain to ours (XEP-0288 §2.2: what the stream authenticated, reversed).
   */
  private stanzaFromPeer(el: Element): void {
    const session = this.session;
    if (!session) return;
    if (!this.bidi || this.state !== 'ready') {
      this.fail('remote-server-not-found', `the remote server sent a <${el.name}/> on a stream that is not bidirectional`, { condition: 'unsupported-stanza-type', text: 'this stream is not bidirectional' });
      return;
    }
    const from = tryParseJid(el.attrs.from ?? '');
    const to = tryParseJid(el.attrs.to ?? '');
    if (!from || !to) {
      this.fail('remote-server-not-found', 'a stanza without valid from and to on a bidirectional stream', 'improper-addressing');
      return;
    }
    if (from.domain !== this.remote || to.domain !== this.local) {
      this.fail('remote-server-not-found', `a stanza from ${from.domain} to ${to.domain} on the bidirectional stream ${this.local} → ${this.remote}`, { condition: 'invalid-from', text: `only ${this.remote} → ${this.local} is authenticated on this stream` });
      return;
    }
    this.lastUsed = Date.now();
    this.ctx.stats.stanzasIn++;
    const stanza = this.ctx.server.sessions.receive(session, el);
    if (stanza !== undefined) this.ctx.server.router.route(session, stanza);
  }

  private authenticated(method: 'SASL EXTERNAL' | 'dialback'): void {
    const session = this.session;
    const stream = this.stream;
    if (!session || !stream) return;
    clearTimeout(this.negotiationTimer);
    this.state = 'ready';
    if (session.type === 's2s_unauthed' && !this.ctx.server.sessions.makeS2SAuthenticated(session, this.local, this.remote, method)) {
      this.fail('remote-server-not-found', 'refused by a pre-s2s-authenticated handler', 'policy-violation');
      return;
    }
    if (method === 'dialback') this.ctx.stats.authDialback++;
    else this.ctx.stats.authExternal++;
    this.log.info({ method, queued: this.queue.length }, 'outgoing s2s stream authenticated');
    this.lastUsed = Date.now();
    for (const q of this.queue.splice(0)) {
      this.ctx.stats.stanzasOut++;
      stream.send(q.stanza);
    }
  }
}
