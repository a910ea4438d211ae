/**
 * Real-client tests with xmpp.js (`@xmpp/client`), typed for what the tests use (the package
 * ships no type declarations). `loginClient()` logs in over STARTTLS (SCRAM-SHA-1 by default)
 * and binds; the result collects every stanza received and can wait for one.
 *
 *   const romeo = await loginClient(ts, 'romeo', 'pw', 'phone');
 *   romeo.send(xml('message', { to: 'juliet@localhost', type: 'chat' }, xml('body', {}, 'hi')));
 *   const msg = await juliet.waitFor((s) => s.is('message'));
 *   const result = await romeo.iq(xml('iq', { type: 'get', id: 'v1', to: 'localhost' }, xml('query', { xmlns: 'jabber:iq:version' })));
 */
import { xmppJsScramSha256 } from './scram-client.js';
import type { TestServer } from './server.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { Wakeup } from '../../src/testing/wakeup.js';

/** An xmpp.js (ltx) element, as far as tests need it. */
export interface XElement {
  name: string;
  attrs: Record<string, string | undefined>;
  children: Array<XElement | string>;
  is(name: string, xmlns?: string): boolean;
  getChild(name: string, xmlns?: string): XElement | undefined;
  getChildren(name: string, xmlns?: string): XElement[];
  getChildText(name: string, xmlns?: string): string | null;
  getText(): string;
  toString(): string;
}

interface XmppJsClient {
  start(): Promise<{ toString(): string }>;
  open(options: unknown): Promise<unknown>;
  once(event: 'open', listener: (el: unknown) => void): void;
  stop(): Promise<unknown>;
  send(el: XElement): Promise<void>;
  on(event: 'stanza', listener: (el: XElement) => void): void;
  /** Elements that are not stanzas (stream features, SASL, stream management). */
  on(event: 'nonza', listener: (el: XElement) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  on(event: 'offline', listener: () => void): void;
  reconnect: { stop(): void; on(event: 'reconnected', listener: () => void): void };
  /** The current socket wrapper (xmpp.js's, around a net or TLS socket); tests destroy the inner one to cut the connection. */
  socket: { socket?: { destroy(): void } | null; destroy?(): void } | null;
  saslFactory: { use(mech: unknown): void };
  iqCaller: { request(el: XElement, timeout?: number): Promise<XElement> };
}

interface XmppJsModule {
  client(options: {
    service: string;
    domain: string;
    resource?: string;
    timeout?: number;
    credentials: (auth: (creds: { username: string; password: string }, mechanism: string) => Promise<void>, offered: string[]) => Promise<void>;
  }): XmppJsClient;
  xml(name: string, attrs?: Record<string, string | undefined>, ...children: Array<XElement | string>): XElement;
}

// A non-literal specifier keeps tsc from looking for the missing declarations.
const XMPP_CLIENT_PACKAGE = '@xmpp/client';
let moduleCache: XmppJsModule | undefined;
async function xmppjs(): Promise<XmppJsModule> {
  moduleCache ??= (await import(XMPP_CLIENT_PACKAGE)) as XmppJsModule;
  return moduleCache;
}

/** Build an element with xmpp.js's builder (loaded once by loginClient). */
export function xml(name: string, attrs?: Record<string, string | undefined>, ...children: Array<XElement | string>): XElement {
  if (!moduleCache) throw new Error('call loginClient() (or loadXmppJs()) before xml()');
  return moduleCache.xml(name, attrs, ...children);
}

export async function loadXmppJs(): Promise<void> {
  await xmppjs();
}

export interface LoggedInClient {
  jid: string;
  xmpp: XmppJsClient;
  received: XElement[];
  /** Every non-stanza element received, from the first stream features on (the features of each stream included). */
  nonzas: XElement[];
  send(el: XElement): Promise<void>;
  /** Wait for a received stanza matching `test` (also one already received and not yet taken). */
  waitFor(test: (el: XElement) => boolean, ms?: number): Promise<XElement>;
  /** Send an iq and wait for its result (rejects with the error stanza on type=error). */
  iq(el: XElement, ms?: number): Promise<XElement>;
  /** True if no stanza matching `test` arrives within `ms`. */
  nothing(test: (el: XElement) => boolean, ms?: number): Promise<boolean>;
  stop(): Promise<void>;
}

/** Create an account directly in storage (fast; no in-band registration). */
/**
 * xmpp.js 0.14 listens for the server's stream header only once its own header's write has
 * completed; over direct TLS the answer can arrive first, and `start()` then times out. With
 * RFC 6120 SASL the restart after <success/> fires a second 'open' that hid this; SASL2 has no
 * restart. Listening from the start of `open()` closes the gap (client side only).
 */
export function workAroundOpenRace(xmpp: { open(options: unknown): Promise<unknown>; once(event: 'open', listener: (el: unknown) => void): void }): void {
  const open = xmpp.open.bind(xmpp);
  xmpp.open = (options: unknown) => {
    const early = new Promise<unknown>((resolve) => xmpp.once('open', resolve));
    return Promise.race([open(options), early]);
  };
}

export async function createAccount(ts: TestServer, username: string, password: string, host = 'localhost'): Promise<void> {
  const ok = await ts.server.storage.accounts.create(host, username, makeCredentials(password, { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }));
  if (!ok) throw new Error(`account ${username}@${host} exists`);
}

export async function loginClient(
  ts: TestServer,
  username: string,
  password: string,
  resource?: string,
  opts: { mechanism?: 'SCRAM-SHA-1' | 'SCRAM-SHA-256' | 'PLAIN'; service?: string; domain?: string; reconnect?: boolean } = {},
): Promise<LoggedInClient> {
  // The test server's certificate is self-signed; only test processes trust it this way.
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  const { client } = await xmppjs();
  const mechanism = opts.mechanism ?? 'SCRAM-SHA-1';
  const xmpp = client({
    service: opts.service ?? `xmpp://127.0.0.1:${ts.c2sPort}`,
    domain: opts.domain ?? 'localhost',
    resource,
    credentials: async (auth) => auth({ username, password }, mechanism),
    // xmpp.js waits 2 s by default for each stream open; a loaded 2-core CI machine can exceed it.
    timeout: 10_000,
  });
  xmpp.saslFactory.use(xmppJsScramSha256());
  // Reconnecting (and XEP-0198 resumption, which xmpp.js does by itself) only where a test asks.
  if (opts.reconnect !== true) xmpp.reconnect.stop();
  xmpp.on('error', () => {});
  const received: XElement[] = [];
  const wakeup = new Wakeup();
  xmpp.on('stanza', (el) => {
    received.push(el);
    wakeup.wake();
  });
  const nonzas: XElement[] = [];
  xmpp.on('nonza', (el) => nonzas.push(el));
  workAroundOpenRace(xmpp);
  const address = await xmpp.start();
  const take = (test: (el: XElement) => boolean): XElement | undefined => {
    const i = received.findIndex(test);
    if (i < 0) return undefined;
    return received.splice(i, 1)[0];
  };
  const waitFor = (test: (el: XElement) => boolean, ms = 5000): Promise<XElement> =>
    wakeup.until(
      () => take(test),
      ms,
      () => new Error(`${username}: no matching stanza within ${ms} ms; received: ${received.map(String).join('\n')}`),
    );
  return {
    jid: address.toString(),
    xmpp,
    received,
    nonzas,
    send: (el) => xmpp.send(el),
    waitFor,
    async iq(el, ms = 5000) {
      const id = el.attrs.id ?? `iq${Math.random().toString(36).slice(2)}`;
      el.attrs.id = id;
      await xmpp.send(el);
      const reply = await waitFor((s) => s.is('iq') && s.attrs.id === id && (s.attrs.type === 'result' || s.attrs.type === 'error'), ms);
      if (reply.attrs.type === 'error') throw Object.assign(new Error(`iq error: ${reply.toString()}`), { stanza: reply });
      return reply;
    },
    async nothing(test, ms = 300) {
      try {
        await waitFor(test, ms);
        return false;
      } catch {
        return true;
      }
    },
    async stop() {
      await xmpp.stop().catch(() => {});
    },
  };
}

/** The condition element name of an error stanza (e.g. 'service-unavailable'). */
export function errorCondition(el: XElement | undefined): string | undefined {
  const err = el?.getChild('error');
  const c = err?.children.find((x): x is XElement => typeof x !== 'string' && x.attrs.xmlns === 'urn:ietf:params:xml:ns:xmpp-stanzas' && x.name !== 'text');
  return c?.name;
}

/** Destroy the client's TCP (TLS) socket under it: no </stream:stream>, as when a phone loses its network. */
export function cutConnection(c: LoggedInClient): void {
  const wrapper = c.xmpp.socket;
  const inner = wrapper?.socket;
  if (inner) inner.destroy();
  else wrapper?.destroy?.();
}
