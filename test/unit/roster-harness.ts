/**
 * The roster and presence unit tests' server: canto/testing's harness with the roster and
 * presence modules and three users, plus roster helpers. Stanzas to other domains are
 * captured in `remote`, not sent.
 */
import type { Element } from '../../src/xml/element.js';
import { presence, iq } from '../../src/xml/stanza.js';
import roster from '../../src/modules/roster/index.js';
import presenceModule from '../../src/modules/presence/index.js';
import { FakeClient, settle, startHarness } from '../../src/testing/index.js';

export const HOST = 'localhost';
export const NS_ROSTER = 'jabber:iq:roster';
export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

export interface Harness {
  server: Awaited<ReturnType<typeof startHarness>>['server'];
  /** Stanzas routed to other domains (what s2s would send). */
  remote: Element[];
  connect(username: string, resource: string): FakeClient;
  send(c: FakeClient, el: Element): void;
  /** Let the async storage work finish (memory storage: promises only, no wall-clock time). */
  settle(): Promise<void>;
  /** Roster get; returns the result. */
  rosterGet(c: FakeClient, ver?: string): Promise<Element>;
  /** Connect, request the roster and send initial presence. */
  online(username: string, resource: string): Promise<FakeClient>;
  stop(): Promise<void>;
}

let ids = 0;

export async function harness(users: string[] = ['romeo', 'juliet', 'nurse'], adjust?: (modules: Record<string, Record<string, unknown>>) => void): Promise<Harness> {
  const kit = await startHarness({ modules: [roster, presenceModule], users, config: (c) => adjust?.(c.modules) });
  const h: Harness = {
    server: kit.server,
    remote: kit.remote,
    connect: (username, resource) => new FakeClient(kit.server, `${username}@${HOST}/${resource}`),
    send: (c, el) => c.send(el),
    settle: () => settle(),
    async rosterGet(c, ver) {
      const el = iq({ type: 'get', id: `get${++ids}` });
      el.c('query', { xmlns: NS_ROSTER, ver });
      return c.ask(el);
    },
    async online(username, resource) {
      const c = h.connect(username, resource);
      await h.rosterGet(c);
      h.send(c, presence());
      await settle();
      return c;
    },
    stop: () => kit.stop(),
  };
  return h;
}

/** The roster item pushed or returned for `jid` (from the last push carrying it). */
export function pushedItem(c: FakeClient, jid: string): Element | undefined {
  for (let i = c.sent.length - 1; i >= 0; i--) {
    const s = c.sent[i] as Element;
    if (s.name !== 'iq' || s.attrs.type !== 'set') continue;
    const item = s.getChild('query', NS_ROSTER)?.getChild('item', NS_ROSTER);
    if (item?.attrs.jid === jid) return item;
  }
  return undefined;
}

export function pushes(c: FakeClient): Element[] {
  return c.sent.filter((s) => s.name === 'iq' && s.attrs.type === 'set' && s.getChild('query', NS_ROSTER));
}

export function presences(c: FakeClient, filter: (p: Element) => boolean = () => true): Element[] {
  return c.sent.filter((s) => s.name === 'presence' && filter(s));
}

export function errorConditionOf(el: Element | undefined): string | undefined {
  const err = el?.getChild('error');
  return err?.elements.find((e) => e.xmlns === NS_STANZAS && e.name !== 'text')?.name;
}

export function clear(...clients: FakeClient[]): void {
  for (const c of clients) c.sent.length = 0;
}
