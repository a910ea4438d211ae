/**
 * A minimal client side of SCRAM (RFC 5802 / RFC 7677) for tests, written independently of
 * the server's state machine, and a raw XMPP client that does STARTTLS over node:tls and then
 * authenticates with it, with real channel binding (tls-exporter, tls-server-end-point).
 * Also an adapter that teaches @xmpp/client SCRAM-SHA-256, which it lacks.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket, type ConnectionOptions } from 'node:tls';
import { Wakeup } from '../../src/testing/wakeup.js';

export type Hash = 'SHA-1' | 'SHA-256' | 'SHA-512';
export type CbType = 'tls-exporter' | 'tls-server-end-point';

const NODE: Record<Hash, string> = { 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-512': 'sha512' };
const BYTES: Record<Hash, number> = { 'SHA-1': 20, 'SHA-256': 32, 'SHA-512': 64 };

export interface ScramClientOptions {
  hash: Hash;
  username: string;
  password: string;
  authzid?: string;
  nonce?: string;
  /** 'n' (no binding), 'y' (client could bind, thinks the server cannot), or a binding type. */
  binding?: 'n' | 'y' | { type: CbType; data: Buffer };
}

function escapeName(s: string): string {
  return s.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

export class ScramClient {
  readonly gs2Header: string;
  readonly clientFirstBare: string;
  private serverSignature: Buffer | undefined;

  constructor(private readonly o: ScramClientOptions) {
    const b = o.binding ?? 'n';
    const flag = typeof b === 'string' ? b : `p=${b.type}`;
    this.gs2Header = `${flag},${o.authzid === undefined ? '' : `a=${escapeName(o.authzid)}`},`;
    this.clientFirstBare = `n=${escapeName(o.username)},r=${o.nonce ?? randomBytes(18).toString('base64')}`;
  }

  first(): string {
    return this.gs2Header + this.clientFirstBare;
  }

  /** The client-final message for a server-first; `tamper` alters what goes in c=. */
  final(serverFirst: string, tamper?: (cb: Buffer) => Buffer): string {
    const attrs = new Map(serverFirst.split(',').map((kv) => [kv.slice(0, 1), kv.slice(2)]));
    const nonce = attrs.get('r') ?? '';
    const salt = Buffer.from(attrs.get('s') ?? '', 'base64');
    const iterations = Number(attrs.get('i'));
    const b = this.o.binding;
    let cb: Buffer = Buffer.concat([Buffer.from(this.gs2Header), typeof b === 'object' ? b.data : Buffer.alloc(0)]);
    if (tamper) cb = tamper(cb);
    const withoutProof = `c=${cb.toString('base64')},r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const digest = NODE[this.o.hash];
    const salted = pbkdf2Sync(this.o.password, salt, iterations, BYTES[this.o.hash], digest);
    const clientKey = createHmac(digest, salted).update('Client Key').digest();
    const storedKey = createHash(digest).update(clientKey).digest();
    const signature = createHmac(digest, storedKey).update(authMessage).digest();
    const proof = Buffer.from(clientKey.map((x, i) => x ^ (signature[i] ?? 0)));
    const serverKey = createHmac(digest, salted).update('Server Key').digest();
    this.serverSignature = createHmac(digest, serverKey).update(authMessage).digest();
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /**
   * XEP-0474 as a client does it: whether the server-first's `h=` matches what this client saw
   * advertised (`seen`: ssdpInput of the mechanisms and binding types on its stream).
   * undefined when the server sent no `h=`.
   */
  downgradeCheck(serverFirst: string, seen: string): boolean | undefined {
    const attr = serverFirst.split(',').find((kv) => kv.startsWith('h='));
    if (attr === undefined) return undefined;
    return attr.slice(2) === createHash(NODE[this.o.hash]).update(seen).digest('base64');
  }

  /** Whether the server-final message proves the server knew the credentials. */
  verifyServerFinal(serverFinal: string): boolean {
    return this.serverSignature !== undefined && serverFinal === `v=${this.serverSignature.toString('base64')}`;
  }
}

/** @xmpp/client (saslmechanisms) shape: a constructor with name, clientFirst, response, challenge. */
export function xmppJsScramSha256(): new () => unknown {
  // saslmechanisms reads the name from the prototype, hence getters rather than fields.
  class ScramSha256 {
    get name(): string {
      return 'SCRAM-SHA-256';
    }
    get clientFirst(): boolean {
      return true;
    }
    private client: ScramClient | undefined;
    private serverFirst: string | undefined;
    response(cred: { username: string; password: string }): string {
      if (this.serverFirst === undefined) {
        this.client = new ScramClient({ hash: 'SHA-256', username: cred.username, password: cred.password });
        return this.client.first();
      }
      return (this.client as ScramClient).final(this.serverFirst);
    }
    challenge(chal: string): this {
      this.serverFirst = chal;
      return this;
    }
  }
  return ScramSha256;
}

const header = (to: string) =>
  `<?xml version='1.0'?><stream:stream to='${to}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`;

/** A raw client stream that can be upgraded to TLS. */
export class RawTlsClient {
  received = '';
  private cursor = 0;
  closed = false;
  private readonly wakeup = new Wakeup();
  socket: Socket | TLSSocket;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.attach(socket);
  }

  private attach(s: Socket): void {
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      this.received += d;
      this.wakeup.wake();
    });
    s.on('close', () => {
      this.closed = true;
      this.wakeup.wake();
    });
    s.on('error', () => {});
  }

  /**
   * `localAddress`: another loopback address (e.g. 127.0.0.2) to appear as a different client;
   * `host`: the server's address (a cluster node's, e.g. 127.0.0.3).
   */
  static async connect(port: number, localAddress?: string, host = '127.0.0.1'): Promise<RawTlsClient> {
    const s = await new Promise<Socket>((resolve, reject) => {
      const sock = netConnect({ port, host, localAddress }, () => resolve(sock));
      sock.once('error', reject);
    });
    return new RawTlsClient(s);
  }

  get tls(): TLSSocket {
    if (!('encrypted' in this.socket)) throw new Error('not encrypted');
    return this.socket;
  }

  send(data: string): void {
    this.socket.write(data);
  }

  /** The next match of `re` after what earlier calls consumed. */
  next(re: RegExp, ms = 5000): Promise<RegExpExecArray> {
    const once = new RegExp(re.source, re.flags.replace('g', ''));
    return this.wakeup.until(
      () => {
        const m = once.exec(this.received.slice(this.cursor));
        if (m) {
          this.cursor += m.index + m[0].length;
          return m;
        }
        if (this.closed) throw new Error(`closed before ${String(re)}; received: ${this.received}`);
        return undefined;
      },
      ms,
      () => new Error(`timed out waiting for ${String(re)}; received: ${this.received}`),
    );
  }

  async waitClosed(ms = 5000): Promise<void> {
    await this.wakeup.until(() => (this.closed ? true : undefined), ms, () => new Error(`still open; received: ${this.received}`));
  }

  /** Open the stream and return the text of <stream:features>. */
  async open(to = 'localhost'): Promise<string> {
    this.send(header(to));
    return (await this.next(/<stream:features[\s\S]*?<\/stream:features>|<stream:features\/>/))[0];
  }

  /** STARTTLS, then reopen the stream; returns the new features. */
  async startTls(tlsOptions: ConnectionOptions = {}, to = 'localhost'): Promise<string> {
    this.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    await this.next(/<proceed[^>]*\/>/);
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const tls = await new Promise<TLSSocket>((resolve, reject) => {
      const t = tlsConnect({ socket: plain, servername: to, rejectUnauthorized: false, ...tlsOptions }, () => resolve(t));
      t.once('error', reject);
    });
    this.socket = tls;
    this.received = '';
    this.cursor = 0;
    this.attach(tls);
    return this.open(to);
  }

  /** Both sides derive the same tls-exporter value (RFC 9266). */
  exporterBinding(): Buffer {
    return this.tls.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0));
  }

  /** RFC 5929 with SHA-256: right for the test server's SHA-256-signed certificate. */
  endPointBinding(): Buffer {
    return createHash('sha256').update(this.tls.getPeerCertificate().raw).digest();
  }

  close(): void {
    this.socket.destroy();
  }

}

export type SaslOutcome = { ok: true; serverFinal: string; verified: boolean } | { ok: false; condition: string; text?: string };

/** The next SASL answer: challenge data, success data, or a failure condition. */
async function nextSasl(c: RawTlsClient): Promise<{ kind: 'challenge' | 'success'; data: string } | { kind: 'failure'; condition: string; text?: string }> {
  const m = await c.next(/<(challenge|success|failure)\b[^>]*?(?:\/>|>([\s\S]*?)<\/\1>)/);
  const kind = m[1] as 'challenge' | 'success' | 'failure';
  const body = m[2] ?? '';
  if (kind === 'failure') {
    const cond = /<([a-z-]+)\b/.exec(body)?.[1] ?? '';
    const text = /<text[^>]*>([^<]*)<\/text>/.exec(body)?.[1];
    return { kind, condition: cond, text };
  }
  return { kind, data: body === '=' ? '' : Buffer.from(body, 'base64').toString('utf8') };
}

/** Run a whole SCRAM exchange on an open (usually encrypted) stream. */
export async function scramLogin(
  c: RawTlsClient,
  mechanism: string,
  client: ScramClient,
  opts: { tamper?: (cb: Buffer) => Buffer } = {},
): Promise<SaslOutcome> {
  c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='${mechanism}'>${Buffer.from(client.first()).toString('base64')}</auth>`);
  const first = await nextSasl(c);
  if (first.kind === 'failure') return { ok: false, condition: first.condition, text: first.text };
  if (first.kind !== 'challenge') throw new Error('expected a challenge');
  c.send(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${Buffer.from(client.final(first.data, opts.tamper)).toString('base64')}</response>`);
  const last = await nextSasl(c);
  if (last.kind === 'failure') return { ok: false, condition: last.condition, text: last.text };
  if (last.kind !== 'success') throw new Error('expected success');
  return { ok: true, serverFinal: last.data, verified: client.verifyServerFinal(last.data) };
}
