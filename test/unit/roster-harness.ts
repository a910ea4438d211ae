/**
 * An in-process server with the roster and presence modules, memory storage and fake clients,
 * for the roster and presence unit tests. Stanzas to other domains are captured, not sent.
 */
import assert from 'node:assert/strict';
import { defaultConfig } from '../../src/core/config.js';
import { silentLogger } from '../../src/core/logging.js';
import { Server } from '../../src/core/server.js';
import type { TlsContexts } from '../../src/net/tls.js';
import { openMemoryStorage } from '../../src/storage/memory.js';
import type { Element } from '../../src/xml/element.js';
import { presence, iq } from '../../src/xml/stanza.js';
import roster from '../../src/modules/roster/index.js';
import presenceModule from '../../src/modules/presence/index.js';
import { fakeClient, type FakeClient } from '../helpers/fake-client.js';

export const HOST = 'localhost';
export const NS_ROSTER = 'jabber:iq:roster';
export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

export interface Harness {
  server: Server;
  /** Stanzas routed to other domains (what s2s would send). */
  remote: Element[];
  connect(username: string, resource: string): FakeClient;
  send(c: FakeClient, el: Element): void;
  /** Let the async storage work finish. */
  settle(): Promise<void>;
  /** Roster get; returns the result. */
  rosterGet(c: FakeClient, ver?: string): Promise<Element>;
  /** Connect, request the roster and send initial presence. */
  online(username: string, resource: string): Promise<FakeClient>;
  stop(): Promise<void>;
}

let ids = 0;

export async function harness(users: string[] = ['romeo', 'juliet', 'nurse'], adjust?: (modules: Record<string, Record<string, unknown>>) => void): Promise<Harness> {
  const config = defaultConfig();
  adjust?.(config.modules);
  const server = new Server({
    config,
    log: silentLogger(),
    storage: openMemoryStorage(),
    modules: new Map([[roster.name, roster], [presenceModule.name, presenceModule]]),
    tls: {} as TlsContexts,
  });
  await server.start();
  for (const u of users) assert.ok(await server.storage.accounts.create(HOST, u, {}));
  const remote: Element[] = [];
  const ctx = server.hosts.get(HOST);
  assert.ok(ctx);
  ctx.events.on('route/remote', ({ stanza }) => {
    remote.push(stanza);
    return true;
  });
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 2));
  };
  const h: Harness = {
    server,
    remote,
    connect: (username, resource) => fakeClient(server, username, HOST, resource),
    send: (c, el) => server.router.fromClient(c.session, el),
    settle,
    async rosterGet(c, ver) {
      const id = `get${++ids}`;
      const el = iq({ type: 'get', id });
      el.c('query', { xmlns: NS_ROSTER, ver });
      h.send(c, el);
      await settle();
      const res = c.sent.find((s) => s.name === 'iq' && s.attrs.id === id);
      assert.ok(res, 'roster result');
      return res;
    },
    async online(username, resource) {
      const c = h.connect(username, resource);
      await h.rosterGet(c);
      h.send(c, presence());
      await settle();
      return c;
    },
    stop: () => server.stop('test finished', 10),
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
