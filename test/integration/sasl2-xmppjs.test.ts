/**
 * SASL2 (XEP-0388), Bind2 (XEP-0386), FAST (XEP-0484) and inline stream resumption with the
 * real @xmpp/client 0.14 (its sasl2, fast/sasl-ht-sha-256-none and stream-management packages).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, workAroundOpenRace, type XElement } from '../helpers/xmpp-client.js';
import type { FastService } from '../../src/modules/fast/api.js';
import { Wakeup } from '../../src/testing/wakeup.js';

interface Client {
  start(): Promise<{ toString(): string }>;
  stop(): Promise<unknown>;
  open(options: unknown): Promise<unknown>;
  once(event: 'open', listener: (el: unknown) => void): void;
  on(event: 'element' | 'stanza', listener: (el: XElement) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  on(event: 'online', listener: (jid: { toString(): string }) => void): void;
  send(el: XElement): Promise<void>;
  jid: { toString(): string } | null;
  socket: { socket?: { destroy(): void } | null } | null;
  reconnect: { stop(): void; start(): void };
  streamManagement: { id: string; enabled: boolean; on(event: 'resumed', listener: () => void): void };
  fast: { fetchToken(): Promise<{ token: string; mechanism: string; expiry: string } | null> };
}
type ClientFactory = (opts: Record<string, unknown>) => Client;

const XMPP = '@xmpp/client';
let ts: TestServer;
let client: ClientFactory;
let xml: (name: string, attrs?: Record<string, string>, ...children: Array<XElement | string>) => XElement;
const fast = () => ts.server.hosts.get('localhost')?.services.get('fast') as FastService;
const metric = async (name: string) => {
  const text = await ts.server.metrics.render();
  return text.split('\n').filter((l) => l.startsWith(name)).join('\n');
};

before(async () => {
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  ({ client, xml } = (await import(XMPP)) as { client: ClientFactory; xml: typeof xml });
  ts = await startTestServer();
  await createAccount(ts, 'juliet', 'r0m30');
});
after(async () => {
  await ts.stop();
});

function make(resource = 'balcony'): { xmpp: Client; elements: XElement[]; wakeup: Wakeup } {
  const xmpp = client({ service: `xmpp://127.0.0.1:${ts.c2sPort}`, domain: 'localhost', username: 'juliet', password: 'r0m30', resource, timeout: 10_000 });
  workAroundOpenRace(xmpp);
  xmpp.on('error', () => {});
  const elements: XElement[] = [];
  const wakeup = new Wakeup();
  xmpp.on('element', (el) => {
    elements.push(el);
    wakeup.wake();
  });
  return { xmpp, elements, wakeup };
}

test('SASL2 + Bind2 login gets a FAST token; the next login uses it in one round trip; a revoked token falls back to the password', async () => {
  const { xmpp, elements } = make();
  xmpp.reconnect.stop();
  const jid = (await xmpp.start()).toString();
  // Bind2: the resource is the tag plus a hash of the user agent (stable per device).
  assert.match(jid, /^juliet@localhost\/balcony\.[A-Za-z0-9_-]{8}$/);
  const success = elements.find((e) => e.is('success', 'urn:xmpp:sasl:2'));
  assert.ok(success, 'SASL2 was used');
  assert.equal(success.getChildText('authorization-identifier'), jid);
  assert.ok(success.getChild('bound', 'urn:xmpp:bind:0')?.getChild('enabled', 'urn:xmpp:sm:3'), 'stream management enabled inline');
  const token = await xmpp.fast.fetchToken();
  assert.ok(token, 'a FAST token was issued');
  assert.equal(token.mechanism, 'HT-SHA-256-NONE');
  assert.ok(new Date(token.expiry).getTime() > Date.now());
  const listed = await fast().listTokens('juliet');
  assert.equal(listed.length, 1);
  await xmpp.stop();

  // Again with the token: <authenticate> with the HMAC, <success> at once (no challenge).
  elements.length = 0;
  const jid2 = (await xmpp.start()).toString();
  assert.equal(jid2, jid, 'same device, same resource');
  const auth = elements.filter((e) => e.attrs.xmlns === 'urn:xmpp:sasl:2');
  assert.deepEqual(auth.map((e) => e.name), ['success'], 'one round trip');
  const rotated = await xmpp.fast.fetchToken();
  assert.ok(rotated && rotated.token !== token.token, 'the token rotated');
  assert.match(await metric('canto_fast_tokens_used_total'), /result="success"[^\n]* 1/);
  await xmpp.stop();

  // Revoked: the FAST attempt fails (not-authorized), the client falls back to SCRAM on the same stream.
  assert.equal(await fast().revokeAll('juliet'), 1);
  elements.length = 0;
  assert.equal((await xmpp.start()).toString(), jid);
  const names = elements.filter((e) => e.attrs.xmlns === 'urn:xmpp:sasl:2').map((e) => e.name);
  assert.deepEqual(names, ['failure', 'challenge', 'success']);
  assert.equal(elements.find((e) => e.name === 'failure')?.getChild('not-authorized') !== undefined, true);
  assert.ok(await xmpp.fast.fetchToken(), 'a new token was requested and issued');
  await xmpp.stop();
});

test('a lost connection resumes its stream management session inline in SASL2', async () => {
  const { xmpp, elements, wakeup } = make('garden');
  const jid = (await xmpp.start()).toString();
  assert.ok(xmpp.streamManagement.id, 'resumable');
  const resumed = new Promise<void>((resolve) => xmpp.streamManagement.on('resumed', resolve));
  elements.length = 0;
  xmpp.socket?.socket?.destroy(); // unclean: the session hibernates; xmpp.js reconnects by itself
  await resumed;
  const success = await wakeup.until(() => elements.find((e) => e.is('success', 'urn:xmpp:sasl:2')), 10_000, () => new Error('no success'));
  assert.ok(success.getChild('resumed', 'urn:xmpp:sm:3'), success.toString());
  assert.equal(success.getChild('bound', 'urn:xmpp:bind:0'), undefined, 'no new binding when resumed');
  assert.equal(success.getChildText('authorization-identifier'), jid);
  assert.match(await metric('canto_smacks_resumptions_total'), /result="ok"[^\n]* 1/);
  // The resumed session still works.
  await xmpp.send(xml('message', { to: jid, id: 'after-resume', type: 'chat' }, xml('body', {}, 'still here')));
  await wakeup.until(() => elements.find((e) => e.name === 'message' && e.attrs.id === 'after-resume'), 5000, () => new Error('no message'));
  xmpp.reconnect.stop();
  await xmpp.stop();
});
