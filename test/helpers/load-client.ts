/**
 * A lean XMPP client for load tests: STARTTLS, SCRAM-SHA-1 and resource binding over raw
 * sockets, cheap enough to run a thousand at once in one test process. PBKDF2 is the costly
 * part of SCRAM on the client side; its result is cached per (password, salt, iterations), so
 * accounts sharing credentials pay for it once. The server gets no such shortcut.
 *
 *   const c = await loadLogin({ port, username: 'u1', password: 'pw' });
 *   c.send(`<message to='${c.jid}' id='m1'><body>hi</body></message>`);
 *   await c.next(/<message[^>]*id='m1'/);
 *   c.close();
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { Wakeup } from '../../src/testing/wakeup.js';

export interface LoadLoginOptions {
  port: number;
  username: string;
  password: string;
  domain?: string;
  resource?: string;
  /** Loopback source address (127.0.0.0/8) to connect from. */
  localAddress?: string;
  /** Per-step timeout. */
  timeoutMs?: number;
}

const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const saltedCache = new Map<string, Buffer>();

function salted(password: string, salt: string, iterations: number): Buffer {
  const key = `${password}\0${salt}\0${iterations}`;
  let value = saltedCache.get(key);
  if (!value) {
    value = pbkdf2Sync(password, Buffer.from(salt, 'base64'), iterations, 20, 'sha1');
    saltedCache.set(key, value);
  }
  return value;
}

function streamHeader(domain: string): string {
  return `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`;
}

export class LoadClient {
  jid = '';
  closed = false;
  /** Received text not yet consumed by next(). */
  private buffer = '';
  private readonly wakeup = new Wakeup();
  private rawListener: ((text: string) => void) | undefined;

  constructor(public socket: Socket | TLSSocket) {
    this.attach(socket);
  }

  private attach(socket: Socket): void {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      if (this.rawListener) this.rawListener(text);
      else this.buffer += text;
      this.wakeup.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wakeup.wake();
    });
    socket.on('error', () => {});
  }

  send(text: string): boolean {
    return this.socket.write(text);
  }

  /** Hand every further chunk to `listener` instead of buffering it for next(). */
  onText(listener: (text: string) => void): void {
    this.rawListener = listener;
    if (this.buffer !== '') listener(this.buffer);
    this.buffer = '';
  }

  /** Consume received text up to and including the first match of `re`. */
  next(re: RegExp, ms = 10_000): Promise<RegExpExecArray> {
    return this.wakeup.until(
      () => {
        const m = re.exec(this.buffer);
        if (m) {
          this.buffer = this.buffer.slice(m.index + m[0].length);
          return m;
        }
        if (this.closed) throw new Error(`closed before ${String(re)}; unread: ${this.buffer.slice(0, 500)}`);
        return undefined;
      },
      ms,
      () => new Error(`timed out waiting for ${String(re)}; unread: ${this.buffer.slice(0, 500)}`),
    );
  }

  async waitClosed(ms = 10_000): Promise<void> {
    await this.wakeup.until(() => (this.closed ? true : undefined), ms, () => new Error(`connection still open after ${ms} ms`));
  }

  /** Close our stream and the socket. */
  close(): void {
    if (this.closed) return;
    this.socket.end('</stream:stream>');
    this.socket.destroySoon();
  }

  /** Replace the plain socket by a TLS one over it (after <proceed/>). */
  async upgrade(servername: string): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const tls = await new Promise<TLSSocket>((resolve, reject) => {
      const t = tlsConnect({ socket: plain, servername, rejectUnauthorized: false }, () => resolve(t));
      t.once('error', reject);
    });
    this.socket = tls;
    this.buffer = '';
    this.attach(tls);
  }
}

export function connectPlain(port: number, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ port, host: '127.0.0.1', localAddress }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Connect, STARTTLS, SCRAM-SHA-1, bind. Resolves with the bound client. */
export async function loadLogin(o: LoadLoginOptions): Promise<LoadClient> {
  const domain = o.domain ?? 'localhost';
  const ms = o.timeoutMs ?? 10_000;
  const c = new LoadClient(await connectPlain(o.port, o.localAddress));
  try {
    c.send(streamHeader(domain));
    await c.next(/<\/stream:features>/, ms);
    c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    await c.next(/<proceed[^>]*\/>/, ms);
    await c.upgrade(domain);
    c.send(streamHeader(domain));
    await c.next(/<\/stream:features>/, ms);

    const gs2 = 'n,,';
    const clientFirstBare = `n=${o.username},r=${randomBytes(18).toString('base64')}`;
    c.send(`<auth xmlns='${NS_SASL}' mechanism='SCRAM-SHA-1'>${Buffer.from(gs2 + clientFirstBare).toString('base64')}</auth>`);
    const challenge = await c.next(/<(challenge|failure)\b[^>]*>([\s\S]*?)<\/\1>/, ms);
    if (challenge[1] !== 'challenge') throw new Error(`SASL failure: ${challenge[0]}`);
    const serverFirst = Buffer.from(challenge[2] ?? '', 'base64').toString('utf8');
    const attrs = new Map(serverFirst.split(',').map((kv) => [kv.slice(0, 1), kv.slice(2)]));
    const key = salted(o.password, attrs.get('s') ?? '', Number(attrs.get('i')));
    const withoutProof = `c=${Buffer.from(gs2).toString('base64')},r=${attrs.get('r') ?? ''}`;
    const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
    const clientKey = createHmac('sha1', key).update('Client Key').digest();
    const storedKey = createHash('sha1').update(clientKey).digest();
    const signature = createHmac('sha1', storedKey).update(authMessage).digest();
    const proof = Buffer.from(clientKey.map((x, i) => x ^ (signature[i] ?? 0)));
    c.send(`<response xmlns='${NS_SASL}'>${Buffer.from(`${withoutProof},p=${proof.toString('base64')}`).toString('base64')}</response>`);
    const outcome = await c.next(/<(success|failure)\b[^>]*(?:\/>|>([\s\S]*?)<\/\1>)/, ms);
    if (outcome[1] !== 'success') throw new Error(`SASL failure: ${outcome[0]}`);
    // Check the server's signature too: a load test should not count a fake success.
    const serverKey = createHmac('sha1', key).update('Server Key').digest();
    const expected = Buffer.from(`v=${createHmac('sha1', serverKey).update(authMessage).digest('base64')}`);
    const got = Buffer.from(Buffer.from(outcome[2] ?? '', 'base64').toString('utf8'));
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw new Error('server signature does not verify');

    c.send(streamHeader(domain));
    await c.next(/<\/stream:features>/, ms);
    const resource = o.resource === undefined ? '' : `<resource>${o.resource}</resource>`;
    c.send(`<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>${resource}</bind></iq>`);
    const bound = await c.next(/<jid>([^<]+)<\/jid>/, ms);
    c.jid = bound[1] ?? '';
    return c;
  } catch (err) {
    c.socket.destroy();
    throw err;
  }
}

/** Run `task(i)` for i in [0, count) with at most `concurrency` in flight; results in order. */
export async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let nextIndex = 0;
  const worker = async (): Promise<void> => {
    while (nextIndex < count) {
      const i = nextIndex++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}
