/**
 * A minimal XMPP client for `canto check features` (src/cli/check-features.ts): one TCP
 * connection to the server's own c2s port over loopback, STARTTLS, SASL PLAIN (inside TLS only),
 * resource binding, then IQs matched by id. It records what the server offered along the way
 * (the stream features before and after authentication) because that is part of what the check
 * reports. Stanzas are parsed with the server's own hardened parser (src/xml/parser.ts).
 *
 * The certificate is not verified: the check talks to the server on this machine, and whether
 * its certificate is right is `canto check`'s job, not this one's.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { StreamParser } from '../xml/parser.js';
import { Element } from '../xml/element.js';
import { NS } from '../xml/ns.js';

export interface FeatureClientOptions {
  host: string;
  port: number;
  domain: string;
  username: string;
  password: string;
  timeoutMs: number;
}

export class FeatureClientError extends Error {}

export class FeatureClient {
  /** Stream features offered before authentication (after STARTTLS). */
  preAuthFeatures: Element | undefined;
  /** Stream features offered after authentication. */
  features: Element | undefined;
  jid = '';
  private socket: Socket | TLSSocket;
  private parser: StreamParser;
  private readonly waiting: Array<{ match: (el: Element) => boolean; resolve: (el: Element) => void }> = [];
  private readonly unclaimed: Element[] = [];
  private failure: Error | undefined;
  private seq = 0;

  private constructor(socket: Socket, private readonly timeoutMs: number) {
    this.socket = socket;
    this.parser = this.newParser();
    this.listen(socket);
  }

  static async connect(o: FeatureClientOptions): Promise<FeatureClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = netConnect({ host: o.host, port: o.port }, () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
    const c = new FeatureClient(socket, o.timeoutMs);
    try {
      await c.login(o);
      return c;
    } catch (err) {
      await c.close();
      throw err;
    }
  }

  private newParser(): StreamParser {
    return new StreamParser({
      streamOpen: () => undefined,
      stanza: (el) => this.deliver(el),
      streamClose: () => this.fail(new FeatureClientError('the server closed the stream')),
      error: (e) => this.fail(new FeatureClientError(`unparsable data from the server: ${e.text}`)),
    });
  }

  private listen(socket: Socket | TLSSocket): void {
    socket.on('data', (d: Buffer) => this.parser.write(d));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new FeatureClientError('the connection closed')));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    // Waiters learn of it through their timeouts' check below (next()).
    for (const w of this.waiting.splice(0)) w.resolve(new Element('canto-failed'));
  }

  private deliver(el: Element): void {
    const i = this.waiting.findIndex((w) => w.match(el));
    if (i >= 0) {
      const [w] = this.waiting.splice(i, 1);
      w?.resolve(el);
    } else if (this.unclaimed.length < 100) {
      this.unclaimed.push(el);
    }
  }

  /** The next element `match` accepts (one that already arrived unclaimed first). */
  next(match: (el: Element) => boolean, what: string): Promise<Element> {
    const i = this.unclaimed.findIndex(match);
    if (i >= 0) return Promise.resolve(this.unclaimed.splice(i, 1)[0] as Element);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Element>((resolve, reject) => {
      const entry = {
        match,
        resolve: (el: Element) => {
          clearTimeout(timer);
          if (el.name === 'canto-failed') reject(this.failure ?? new FeatureClientError('failed'));
          else resolve(el);
        },
      };
      const timer = setTimeout(() => {
        const j = this.waiting.indexOf(entry);
        if (j >= 0) this.waiting.splice(j, 1);
        reject(new FeatureClientError(`no answer within ${this.timeoutMs} ms: ${what}`));
      }, this.timeoutMs);
      this.waiting.push(entry);
    });
  }

  send(text: string | Element): void {
    this.socket.write(typeof text === 'string' ? text : text.toString());
  }

  private openStream(domain: string): Promise<Element> {
    this.send(`<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xmlns='jabber:client' xmlns:stream='${NS.stream}'>`);
    return this.next((el) => el.is('features', NS.stream), 'stream features');
  }

  private async login(o: FeatureClientOptions): Promise<void> {
    let features = await this.openStream(o.domain);
    if (!features.getChild('starttls', NS.tls)) throw new FeatureClientError('the server offers no STARTTLS');
    this.send(`<starttls xmlns='${NS.tls}'/>`);
    const proceed = await this.next((el) => el.xmlns === NS.tls, 'STARTTLS');
    if (proceed.name !== 'proceed') throw new FeatureClientError('STARTTLS was refused');
    const plain = this.socket as Socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    plain.removeAllListeners('error');
    this.socket = await new Promise<TLSSocket>((resolve, reject) => {
      const t = tlsConnect({ socket: plain, servername: o.domain, rejectUnauthorized: false }, () => resolve(t));
      t.once('error', reject);
    });
    this.parser = this.newParser();
    this.listen(this.socket);
    features = await this.openStream(o.domain);
    this.preAuthFeatures = features;
    const mechanisms = features.getChild('mechanisms', NS.sasl)?.getChildren('mechanism').map((m) => m.getText()) ?? [];
    if (!mechanisms.includes('PLAIN')) throw new FeatureClientError(`the server offers no SASL PLAIN over TLS (offered: ${mechanisms.join(', ') || 'none'})`);
    const message = Buffer.from(`\0${o.username}\0${o.password}`, 'utf8').toString('base64');
    this.send(`<auth xmlns='${NS.sasl}' mechanism='PLAIN'>${message}</auth>`);
    const outcome = await this.next((el) => el.xmlns === NS.sasl, 'authentication');
    if (outcome.name !== 'success') {
      const condition = outcome.elements[0]?.name ?? outcome.name;
      throw new FeatureClientError(`authentication as ${o.username}@${o.domain} failed: ${condition}`);
    }
    this.parser.reset();
    this.features = await this.openStream(o.domain);
    const bindIq = new Element('iq', { xmlns: NS.client, type: 'set', id: this.nextId() }).c('bind', { xmlns: NS.bind }).c('resource').t(`check-features-${randomBytes(3).toString('hex')}`).root();
    const bound = await this.iq(bindIq);
    this.jid = bound.getChild('bind', NS.bind)?.getChildText('jid') ?? '';
  }

  nextId(): string {
    return `cf${++this.seq}`;
  }

  /** Send an IQ (an id is set when it has none) and wait for its result or error. */
  async iq(el: Element): Promise<Element> {
    const id = el.attr('id') ?? this.nextId();
    el.setAttr('id', id);
    if (el.xmlns === '') el.xmlns = NS.client;
    this.send(el);
    return this.next((s) => s.name === 'iq' && s.attr('id') === id && (s.attr('type') === 'result' || s.attr('type') === 'error'), `iq ${id}`);
  }

  /** Close the stream and wait (at most 2 s) for the server to close the connection, so the session has ended. */
  async close(): Promise<void> {
    const socket = this.socket;
    if (socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, 2000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end('</stream:stream>');
    });
  }
}

/** `condition` of an IQ error, or undefined for a result. */
export function iqError(el: Element): string | undefined {
  if (el.attr('type') !== 'error') return undefined;
  return el.getChild('error')?.elements.find((c) => c.xmlns === NS.stanzas)?.name ?? 'error';
}
