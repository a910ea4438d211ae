/**
 * A real Server core (router, session manager, memory storage) with only the modules a test
 * names, and fake client sessions: exact stanzas, no sockets. Shared by the disco, ping,
 * version, time, last and contact unit tests.
 */
import assert from 'node:assert/strict';
import { defaultConfig, type CantoConfig } from '../../src/core/config.js';
import { silentLogger } from '../../src/core/logging.js';
import type { ModuleDefinition } from '../../src/core/modules.js';
import { Server } from '../../src/core/server.js';
import type { HostContext } from '../../src/core/host.js';
import type { TlsContexts } from '../../src/net/tls.js';
import { openMemoryStorage } from '../../src/storage/memory.js';
import type { Element } from '../../src/xml/element.js';
import { fakeClient, type FakeClient } from '../helpers/fake-client.js';

export const HOST = 'localhost';
export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

export interface Harness {
  server: Server;
  ctx: HostContext;
  /** A bound fake session; its account is created in storage unless `noAccount`. */
  client(username: string, resource?: string, opts?: { noAccount?: boolean }): Promise<FakeClient>;
  /** Send as the client (the router stamps 'from'), then wait for the reply with the same id. */
  ask(client: FakeClient, stanza: Element, ms?: number): Promise<Element>;
  stop(): Promise<void>;
}

export async function harness(modules: ModuleDefinition[], adjust?: (c: CantoConfig) => void): Promise<Harness> {
  const config = defaultConfig();
  config.modules_enabled = modules.map((m) => m.name);
  adjust?.(config);
  const server = new Server({
    config,
    log: silentLogger(),
    storage: openMemoryStorage(),
    modules: new Map(modules.map((m) => [m.name, m])),
    // No listeners in these tests: nothing reads the TLS contexts.
    tls: {} as TlsContexts,
  });
  await server.start();
  const ctx = server.hosts.get(HOST);
  assert.ok(ctx);
  return {
    server,
    ctx,
    async client(username, resource, opts = {}) {
      if (!opts.noAccount && !(await server.storage.accounts.get(HOST, username))) {
        await server.storage.accounts.create(HOST, username, {});
      }
      return fakeClient(server, username, HOST, resource);
    },
    async ask(client, stanza, ms = 2000) {
      const id = stanza.attrs.id;
      assert.ok(id, 'the request needs an id');
      server.router.fromClient(client.session, stanza);
      return waitFor(client, (el) => el.name === 'iq' && el.attrs.id === id && (el.attrs.type === 'result' || el.attrs.type === 'error'), ms);
    },
    stop: () => server.stop('test finished', 10),
  };
}

/** Wait until the client has been sent an element matching `test`; returns (and removes) it. */
export async function waitFor(client: FakeClient, test: (el: Element) => boolean, ms = 2000): Promise<Element> {
  const deadline = Date.now() + ms;
  for (;;) {
    const i = client.sent.findIndex(test);
    if (i >= 0) return client.sent.splice(i, 1)[0] as Element;
    if (Date.now() > deadline) throw new Error(`nothing matching within ${ms} ms; sent: ${client.sent.map(String).join('\n')}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The defined condition of an error reply, with its type: 'cancel/item-not-found'. */
export function errorOf(stanza: Element): string | undefined {
  const error = stanza.getChild('error');
  const condition = error?.elements.find((e) => e.xmlns === NS_STANZAS && e.name !== 'text');
  return error && condition ? `${error.attrs.type}/${condition.name}` : undefined;
}
