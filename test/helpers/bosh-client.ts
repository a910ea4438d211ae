/**
 * BOSH (XEP-0124/0206) from the client side, for tests. `boshPost()` sends one raw body and
 * returns the raw answer; `BoshClient` is a small real client: it creates a session, logs in
 * with SASL PLAIN, binds a resource and then long-polls (one request always held, as hold=1
 * wants), collecting the stanzas it receives. @xmpp/client has no BOSH transport.
 */
import type { TestServer } from './server.js';
import { parseBody } from '../../src/modules/bosh/body.js';
import type { Element } from '../../src/xml/element.js';
import { Wakeup } from '../../src/testing/wakeup.js';

export const NS_HTTPBIND = 'http://jabber.org/protocol/httpbind';
export const NS_XBOSH = 'urn:xmpp:xbosh';

export function boshUrl(ts: TestServer, path = '/http-bind'): string {
  return `http://127.0.0.1:${ts.server.port('http')}${path}`;
}

export interface BoshAnswer {
  status: number;
  text: string;
  headers: Headers;
  /** The parsed <body/> (undefined when the answer is not one). */
  body: Element | undefined;
}

/** POST one body; `attrs` are written as is, `payload` goes inside. */
export async function boshPost(url: string, attrs: Record<string, string | number>, payload = '', headers: Record<string, string> = {}, signal?: AbortSignal): Promise<BoshAnswer> {
  const a = Object.entries(attrs)
    .map(([k, v]) => ` ${k}='${String(v)}'`)
    .join('');
  const xml = `<body xmlns='${NS_HTTPBIND}' xmlns:xmpp='${NS_XBOSH}'${a}${payload === '' ? '/>' : `>${payload}</body>`}`;
  return postRaw(url, xml, headers, signal);
}

export async function postRaw(url: string, xml: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<BoshAnswer> {
  const res = await fetch(url, { method: 'POST', body: xml, headers: { 'Content-Type': 'text/xml; charset=utf-8', ...headers }, signal });
  const text = await res.text();
  const parsed = parseBody(Buffer.from(text), { maxBytes: 1 << 24, maxDepth: 64, maxAttributes: 64, maxNameLength: 256 });
  return { status: res.status, text, headers: res.headers, body: parsed.ok ? parsed.body : undefined };
}

/** Session creation attributes as a client sends them. */
export function creationAttrs(rid: number, extra: Record<string, string | number> = {}): Record<string, string | number> {
  return { rid, to: 'localhost', 'xml:lang': 'en', wait: 10, hold: 1, ver: '1.6', 'xmpp:version': '1.0', ...extra };
}

export class BoshClient {
  readonly received: Element[] = [];
  jid = '';
  private rid: number;
  private sid = '';
  private running = false;
  private polling: Promise<void> = Promise.resolve();
  private sending: Promise<unknown> = Promise.resolve();
  private readonly wakeup = new Wakeup();
  private readonly aborter = new AbortController();
  /** Where the requests after the creation go, in turn (a cluster without sticky sessions). */
  private readonly urls: string[];
  private requests = 0;

  /** `alternates`: after the creation on `url`, requests go to each of [url, ...alternates] in turn, starting with the first alternate. */
  constructor(
    readonly url: string,
    private readonly headers: Record<string, string> = {},
    alternates: string[] = [],
  ) {
    this.rid = 1000 + Math.floor(Math.random() * 1_000_000);
    this.urls = [url, ...alternates];
  }

  /** The session id (after login). */
  get sessionId(): string {
    return this.sid;
  }

  /** The rid of the next request (after login). */
  get nextRid(): number {
    return this.rid + 1;
  }

  /** Create the session, authenticate with PLAIN, restart, bind and start long-polling. */
  async login(username: string, password: string, resource: string): Promise<void> {
    const created = await boshPost(this.url, creationAttrs(this.rid, { wait: 5 }), '', this.headers);
    const sid = created.body?.attrs.sid;
    if (sid === undefined) throw new Error(`no session: ${created.text}`);
    this.sid = sid;
    const auth = Buffer.from(`\0${username}\0${password}`).toString('base64');
    const sasl = await this.request({}, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${auth}</auth>`);
    if (!sasl.text.includes('<success')) throw new Error(`SASL failed: ${sasl.text}`);
    const restarted = await this.request({ 'xmpp:restart': 'true', to: 'localhost', 'xml:lang': 'en' });
    if (!restarted.text.includes('urn:ietf:params:xml:ns:xmpp-bind')) throw new Error(`no bind feature: ${restarted.text}`);
    const bound = await this.request({}, `<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`);
    const jid = /<jid>([^<]+)<\/jid>/.exec(bound.text)?.[1];
    if (jid === undefined) throw new Error(`bind failed: ${bound.text}`);
    this.jid = jid;
    this.running = true;
    this.polling = this.pollLoop();
  }

  /** Send serialized stanzas in one request (requests go out one at a time). */
  send(payload: string): Promise<void> {
    const next = this.sending.then(() => this.request({}, payload)).then(() => {});
    this.sending = next.catch(() => {});
    return next;
  }

  /** Take the first received stanza matching `test` (one already received counts), at most `ms`. */
  waitFor(test: (el: Element) => boolean, ms = 5000): Promise<Element> {
    return this.wakeup.until(
      () => {
        const i = this.received.findIndex(test);
        return i >= 0 ? this.received.splice(i, 1)[0] : undefined;
      },
      ms,
      () => new Error(`no matching stanza within ${ms} ms; received: ${this.received.map(String).join('\n')}`),
    );
  }

  /** Terminate the session (type='terminate' with unavailable presence). */
  async stop(): Promise<BoshAnswer> {
    this.running = false;
    await this.sending;
    const answer = await this.request({ type: 'terminate' }, "<presence xmlns='jabber:client' type='unavailable'/>");
    await this.polling;
    return answer;
  }

  /** Vanish without terminating: stop polling and drop the open requests. */
  abandon(): void {
    this.running = false;
    this.aborter.abort();
  }

  private async pollLoop(): Promise<void> {
    while (this.running) {
      const answer = await this.request({}).catch(() => undefined);
      if (!answer || answer.body?.attrs.type === 'terminate') return;
    }
  }

  private async request(attrs: Record<string, string>, payload = ''): Promise<BoshAnswer> {
    this.rid++;
    this.requests++;
    const url = this.urls[this.requests % this.urls.length] ?? this.url;
    const answer = await boshPost(url, { rid: this.rid, sid: this.sid, ...attrs }, payload, this.headers, this.aborter.signal);
    for (const el of answer.body?.getChildren() ?? []) this.received.push(el);
    this.wakeup.wake();
    return answer;
  }
}
