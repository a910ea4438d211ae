/**
 * A minimal XMPP client for `canto check features` (src/cli/check-features.ts): one TCP
 * connection to the server's own c2s port over loopback, STARTTLS, SASL, resource binding, then
 * IQs matched by id. SASL is the strongest mechanism both sides have (`chooseMechanism`):
 * SCRAM-SHA-256-PLUS with the tls-exporter binding (RFC 9266; TLS 1.3), SCRAM-SHA-256, and only
 * then PLAIN, which is never sent outside TLS; `mechanism` says which one logged in. It records what the server offered along the way
 * (the stream features before and after authentication) because that is part of what the check
 * reports. Stanzas are parsed with the server's own hardened parser (src/xml/parser.ts).
 *
 * The certificate is not verified: the check talks to the server on this machine, and whether
 * its certificate is right is `canto check`'s job, not this one's.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { tlsExporter } from '../sasl/channel-binding.js';
import { ScramClient } from '../sasl/scram-client.js';
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

/** XEP-0440: the channel-binding types a server advertises before authentication. */
const NS_SASL_CB = 'urn:xmpp:sasl-cb:0';

export type LoginMechanism = 'SCRAM-SHA-256-PLUS' | 'SCRAM-SHA-256' | 'PLAIN';

/**
 * The mechanism to log in with: SCRAM-SHA-256-PLUS when the server offers it, this connection
 * has tls-exporter data, and the server lists tls-exporter among its binding types (or lists
 * none: XEP-0440 is optional); else SCRAM-SHA-256; else PLAIN (the connection is TLS already).
 * Undefined when the server offers none of them.
 */
export function chooseMechanism(offered: readonly string[], bindingTypes: readonly string[] | undefined, exporterAvailable: boolean): LoginMechanism | undefined {
  const exporterOk = exporterAvailable && (bindingTypes === undefined || bindingTypes.includes('tls-exporter'));
  if (offered.includes('SCRAM-SHA-256-PLUS') && exporterOk) return 'SCRAM-SHA-256-PLUS';
  if (offered.includes('SCRAM-SHA-256')) return 'SCRAM-SHA-256';
  if (offered.includes('PLAIN')) return 'PLAIN';
  return undefined;
}

export class FeatureClient {
  /** Stream features offered before authentication (after STARTTLS). */
  preAuthFeatures: Element | undefined;
  /** Stream features offered after authentication. */
  features: Element | undefined;
  jid = '';
  /** The SASL mechanism the login used. */
  mechanism: LoginMechanism | undefined;
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
    const cb = features.getChild('sasl-channel-binding', NS_SASL_CB);
    const bindingTypes = cb?.getChildren('channel-binding').map((b) => b.attr('type') ?? '');
    const exporter = tlsExporter(this.socket as TLSSocket);
    const mechanism = chooseMechanism(mechanisms, bindingTypes, exporter !== undefined);
    if (mechanism === undefined) throw new FeatureClientError(`the server offers neither SCRAM-SHA-256 nor PLAIN over TLS (offered: ${mechanisms.join(', ') || 'none'})`);
    const failed = (outcome: Element): FeatureClientError => {
      const condition = outcome.elements.find((e) => e.name !== 'text')?.name ?? outcome.name;
      // SCRAM-SHA-256 needs the account's SHA-256 keys: an account imported with SHA-1 keys only
      // gains them at its next PLAIN login (saslauth). This client does not retry with PLAIN: a
      // failed SCRAM login must not turn into sending the password.
      const hint = mechanism !== 'PLAIN' && condition === 'not-authorized' ? ' (a wrong password, or an account whose stored keys lack SHA-256, e.g. imported with SHA-1 only: it gains them at its next PLAIN login)' : '';
      return new FeatureClientError(`authentication as ${o.username}@${o.domain} with ${mechanism} failed: ${condition}${hint}`);
    };
    const saslAnswer = (): Promise<Element> => this.next((el) => el.xmlns === NS.sasl, 'authentication');
    if (mechanism === 'PLAIN') {
      const message = Buffer.from(`\0${o.username}\0${o.password}`, 'utf8').toString('base64');
      this.send(`<auth xmlns='${NS.sasl}' mechanism='PLAIN'>${message}</auth>`);
      const outcome = await saslAnswer();
      if (outcome.name !== 'success') throw failed(outcome);
    } else {
      // Binding 'y' when this client could bind but the server offered no -PLUS (RFC 5802 §6).
      const binding = mechanism === 'SCRAM-SHA-256-PLUS' && exporter ? { type: 'tls-exporter', data: exporter } : exporter ? 'y' as const : 'n' as const;
      const scram = new ScramClient({ hash: 'SHA-256', username: o.username, password: o.password, binding });
      const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
      const text = (el: Element): string => Buffer.from(el.getText(), 'base64').toString('utf8');
      this.send(`<auth xmlns='${NS.sasl}' mechanism='${mechanism}'>${b64(scram.first())}</auth>`);
      const challenge = await saslAnswer();
      if (challenge.name !== 'challenge') throw failed(challenge);
      let final: string;
      try {
        final = scram.final(text(challenge));
      } catch (err) {
        this.send(`<abort xmlns='${NS.sasl}'/>`);
        throw new FeatureClientError(`authentication as ${o.username}@${o.domain} with ${mechanism}: ${(err as Error).message}`);
      }
      this.send(`<response xmlns='${NS.sasl}'>${b64(final)}</response>`);
      const outcome = await saslAnswer();
      if (outcome.name !== 'success') throw failed(outcome);
      try {
        scram.verify(text(outcome));
      } catch (err) {
        throw new FeatureClientError(`authentication as ${o.username}@${o.domain} with ${mechanism}: ${(err as Error).message}`);
      }
    }
    this.mechanism = mechanism;
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
