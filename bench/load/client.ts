/**
 * The load generator's client: one raw TCP socket, STARTTLS (node:tls over that socket),
 * SCRAM-SHA-1 with cached keys (./scram.ts), resource binding and optionally initial presence.
 * Incoming text is cut into stanzas by ./splitter.ts; after login every stanza goes to
 * `onStanza`, so scenarios see plain strings and do only the matching they need.
 * Optionally (issue 13's mobile client) carbons and XEP-0198 stream management after binding:
 * SM elements are handled here, never passed on, and `BenchClient.resume` resumes a lost stream.
 * The server's XEP-0199 pings are answered here too, never passed on (a long idle run needs it).
 * `BenchClient.sasl2Login`: SASL2 + Bind2 with a FAST token (XEP-0484) or SCRAM asking for one.
 */
import { createHmac } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { StanzaSplitter } from './splitter.js';
import { ScramSha1 } from './scram.js';

export interface LoginOptions {
  port: number;
  /** The server's address; default 127.0.0.1 (a Redis cluster's nodes listen on 127.0.0.2, .3, …). */
  host?: string;
  /**
   * Local (source) address to bind, e.g. 127.0.1.7: a bound source address gets its own
   * ~28k ephemeral ports, so 100k connections from one machine spread over several of them.
   */
  localAddress?: string;
  /** The server's domain (stream 'to', TLS SNI). */
  domain: string;
  username: string;
  password: string;
  resource?: string;
  /** Send initial presence (<presence/>) after binding. */
  presence?: boolean;
  /** Per-step timeout in ms. */
  timeoutMs?: number;
  /** After binding: enable message carbons (XEP-0280) and wait for the result. */
  carbons?: boolean;
  /** After binding: enable stream management (XEP-0198), resumable when 'resume'. */
  sm?: 'plain' | 'resume';
  /**
   * A TLS session (ticket) from an earlier connection's `tlsSession`: offered at STARTTLS so
   * the server can resume it instead of a full handshake, as a reconnecting mobile client does.
   */
  tlsSession?: Buffer;
}

/** A FAST token (XEP-0484) a SASL2 login got, for the next one. */
export interface FastCredential {
  /** The XEP-0388 user-agent id the token belongs to. */
  userAgent: string;
  token: string;
}

/** What a resumed stream needs from the lost one (XEP-0198 §5). */
export interface SmResumeState {
  /** The `id` of the server's `<enabled/>`. */
  id: string;
  /** Stanzas received on the lost stream(s), counted from `<enabled/>`. */
  h: number;
}

const NS_SM = 'urn:xmpp:sm:3';
const NS_PING = 'urn:xmpp:ping';

const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const NS_SASL2 = 'urn:xmpp:sasl:2';
const NS_FAST = 'urn:xmpp:fast:0';
/** Stanzas kept for a client with no listener (login steps need only one or two). */
const MAX_QUEUED = 1000;

/**
 * One TLS client context for every connection, as a client application keeps one: without it
 * node builds a new SecureContext for each tls.connect, which was ~10 % of the load generator's
 * CPU in the login scenarios (made on first use, so importing this module costs nothing).
 */
let clientContext: SecureContext | undefined;
const sharedClientContext = (): SecureContext => (clientContext ??= createSecureContext({}));

function streamHeader(domain: string): string {
  return `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`;
}

/** Text content of the first element in a stanza, e.g. the base64 of <challenge>…</challenge>. */
function innerText(stanza: string): string {
  const open = stanza.indexOf('>');
  const close = stanza.lastIndexOf('</');
  return open === -1 || close <= open ? '' : stanza.slice(open + 1, close);
}

export class BenchClient {
  jid = '';
  closed = false;
  /**
   * Stream management: on from the server's `<enabled/>` (or `<resumed/>`); `h` counts the
   * stanzas received since, `<r/>` is answered with it, and `serverH` is the last `<a h/>`.
   */
  sm: { on: boolean; id: string; h: number; serverH: number } = { on: false, id: '', h: 0, serverH: 0 };
  /**
   * The TLS session to offer on the next connection: the server's latest ticket, or the session
   * this connection resumed (a resumed TLS 1.3 session gets no new ticket from Node's server).
   */
  tlsSession: Buffer | undefined;
  /** Whether this connection's TLS session was resumed from `LoginOptions.tlsSession`. */
  tlsResumed = false;
  /** Every stanza received after login. */
  onStanza: ((stanza: string) => void) | undefined;
  /** Called once when the connection closes (either side). */
  onClose: (() => void) | undefined;

  private readonly splitter = new StanzaSplitter();
  private readonly queue: string[] = [];
  private wake: (() => void) | undefined;
  private socket: Socket | TLSSocket;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.attach(socket);
  }

  /** Connect, STARTTLS, SCRAM-SHA-1, bind (and initial presence if asked). */
  static async login(o: LoginOptions): Promise<BenchClient> {
    return BenchClient.connected(o, async (c, ms) => {
      await c.handshake(o, ms);
      return c;
    });
  }

  /** A new connection to the server, handed to `use`; destroyed if `use` fails. */
  private static async connected<T>(o: LoginOptions, use: (c: BenchClient, ms: number) => Promise<T>): Promise<T> {
    const ms = o.timeoutMs ?? 15_000;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = netConnect({ port: o.port, host: o.host ?? '127.0.0.1', ...(o.localAddress !== undefined ? { localAddress: o.localAddress } : {}), noDelay: true }, () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
    const c = new BenchClient(socket);
    try {
      return await use(c, ms);
    } catch (err) {
      c.destroy();
      throw err;
    }
  }

  /**
   * XEP-0198 resumption on a new connection: STARTTLS, SCRAM, then `<resume previd h/>` instead
   * of binding. Resolves with the client once `<resumed/>` arrived (the server then re-sends
   * what the lost stream did not acknowledge, counted on from `state.h`); rejects on `<failed/>`.
   * `onStanza` is set before the resume so no re-sent stanza waits in the queue.
   */
  static async resume(o: LoginOptions, state: SmResumeState, onStanza?: (stanza: string) => void): Promise<BenchClient> {
    return BenchClient.connected(o, async (c, ms) => {
      await c.authenticate(o, ms);
      c.sm = { on: false, id: state.id, h: state.h, serverH: 0 };
      c.onStanza = onStanza;
      c.send(`<resume xmlns='${NS_SM}' h='${state.h}' previd='${state.id}'/>`);
      await c.expect('<resumed', ms); // a <failed/> rejects here
      return c;
    });
  }

  /**
   * A SASL2 login (XEP-0388) with Bind2: with `fast`, HT-SHA-256-NONE in one round trip;
   * without, SCRAM-SHA-1 asking for a token. Either way resolves to the client and the token
   * for the next login (FAST rotates it on every use).
   */
  static async sasl2Login(o: LoginOptions, userAgent: string, fast?: FastCredential): Promise<{ client: BenchClient; fast: FastCredential }> {
    return BenchClient.connected(o, async (c, ms) => {
      await c.starttls(o, ms);
      const features = await c.expect('<stream:features', ms);
      if (!features.includes(`<authentication xmlns='${NS_SASL2}'`) && !features.includes(`<authentication xmlns="${NS_SASL2}"`)) throw new Error(`no SASL2 offered: ${features}`);
      const ua = `<user-agent id='${userAgent}'><software>canto-bench</software></user-agent>`;
      const bind = `<bind xmlns='urn:xmpp:bind:0'><tag>bench</tag></bind>`;
      let success: string;
      if (fast) {
        const proof = createHmac('sha256', fast.token).update('Initiator').digest();
        const msg = Buffer.concat([Buffer.from(o.username), Buffer.from([0]), proof]).toString('base64');
        c.send(`<authenticate xmlns='${NS_SASL2}' mechanism='HT-SHA-256-NONE'><initial-response>${msg}</initial-response>${ua}<fast xmlns='${NS_FAST}'/>${bind}</authenticate>`);
        success = await c.expect('<success', ms);
      } else {
        const scram = new ScramSha1(o.username, o.password);
        c.send(`<authenticate xmlns='${NS_SASL2}' mechanism='SCRAM-SHA-1'><initial-response>${scram.firstB64()}</initial-response>${ua}<request-token xmlns='${NS_FAST}' mechanism='HT-SHA-256-NONE'/>${bind}</authenticate>`);
        const challenge = await c.expect('<challenge', ms);
        c.send(`<response xmlns='${NS_SASL2}'>${scram.finalB64(innerText(challenge))}</response>`);
        success = await c.expect('<success', ms);
      }
      const jid = /<authorization-identifier>([^<]+)</.exec(success)?.[1];
      const token = /<token [^>]*token=["']([^"']+)["']/.exec(success)?.[1];
      if (jid === undefined || token === undefined) throw new Error(`SASL2 login: no JID or token in ${success.slice(0, 300)}`);
      c.jid = jid;
      return { client: c, fast: { userAgent, token } };
    });
  }

  private async handshake(o: LoginOptions, ms: number): Promise<void> {
    await this.authenticate(o, ms);
    const resource = o.resource === undefined ? '' : `<resource>${o.resource}</resource>`;
    this.send(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>${resource}</bind></iq>`);
    const bound = await this.expect('<iq', ms);
    const jid = /<jid>([^<]+)<\/jid>/.exec(bound)?.[1];
    if (jid === undefined) throw new Error(`bind failed: ${bound}`);
    this.jid = jid;
    if (o.carbons) {
      this.send("<iq type='set' id='carbons'><enable xmlns='urn:xmpp:carbons:2'/></iq>");
      const answer = await this.expect('<iq', ms);
      if (!/type=["']result["']/.test(answer)) throw new Error(`enabling carbons failed: ${answer.slice(0, 300)}`);
    }
    if (o.sm) {
      this.send(`<enable xmlns='${NS_SM}'${o.sm === 'resume' ? " resume='true'" : ''}/>`);
      const enabled = await this.expect('<enabled', ms);
      const id = /\sid=["']([^"']+)["']/.exec(enabled)?.[1];
      if (o.sm === 'resume' && id === undefined) throw new Error(`stream management: no resumption id in ${enabled}`);
      this.sm.id = id ?? '';
    }
    if (o.presence) this.send('<presence/>');
  }

  /** The state a later `BenchClient.resume` needs (after this connection is lost). */
  resumeState(): SmResumeState {
    return { id: this.sm.id, h: this.sm.h };
  }

  /** Stream open, STARTTLS and the new stream's header (its features are next in the queue). */
  private async starttls(o: LoginOptions, ms: number): Promise<void> {
    this.send(streamHeader(o.domain));
    const features = await this.expect('<stream:features', ms);
    if (!features.includes('<starttls')) throw new Error(`no STARTTLS offered: ${features}`);
    this.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    await this.expect('<proceed', ms);
    await this.upgrade(o.domain, ms, o.tlsSession);
    this.send(streamHeader(o.domain));
  }

  /** STARTTLS, SCRAM-SHA-1 and the stream restart after it, up to the post-SASL features. */
  private async authenticate(o: LoginOptions, ms: number): Promise<void> {
    await this.starttls(o, ms);
    const saslFeatures = await this.expect('<stream:features', ms);
    if (!saslFeatures.includes('>SCRAM-SHA-1<')) throw new Error(`no SCRAM-SHA-1 offered: ${saslFeatures}`);
    const scram = new ScramSha1(o.username, o.password);
    this.send(`<auth xmlns='${NS_SASL}' mechanism='SCRAM-SHA-1'>${scram.firstB64()}</auth>`);
    const challenge = await this.expect('<challenge', ms);
    this.send(`<response xmlns='${NS_SASL}'>${scram.finalB64(innerText(challenge))}</response>`);
    const success = await this.expect('<success', ms);
    if (!scram.verifyB64(innerText(success))) throw new Error('SCRAM: the server signature does not verify');

    this.splitter.reset();
    this.send(streamHeader(o.domain));
    await this.expect('<stream:features', ms);
  }

  /** Start delivering stanzas to `handler`, including any already queued. */
  listen(handler: (stanza: string) => void): void {
    this.onStanza = handler;
    for (const s of this.queue.splice(0)) handler(s);
  }

  send(text: string): boolean {
    if (this.closed) return false;
    return this.socket.write(text);
  }

  /** Resolves once what was written has gone to the kernel (at once when nothing waits), or the connection closed. */
  drained(): Promise<void> {
    const socket = this.socket;
    if (this.closed || socket.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.once('drain', done);
      socket.once('close', done);
    });
  }

  /** Close our stream politely, then the socket. */
  close(): void {
    if (this.closed) return;
    this.socket.end('</stream:stream>');
    // Do not wait for the server's </stream:stream>: a stuck peer must not hold the bench.
    setTimeout(() => this.destroy(), 2000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Wait until the socket has closed (bounded). */
  async closedWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  private attach(socket: Socket): void {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      const { stanzas, closed } = this.splitter.push(text);
      for (const s of stanzas) {
        // <message, <presence, <iq (and <proceed, which comes before stream management is on).
        const first = s.charCodeAt(1);
        const stanza = first === 109 /* m */ || first === 112 /* p */ || first === 105; /* i */
        if (!stanza && this.smElement(s)) continue;
        if (stanza && this.sm.on) this.sm.h = (this.sm.h + 1) % 2 ** 32;
        if (first === 105 && this.answerPing(s)) continue;
        if (this.onStanza) this.onStanza(s);
        else if (this.queue.length < MAX_QUEUED) this.queue.push(s); // nobody listening: keep a few
      }
      if (closed) this.socket.end();
      this.signal();
    });
    socket.on('close', () => {
      this.closed = true;
      this.signal();
      this.onClose?.();
    });
    socket.on('error', () => {
      // 'close' follows; the waiting step reports it.
    });
  }

  /**
   * Answers a server's XEP-0199 ping (an iq get with <ping xmlns='urn:xmpp:ping'/>), as every real
   * client does, and keeps it from the scenario: a connection that leaves it unanswered is closed
   * (Canto pings a session silent for 5 minutes and closes it a minute later), which would end a
   * long idle run. False for any other iq.
   */
  private answerPing(s: string): boolean {
    if (!s.includes(NS_PING)) return false;
    const head = s.slice(0, s.indexOf('>'));
    if (!/\stype=(['"])get\1/.test(head)) return false;
    const id = /\sid=(['"])(.*?)\1/.exec(head);
    if (!id) return false;
    const from = /\sfrom=(['"])(.*?)\1/.exec(head);
    this.send(`<iq type='result' id=${id[1]}${id[2]}${id[1]}${from ? ` to=${from[1]}${from[2]}${from[1]}` : ''}/>`);
    return true;
  }

  /**
   * Handles a stream management element (not a stanza, so not counted): answers `<r/>`, notes
   * `<a/>`, and turns counting on at `<enabled/>` / `<resumed/>`, which also go to the queue
   * for the login step waiting on them. False for anything else.
   */
  private smElement(s: string): boolean {
    if (!s.includes(NS_SM)) return false;
    if (s.startsWith('<r ') || s.startsWith('<r/')) {
      this.send(`<a xmlns='${NS_SM}' h='${this.sm.h}'/>`);
    } else if (s.startsWith('<a ')) {
      this.sm.serverH = Number(/\sh=["']([0-9]+)["']/.exec(s)?.[1] ?? this.sm.serverH);
    } else {
      // Counting starts after the server's <enabled/> or <resumed/>: what follows it is what it counts.
      if (s.startsWith('<enabled') || s.startsWith('<resumed')) this.sm.on = true;
      this.queue.push(s);
      this.signal();
    }
    return true;
  }

  private signal(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** The next stanza; it must start with `prefix` (a stream error or SASL failure otherwise). */
  private async expect(prefix: string, ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = this.queue.shift();
      if (s !== undefined) {
        if (s.startsWith(prefix)) return s;
        // Ignore stray presence or messages during login (none is expected, but be lenient).
        if (s.startsWith('<presence') || s.startsWith('<message')) continue;
        throw new Error(`expected ${prefix}…, got: ${s.slice(0, 300)}`);
      }
      if (this.closed) throw new Error(`connection closed while waiting for ${prefix}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${prefix}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Replace the plain socket by TLS over it (after <proceed/>); the stream restarts. */
  private async upgrade(servername: string, ms: number, session: Buffer | undefined): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    plain.removeAllListeners('error');
    this.splitter.reset();
    const tls = await new Promise<TLSSocket>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('TLS handshake timed out')), ms);
      const t = tlsConnect({ socket: plain, servername, rejectUnauthorized: false, session, secureContext: sharedClientContext() }, () => {
        clearTimeout(timer);
        t.off('error', reject);
        this.tlsResumed = t.isSessionReused();
        if (this.tlsResumed) this.tlsSession = session;
        resolve(t);
      });
      // TLS 1.3 tickets come after the handshake, with or after the server's first bytes.
      t.on('session', (ticket: Buffer) => (this.tlsSession = ticket));
      t.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    this.socket = tls;
    this.attach(tls);
  }
}
